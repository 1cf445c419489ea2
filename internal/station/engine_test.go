package station

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/q1376"
)

// fakeTerm is a collector on the other end of a Terminal: it answers the
// station's requests as the collector does — frames encoded and decoded by
// q1376 as on the wire — from registers computed from the clock: meter pn
// reads 100×pn + 1 kWh per day since 2026-01-01 (so nothing jumps or goes
// back). A silent one never answers; forwards go to a virtual meter bus.
type fakeTerm struct {
	t      testing.TB
	addr   q1376.Address
	loc    *time.Location
	clock  vclock.Clock
	silent bool
	bus    *sim.Bus
	// onForward, when set, runs before a forward is answered.
	onForward func(ctx context.Context) error
	// latency, when set, is the link's round trip (benchmarks).
	latency time.Duration
	// onConfirm, when set, checks a confirmation as it is sent.
	onConfirm func(resp *q1376.Frame)

	mu        sync.Mutex
	seq       uint8
	asked     []q1376.AFN // the requests, in order
	confirmed int
	hanging   int // requests not answered yet (silent)
	changed   chan struct{}
}

func newFakeTerm(t testing.TB, address string, clock vclock.Clock, loc *time.Location) *fakeTerm {
	a, err := q1376.ParseAddress(address)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeTerm{t: t, addr: a, loc: loc, clock: clock, changed: make(chan struct{}, 1)}
}

func (f *fakeTerm) note(fn func()) {
	f.mu.Lock()
	fn()
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// wire round-trips a frame through the codec.
func wire(fr *q1376.Frame) (*q1376.Frame, error) {
	b, err := q1376.AppendFrame(nil, fr)
	if err != nil {
		return nil, err
	}
	return q1376.Parse(b)
}

// registers of meter pn at t: 100×pn kWh + 1 kWh a day since 2026-01-01
// (0.0001 kWh units); tariffs split the total 1:1:1:1 (within 0.0001).
func fakeRegisters(pn uint16, at time.Time) []q1376.Value {
	days := at.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).Hours() / 24
	total := int64(pn)*100_0000 + int64(days*1_0000)
	v := func(m int64) q1376.Value { return q1376.Value{Decimal: dlt645.Decimal{Mant: m, Scale: 4}, Valid: true} }
	return []q1376.Value{v(total), v(total / 4), v(total / 4), v(total / 4), v(total - 3*(total/4))}
}

