package collector

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/q1376"
)

// uplink keeps a session with a station: it tries the station addresses in
// turn and reconnects with exponential backoff and jitter.
func (c *Collector) uplink(ctx context.Context) {
	backoff := min(time.Second, time.Duration(c.cfg.ReconnectMax))
	for i := 0; ctx.Err() == nil; i++ {
		addr := c.cfg.Stations[i%len(c.cfg.Stations)]
		began := time.Now()
		err := c.session(ctx, addr)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute {
			backoff = min(time.Second, time.Duration(c.cfg.ReconnectMax)) // the session was up: start over
		}
		wait := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		c.log.Warn("station link down / 主站连接断开", "station", addr, "err", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, time.Duration(c.cfg.ReconnectMax))
	}
}

func (c *Collector) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	if c.cfg.PlainTCP {
		return d.DialContext(ctx, "tcp", addr)
	}
	name := c.cfg.ServerName
	if name == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		name = host
	}
	tc, err := pki.ClientConfig(c.cfg.CAFile, c.cfg.CertFile, c.cfg.KeyFile, name)
	if err != nil {
		return nil, err
	}
	td := tls.Dialer{NetDialer: &d, Config: tc}
	return td.DialContext(ctx, "tcp", addr)
}

// session is one connection's life: login, heartbeats, requests.
type session struct {
	c       *Collector
	conn    net.Conn
	wmu     sync.Mutex
	seq     uint8
	pending map[uint8][]int64 // response SEQ -> readings awaiting confirmation
	pmu     sync.Mutex
}

func (s *session) send(f *q1376.Frame) error {
	b, err := q1376.AppendFrame(nil, f)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err = s.conn.Write(b)
	return err
}

func (s *session) nextSeq() uint8 {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.seq = (s.seq + 1) & 0x0F
	return s.seq
}

func (c *Collector) session(ctx context.Context, addr string) error {
	conn, err := c.dial(ctx, addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(sctx, func() { conn.Close() })
	s := &session{c: c, conn: conn, pending: map[uint8][]int64{}}
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	sc.Split(q1376.Split)
	// Login and wait for the station's confirmation.
	if err := s.send(q1376.Login(c.cfg.addr, s.nextSeq())); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return fmt.Errorf("login: no answer from the station / 主站未应答登录: %w", err)
			}
			return errors.New("login refused: the station closed the connection without confirming (its log and events say why: not in the archive, wrong certificate, plain TCP not allowed) / 登录被拒绝：主站未确认即断开（原因见主站日志和事件）")
		}
		f, err := q1376.Parse(sc.Bytes())
		if err != nil {
			continue
		}
		if ok, isConfirm := f.IsConfirm(); isConfirm {
			if !ok {
				return errors.New("login denied by the station / 主站拒绝登录")
			}
			break
		}
	}
	c.log.Info("logged in to the station / 已登录主站", "station", addr, "terminal", c.cfg.addr)
	go func() {
		t := time.NewTicker(time.Duration(c.cfg.Heartbeat))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := s.send(q1376.Heartbeat(c.cfg.addr, s.nextSeq())); err != nil {
					cancel()
					return
				}
			case <-sctx.Done():
				return
			}
		}
	}()
	for {
		// Three missed heartbeats' worth of silence ends the session.
		conn.SetReadDeadline(time.Now().Add(3*time.Duration(c.cfg.Heartbeat) + 30*time.Second))
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return err
			}
			return io.EOF
		}
		replies, err := s.handle(sctx, sc.Bytes())
		if err != nil {
			c.log.Warn("bad frame from the station / 主站报文错误", "err", err)
		}
		for _, r := range replies {
			if err := s.send(r); err != nil {
				return err
			}
		}
	}
}

