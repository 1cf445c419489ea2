package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/sim"
)

// registrationLine is the first line a GPRS meter (its DTU) sends on a new
// connection (docs/link.md §2): REG <address> <imei> <secret>. It is built
// here only, so that a change of the registration is made in one place.
func registrationLine(addr dlt645.Address, imei, secret string) []byte {
	return fmt.Appendf(nil, "REG %s %s %s\r\n", addr, imei, secret)
}

// gprsIMEI and gprsSecret are the k-th GPRS meter's credentials, in the
// archive and in its registration: a 15-digit IMEI and a 19-character
// secret (deterministic: this is a bench, not a deployment).
func gprsIMEI(k int) string   { return fmt.Sprintf("86%013d", k) }
func gprsSecret(k int) string { return fmt.Sprintf("bench-secret-%06d", k) }

// vgprs is one direct GPRS meter: a full virtual meter (internal/sim) that
// dials the station's GPRS listener, registers and answers DL/T 645.
type vgprs struct {
	g     *generator
	meter *sim.Meter
	bus   *sim.Bus
	addr  dlt645.Address
	k     int
	dials int // connection attempts so far (run's goroutine only)
	// regAt is the real Unix ns at which the station last confirmed the
	// meter's identity (it answered the wildcard address read).
	regAt atomic.Int64
}

func (m *vgprs) run(ctx context.Context) {
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		registered, err := m.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if registered {
			backoff = 250 * time.Millisecond
		}
		m.g.debug("gprs session ended", "meter", m.addr, "err", err)
		wait := backoff/2 + rand.N(backoff)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (m *vgprs) session(ctx context.Context) (bool, error) {
	d := net.Dialer{Timeout: 15 * time.Second, LocalAddr: m.g.source(m.k)}
	conn, err := d.DialContext(ctx, "tcp", m.g.nodes[m.g.stationIndex(m.k, m.dials)].GPRS)
	m.dials++
	if err != nil {
		return false, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(sctx, func() { conn.Close() })
	var mu sync.Mutex
	write := func(p []byte) error {
		mu.Lock()
		defer mu.Unlock()
		conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, err := conn.Write(p)
		return err
	}
	if err := write(registrationLine(m.addr, gprsIMEI(m.k), gprsSecret(m.k))); err != nil {
		return false, err
	}
	go func() {
		t := time.NewTicker(60 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if write(fmt.Appendf(nil, "HB %s\r\n", m.addr)) != nil {
					cancel()
					return
				}
			case <-sctx.Done():
				return
			}
		}
	}()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 512), 4096)
	sc.Split(dlt645.Split)
	var req dlt645.Frame
	var replies []sim.Reply
	for sc.Scan() {
		if _, err := req.Decode(sc.Bytes()); err != nil {
			continue
		}
		replies = m.bus.Handle(&req, replies[:0])
		for _, r := range replies {
			if err := write(r.Frame); err != nil {
				return true, err
			}
		}
		if req.Address == dlt645.Wildcard {
			m.regAt.Store(time.Now().UnixNano())
		}
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	return true, errors.New("connection closed by the station")
}
