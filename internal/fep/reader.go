package fep

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// frameReader splits a connection's bytes into tokens (frames, lines) like
// a bufio.Scanner, but holds no buffer while the connection is idle: it
// waits for the socket to become readable with no buffer at all (a peek at
// the socket, see wait_unix.go), borrows a buffer from a pool for the bytes
// that arrive and gives it back once every byte in it was consumed.
//
// A session's loop (serve) alternates two steps: wait, on the session's own
// goroutine, which stays parked there with a small stack; and burst, on a
// short-lived goroutine of its own, which takes every token that can be had
// without waiting and hands it on — decrypting and handling need deep
// stacks, which the idle goroutine so never grows. An idle session thus
// costs one goroutine with a small stack and its connection's own state.
//
// The read deadline is the reader's: set it with setDeadline, not on the
// connection (a TLS connection's buffered records are looked for with a
// deadline in the past before the reader goes idle). A token is valid until
// the next call of Scan. A frameReader is used by one goroutine at a time.
type frameReader struct {
	conn     net.Conn
	raw      syscall.RawConn // the socket, to wait on; nil: read at once (no idle release)
	pc       *pollConn       // the connection, when its idle waits go to the poller (serve)
	tls      bool            // conn may hold decrypted bytes the socket no longer shows
	split    bufio.SplitFunc
	max      int // the longest token; longer is bufio.ErrTooLong
	pool     *sync.Pool
	deadline time.Time

	bufp       *[]byte // the pooled buffer borrowed, if buf is one
	buf        []byte  // nil while idle
	start, end int     // pending bytes: buf[start:end]
	tok        []byte
	err        error
	eof        bool
	// pendingOnly: Scan stops (errWouldWait) where it would wait for the
	// socket; readable: the socket was found readable, read it.
	pendingOnly, readable bool
}

// readBufSize is the size of the pooled read buffers; a token longer than
// that grows a buffer of its own, up to the reader's max.
const readBufSize = 2048

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// newFrameReader returns a reader of c's tokens, each at most max bytes.
func newFrameReader(c net.Conn, split bufio.SplitFunc, max int) *frameReader {
	r := &frameReader{conn: c, split: split, max: max, pool: &readBufs}
	under := c
	if tc, ok := c.(*tls.Conn); ok {
		r.tls = true
		under = tc.NetConn()
	}
	if sc, ok := under.(syscall.Conn); ok && canPeek {
		if raw, err := sc.SyscallConn(); err == nil {
			r.raw = raw
			r.pc, _ = under.(*pollConn)
		}
	}
	return r
}

// setDeadline sets the deadline of the reads and waits to come.
func (r *frameReader) setDeadline(t time.Time) {
	r.deadline = t
	r.conn.SetReadDeadline(t)
}

func (r *frameReader) Bytes() []byte { return r.tok }

// Err returns the error that ended the scan; nil at a clean end of stream.
func (r *frameReader) Err() error {
	if r.err == errEnd {
		return nil
	}
	return r.err
}

// Scan advances to the next token; it reports false at the end of the
// stream or on an error (Err).
func (r *frameReader) Scan() bool {
	r.tok = nil
	for r.err == nil {
		if r.start < r.end || r.eof {
			adv, tok, err := r.split(r.buf[r.start:r.end], r.eof)
			if err != nil {
				r.fail(err)
				return false
			}
			r.start += adv
			if tok != nil {
				r.tok = tok
				return true
			}
			if adv > 0 {
				continue
			}
			if r.eof {
				r.fail(nil)
				return false
			}
		}
		if err := r.fill(); err == errWouldWait {
			return false
		} else if err != nil {
			r.fail(err)
			return false
		}
	}
	return false
}