// handle answers one frame from the station. A frame that does not decode,
// or asks for what the collector cannot do, gets a deny (AFN 00 F2); the
// error says why.
func (s *session) handle(ctx context.Context, b []byte) ([]*q1376.Frame, error) {
	f := &q1376.Frame{}
	if _, err := f.Decode(b); err != nil {
		if errors.Is(err, q1376.ErrData) && !f.Control.Dir() && f.Address.A2 == s.c.cfg.addr.A2 {
			// The link header is sound, the data is not: say no.
			return []*q1376.Frame{q1376.Deny(f)}, err
		}
		return nil, err // nothing sound enough to answer
	}
	c := s.c
	if f.Control.Dir() {
		return nil, errors.New("an uplink frame came from the station")
	}
	if f.Address.A1 != c.cfg.addr.A1 || (f.Address.A2 != c.cfg.addr.A2 && !f.Address.IsBroadcast()) {
		return nil, fmt.Errorf("frame for terminal %s, this is %s", f.Address, c.cfg.addr)
	}
	if f.Tp != nil && f.Tp.Delay > 0 && !tpFresh(f.Tp, c.clock.Now().In(c.cfg.Loc)) {
		return nil, fmt.Errorf("request with an expired time tag discarded")
	}
	switch f.AFN {
	case q1376.AFNConfirm:
		s.confirmed(ctx, f)
		return nil, nil
	case q1376.AFNClass1, q1376.AFNClass2:
		return s.data(ctx, f)
	case q1376.AFNControl:
		return s.control(ctx, f)
	case q1376.AFNForward:
		return s.forward(ctx, f)
	case q1376.AFNClass3:
		return s.events(ctx, f)
	case q1376.AFNSet:
		return s.setArchive(ctx, f)
	case q1376.AFNQuery:
		return s.queryArchive(ctx, f)
	}
	return []*q1376.Frame{q1376.Deny(f)}, fmt.Errorf("AFN %02X is not supported", byte(f.AFN))
}

// tpFresh reports whether a time tag's send time is within its allowed
// delay of now (the tag holds day, hour, minute, second).
func tpFresh(tp *q1376.Tp, now time.Time) bool {
	sent := time.Date(now.Year(), now.Month(), tp.Day, tp.Hour, tp.Minute, tp.Second, 0, now.Location())
	if sent.After(now.Add(24 * time.Hour)) {
		sent = sent.AddDate(0, -1, 0)
	}
	d := now.Sub(sent)
	if d < 0 {
		d = -d
	}
	return d <= time.Duration(tp.Delay)*time.Minute
}

// confirmed marks delivered what the station confirmed.
func (s *session) confirmed(ctx context.Context, f *q1376.Frame) {
	s.pmu.Lock()
	ids := s.pending[f.Seq.Num]
	delete(s.pending, f.Seq.Num)
	s.pmu.Unlock()
	if ok, _ := f.IsConfirm(); !ok || len(ids) == 0 {
		return
	}
	if err := s.c.store.MarkDelivered(ctx, ids); err != nil {
		s.c.log.Error("mark delivered", "err", err)
	}
}

