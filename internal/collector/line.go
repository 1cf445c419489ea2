package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/serialline"
)

// ErrNoAnswer is returned when a meter stays silent through every retry.
var ErrNoAnswer = errors.New("meter did not answer")

// line is one RS-485 line (or TCP serial server): one request at a time,
// per-request timeout, retries, reopening after I/O errors.
type line struct {
	number  uint8
	cfg     serialline.Config
	timeout time.Duration
	retries int

	mu   sync.Mutex
	conn serialline.Line
	buf  []byte
}

func (l *line) open() error {
	if l.conn != nil {
		return nil
	}
	c, err := serialline.Open(l.cfg)
	if err != nil {
		return err
	}
	l.conn, l.buf = c, l.buf[:0]
	return nil
}

func (l *line) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
}

// do sends req and returns the addressed meter's reply. Broadcasts return
// no reply and no error.
func (l *line) do(ctx context.Context, req dlt645.Frame) (dlt645.Frame, error) {
	wire := dlt645.AppendPreamble(nil)
	wire, err := dlt645.AppendFrame(wire, &req)
	if err != nil {
		return dlt645.Frame{}, err
	}
	var last error
	for attempt := 0; attempt <= l.retries; attempt++ {
		if err := ctx.Err(); err != nil {
			return dlt645.Frame{}, err
		}
		// Broadcasts and time syncs (08H) get no reply.
		wait := !req.Address.IsBroadcast() && req.Control.Func() != dlt645.FuncBroadcastTime
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

// raw forwards a frame as the station sent it (AFN 10 F1) and returns the
// first frame that comes back, or nil when none does within frameTimeout.
func (l *line) raw(ctx context.Context, content []byte, frameTimeout time.Duration) ([]byte, error) {
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
func (l *line) exchange(wire []byte, timeout time.Duration, wait bool, want func(*dlt645.Frame) bool) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.open(); err != nil {
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
