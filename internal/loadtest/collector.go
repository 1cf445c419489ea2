package loadtest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/q1376"
)

// vcollector is one virtual Q/GDW 1376.1 collector: it logs in over TLS
// 1.3 with its own certificate and answers the station from the register
// model at full speed. It is a lean responder, not internal/collector: no
// RS-485 lines, no store, no schedules.
type vcollector struct {
	g     *generator
	addr  q1376.Address
	tls   *tls.Config
	first int // global index of its meter pn 1
	n     int // meters, pn 1..n

	dials int // connection attempts so far (run's goroutine only)
	// endTurn gives up the collector's turn among those dialing (run's
	// goroutine only).
	endTurn func()
	// node is the index in generator.nodes of the station of its current
	// (or last) session.
	node atomic.Int32

	loginAt atomic.Int64           // real Unix ns of the last confirmed login; 0 never
	rtFirst [rtPasses]atomic.Int64 // real Unix ns of its first real-time request of each pass; 0 none yet
	online  atomic.Bool

	mu       sync.Mutex
	pending  map[uint8]pendingData // answer SEQ -> what the station's confirm commits
	rtSeen   [rtPasses][]bool      // meter has a confirmed real-time reading in the pass
	daySeen  []bool                // meter has its target-day freeze confirmed
	archive  []q1376.ArchiveEntry  // as last pushed (AFN 04 F10)
	cmdMeter map[dlt645.Address]*sim.Bus
}

type pendingData struct {
	pass  int32    // the real-time pass of the request
	rt    []uint16 // pns with a real-time forward reading
	daily []uint16 // pns with the target day's forward freeze
	other int      // other daily freezes
}

// run keeps the collector connected until ctx ends, reconnecting with
// backoff (250 ms doubling to 2 s, ±50 % jitter) like a real collector.
func (c *vcollector) run(ctx context.Context) {
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		loggedIn, err := c.session(ctx)
		c.online.Store(false)
		if ctx.Err() != nil {
			return
		}
		if loggedIn {
			backoff = 250 * time.Millisecond
		}
		c.g.debug("collector session ended", "terminal", c.addr, "err", err)
		wait := backoff/2 + rand.N(backoff)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (c *vcollector) session(ctx context.Context) (bool, error) {
	// A turn among those dialing (maxDialing), until logged in; the dial
	// timeout runs from the turn.
	if c.g.dialing != nil {
		select {
		case c.g.dialing <- struct{}{}:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		turn := true
		done := func() {
			if turn {
				turn = false
				<-c.g.dialing
			}
		}
		defer done()
		c.endTurn = done
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 15 * time.Second, LocalAddr: c.g.source(int(c.addr.A2))}, Config: c.tls}
	node := c.g.stationIndex(int(c.addr.A2)-1, c.dials)
	c.dials++
	conn, err := d.DialContext(ctx, "tcp", c.g.nodes[node].TLS)
	if err != nil {
		return false, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(sctx, func() { conn.Close() })
	w := &frameWriter{conn: conn}
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 512), 64<<10) // the station's requests are small
	sc.Split(q1376.Split)
	if err := w.send(q1376.Login(c.addr, 1)); err != nil {
		return false, err
	}
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		if !sc.Scan() {
			return false, fmt.Errorf("login: no answer: %v", sc.Err())
		}
		f, err := q1376.Parse(sc.Bytes())
		if err != nil {
			continue
		}
		if ok, isConfirm := f.IsConfirm(); isConfirm {
			if !ok {
				return false, errors.New("login denied")
			}
			break
		}
	}
	if c.endTurn != nil {
		c.endTurn()
	}
	c.g.stats.logins.Add(1)
	if tc, ok := conn.(*tls.Conn); ok && tc.ConnectionState().DidResume {
		c.g.stats.resumed.Add(1)
	}
	c.node.Store(int32(node))
	c.loginAt.Store(time.Now().UnixNano())
	c.online.Store(true)
	// Heartbeats from a timer, not a goroutine of their own per session.
	var (
		hmu     sync.Mutex
		hb      *time.Timer
		stopped bool
	)
	seq := uint8(2)
	hmu.Lock()
	hb = time.AfterFunc(60*time.Second, func() {
		seq = (seq + 1) & 0x0F
		if w.send(q1376.Heartbeat(c.addr, seq)) != nil {
			cancel()
			return
		}
		hmu.Lock()
		if !stopped {
			hb.Reset(60 * time.Second)
		}
		hmu.Unlock()
	})
	hmu.Unlock()
	defer func() {
		hmu.Lock()
		stopped = true
		hb.Stop()
		hmu.Unlock()
	}()
	var f q1376.Frame
	for {
		conn.SetReadDeadline(time.Now().Add(10 * time.Minute))
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return true, err
			}
			return true, errors.New("connection closed by the station")
		}
		f = q1376.Frame{}
		if _, err := f.Decode(sc.Bytes()); err != nil {
			c.g.debug("bad frame from the station", "terminal", c.addr, "err", err)
			continue
		}
		// All the frames of an answer in one write: one TLS record and
		// one system call rather than one per frame.
		if err := w.sendAll(c.handle(&f)); err != nil {
			return true, err
		}
	}
}

