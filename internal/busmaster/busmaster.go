// Package busmaster is the master of one RS-485 line (or TCP serial server)
// of DL/T 645 meters: one request at a time, a timeout per request, retries,
// and reopening the line after an I/O error. It needs only a byte stream
// with a read deadline (Conn); internal/serialline opens real ones.
package busmaster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
)

// ErrNoAnswer is returned when a meter stays silent through every retry.
var ErrNoAnswer = errors.New("meter did not answer / 电表无应答")

// Conn is the byte stream to a bus of meters.
type Conn interface {
	io.ReadWriteCloser
	// SetReadDeadline makes Read return an error wrapping
	// os.ErrDeadlineExceeded after t.
	SetReadDeadline(t time.Time) error
}

// Line is one line's master. It is safe for concurrent use: requests are
// serialised.
type Line struct {
	number  uint8
	open    func() (Conn, error)
	timeout time.Duration
	retries int

	mu   sync.Mutex
	conn Conn
	buf  []byte
}

// New returns the master of line number (used in errors), which open
// connects; timeout is per request, retries the extra attempts.
func New(number uint8, open func() (Conn, error), timeout time.Duration, retries int) *Line {
	return &Line{number: number, open: open, timeout: timeout, retries: retries}
}

// Number returns the line's number.
func (l *Line) Number() uint8 { return l.number }

func (l *Line) connect() error {
	if l.conn != nil {
		return nil
	}
	c, err := l.open()
	if err != nil {
		return err
	}
	l.conn, l.buf = c, l.buf[:0]
	return nil
}

// Close closes the connection; the next request reopens it.
func (l *Line) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	err := l.conn.Close()
	l.conn = nil
	return err
}

// Do sends req and returns the addressed meter's reply. Broadcasts and time
// syncs (08H) return no reply and no error. A meter that stays silent gives
// an error wrapping ErrNoAnswer.
func (l *Line) Do(ctx context.Context, req dlt645.Frame) (dlt645.Frame, error) {
	wire := dlt645.AppendPreamble(nil)
	wire, err := dlt645.AppendFrame(wire, &req)
	if err != nil {
		return dlt645.Frame{}, err
	}
	wait := !req.Address.IsBroadcast() && req.Control.Func() != dlt645.FuncBroadcastTime
	var last error
	for attempt := 0; attempt <= l.retries; attempt++ {
		if err := ctx.Err(); err != nil {
			return dlt645.Frame{}, err
		}
		reply, err := l.exchange(wire, l.timeout, wait, func(f *dlt645.Frame) bool {
			return f.Control.IsResponse() && (req.Address.IsWildcard() || f.Address == req.Address || req.Address.Matches(f.Address))
		})
		if err == nil {
			if !wait {
				return dlt645.Frame{}, nil
			}
			var f dlt645.Frame
			if _, err := f.Decode(reply); err != nil {
				return f, err
			}
			return f, nil
		}
		last = err
	}
	return dlt645.Frame{}, fmt.Errorf("port %d, meter %s: %w", l.number, req.Address, last)
}

// Raw forwards a frame as the station sent it (AFN 10 F1) and returns the
// first frame that comes back, or nil when none does within frameTimeout
// (the line's timeout when zero).
func (l *Line) Raw(ctx context.Context, content []byte, frameTimeout time.Duration) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if frameTimeout <= 0 {
		frameTimeout = l.timeout
	}
	reply, err := l.exchange(content, frameTimeout, true, func(f *dlt645.Frame) bool { return f.Control.IsResponse() })
	if errors.Is(err, ErrNoAnswer) {
		return nil, nil
	}
	return reply, err
}

// exchange writes wire and waits up to timeout for a frame accepted by want.
func (l *Line) exchange(wire []byte, timeout time.Duration, wait bool, want func(*dlt645.Frame) bool) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.connect(); err != nil {
		return nil, err
	}
	// Drop whatever arrived late from an earlier exchange.
	l.buf = l.buf[:0]
	if _, err := l.conn.Write(wire); err != nil {
		l.conn.Close()
		l.conn = nil
		return nil, fmt.Errorf("port %d: write: %w", l.number, err)
	}
	if !wait {
		return nil, nil
	}
	deadline := time.Now().Add(timeout)
	tmp := make([]byte, 256)
	var f dlt645.Frame
	for {
		// Look for a complete frame in what arrived so far.
		for {
			adv, tok, _ := dlt645.Split(l.buf, false)
			if tok != nil {
				l.buf = l.buf[adv:]
				if _, err := f.Decode(tok); err == nil && want(&f) {
					return append([]byte(nil), tok...), nil
				}
				continue // an echo of our request, or another meter's frame
			}
			if adv > 0 {
				l.buf = l.buf[adv:]
				continue
			}
			break
		}
		if len(l.buf) > 4096 {
			l.buf = l.buf[:0] // noise without a frame: bounded
		}
		if err := l.conn.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		n, err := l.conn.Read(tmp)
		l.buf = append(l.buf, tmp[:n]...)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, ErrNoAnswer
			}
			l.conn.Close()
			l.conn = nil
			return nil, fmt.Errorf("port %d: read: %w", l.number, err)
		}
	}
}
