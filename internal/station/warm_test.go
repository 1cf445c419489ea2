package station

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// queryCounter counts the store's neighbour queries by name and kind.
type queryCounter struct {
	amigo.Store
	mu sync.Mutex
	n  map[string]int
}

func (q *queryCounter) add(name string) {
	q.mu.Lock()
	q.n[name]++
	q.mu.Unlock()
}

func (q *queryCounter) get(name string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n[name]
}

func (q *queryCounter) ReadingsAround(ctx context.Context, id int64, kind string, from, to time.Time) ([]amigo.Reading, error) {
	q.add("around " + kind)
	return q.Store.ReadingsAround(ctx, id, kind, from, to)
}

func (q *queryCounter) ReadingsOfMeters(ctx context.Context, ids []int64, kinds []string, from, to time.Time) (map[int64][]amigo.Reading, error) {
	for _, k := range kinds {
		q.add("window " + k)
	}
	return q.Store.ReadingsOfMeters(ctx, ids, kinds, from, to)
}

func (q *queryCounter) LatestReadings(ctx context.Context, ids []int64, kind string) (map[int64]amigo.Reading, error) {
	q.add("latest " + kind)
	return q.Store.LatestReadings(ctx, ids, kind)
}

// A collector's first pass after a start reads what validation needs in one
// query for all its meters: a meter with nothing stored costs no query of
// its own, and a meter whose last stored reading is far older than the
// look-back window is still checked against it (its register went back:
// flagged). Its two requests ask the store nothing more.
func TestFirstPassWarmsValidationInOneQuery(t *testing.T) {
	base, _ := openStore(t)
	st := &queryCounter{Store: base, n: map[string]int{}}
	site, cs, ms := fleet(t, base, 1, 20)
	loc := site.Location()
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, loc)
	// Meter pn 1 reads about 169 kWh today; 3 hours ago it was stored at
	// 500 kWh (beyond the 1-hour look-back of real-time validation).
	old := amigo.Reading{MeterID: ms[0][0].ID, Kind: amigo.KindRealtime, Time: now.Add(-3 * time.Hour).UTC(), HasForward: true,
		Quality: amigo.QualityActual, Source: "test", ReceivedAt: now.Add(-3 * time.Hour).UTC()}
	old.Forward[0] = amigo.KWh(500)
	if _, err := base.WriteReadings(context.Background(), []amigo.Reading{old}); err != nil {
		t.Fatal(err)
	}
	clock := vclock.NewManual(now)
	front := &termFront{terms: map[string]*fakeTerm{cs[0].Address: newFakeTerm(t, cs[0].Address, clock, loc)}}
	e := New(st, front, clock, Config{Log: quiet()})
	runEngine(t, e)
	waitFor(t, "every meter's real-time reading", 20*time.Second, func() bool {
		for _, m := range ms[0] {
			if count(t, base, m, amigo.KindRealtime, now.Add(-time.Minute), now.Add(time.Minute)) != 1 {
				return false
			}
		}
		return true
	})
	rs, err := base.ListReadings(context.Background(), ms[0][0].ID, amigo.KindRealtime, now.Add(-time.Minute), now.Add(time.Minute))
	if err != nil || len(rs) != 1 {
		t.Fatalf("meter 1's new reading: %v %v", rs, err)
	}
	if rs[0].Flags&amigo.FlagReversed == 0 {
		t.Fatalf("a register 331 kWh below the stored one 3 hours before is not flagged reversed: flags %d", rs[0].Flags)
	}
	if n := st.get("latest " + amigo.KindRealtime); n != 1 {
		t.Fatalf("%d LatestReadings queries for the real-time pass, want 1", n)
	}
	if n, w := st.get("around "+amigo.KindRealtime), st.get("window "+amigo.KindRealtime); n != 0 || w != 0 {
		t.Fatalf("the first pass still asked the store per batch or meter: %d ReadingsAround, %d ReadingsOfMeters", n, w)
	}
}