func (f *fakeTerm) Request(ctx context.Context, afn q1376.AFN, units ...q1376.Unit) ([]*q1376.Frame, error) {
	f.mu.Lock()
	f.seq = (f.seq + 1) & 0x0F
	a := f.addr
	a.MSA = 1
	req := q1376.Request(a, afn, f.seq, nil, units...)
	f.mu.Unlock()
	f.note(func() { f.asked = append(f.asked, afn) })
	if f.silent {
		f.note(func() { f.hanging++ })
		<-ctx.Done()
		f.note(func() { f.hanging-- })
		return nil, ctx.Err()
	}
	if f.latency > 0 {
		select {
		case <-time.After(f.latency):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	req, err := wire(req)
	if err != nil {
		return nil, err
	}
	var out *q1376.Frame
	switch afn {
	case q1376.AFNSet:
		out = q1376.Confirm(req)
	case q1376.AFNClass1, q1376.AFNClass2:
		items, err := req.Items()
		if err != nil {
			return nil, err
		}
		var us []q1376.Unit
		now := f.clock.Now().In(f.loc)
		for _, it := range items {
			switch {
			case afn == q1376.AFNClass1 && it.Fn == 129:
				d, _ := q1376.Indication{ReadAt: dlt645.DateTimeOf(now), HasAt: true, Values: fakeRegisters(it.Pn, now)}.Append(nil)
				us = append(us, q1376.NewUnit(it.Pn, 129, d))
			case afn == q1376.AFNClass2 && it.Fn == 161:
				day, err := q1376.ParseDay(it.Data)
				if err != nil {
					return nil, err
				}
				at := day.In(f.loc).AddDate(0, 0, 1)
				if at.After(now) {
					continue
				}
				d, _ := q1376.Indication{ReadAt: dlt645.DateTimeOf(at), HasAt: true, Values: fakeRegisters(it.Pn, at)}.Append(day.AppendTd(nil))
				us = append(us, q1376.NewUnit(it.Pn, 161, d))
			}
		}
		if len(us) == 0 {
			out = q1376.Deny(req)
		} else {
			out = q1376.Response(req, true, true, true, us...)
		}
	case q1376.AFNForward:
		if f.onForward != nil {
			if err := f.onForward(ctx); err != nil {
				return nil, err
			}
		}
		fw, err := q1376.ParseForward(req.Units[0].Data)
		if err != nil {
			return nil, err
		}
		reply := f.bus.HandleBytes(fw.Content, nil)
		out = q1376.Response(req, true, true, false, q1376.NewUnit(0, 1, q1376.ForwardReply{Port: fw.Port, Content: reply}.Append(nil)))
	default:
		out = q1376.Deny(req)
	}
	out, err = wire(out)
	if err != nil {
		return nil, err
	}
	return []*q1376.Frame{out}, nil
}

func (f *fakeTerm) Confirm(resp *q1376.Frame) error {
	if f.onConfirm != nil {
		f.onConfirm(resp)
	}
	f.note(func() { f.confirmed++ })
	return nil
}

func (f *fakeTerm) state() (asked []q1376.AFN, confirmed, hanging int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]q1376.AFN(nil), f.asked...), f.confirmed, f.hanging
}

// termFront is a front end of fake terminals, by address; a missing one is
// offline.
type termFront struct {
	mu    sync.Mutex
	terms map[string]*fakeTerm
}

func (fr *termFront) Terminal(a string) (Terminal, bool) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	t, ok := fr.terms[a]
	if !ok {
		return nil, false
	}
	return t, true
}

func (*termFront) Meter(string) (MeterLink, bool) { return nil, false }

func (fr *termFront) set(a string, t *fakeTerm) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if t == nil {
		delete(fr.terms, a)
		return
	}
	fr.terms[a] = t
}

// fleet creates a site (Asia/Shanghai) with n collectors "0171-000i" of
// per meters each (pn 1..per, addresses 0000000ccpp, password 02123456).
func fleet(t *testing.T, s amigo.Store, n, per int) (amigo.Site, []amigo.Collector, [][]amigo.Meter) {
	t.Helper()
	ctx := context.Background()
	site := amigo.Site{Name: "site", TimeZone: "Asia/Shanghai"}
	if err := s.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	var cs []amigo.Collector
	var ms [][]amigo.Meter
	for i := range n {
		c := amigo.Collector{SiteID: site.ID, Name: fmt.Sprint("c", i+1), Address: fmt.Sprintf("0171-%d", i+1)}
		if err := s.CreateCollector(ctx, &c); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		var row []amigo.Meter
		for p := range per {
			m := amigo.Meter{SiteID: site.ID, CollectorID: c.ID, Port: 1, Pn: p + 1, Address: fmt.Sprintf("0000000%02d%03d", i+1, p+1), Password: "02123456"}
			if err := s.CreateMeter(ctx, &m); err != nil {
				t.Fatal(err)
			}
			row = append(row, m)
		}
		ms = append(ms, row)
	}
	return site, cs, ms
}

