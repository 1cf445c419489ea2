package sim

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// Bus is a set of meters sharing one line (an RS-485 bus): every meter sees
// every frame and answers only those addressed to it. It is safe for
// concurrent use, but a real bus carries one request at a time.
type Bus struct {
	clock  vclock.Clock
	mu     sync.RWMutex
	meters []*Meter
	byAddr map[dlt645.Address]*Meter
	log    *slog.Logger
}

// NewBus returns a bus of meters reading time from clock.
func NewBus(clock vclock.Clock, meters ...*Meter) *Bus {
	b := &Bus{clock: clock, byAddr: map[dlt645.Address]*Meter{}, log: slog.Default()}
	for _, m := range meters {
		b.Add(m)
	}
	return b
}

// Add puts a meter on the bus.
func (b *Bus) Add(m *Meter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.meters = append(b.meters, m)
	b.byAddr[m.addr] = m
}

// Meters returns the meters on the bus.
func (b *Bus) Meters() []*Meter {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return append([]*Meter(nil), b.meters...)
}

// Meter returns the meter with address a.
func (b *Bus) Meter(a dlt645.Address) (*Meter, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	m, ok := b.byAddr[a]
	return m, ok
}

// Clock returns the bus's clock.
func (b *Bus) Clock() vclock.Clock { return b.clock }

// Reply is one meter's answer on the bus.
type Reply struct {
	Frame []byte        // the reply's bytes with FE preamble
	Delay time.Duration // how late (real time) the meter answers
}

// Handle processes one request frame as every meter on the bus would and
// appends the replies (normally zero or one) to dst. Requests (D7=0) only;
// replies seen on the line are ignored, as meters ignore them.
func (b *Bus) Handle(req *dlt645.Frame, dst []Reply) []Reply {
	if req.Control.IsResponse() {
		return dst
	}
	now := b.clock.Now()
	b.mu.RLock()
	var targets []*Meter
	switch {
	case req.Address.IsBroadcast():
		targets = b.meters
	case req.Address.IsWildcard() || hasWildcard(req.Address):
		if req.Address.IsWildcard() && len(b.meters) != 1 {
			break // several meters would all answer: real buses forbid it
		}
		for _, m := range b.meters {
			if req.Address.Matches(m.addr) {
				targets = append(targets, m)
			}
		}
	default:
		if m, ok := b.byAddr[req.Address]; ok {
			targets = []*Meter{m}
		}
	}
	b.mu.RUnlock()
	for _, m := range targets {
		if r, ok := m.respond(req, now); ok {
			dst = append(dst, r)
		}
	}
	if req.Control.Func() == dlt645.FuncWriteAddress {
		b.reindex()
	}
	return dst
}

// HandleBytes is Handle on bytes: it processes every valid frame in req (FE
// preamble and noise allowed; frames with a bad checksum are ignored, as a
// meter ignores them) and appends the replies, FE preamble included, to dst.
// Fault delays are not applied: the caller decides about time.
func (b *Bus) HandleBytes(req, dst []byte) []byte {
	var f dlt645.Frame
	var replies []Reply
	for len(req) > 0 {
		raw, next, err := dlt645.FindFrame(req)
		if err != nil || next <= 0 {
			break
		}
		req = req[next:]
		if _, err := f.Decode(raw); err != nil {
			continue
		}
		replies = b.Handle(&f, replies[:0])
		for _, r := range replies {
			dst = append(dst, r.Frame...)
		}
	}
	return dst
}

// Pipe returns one end of an in-memory line whose other end this bus serves
// until ctx ends or the returned connection is closed: a collector under
// test talks to it as to a TCP serial server, with deadlines.
func (b *Bus) Pipe(ctx context.Context) net.Conn {
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		if err := b.ServeLine(ctx, server); err != nil && ctx.Err() == nil {
			b.log.Debug("sim: pipe ended", "err", err)
		}
	}()
	return client
}

func hasWildcard(a dlt645.Address) bool {
	for _, c := range a {
		if c>>4 == 0xA || c&0x0F == 0xA {
			return true
		}
	}
	return false
}

