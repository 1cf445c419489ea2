//go:build linux

package fep

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// idlePoller waits for the idle sessions' sockets on one epoll instance of
// its own, so that an idle session is no goroutine at all: no parked
// goroutine with its stack (2 KB at least) and its g for each of thousands
// of collectors. A session's reader (frameReader.serve) registers its
// socket when no token is pending and its goroutine ends; when the socket
// turns readable (bytes, the end of the stream, an error), its deadline
// passes or the connection is closed here, the poller starts a goroutine
// for the session's next step.
//
// The sockets stay in the Go runtime's own poller too (this is a second
// interest list on the same file descriptors, one-shot, level-triggered):
// reads and writes go through net.Conn as always. A registration is made
// on the descriptor inside syscall.RawConn.Control, so that it cannot have
// been closed and its number reused meanwhile; a closed descriptor leaves
// the interest list with its last reference, and its connection's Close
// (pollConn) ends the wait itself.
type idlePoller struct {
	epfd int
	// wakeR, wakeW: a pipe whose read end is in the interest list (key 0),
	// written to by stop.
	wakeR, wakeW int

	mu       sync.Mutex
	next     uint64
	waiting  map[uint64]*pollConn
	earliest int64 // Unix ns: no deadline among waiting is before it
	until    int64 // Unix ns: the loop sleeps until then at most
	woken    bool  // a byte is in the pipe for the loop
	stopped  bool
	done     chan struct{}
	watch    []parkWatch // parked's channels, waiting for that many sessions
}

// parkWatch is a parked channel waiting for n sessions on the poller.
type parkWatch struct {
	n  int
	ch chan struct{}
}

// parked returns a channel closed once at least n sessions wait on the
// poller at the same time (for the idle benchmark: every session idle).
func (p *idlePoller) parked(n int) <-chan struct{} {
	ch := make(chan struct{})
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiting) >= n {
		close(ch)
		return ch
	}
	p.watch = append(p.watch, parkWatch{n, ch})
	return ch
}

// pollConn is an accepted connection whose reader may wait on the poller.
// Its Close ends such a wait at once.
type pollConn struct {
	net.Conn
	p *idlePoller

	// Under p.mu:
	key      uint64 // in p.waiting; 0: not waiting
	added    bool   // in the epoll interest list
	closed   bool
	deadline int64       // Unix ns
	wake     func(error) // the waiting reader's next step
}