// waitFor waits until ok holds, checking each time a terminal reports a
// change and at least every 20 ms; it fails the test after d of real time.
func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-deadline.C:
			t.Fatalf("not within %s: %s", d, what)
		case <-tick.C:
		}
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runEngine runs e until the test ends.
func runEngine(t *testing.T, e *Engine) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func count(t *testing.T, s amigo.Store, m amigo.Meter, kind string, from, to time.Time) int {
	t.Helper()
	rs, err := s.ListReadings(context.Background(), m.ID, kind, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return len(rs)
}

// A collector that never answers holds one worker: the others' real-time
// and daily readings are committed while its first request still hangs.
func TestSilentCollectorStallsNobody(t *testing.T) {
	s, _ := openStore(t)
	site, cs, ms := fleet(t, s, 3, 2)
	loc := site.Location()
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, loc) // after the nightly window (00:10 + < 30 min)
	clock := vclock.NewManual(now)
	front := &termFront{terms: map[string]*fakeTerm{}}
	var terms []*fakeTerm
	for i, c := range cs {
		ft := newFakeTerm(t, c.Address, clock, loc)
		ft.silent = i == 0 // the first collector, served first
		front.set(c.Address, ft)
		terms = append(terms, ft)
	}
	e := New(s, front, clock, Config{Log: quiet(), FrameTimeout: time.Hour})
	runEngine(t, e)
	today := amigo.Day(now, loc)
	waitFor(t, "the answering collectors' readings", 20*time.Second, func() bool {
		for _, row := range ms[1:] {
			for _, m := range row {
				// 08:00 real-time, and the freeze of today 00:00 (day 03-09)
				if count(t, s, m, amigo.KindRealtime, now, now.Add(time.Minute)) != 1 || count(t, s, m, amigo.KindDaily, today, today.Add(time.Second)) != 1 {
					return false
				}
			}
		}
		return true
	})
	if _, _, hanging := terms[0].state(); hanging != 1 {
		t.Fatalf("the silent collector has %d requests hanging, want 1 (still waiting while the others were served)", hanging)
	}
	if n := count(t, s, ms[0][0], "", today.AddDate(0, 0, -40), now.Add(time.Hour)); n != 0 {
		t.Fatalf("the silent collector's meter has %d readings", n)
	}
}

// failingStore fails WriteReadings while fail is set; it counts writes and
// keeps the meters of each.
type failingStore struct {
	amigo.Store
	mu     sync.Mutex
	fail   bool
	writes [][]int64 // meter ids per WriteReadings call
	// gate, when set, holds the first write until it is closed.
	gate    chan struct{}
	entered chan struct{}
}

func (f *failingStore) WriteReadings(ctx context.Context, rs []amigo.Reading) (amigo.WriteResult, error) {
	f.mu.Lock()
	var ids []int64
	for _, r := range rs {
		ids = append(ids, r.MeterID)
	}
	f.writes = append(f.writes, ids)
	first := len(f.writes) == 1
	fail := f.fail
	f.mu.Unlock()
	if first && f.gate != nil {
		close(f.entered)
		<-f.gate
	}
	if fail {
		return amigo.WriteResult{}, errors.New("disk full (test)")
	}
	return f.Store.WriteReadings(ctx, rs)
}

func (f *failingStore) calls() [][]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]int64(nil), f.writes...)
}