func (b *Bus) reindex() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.byAddr = make(map[dlt645.Address]*Meter, len(b.meters))
	for _, m := range b.meters {
		m.mu.Lock()
		b.byAddr[m.addr] = m
		m.mu.Unlock()
	}
}

// respond is one meter's processing of a request it is addressed by.
func (m *Meter) respond(req *dlt645.Frame, now time.Time) (Reply, bool) {
	m.syncSupply(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.faults.NoAnswer || m.faults.Outage {
		return Reply{}, false
	}
	f, ok := m.answer(req, now)
	if !ok || req.Address.IsBroadcast() {
		return Reply{}, false
	}
	if m.faults.WrongAddress {
		f.Address[0] ^= 0x01
	}
	out := dlt645.AppendPreamble(make([]byte, 0, 32))
	out, err := dlt645.AppendFrame(out, &f)
	if err != nil {
		return Reply{}, false
	}
	if m.faults.BadChecksum {
		out[len(out)-2] ^= 0x5A
	}
	return Reply{Frame: out, Delay: m.faults.Delay}, true
}

// ApplyFault switches on a fault named for the command line:
// ADDRESS:KIND[:ARG], KIND one of no-answer, late (ARG a duration),
// bad-checksum, wrong-address, stuck, theft (ARG the percent of energy that
// bypasses the registers, default 50), jump (ARG kWh), backwards (ARG kWh),
// drift (ARG a duration per day), outage, no-freeze, cover-open.
func (b *Bus) ApplyFault(spec string) error {
	var addr, kind, arg string
	parts := strings.SplitN(spec, ":", 3)
	switch len(parts) {
	case 3:
		addr, kind, arg = parts[0], parts[1], parts[2]
	case 2:
		addr, kind = parts[0], parts[1]
	default:
		return fmt.Errorf("sim: fault %q: want ADDRESS:KIND[:ARG]", spec)
	}
	a, err := dlt645.ParseAddress(addr)
	if err != nil {
		return fmt.Errorf("sim: fault %q: %w", spec, err)
	}
	m, ok := b.Meter(a)
	if !ok {
		return fmt.Errorf("sim: fault %q: no meter %s on this bus", spec, a)
	}
	return m.ApplyFault(kind, arg, b.clock.Now())
}

// ApplyFault switches on one named fault (see Bus.ApplyFault).
func (m *Meter) ApplyFault(kind, arg string, now time.Time) error {
	f := m.Faults()
	switch kind {
	case "no-answer":
		f.NoAnswer = true
	case "late":
		d, err := time.ParseDuration(orDefault(arg, "2s"))
		if err != nil {
			return fmt.Errorf("sim: fault late: %w", err)
		}
		f.Delay = d
	case "bad-checksum":
		f.BadChecksum = true
	case "wrong-address":
		f.WrongAddress = true
	case "stuck":
		f.Stuck = true
	case "theft":
		var pct int
		if _, err := fmt.Sscan(orDefault(arg, "50"), &pct); err != nil || pct < 0 || pct > 100 {
			return fmt.Errorf("sim: fault theft:%s: want the percent of energy that bypasses the meter, 0..100 / 窃电比例应为 0..100", arg)
		}
		f.Theft = pct
	case "outage":
		f.Outage = true
	case "no-freeze":
		f.NoFreeze = true
	case "drift":
		d, err := time.ParseDuration(orDefault(arg, "10m"))
		if err != nil {
			return fmt.Errorf("sim: fault drift: %w", err)
		}
		f.ClockDrift = d
	case "jump", "backwards":
		var kwh float64
		if _, err := fmt.Sscan(orDefault(arg, "1000"), &kwh); err != nil {
			return fmt.Errorf("sim: fault %s: %w", kind, err)
		}
		if kind == "backwards" {
			kwh = -kwh
		}
		m.Jump(kwh)
		return nil
	case "cover-open":
		m.OpenCover()
		return nil
	case "none":
		f = Faults{}
	default:
		return fmt.Errorf("sim: unknown fault %q (no-answer, late, bad-checksum, wrong-address, stuck, theft, jump, backwards, drift, outage, no-freeze, cover-open, none) / 未知故障", kind)
	}
	m.SetFaults(f, now)
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