// A slot read again (its readings stored already) costs validation no
// query of its own and raises nothing; a new reading after a stored one in
// the same batch is still checked against the stored reading before it.
func TestValidateSlotReadAgain(t *testing.T) {
	base, _ := openStore(t)
	st := &queryCounter{Store: base, n: map[string]int{}}
	_, _, ms := fleet(t, base, 1, 1)
	m := ms[0][0]
	t0 := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	rd := func(at time.Time, kwh int64) amigo.Reading {
		r := amigo.Reading{MeterID: m.ID, Kind: amigo.KindRealtime, Time: at, HasForward: true, Quality: amigo.QualityActual, Source: "test", ReceivedAt: at}
		r.Forward[0] = amigo.KWh(kwh)
		return r
	}
	if _, err := base.WriteReadings(context.Background(), []amigo.Reading{rd(t0, 100), rd(t0.Add(15*time.Minute), 101)}); err != nil {
		t.Fatal(err)
	}
	e := New(st, &termFront{terms: map[string]*fakeTerm{}}, vclock.NewManual(t0.Add(time.Hour)), Config{Log: quiet()})
	meters := map[int64]amigo.Meter{m.ID: m}
	again := []amigo.Reading{rd(t0, 100), rd(t0.Add(15*time.Minute), 101)}
	if evs := e.validate(context.Background(), again, meters); len(evs) != 0 {
		t.Fatalf("a slot read again raised %v", evs)
	}
	if n := st.get("around " + amigo.KindRealtime); n != 0 {
		t.Fatalf("%d ReadingsAround for readings stored already", n)
	}
	// The stored 08:15 again, then 08:30 below it: reversed.
	mixed := []amigo.Reading{rd(t0.Add(15*time.Minute), 101), rd(t0.Add(30*time.Minute), 90)}
	evs := e.validate(context.Background(), mixed, meters)
	if mixed[1].Flags&amigo.FlagReversed == 0 || len(evs) == 0 {
		t.Fatalf("08:30 at 90 kWh after 101 kWh stored: flags %d, events %v", mixed[1].Flags, evs)
	}
	if n := st.get("around " + amigo.KindRealtime); n != 0 {
		t.Fatalf("%d ReadingsAround with the neighbour in the window", n)
	}
}

// dailyTimes counts the daily passes' look-ups of the freezes in store.
type dailyTimes struct {
	*queryCounter
}

func (q dailyTimes) ReadingTimes(ctx context.Context, ids []int64, kind string, from, to time.Time) (map[int64][]time.Time, error) {
	q.add("times " + kind)
	return q.Store.ReadingTimes(ctx, ids, kind, from, to)
}

// oneCollector runs an engine over wrap(store) (the store itself when wrap
// is nil) with one collector of three meters answering on a manual clock
// at 2026-03-10 08:00 site time. slotDone waits for the collector's daily
// pass of the slot at the clock's time; next moves the clock on by d and
// waits for the next one.
type oneCollector struct {
	base  amigo.Store
	site  amigo.Site
	c     amigo.Collector
	ms    []amigo.Meter
	now   time.Time
	clock *vclock.Manual
	e     *Engine
}

func startOneCollector(t *testing.T, wrap func(amigo.Store) amigo.Store) *oneCollector {
	t.Helper()
	base, _ := openStore(t)
	st := amigo.Store(base)
	if wrap != nil {
		st = wrap(base)
	}
	site, cs, ms := fleet(t, base, 1, 3)
	loc := site.Location()
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, loc)
	clock := vclock.NewManual(now)
	front := &termFront{terms: map[string]*fakeTerm{cs[0].Address: newFakeTerm(t, cs[0].Address, clock, loc)}}
	e := New(st, front, clock, Config{Log: quiet()})
	runEngine(t, e)
	return &oneCollector{base: base, site: site, c: cs[0], ms: ms[0], now: now, clock: clock, e: e}
}

func (o *oneCollector) slotDone(t *testing.T, what string) {
	t.Helper()
	at := o.clock.Now()
	waitFor(t, what, 20*time.Second, func() bool {
		o.e.mu.Lock()
		defer o.e.mu.Unlock()
		return !o.e.lastDaily[o.c.ID].Before(at)
	})
}

func (o *oneCollector) next(t *testing.T, d time.Duration, what string) {
	t.Helper()
	o.clock.Advance(d)
	o.e.Wake()
	o.slotDone(t, what)
}