// Nothing is confirmed before it is durable: while the store refuses the
// readings no answer is confirmed; once it takes them, every confirmation
// finds its readings already stored.
func TestConfirmOnlyAfterCommit(t *testing.T) {
	base, _ := openStore(t)
	st := &failingStore{Store: base, fail: true}
	site, cs, ms := fleet(t, base, 1, 3)
	loc := site.Location()
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, loc)
	clock := vclock.NewManual(now)
	ft := newFakeTerm(t, cs[0].Address, clock, loc)
	var mu sync.Mutex
	var early []string
	ft.onConfirm = func(resp *q1376.Frame) {
		items, _ := resp.Items()
		for _, it := range items {
			m := ms[0][it.Pn-1]
			kind := amigo.KindRealtime
			if resp.AFN == q1376.AFNClass2 {
				kind = amigo.KindDaily
			}
			if n := count(t, base, m, kind, time.Time{}, now.Add(time.Hour)); n == 0 {
				mu.Lock()
				early = append(early, fmt.Sprintf("%s pn %d", kind, it.Pn))
				mu.Unlock()
			}
		}
	}
	front := &termFront{terms: map[string]*fakeTerm{cs[0].Address: ft}}
	e := New(st, front, clock, Config{Log: quiet()})
	runEngine(t, e)
	// The real-time commit fails; the pass goes on to the daily request,
	// whose commit fails too: only then is it sure nothing was confirmed.
	waitFor(t, "two refused writes", 20*time.Second, func() bool { return len(st.calls()) >= 2 })
	if asked, confirmed, _ := ft.state(); confirmed != 0 {
		t.Fatalf("%d confirmations while the store refused every write (requests %v)", confirmed, asked)
	}
	if n := count(t, base, ms[0][0], "", time.Time{}, now.Add(time.Hour)); n != 0 {
		t.Fatalf("%d readings stored by a failing store", n)
	}
	// The store recovers: the next slot's data is stored, then confirmed.
	st.mu.Lock()
	st.fail = false
	st.mu.Unlock()
	clock.Advance(15 * time.Minute)
	e.Wake()
	waitFor(t, "confirmations after the store recovered", 20*time.Second, func() bool {
		_, confirmed, _ := ft.state()
		return confirmed >= 2 // the real-time answer and the daily one
	})
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 {
		t.Fatalf("confirmed before its readings were stored: %v", early)
	}
}

// Batches of several collectors handed over while a transaction is at work
// go into the next transaction together: four collectors, two meters each,
// one real-time answer each → two transactions, the second carrying three
// collectors' six readings.
func TestGroupCommitAcrossCollectors(t *testing.T) {
	base, _ := openStore(t)
	st := &failingStore{Store: base, gate: make(chan struct{}), entered: make(chan struct{})}
	site, cs, ms := fleet(t, base, 4, 2)
	loc := site.Location()
	now := time.Date(2026, 3, 10, 0, 5, 0, 0, loc) // before the nightly pass: real-time only
	clock := vclock.NewManual(now)
	front := &termFront{terms: map[string]*fakeTerm{}}
	var terms []*fakeTerm
	for _, c := range cs {
		ft := newFakeTerm(t, c.Address, clock, loc)
		front.set(c.Address, ft)
		terms = append(terms, ft)
	}
	e := New(st, front, clock, Config{Log: quiet()})
	var release sync.Once
	open := func() { release.Do(func() { close(st.gate) }) }
	// Cleanups run last-in first-out: registered after runEngine's, the
	// gate opens before the engine is stopped, so a failing check below
	// cannot leave the shutdown waiting on a held committer for ever.
	runEngine(t, e)
	t.Cleanup(open)
	<-st.entered
	// The committer may have taken one batch or several before the gate
	// held it: wait until the held write and the queue hold the four
	// collectors' batches between them.
	var first int
	waitFor(t, "every collector's batch held or queued for the committer", 20*time.Second, func() bool {
		first = len(st.calls()[0]) / 2
		return first+len(e.group.in) == 4
	})
	for _, ft := range terms { // nothing confirmed while the first write is open
		if _, confirmed, _ := ft.state(); confirmed != 0 {
			t.Fatalf("a collector was confirmed before any commit")
		}
	}
	open()
	waitFor(t, "every collector confirmed", 20*time.Second, func() bool {
		for _, ft := range terms {
			if _, confirmed, _ := ft.state(); confirmed != 1 {
				return false
			}
		}
		return true
	})
	// The held transaction carries the batches the committer had taken
	// (one collector's or more), the next one everything queued meanwhile:
	// four collectors' readings in at most two transactions.
	want := []int{first}
	if first < 4 {
		want = append(want, 4-first)
	}
	calls := st.calls()
	if len(calls) != len(want) {
		t.Fatalf("transactions %v, want %d", calls, len(want))
	}
	owner := map[int64]int{}
	for i, row := range ms {
		for _, m := range row {
			owner[m.ID] = i
		}
	}
	for i, call := range calls {
		seen := map[int]bool{}
		for _, id := range call {
			seen[owner[id]] = true
		}
		if len(call) != 2*want[i] || len(seen) != want[i] {
			t.Fatalf("transaction %d carries %d readings of %d collectors, want %d of %d", i, len(call), len(seen), 2*want[i], want[i])
		}
	}
	for _, row := range ms {
		for _, m := range row {
			if n := count(t, base, m, amigo.KindRealtime, now, now.Add(time.Minute)); n != 1 {
				t.Fatalf("meter %s: %d real-time readings", m.Address, n)
			}
		}
	}
}

