package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/q1376"
)

// Session answers the station's frames over one connection (see
// internal/collector/uplink): it remembers which readings each answer
// carried until the station confirms them.
type Session struct {
	c       *Collector
	pending map[uint8][]int64 // response SEQ -> readings awaiting confirmation
	pmu     sync.Mutex
}

// NewSession returns the handler of a new connection.
func (c *Collector) NewSession() *Session {
	return &Session{c: c, pending: map[uint8][]int64{}}
}

// Handle answers one frame from the station. A frame that does not decode,
// or asks for what the collector cannot do, gets a deny (AFN 00 F2); the
// error says why.
func (s *Session) Handle(ctx context.Context, b []byte) ([]*q1376.Frame, error) {
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
	if f.AFN.HasPW() {
		// A command: authenticated before anything is done (auth.go).
		reason, err := c.authorize(ctx, f)
		if err != nil {
			c.log.Error("command denied / 命令被拒绝", "err", err.Error())
			return []*q1376.Frame{q1376.Deny(f)}, err
		}
		if reason != 0 {
			c.refuse(ctx, f, reason)
			return []*q1376.Frame{q1376.Deny(f)}, fmt.Errorf("command AFN %02X refused: %s", byte(f.AFN), authReasonText(reason))
		}
	} else if f.Tp != nil && f.Tp.Delay > 0 && !q1376.TpFresh(*f.Tp, c.clock.Now().In(c.cfg.Loc)) {
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

// confirmed marks delivered what the station confirmed.
func (s *Session) confirmed(ctx context.Context, f *q1376.Frame) {
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
func (s *Session) data(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
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
func (s *Session) item(ctx context.Context, afn q1376.AFN, pn, fn uint16, req []byte) ([]byte, int64, bool) {
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
		// The reading time tells the station what the values are: a freeze
		// carries the freeze instant (00:00 ending day D), current
		// registers standing in for it the instant they were read.
		at = r.T
		if r.FromCurrent {
			at = r.ReadAt
		}
		b, err := indication(regs, at.In(c.cfg.Loc)).Append(day.AppendTd(nil))
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
func (s *Session) control(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
	c := s.c
	items, err := f.Items()
	if err != nil || len(items) == 0 {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	var results []q1376.ItemResult
	failed := false
	for _, it := range items {
		if it.Fn == q1376.FnTimeSync && it.Pn == 0 {
			clk, err := q1376.ParseClock(it.Data)
			if err != nil {
				results, failed = append(results, q1376.ItemResult{Pn: it.Pn, Fn: it.Fn, Err: 1}), true
				continue
			}
			if err := c.setClock(ctx, clk.DateTime.In(c.cfg.Loc)); err != nil {
				c.log.Error("time sync / 对时", "err", err.Error())
				results, failed = append(results, q1376.ItemResult{Pn: it.Pn, Fn: it.Fn, Err: 1}), true
				continue
			}
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
	reply, err := l.Do(ctx, dlt645.ControlRequest(m.Address, dlt645.ControlCommand{Type: ct, Auth: m.Auth, Until: until}))
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
	c.noteRelay(ctx, m, vals[0].Text)
	c.log.Info("meter controlled / 表计控制完成", "meter", m.Address, "command", ct, "status_word_3", vals[0].Text)
	return nil
}

// forward passes AFN 10 F1 frames to the addressed port.
func (s *Session) forward(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
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
	reply, err := l.Raw(ctx, fw.Content, fw.FrameTimeout)
	if err != nil {
		s.c.log.Warn("forward", "port", fw.Port, "err", err)
	}
	data := q1376.ForwardReply{Port: fw.Port, Content: reply}.Append(nil)
	return []*q1376.Frame{q1376.Response(f, true, true, false, q1376.NewUnit(0, 1, data))}, nil
}

// setArchive accepts the meter archive (AFN 04 F10); it replaces the
// configured meters and survives restarts.
func (s *Session) setArchive(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
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
func (s *Session) queryArchive(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
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

// eventsPerAnswer bounds the records of one AFN 0E answer (at most 72
// bytes each: well inside a frame).
const eventsPerAnswer = 32

// events answers AFN 0E F1 (important) and F2 (normal) from the event log:
// the records from pointer pm up to, not including, pn, at most
// eventsPerAnswer of them; the answer's pn is where the next request should
// start. Pointers address the last 256 records (sequence number mod 256).
func (s *Session) events(ctx context.Context, f *q1376.Frame) ([]*q1376.Frame, error) {
	items, err := f.Items()
	if err != nil || len(items) != 1 || (items[0].Fn != q1376.FnImportantEvents && items[0].Fn != q1376.FnNormalEvents) || len(items[0].Data) != 2 {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	st := s.c.store
	class := uint8(items[0].Fn)
	pm, pn := items[0].Data[0], items[0].Data[1]
	var counts [3]uint64
	for cl := uint8(1); cl <= 2; cl++ {
		if counts[cl], err = st.EventCount(ctx, cl); err != nil {
			return []*q1376.Frame{q1376.Deny(f)}, err
		}
	}
	next := counts[class]
	lo := next - min(next, EventsKept)
	first := lo + uint64(pm-uint8(lo)) // the kept record whose pointer is pm
	want := min(int(pn-pm), eventsPerAnswer)
	ev := q1376.Events{EC1: uint8(counts[1]), EC2: uint8(counts[2]), Pm: pm, Pn: pm}
	if first < next && want > 0 {
		recs, err := st.Events(ctx, class, first, want)
		if err != nil {
			return []*q1376.Frame{q1376.Deny(f)}, err
		}
		for _, r := range recs {
			ev.Records = append(ev.Records, q1376.EventRecord{ERC: r.ERC, Data: r.Data})
		}
		ev.Pn = pm + uint8(len(recs))
	}
	data, err := ev.Append(nil)
	if err != nil {
		return []*q1376.Frame{q1376.Deny(f)}, err
	}
	return []*q1376.Frame{q1376.Response(f, true, true, false, q1376.NewUnit(0, items[0].Fn, data))}, nil
}

// indication converts stored registers (0.01 kWh) to a 1376.1 indication;
// an Absent register is sent as no data.
func indication(regs [5]int64, readAt time.Time) q1376.Indication {
	ind := q1376.Indication{ReadAt: dlt645.DateTimeOf(readAt), HasAt: true, Values: make([]q1376.Value, 5)}
	for i, v := range regs {
		if v == Absent {
			continue
		}
		ind.Values[i] = q1376.Value{Decimal: dlt645.Decimal{Mant: v, Scale: 2}, Valid: true}
	}
	return ind
}