// fill reads more bytes into the buffer; when nothing is pending it first
// waits with no buffer held.
func (r *frameReader) fill() error {
	if r.start == r.end {
		r.start, r.end = 0, 0
		if err := r.idle(); err != nil || r.end > 0 || r.eof {
			return err
		}
	}
	if r.start > 0 {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	if r.end == len(r.buf) {
		if r.end >= r.max {
			return bufio.ErrTooLong
		}
		b := make([]byte, min(2*len(r.buf), r.max))
		copy(b, r.buf[:r.end])
		r.release()
		r.buf = b // not the pool's: dropped when released
	}
	n, err := r.conn.Read(r.buf[r.end:])
	r.end += n
	if errors.Is(err, io.EOF) {
		r.eof, err = true, nil
	}
	return err
}

// idle gives the buffer back and waits until the socket is readable, then
// borrows one again. A TLS connection may hold bytes (decrypted, or whole
// records) the socket no longer shows: those are taken first, with a read
// that does not wait (a deadline in the past; a timeout does not break a
// TLS connection).
func (r *frameReader) idle() error {
	if r.buf == nil {
		r.borrow()
	}
	if r.raw == nil || r.readable {
		r.readable = false
		return nil
	}
	if r.tls {
		r.conn.SetReadDeadline(time.Unix(1, 0))
		n, err := r.conn.Read(r.buf)
		r.conn.SetReadDeadline(r.deadline)
		r.end = n
		switch {
		case errors.Is(err, io.EOF):
			r.eof = true
			return nil
		case n > 0 || err != nil && !isTimeout(err):
			return err
		}
	}
	r.release()
	if r.pendingOnly {
		return errWouldWait
	}
	if err := r.wait(); err != nil {
		return err
	}
	r.readable = false // the read that follows takes it
	r.borrow()
	return nil
}

// wait blocks, holding no buffer, until the socket is readable (or the
// deadline passes). Call it only where Scan stopped with errWouldWait.
func (r *frameReader) wait() error {
	if r.raw == nil {
		return nil
	}
	if err := r.raw.Read(peek); err != nil {
		return err
	}
	r.readable = true
	return nil
}

// burst (a step of serve) hands handle, on a goroutine of its own, every
// token that can be had without waiting for the socket, renewing the
// deadline to timeout from now before each; it returns when none is left,
// reporting whether the stream ended (Err says why) or handle asked to stop.
func (r *frameReader) burst(timeout time.Duration, handle func(tok []byte) (stop bool)) (stop bool) {
	done := make(chan bool, 1)
	go func() {
		for {
			r.setDeadline(time.Now().Add(timeout))
			if !r.Scan() {
				done <- r.err != nil
				return
			}
			if handle(r.Bytes()) {
				done <- true
				return
			}
		}
	}()
	return <-done
}

// serve runs a session's loop: bursts of tokens for handle, and waits in
// between, until the stream ends or handle asks to stop; timeout is the
// longest silence allowed. done is called once at the end, on whichever
// goroutine ends the loop; serve itself may return before.
//
// On a connection of the idle poller (pollConn) the waits go to the
// poller: between bursts the session has no goroutine at all, and each
// burst runs on a goroutine the poller starts (the first on the caller's).
// Elsewhere the caller's goroutine waits (parked, small stack) and each
// burst runs on a short-lived goroutine.
func (r *frameReader) serve(timeout time.Duration, handle func(tok []byte) (stop bool), done func()) {
	r.pendingOnly = true
	if r.pc != nil && r.pc.p != nil {
		r.serveIdle(timeout, handle, done)
		return
	}
	defer done()
	for !r.burst(timeout, handle) {
		r.setDeadline(time.Now().Add(timeout))
		if err := r.wait(); err != nil {
			r.fail(err)
			return
		}
	}
}

// serveIdle is one step of serve on the poller: a burst, then the next
// wait.
func (r *frameReader) serveIdle(timeout time.Duration, handle func(tok []byte) (stop bool), done func()) {
	for {
		r.setDeadline(time.Now().Add(timeout))
		if !r.Scan() {
			if r.err != nil {
				done()
				return
			}
			break // nothing more without waiting
		}
		if handle(r.Bytes()) {
			done()
			return
		}
	}
	r.setDeadline(time.Now().Add(timeout))
	err := r.pc.p.wait(r.pc, r.raw, r.deadline, func(werr error) {
		if werr != nil {
			r.fail(werr)
			done()
			return
		}
		r.readable = true // the read that follows takes it
		r.serveIdle(timeout, handle, done)
	})
	if err != nil {
		r.fail(err)
		done()
	}
}

func (r *frameReader) borrow() {
	r.bufp = r.pool.Get().(*[]byte)
	r.buf = (*r.bufp)[:min(readBufSize, r.max)] // never read more than max
}

func (r *frameReader) release() {
	if r.bufp != nil {
		r.pool.Put(r.bufp)
	}
	r.buf, r.bufp = nil, nil
}

// fail ends the scan with err and gives the buffer back.
func (r *frameReader) fail(err error) {
	if err == nil {
		err = errEnd
	}
	r.err = err
	r.start, r.end = 0, 0
	r.release()
}

var (
	// errEnd marks a clean end of stream; Err reports it as nil.
	errEnd = errors.New("end of stream")
	// errWouldWait: no token can be had without waiting (burst).
	errWouldWait = errors.New("no token pending")
)