func newIdlePoller() (*idlePoller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fep: epoll: %w", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("fep: epoll: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	if err := syscall.EpollCtl(fd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		syscall.Close(fd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil, fmt.Errorf("fep: epoll: %w", err)
	}
	p := &idlePoller{epfd: fd, wakeR: pipe[0], wakeW: pipe[1], waiting: map[uint64]*pollConn{}, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// conn returns c ready to wait on the poller, or c itself when it has no
// descriptor to wait on.
func (p *idlePoller) conn(c net.Conn) net.Conn {
	if p == nil {
		return c
	}
	if _, ok := c.(syscall.Conn); !ok {
		return c
	}
	return &pollConn{Conn: c, p: p}
}

// SyscallConn is the socket's, so that the reader can peek at it.
func (c *pollConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// Close closes the connection and ends its reader's wait, if it waits.
func (c *pollConn) Close() error {
	err := c.Conn.Close()
	p := c.p
	p.mu.Lock()
	c.closed = true
	wake := p.takeLocked(c)
	p.mu.Unlock()
	if wake != nil {
		go wake(net.ErrClosed)
	}
	return err
}

// takeLocked removes c's wait and returns its step, or nil when c does not
// wait.
func (p *idlePoller) takeLocked(c *pollConn) func(error) {
	if c.key == 0 {
		return nil
	}
	delete(p.waiting, c.key)
	c.key = 0
	wake := c.wake
	c.wake = nil
	return wake
}

// wait registers c's socket (raw) until it is readable or deadline passes;
// then wake runs on a goroutine of its own with nil, or with
// os.ErrDeadlineExceeded, or net.ErrClosed when the connection was closed.
// An error returned means nothing was registered.
func (p *idlePoller) wait(c *pollConn, raw syscall.RawConn, deadline time.Time, wake func(error)) error {
	p.mu.Lock()
	if p.stopped || c.closed {
		p.mu.Unlock()
		return net.ErrClosed
	}
	p.next++
	if uint32(p.next) == 0 { // the key's low half is never 0
		p.next++
	}
	key := p.next
	c.key, c.deadline, c.wake = key, deadline.UnixNano(), wake
	p.waiting[key] = c
	if len(p.watch) > 0 {
		keep := p.watch[:0]
		for _, w := range p.watch {
			if len(p.waiting) >= w.n {
				close(w.ch)
			} else {
				keep = append(keep, w)
			}
		}
		p.watch = keep
	}
	if c.deadline < p.earliest || len(p.waiting) == 1 {
		p.earliest = c.deadline
	}
	if c.deadline < p.until && !p.woken {
		// The loop sleeps past this deadline: wake it to sleep less.
		p.woken = true
		syscall.Write(p.wakeW, []byte{1})
	}
	op := syscall.EPOLL_CTL_MOD
	if !c.added {
		op = syscall.EPOLL_CTL_ADD
	}
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(uint32(key)), Pad: int32(uint32(key >> 32))}
	var cerr error
	err := raw.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
		switch {
		case errors.Is(cerr, syscall.ENOENT) && op == syscall.EPOLL_CTL_MOD:
			cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		case errors.Is(cerr, syscall.EEXIST) && op == syscall.EPOLL_CTL_ADD:
			cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		}
	})
	if err == nil {
		err = cerr
	}
	p.mu.Lock()
	if err == nil {
		c.added = true
	}
	if err != nil && c.key == key {
		// Not registered: the caller goes on with the error, unless the
		// wait was taken meanwhile (closed), whose step then runs.
		p.takeLocked(c)
		p.mu.Unlock()
		return fmt.Errorf("fep: wait for the socket: %w", err)
	}
	p.mu.Unlock()
	return nil
}

// maxPollTimeout bounds the poller's sleep.
const maxPollTimeout = 10 * time.Second

func (p *idlePoller) loop() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	var wakes []func(error)
	var timedOut []func(error)
	for {
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return
		}
		now := time.Now().UnixNano()
		timeout := maxPollTimeout
		if len(p.waiting) > 0 {
			timeout = min(timeout, time.Duration(p.earliest-now))
		}
		p.until = now + int64(max(timeout, 0))
		p.mu.Unlock()
		ms := 0
		if timeout > 0 {
			ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
		}
		n, err := syscall.EpollWait(p.epfd, events, ms)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			// Not expected (EBADF after stop): rest instead of spinning.
			time.Sleep(10 * time.Millisecond)
			n = 0
		}
		wakes, timedOut = wakes[:0], timedOut[:0]
		now = time.Now().UnixNano()
		p.mu.Lock()
		p.until = 0 // awake: no wake-up needed
		for _, ev := range events[:max(n, 0)] {
			key := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if key == 0 {
				// A wake-up (an earlier deadline, or stop): empty the pipe.
				var b [64]byte
				for {
					if n, err := syscall.Read(p.wakeR, b[:]); n <= 0 || err != nil {
						break
					}
				}
				p.woken = false
				continue
			}
			if c := p.waiting[key]; c != nil {
				wakes = append(wakes, p.takeLocked(c))
			}
		}
		if len(p.waiting) > 0 && now >= p.earliest {
			earliest := int64(0)
			for _, c := range p.waiting {
				if c.deadline <= now {
					timedOut = append(timedOut, p.takeLocked(c))
				} else if earliest == 0 || c.deadline < earliest {
					earliest = c.deadline
				}
			}
			p.earliest = earliest
		}
		p.mu.Unlock()
		for _, w := range wakes {
			go w(nil)
		}
		for _, w := range timedOut {
			go w(os.ErrDeadlineExceeded)
		}
		clear(wakes)
		clear(timedOut)
	}
}

// stop ends the poller; waits still registered are ended with
// net.ErrClosed.
func (p *idlePoller) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.stopped = true
	var left []func(error)
	for _, c := range p.waiting {
		left = append(left, p.takeLocked(c))
	}
	p.mu.Unlock()
	for _, w := range left {
		go w(net.ErrClosed)
	}
	syscall.Write(p.wakeW, []byte{1})
	<-p.done
	syscall.Close(p.epfd)
	syscall.Close(p.wakeR)
	syscall.Close(p.wakeW)
}
