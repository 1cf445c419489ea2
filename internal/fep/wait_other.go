//go:build !unix

package fep

// canPeek: elsewhere the reader keeps its buffer while it waits.
const canPeek = false

func peek(uintptr) bool { return true }
