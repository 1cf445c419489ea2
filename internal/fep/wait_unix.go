//go:build unix

package fep

import "syscall"

// canPeek: the socket can be waited on with no read buffer.
const canPeek = true

// peek is a syscall.RawConn.Read function that reports whether the socket
// has something to read (bytes, the end of the stream or an error) without
// taking it; while it reports false, the runtime parks the goroutine until
// the socket is readable.
func peek(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		return true
	}
}
