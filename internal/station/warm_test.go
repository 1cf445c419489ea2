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