type frameWriter struct {
	mu   sync.Mutex
	conn net.Conn
	buf  []byte
}

func (w *frameWriter) send(f *q1376.Frame) error {
	return w.sendAll([]*q1376.Frame{f})
}

// sendAll writes frames back to back in one write.
func (w *frameWriter) sendAll(fs []*q1376.Frame) error {
	if len(fs) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf[:0]
	for _, f := range fs {
		var err error
		if b, err = q1376.AppendFrame(b, f); err != nil {
			return err
		}
	}
	w.buf = b
	w.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := w.conn.Write(b)
	return err
}

// handle answers one frame from the station.
func (c *vcollector) handle(f *q1376.Frame) []*q1376.Frame {
	if f.Control.Dir() || f.Address.A1 != c.addr.A1 || f.Address.A2 != c.addr.A2 {
		return nil
	}
	switch f.AFN {
	case q1376.AFNConfirm:
		c.confirmed(f)
		return nil
	case q1376.AFNClass1, q1376.AFNClass2:
		return c.data(f)
	case q1376.AFNForward:
		return c.forward(f)
	case q1376.AFNSet:
		return c.setArchive(f)
	case q1376.AFNQuery:
		return c.queryArchive(f)
	case q1376.AFNControl:
		return []*q1376.Frame{q1376.Confirm(f)}
	}
	return []*q1376.Frame{q1376.Deny(f)}
}

// confirmed records what the station committed: it confirms an answer
// (AFN 00 F1 echoing its SEQ) only after its readings are durable.
func (c *vcollector) confirmed(f *q1376.Frame) {
	if ok, _ := f.IsConfirm(); !ok {
		return
	}
	now := time.Now().UnixNano()
	c.mu.Lock()
	p, ok := c.pending[f.Seq.Num]
	delete(c.pending, f.Seq.Num)
	newRT, newDay := 0, 0
	if ok {
		seen := c.rtSeen[p.pass]
		for _, pn := range p.rt {
			if !seen[pn-1] {
				seen[pn-1] = true
				newRT++
			}
		}
		for _, pn := range p.daily {
			if !c.daySeen[pn-1] {
				c.daySeen[pn-1] = true
				newDay++
			}
		}
	}
	c.mu.Unlock()
	if !ok {
		return
	}
	s := &c.g.stats
	rt := &s.rt[p.pass]
	rt.readings.Add(int64(len(p.rt)))
	s.dailyReadings.Add(int64(len(p.daily) + p.other))
	if newRT > 0 && rt.meters.Add(int64(newRT)) == int64(c.g.collectorMeters) {
		rt.allAt.Store(now)
	}
	if newDay > 0 && s.dayMeters.Add(int64(newDay)) == int64(c.g.collectorMeters) {
		s.dayAllAt.Store(now)
	}
}

// data answers AFN 0C F129/F131/F25 (and F2, the clock) and AFN 0D
// F161/F163 from the register model, 32 units a frame, asking for a
// confirmation.
func (c *vcollector) data(f *q1376.Frame) []*q1376.Frame {
	items, err := f.Items()
	if err != nil {
		return []*q1376.Frame{q1376.Deny(f)}
	}
	pass := c.g.rtPass.Load()
	if f.AFN == q1376.AFNClass1 {
		now := time.Now().UnixNano()
		c.g.stats.rt[pass].firstReq.CompareAndSwap(0, now)
		c.rtFirst[pass].CompareAndSwap(0, now)
	}
	loc := c.g.loc
	now := c.g.clock.Now().In(loc).Truncate(time.Minute)
	// The units' data share one buffer (about 40 bytes an indication, 60
	// an F25): units hold offsets into it until it stops growing.
	type span struct {
		pn, fn     uint16
		start, end int
	}
	spans := make([]span, 0, len(items))
	buf := make([]byte, 0, 64*len(items))
	p := pendingData{pass: pass}
	for _, it := range items {
		if f.AFN == q1376.AFNClass1 && it.Fn == 2 && it.Pn == 0 {
			start := len(buf)
			buf = q1376.AppendClock(buf, q1376.ClockOf(c.g.clock.Now().In(loc)))
			spans = append(spans, span{0, 2, start, len(buf)})
			continue
		}
		if it.Pn == 0 || int(it.Pn) > c.n {
			continue // no such point: left out
		}
		i := c.first + int(it.Pn) - 1
		start := len(buf)
		var data []byte
		var err error
		switch {
		case f.AFN == q1376.AFNClass1 && it.Fn == 129:
			data, err = indication(buf, forwardAt(i, now), now)
			p.rt = append(p.rt, it.Pn)
		case f.AFN == q1376.AFNClass1 && it.Fn == 131:
			data, err = indication(buf, [5]int64{}, now)
		case f.AFN == q1376.AFNClass1 && it.Fn == 25:
			data, err = instant(buf, i, now)
		case f.AFN == q1376.AFNClass2 && (it.Fn == 161 || it.Fn == 163):
			day, derr := q1376.ParseDay(it.Data)
			if derr != nil {
				continue
			}
			at := day.In(loc).AddDate(0, 0, 1) // day D's freeze is at D+1 00:00
			if at.After(now) {
				continue // not frozen yet
			}
			regs := [5]int64{}
			if it.Fn == 161 {
				regs = forwardAt(i, at)
				if day == c.g.targetDay {
					p.daily = append(p.daily, it.Pn)
				} else {
					p.other++
				}
			}
			data, err = indication(day.AppendTd(buf), regs, at)
		default:
			continue
		}
		if err != nil {
			c.g.debug("encode", "err", err)
			continue
		}
		buf = data
		spans = append(spans, span{it.Pn, it.Fn, start, len(buf)})
	}
	if len(spans) == 0 {
		return []*q1376.Frame{q1376.Deny(f)}
	}
	con := len(p.rt) > 0 || len(p.daily) > 0 || p.other > 0
	if con {
		c.mu.Lock()
		c.pending[f.Seq.Num] = p
		c.mu.Unlock()
	}
	// Each unit's one pn and one Fn point into one array each.
	pnfn := make([]uint16, 2*len(spans))
	units := make([]q1376.Unit, len(spans))
	for k, sp := range spans {
		pnfn[2*k], pnfn[2*k+1] = sp.pn, sp.fn
		units[k] = q1376.Unit{Pn: pnfn[2*k : 2*k+1 : 2*k+1], Fn: pnfn[2*k+1 : 2*k+2 : 2*k+2], Data: buf[sp.start:sp.end:sp.end]}
	}
	out := make([]*q1376.Frame, 0, (len(units)+31)/32)
	for k := 0; k < len(units); k += 32 {
		end := min(k+32, len(units))
		out = append(out, q1376.Response(f, k == 0, end == len(units), con, units[k:end]...))
	}
	return out
}

