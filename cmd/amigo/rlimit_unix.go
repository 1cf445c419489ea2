//go:build unix

package main

import "syscall"

// openFileLimit returns the limit of open files of this process (and of the
// station child it starts, the same program). The Go runtime has raised the
// soft limit to the hard one at start.
func openFileLimit() (uint64, bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, false
	}
	return l.Cur, true
}