// cmdFleet is two collectors with one meter each, behind fake terminals
// that forward to a virtual meter bus holding both meters.
func cmdFleet(t *testing.T, s amigo.Store, now time.Time) (*termFront, []*fakeTerm, [][]amigo.Meter, *vclock.Manual, *sim.Bus) {
	t.Helper()
	site, cs, ms := fleet(t, s, 2, 1)
	loc := site.Location()
	clock := vclock.NewManual(now)
	var sm []*sim.Meter
	for _, row := range ms {
		a, _ := dlt645.ParseAddress(row[0].Address)
		sm = append(sm, sim.NewMeter(sim.MeterConfig{Address: a, Phases: 1, Seed: 1, Auth: sim.DefaultAuth}, now))
	}
	bus := sim.NewBus(clock, sm...)
	front := &termFront{terms: map[string]*fakeTerm{}}
	var terms []*fakeTerm
	for _, c := range cs {
		ft := newFakeTerm(t, c.Address, clock, loc)
		ft.bus = bus
		terms = append(terms, ft)
	}
	return front, terms, ms, clock, bus
}

func command(t *testing.T, s amigo.Store, id int64) amigo.Command {
	t.Helper()
	c, err := s.GetCommand(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Commands to meters of two collectors run at the same time: each
// collector's forward waits until the other's has arrived, which a station
// running one command at a time never gets past.
func TestCommandsRunConcurrentlyAcrossCollectors(t *testing.T) {
	s, _ := openStore(t)
	now := time.Date(2026, 3, 10, 0, 5, 0, 0, time.UTC)
	front, terms, ms, clock, _ := cmdFleet(t, s, now)
	var mu sync.Mutex
	arrived := 0
	both := make(chan struct{})
	for _, ft := range terms {
		ft.onForward = func(ctx context.Context) error {
			mu.Lock()
			arrived++
			if arrived == 2 {
				close(both)
			}
			mu.Unlock()
			select {
			case <-both:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		front.set(fmt.Sprintf("0171-%d", len(front.terms)+1), ft)
	}
	e := New(s, front, clock, Config{Log: quiet(), FrameTimeout: time.Hour})
	runEngine(t, e)
	var ids []int64
	for _, row := range ms {
		c, err := e.Submit(context.Background(), row[0].ID, amigo.CmdRead, "op")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	waitFor(t, "both reads done", 20*time.Second, func() bool {
		for _, id := range ids {
			if command(t, s, id).Status != amigo.CmdSucceeded {
				return false
			}
		}
		return true
	})
}

// A reconnect asked for while a disconnect of the same meter waits for its
// collector supersedes it: when the collector returns, the disconnect ends
// expired without being sent and the relay ends closed.
func TestReconnectSupersedesPendingDisconnect(t *testing.T) {
	s, _ := openStore(t)
	now := time.Date(2026, 3, 10, 0, 5, 0, 0, time.UTC)
	front, terms, ms, clock, bus := cmdFleet(t, s, now)
	m := ms[0][0]
	var mu sync.Mutex
	trips := 0
	terms[0].onForward = func(context.Context) error { mu.Lock(); trips++; mu.Unlock(); return nil }
	e := New(s, front, clock, Config{Log: quiet()}) // collector offline
	runEngine(t, e)
	ctx := context.Background()
	off, err := e.Submit(ctx, m.ID, amigo.CmdDisconnect, "op")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the disconnect waiting for its collector", 20*time.Second, func() bool {
		return command(t, s, off.ID).Reason == "waiting for collector 0171-1 / 等待设备上线"
	})
	on, err := e.Submit(ctx, m.ID, amigo.CmdReconnect, "op")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reconnect waiting too", 20*time.Second, func() bool { return command(t, s, on.ID).Reason != "" })
	front.set("0171-1", terms[0])
	clock.Advance(31 * time.Second) // both retry 30 s later
	e.Wake()
	// Both are due in the same pass, each in its own worker: the reconnect
	// may be done before the disconnect's worker has recorded its end.
	waitFor(t, "the reconnect done and the disconnect ended", 20*time.Second, func() bool {
		return command(t, s, on.ID).Status == amigo.CmdSucceeded && command(t, s, off.ID).Status != amigo.CmdPending
	})
	c := command(t, s, off.ID)
	want := fmt.Sprintf("superseded by command %d before it was carried out / 已被命令%d取代", on.ID, on.ID)
	if c.Status != amigo.CmdExpired || c.Reason != want || c.Attempts != 0 {
		t.Fatalf("disconnect: %s %q after %d attempts, want expired %q after 0", c.Status, c.Reason, c.Attempts, want)
	}
	a, _ := dlt645.ParseAddress(m.Address)
	sm, _ := bus.Meter(a)
	if sm.RelayOpen() {
		t.Fatal("the relay is open after the reconnect")
	}
	mu.Lock()
	defer mu.Unlock()
	if trips != 2 { // the reconnect (1C) and its read-back (11)
		t.Fatalf("%d forwards, want 2", trips)
	}
}

// A forward the meter does not answer is tried again a minute later and
// succeeds on the second attempt; a command whose collector stays away
// past its validity expires.
func TestCommandRetryAndExpiry(t *testing.T) {
	s, _ := openStore(t)
	now := time.Date(2026, 3, 10, 0, 5, 0, 0, time.UTC)
	front, terms, ms, clock, _ := cmdFleet(t, s, now)
	var mu sync.Mutex
	forwards := 0
	terms[0].onForward = func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		forwards++
		if forwards == 1 {
			return errors.New("line busy (test)")
		}
		return nil
	}
	front.set("0171-1", terms[0]) // the second collector stays offline
	e := New(s, front, clock, Config{Log: quiet(), CommandTTL: time.Hour})
	runEngine(t, e)
	ctx := context.Background()
	rd, err := e.Submit(ctx, ms[0][0].ID, amigo.CmdRead, "op")
	if err != nil {
		t.Fatal(err)
	}
	away, err := e.Submit(ctx, ms[1][0].ID, amigo.CmdRead, "op")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt failed", 20*time.Second, func() bool {
		c := command(t, s, rd.ID)
		return c.Attempts == 1 && c.Status == amigo.CmdSent && c.Reason != ""
	})
	if c := command(t, s, rd.ID); !c.NextAttemptAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("next attempt at %s, want a minute later (%s)", c.NextAttemptAt, now.Add(time.Minute))
	}
	clock.Advance(time.Minute)
	e.Wake()
	waitFor(t, "the second attempt", 20*time.Second, func() bool { return command(t, s, rd.ID).Status == amigo.CmdSucceeded })
	if c := command(t, s, rd.ID); c.Attempts != 2 || c.Result == "" {
		t.Fatalf("read: %d attempts, result %q", c.Attempts, c.Result)
	}
	// Valid one hour: at 01:05:01 the waiting read has expired.
	clock.Set(now.Add(time.Hour + time.Second))
	e.Wake()
	waitFor(t, "the waiting command expired", 20*time.Second, func() bool { return command(t, s, away.ID).Status == amigo.CmdExpired })
	if c := command(t, s, away.ID); c.Attempts != 0 {
		t.Fatalf("the expired command was sent %d times", c.Attempts)
	}
}