// forward carries AFN 10 F1 to the addressed meter: a full virtual meter
// (internal/sim) made on first use answers the DL/T 645 control (1CH) and
// the status word 3 read that follows.
func (c *vcollector) forward(f *q1376.Frame) []*q1376.Frame {
	items, err := f.Items()
	if err != nil || len(items) != 1 || items[0].Fn != 1 {
		return []*q1376.Frame{q1376.Deny(f)}
	}
	fw, err := q1376.ParseForward(items[0].Data)
	if err != nil {
		return []*q1376.Frame{q1376.Deny(f)}
	}
	raw, _, err := dlt645.FindFrame(fw.Content)
	var req dlt645.Frame
	if err == nil {
		_, err = req.Decode(raw)
	}
	var reply []byte
	if err == nil {
		c.mu.Lock()
		bus := c.cmdMeter[req.Address]
		if bus == nil && c.owns(req.Address) {
			m := sim.NewMeter(sim.MeterConfig{Address: req.Address, Profile: sim.Home, Phases: 1, Seed: 1, Auth: sim.DefaultAuth}, c.g.clock.Now())
			bus = sim.NewBus(c.g.clock, m)
			c.cmdMeter[req.Address] = bus
		}
		c.mu.Unlock()
		if bus != nil {
			reply = bus.HandleBytes(fw.Content, nil)
			if di, ok := req.DI(); ok && di == dlt645.DIStatusWord3 && req.Control.Func() == dlt645.FuncRead {
				c.g.statusRead(req.Address.String())
			}
		}
	}
	data := q1376.ForwardReply{Port: fw.Port, Content: reply}.Append(nil)
	return []*q1376.Frame{q1376.Response(f, true, true, false, q1376.NewUnit(0, 1, data))}
}

// owns reports whether a is one of this collector's meters.
func (c *vcollector) owns(a dlt645.Address) bool {
	for _, e := range c.archive {
		if e.Address == a {
			return true
		}
	}
	// Before any archive push, trust the address plan.
	for pn := 1; pn <= c.n; pn++ {
		if c.g.meterAddress(c.first+pn-1) == a {
			return true
		}
	}
	return false
}

func (c *vcollector) setArchive(f *q1376.Frame) []*q1376.Frame {
	items, err := f.Items()
	if err != nil || len(items) == 0 || items[0].Fn != 10 {
		return []*q1376.Frame{q1376.Deny(f)}
	}
	entries, err := q1376.ParseArchive(items[0].Data)
	if err != nil {
		return []*q1376.Frame{q1376.Deny(f)}
	}
	c.mu.Lock()
	c.archive = entries
	c.mu.Unlock()
	c.g.stats.archives.Add(1)
	return []*q1376.Frame{q1376.Confirm(f)}
}

func (c *vcollector) queryArchive(f *q1376.Frame) []*q1376.Frame {
	c.mu.Lock()
	entries := c.archive
	c.mu.Unlock()
	data, err := q1376.AppendArchive(nil, entries)
	if err != nil {
		return []*q1376.Frame{q1376.Deny(f)}
	}
	return []*q1376.Frame{q1376.Response(f, true, true, false, q1376.NewUnit(0, 10, data))}
}