// A daily pass that found no freeze missing is not looked up again that
// day for the same meters: the next slots ask the store nothing. A meter
// added to the collector, or the next day, makes the pass look again.
func TestDailyPassCompleteAsksNothingUntilDayOrMetersChange(t *testing.T) {
	var qc *queryCounter
	o := startOneCollector(t, func(s amigo.Store) amigo.Store {
		qc = &queryCounter{Store: s, n: map[string]int{}}
		return dailyTimes{qc}
	})
	base, site, now, e, c := o.base, o.site, o.now, o.e, o.c.ID
	o.slotDone(t, "the first daily pass")
	// The first pass found every day of the backfill missing and asked for
	// them; the second finds none missing.
	o.next(t, 15*time.Minute, "the second daily pass")
	if n := qc.get("times " + amigo.KindDaily); n != 2 {
		t.Fatalf("%d look-ups of the freezes after two passes, want 2", n)
	}
	for _, m := range o.ms {
		if n := count(t, base, m, amigo.KindDaily, now.AddDate(0, 0, -3), now); n != 3 {
			t.Fatalf("meter %s: %d freezes of the last three days, want 3", m.Address, n)
		}
	}
	o.next(t, 15*time.Minute, "the third daily pass")
	o.next(t, 15*time.Minute, "the fourth daily pass")
	if n := qc.get("times " + amigo.KindDaily); n != 2 {
		t.Fatalf("%d look-ups of the freezes after four passes, want still 2 (nothing missing)", n)
	}
	// A meter added: its freezes are looked up (and asked for).
	m := amigo.Meter{SiteID: site.ID, CollectorID: c, Port: 1, Pn: 4, Address: "000000001004", Password: "02123456"}
	if err := base.CreateMeter(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	e.ArchiveChanged(c)
	o.next(t, 15*time.Minute, "the pass after a meter was added")
	if n := qc.get("times " + amigo.KindDaily); n != 3 {
		t.Fatalf("%d look-ups of the freezes after a meter was added, want 3", n)
	}
	if n := count(t, base, m, amigo.KindDaily, now.AddDate(0, 0, -3), now); n != 3 {
		t.Fatalf("added meter: %d freezes of the last three days, want 3", n)
	}
	o.next(t, 15*time.Minute, "the pass after that")
	if n := qc.get("times " + amigo.KindDaily); n != 4 {
		t.Fatalf("%d look-ups, want 4 (the pass that found the added meter complete)", n)
	}
	// The next day: today's freeze is wanted, looked up once more.
	o.next(t, 24*time.Hour, "the next day's pass")
	if n := qc.get("times " + amigo.KindDaily); n != 5 {
		t.Fatalf("%d look-ups on the next day, want 5", n)
	}
}

// The meters' status written after a pass is kept in the meters as
// listed: the next slots list nothing and find nothing to write, every
// meter online in the store.
func TestStatusWrittenKeepsTheListing(t *testing.T) {
	var lc *listCounter
	o := startOneCollector(t, func(s amigo.Store) amigo.Store {
		lc = &listCounter{Store: s}
		return lc
	})
	base, e, c := o.base, o.e, o.c.ID
	online := func() bool {
		got, _, err := base.ListMeters(context.Background(), amigo.MeterFilter{CollectorID: c, NoTotal: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range got {
			if m.Status != amigo.StatusOnline {
				return false
			}
		}
		return len(got) == len(o.ms)
	}
	listed := func() bool {
		e.sched.mu.Lock()
		defer e.sched.mu.Unlock()
		a, ok := e.sched.archives[c]
		if !ok || len(a.meters) != len(o.ms) {
			return false
		}
		for _, m := range a.meters {
			if m.Status != amigo.StatusOnline {
				return false
			}
		}
		return true
	}
	waitFor(t, "every meter online, in the store and as listed", 20*time.Second, func() bool { return online() && listed() })
	lc.mu.Lock()
	before := lc.byColl + lc.bySite
	lc.mu.Unlock()
	for range 3 {
		o.next(t, 15*time.Minute, "the next slot")
	}
	lc.mu.Lock()
	after := lc.byColl + lc.bySite
	lc.mu.Unlock()
	if after != before {
		t.Fatalf("%d listings of the meters in three slots after their status was written (%d by collector), want none", after-before, lc.byColl)
	}
}
