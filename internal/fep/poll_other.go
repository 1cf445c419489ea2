//go:build !linux

package fep

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// Elsewhere an idle session keeps its goroutine (frameReader.serve).
type idlePoller struct{}

type pollConn struct {
	net.Conn
	p *idlePoller
}

func newIdlePoller() (*idlePoller, error)      { return nil, nil }
func (p *idlePoller) conn(c net.Conn) net.Conn { return c }
func (p *idlePoller) stop()                    {}

// parked: no poller here, so never.
func (p *idlePoller) parked(int) <-chan struct{} { return nil }
func (c *pollConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}
func (p *idlePoller) wait(*pollConn, syscall.RawConn, time.Time, func(error)) error {
	return errors.New("fep: no idle poller here")
}