// data answers AFN 0C and 0D requests from the store.
func (s *session) data(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
	c := s.c
	items, err := f.Items()
	if err != nil {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	var units []q1376.Unit
	var ids []int64
	for _, it := range items {
		pns := []uint16{it.Pn}
		if it.Pn == q1376.AllPoints {
			pns = pns[:0]
			for _, m := range c.Meters() {
				pns = append(pns, m.Pn)
			}
		}
		for _, pn := range pns {
			data, id, ok := s.item(ctx, f.AFN, pn, it.Fn, it.Data)
			if !ok {
				continue // no data: the unit is left out
			}
			units = append(units, q1376.NewUnit(pn, it.Fn, data))
			if id != 0 {
				ids = append(ids, id)
			}
		}
	}
	if len(units) == 0 {
		return []*q1376.Frame{q1376.Deny(f)}, nil
	}
	// At most 32 units a frame keeps frames well under the 16 KB limit.
	var out []*q1376.Frame
	for i := 0; i < len(units); i += 32 {
		end := min(i+32, len(units))
		out = append(out, q1376.Response(f, i == 0, end == len(units), len(ids) > 0, units[i:end]...))
	}
	if len(ids) > 0 {
		s.pmu.Lock()
		s.pending[f.Seq.Num] = ids
		s.pmu.Unlock()
	}
	return out, nil
}

// item returns one unit's data and the stored reading it carries.
func (s *session) item(ctx context.Context, afn q1376.AFN, pn, fn uint16, req []byte) ([]byte, int64, bool) {
	c := s.c
	switch {
	case afn == q1376.AFNClass1 && fn == 2 && pn == 0:
		return q1376.AppendClock(nil, q1376.ClockOf(c.clock.Now().In(c.cfg.Loc))), 0, true
	case afn == q1376.AFNClass1 && (fn == 129 || fn == 131 || fn == 25):
		r, ok, err := c.store.Latest(ctx, pn, KindRealtime)
		if err != nil || !ok {
			return nil, 0, false
		}
		switch fn {
		case 25:
			if r.F25 == nil {
				return nil, 0, false
			}
			return r.F25, 0, true
		case 131:
			if !r.HasRev {
				return nil, 0, false
			}
			b, err := indication(r.Rev, r.ReadAt.In(c.cfg.Loc)).Append(nil)
			return b, 0, err == nil
		}
		b, err := indication(r.Fwd, r.ReadAt.In(c.cfg.Loc)).Append(nil)
		return b, r.ID, err == nil
	case afn == q1376.AFNClass2 && (fn == 161 || fn == 163):
		day, err := q1376.ParseDay(req)
		if err != nil {
			return nil, 0, false
		}
		// Day D's frozen data is the freeze at 00:00 ending it.
		at := day.In(c.cfg.Loc).AddDate(0, 0, 1).UTC()
		r, ok, err := c.store.At(ctx, pn, KindDaily, at)
		if err != nil || !ok {
			return nil, 0, false
		}
		regs := r.Fwd
		if fn == 163 {
			if !r.HasRev {
				return nil, 0, false
			}
			regs = r.Rev
		}
		b, err := indication(regs, r.ReadAt.In(c.cfg.Loc)).Append(day.AppendTd(nil))
		if fn == 163 {
			return b, 0, err == nil
		}
		return b, r.ID, err == nil
	case afn == q1376.AFNClass2 && (fn == 177 || fn == 179):
		month, err := q1376.ParseMonth(req)
		if err != nil {
			return nil, 0, false
		}
		// Month M's frozen data is the settlement at 00:00 of the 1st after it.
		at := time.Date(month.Year, time.Month(month.Month)+1, 1, 0, 0, 0, 0, c.cfg.Loc).UTC()
		r, ok, err := c.store.At(ctx, pn, KindMonthly, at)
		if err != nil || !ok {
			return nil, 0, false
		}
		regs := r.Fwd
		if fn == 179 {
			regs = r.Rev
		}
		b, err := indication(regs, r.ReadAt.In(c.cfg.Loc)).Append(month.AppendTd(nil))
		return b, r.ID, err == nil
	}
	return nil, 0, false
}

// control executes AFN 05 on the addressed meters as DL/T 645 1CH.
func (s *session) control(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
	c := s.c
	items, err := f.Items()
	if err != nil || len(items) == 0 {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	var results []q1376.ItemResult
	failed := false
	for _, it := range items {
		if it.Fn == 31 && it.Pn == 0 {
			if _, err := q1376.ParseClock(it.Data); err != nil {
				results, failed = append(results, q1376.ItemResult{Pn: it.Pn, Fn: it.Fn, Err: 1}), true
				continue
			}
			// The collector's clock comes from the host (NTP) or the demo's
			// shared clock; the command is acknowledged and logged.
			c.log.Info("station clock received / 收到主站对时", "data", fmt.Sprintf("% X", it.Data))
			results = append(results, q1376.ItemResult{Pn: it.Pn, Fn: it.Fn})
			continue
		}
		var ct dlt645.ControlType
		switch it.Fn {
		case 1:
			ct = dlt645.ControlTrip
		case 2:
			ct = dlt645.ControlAllowClose
		case 25:
			ct = dlt645.ControlKeepPower
		case 33:
			ct = dlt645.ControlKeepPowerOff
		default:
			results, failed = append(results, q1376.ItemResult{Pn: it.Pn, Fn: it.Fn, Err: 1}), true
			continue
		}
		if err := c.controlMeter(ctx, it.Pn, ct); err != nil {
			c.log.Warn("control failed / 控制失败", "pn", it.Pn, "command", ct, "err", err)
			results, failed = append(results, q1376.ItemResult{Pn: it.Pn, Fn: it.Fn, Err: 1}), true
			continue
		}
		results = append(results, q1376.ItemResult{Pn: it.Pn, Fn: it.Fn})
	}
	if !failed {
		return []*q1376.Frame{q1376.Confirm(f)}, nil
	}
	if len(results) == 1 {
		return []*q1376.Frame{q1376.Deny(f)}, nil
	}
	r, err := q1376.ConfirmItems(f, results)
	if err != nil {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	return []*q1376.Frame{r}, nil
}

// controlMeter sends 1CH to the meter of pn with its password and operator
// code, valid for one day, then reads status word 3 to record the relay.
func (c *Collector) controlMeter(ctx context.Context, pn uint16, ct dlt645.ControlType) error {
	m, ok := c.meter(pn)
	if !ok {
		return fmt.Errorf("no meter at measuring point %d", pn)
	}
	l, ok := c.lines[m.Port]
	if !ok {
		return fmt.Errorf("meter %s is on port %d, which this collector does not have", m.Address, m.Port)
	}
	until := dlt645.DateTimeOf(c.clock.Now().In(c.cfg.Loc).Add(24 * time.Hour))
	reply, err := l.do(ctx, dlt645.ControlRequest(m.Address, dlt645.ControlCommand{Type: ct, Auth: m.Auth, Until: until}))
	if err != nil {
		return err
	}
	if e, ok := reply.ErrorWord(); ok {
		return fmt.Errorf("meter refused: %w", e)
	}
	vals, err := c.read(ctx, l, m, dlt645.DIStatusWord3)
	if err != nil {
		return fmt.Errorf("reading the relay state: %w", err)
	}
	c.store.SetState(ctx, "relay_"+m.Address.String(), vals[0].Text)
	c.log.Info("meter controlled / 表计控制完成", "meter", m.Address, "command", ct, "status_word_3", vals[0].Text)
	return nil
}

// forward passes AFN 10 F1 frames to the addressed port.
func (s *session) forward(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
	items, err := f.Items()
	if err != nil || len(items) != 1 || items[0].Fn != 1 {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	fw, err := q1376.ParseForward(items[0].Data)
	if err != nil {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	l, ok := s.c.lines[fw.Port]
	if !ok {
		return []*q1376.Frame{q1376.Deny(f)}, fmt.Errorf("forward to port %d, which this collector does not have", fw.Port)
	}
	reply, err := l.raw(ctx, fw.Content, fw.FrameTimeout)
	if err != nil {
		s.c.log.Warn("forward", "port", fw.Port, "err", err)
	}
	data := q1376.ForwardReply{Port: fw.Port, Content: reply}.Append(nil)
	return []*q1376.Frame{q1376.Response(f, true, true, false, q1376.NewUnit(0, 1, data))}, nil
}

// setArchive accepts the meter archive (AFN 04 F10); it replaces the
// configured meters and survives restarts.
func (s *session) setArchive(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
	items, err := f.Items()
	if err != nil || len(items) == 0 || items[0].Fn != 10 {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	entries, err := q1376.ParseArchive(items[0].Data)
	if err != nil {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	c := s.c
	var ms []MeterEntry
	for _, e := range entries {
		if _, ok := c.lines[e.Port]; !ok || e.Pn == 0 {
			return []*q1376.Frame{q1376.Deny(f)}, fmt.Errorf("archive: meter %s on port %d pn %d cannot be served", e.Address, e.Port, e.Pn)
		}
		auth := dlt645.Auth{Level: e.Password[0], Password: uint32(e.Password[1]) | uint32(e.Password[2])<<8 | uint32(e.Password[3])<<16,
			Operator: uint32(e.Password[4]) | uint32(e.Password[5])<<8}
		ms = append(ms, MeterEntry{Pn: e.Pn, Port: e.Port, Address: e.Address, Protocol: e.Protocol, Baud: e.Baud, Auth: auth})
	}
	if err := c.store.SaveArchive(ctx, ms); err != nil {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	c.mu.Lock()
	c.meters = ms
	c.mu.Unlock()
	c.log.Info("meter archive received / 收到测量点档案", "meters", len(ms))
	return []*q1376.Frame{q1376.Confirm(f)}, nil
}

// queryArchive answers AFN 0A F10 with the archive in force.
func (s *session) queryArchive(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
	items, err := f.Items()
	if err != nil || len(items) == 0 || items[0].Fn != 10 {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	var entries []q1376.ArchiveEntry
	for _, m := range s.c.Meters() {
		e := q1376.ArchiveEntry{Seq: m.Pn, Pn: m.Pn, Baud: m.Baud, Port: m.Port, Protocol: m.Protocol, Address: m.Address, Tariffs: 4}
		if e.Protocol == 0 {
			e.Protocol = q1376.ProtoDLT645_2007
		}
		entries = append(entries, e)
	}
	data, err := q1376.AppendArchive(nil, entries)
	if err != nil {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	return []*q1376.Frame{q1376.Response(f, true, true, false, q1376.NewUnit(0, 10, data))}, nil
}

// events answers AFN 0E F1/F2. The collector keeps its meters' event
// counters, not ERC records of its own, so it answers with its counters and
// no records between the requested pointers.
func (s *session) events(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
	items, err := f.Items()
	if err != nil || len(items) != 1 || (items[0].Fn != 1 && items[0].Fn != 2) || len(items[0].Data) != 2 {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	data, err := q1376.Events{Pm: items[0].Data[0], Pn: items[0].Data[0]}.Append(nil)
	if err != nil {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	return []*q1376.Frame{q1376.Response(f, true, true, false, q1376.NewUnit(0, items[0].Fn, data))}, nil
}
