//go:build linux

package fep

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// pollPair returns the poller's side of a real TCP connection (a pollConn)
// and the peer's.
func pollPair(t *testing.T, p *idlePoller) (*pollConn, syscall.RawConn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peer, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	pc, ok := p.conn(c).(*pollConn)
	if !ok {
		t.Fatal("a TCP connection is not made a pollConn")
	}
	t.Cleanup(func() { pc.Close() })
	raw, err := pc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return pc, raw, peer
}

func waitWake(t *testing.T, woke chan error, what string) error {
	t.Helper()
	select {
	case err := <-woke:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: the wait did not end", what)
		return nil
	}
}

// TestIdlePoller: a wait ends once — when the peer writes, when the
// deadline passes, when the connection is closed here or when the poller
// stops — and a wait can be made again after one ended.
func TestIdlePoller(t *testing.T) {
	p, err := newIdlePoller()
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			p.stop()
		}
	}()
	far := time.Now().Add(time.Minute)

	// Readable: woken with nil, and not before.
	pc, raw, peer := pollPair(t, p)
	woke := make(chan error, 2)
	if err := p.wait(pc, raw, far, func(err error) { woke <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-woke:
		t.Fatalf("woken with nothing to read: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	peer.Write([]byte{0x68})
	if err := waitWake(t, woke, "readable"); err != nil {
		t.Fatalf("readable: woken with %v", err)
	}
	// Waiting again (the byte is still unread: level-triggered, at once).
	if err := p.wait(pc, raw, far, func(err error) { woke <- err }); err != nil {
		t.Fatal(err)
	}
	if err := waitWake(t, woke, "still readable"); err != nil {
		t.Fatalf("still readable: woken with %v", err)
	}
	var b [1]byte
	if _, err := pc.Read(b[:]); err != nil {
		t.Fatal(err)
	}

	// The deadline.
	start := time.Now()
	if err := p.wait(pc, raw, start.Add(100*time.Millisecond), func(err error) { woke <- err }); err != nil {
		t.Fatal(err)
	}
	if err := waitWake(t, woke, "deadline"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("deadline: woken with %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("deadline: woken after %v, before it", d)
	}

	// The peer's end of the stream wakes it too.
	pc2, raw2, peer2 := pollPair(t, p)
	if err := p.wait(pc2, raw2, far, func(err error) { woke <- err }); err != nil {
		t.Fatal(err)
	}
	peer2.Close()
	if err := waitWake(t, woke, "peer closed"); err != nil {
		t.Fatalf("peer closed: woken with %v", err)
	}

	// Closed here: woken with net.ErrClosed; no wait after that.
	if err := p.wait(pc, raw, far, func(err error) { woke <- err }); err != nil {
		t.Fatal(err)
	}
	pc.Close()
	if err := waitWake(t, woke, "closed"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("closed: woken with %v", err)
	}
	if err := p.wait(pc, raw, far, func(err error) { woke <- err }); err == nil {
		t.Fatal("a wait on a closed connection was registered")
	}
	_ = peer

	// The poller's stop ends the waits left.
	pc3, raw3, _ := pollPair(t, p)
	if err := p.wait(pc3, raw3, far, func(err error) { woke <- err }); err != nil {
		t.Fatal(err)
	}
	p.stop()
	stopped = true
	if err := waitWake(t, woke, "stop"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("stop: woken with %v", err)
	}
	select {
	case err := <-woke:
		t.Fatalf("a wait ended twice: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
}
