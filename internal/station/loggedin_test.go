package station

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// A login of a collector the scheduler has listed wakes the loops without
// listing the collectors again; one it has not listed (added since) has
// them listed again at the next pass.
func TestLoginRelistsOnlyAnUnknownCollector(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	site := amigo.Site{Name: "s", TimeZone: "Asia/Shanghai"}
	if err := s.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	c := amigo.Collector{SiteID: site.ID, Name: "c", Address: "0171-1"}
	if err := s.CreateCollector(ctx, &c); err != nil {
		t.Fatal(err)
	}
	e := newEngine(s, nil, vclock.NewManual(time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)))
	if _, err := e.sched.list(ctx, s, true); err != nil {
		t.Fatal(err)
	}
	e.LoggedIn(c.ID)
	if len(e.relist) != 0 || len(e.collectWake) != 1 || len(e.commandWake) != 1 {
		t.Fatalf("login of a listed collector: relist %d, collect wake %d, command wake %d; want 0, 1, 1", len(e.relist), len(e.collectWake), len(e.commandWake))
	}
	e.LoggedIn(c.ID + 1000)
	if len(e.relist) != 1 {
		t.Fatal("login of a collector not listed: no relisting")
	}
}

// genFront has no sessions; it counts its lookups and has a generation.
type genFront struct {
	mu      sync.Mutex
	gen     uint64
	lookups int
}

func (f *genFront) Terminal(string) (Terminal, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	return nil, false
}

func (f *genFront) Meter(string) (MeterLink, bool) { return nil, false }

func (f *genFront) Generation() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen
}

func (f *genFront) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// A pass looks the collectors' sessions up again only when the front end's
// generation changed since the last pass (a session started or ended).
func TestPassKeepsLookupsWhileTheGenerationStays(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	site := amigo.Site{Name: "s", TimeZone: "Asia/Shanghai"}
	if err := s.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		c := amigo.Collector{SiteID: site.ID, Name: "c", Address: fmt.Sprintf("0171-%d", i+1)}
		if err := s.CreateCollector(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	front := &genFront{}
	e := newEngine(s, front, vclock.NewManual(time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)))
	pass := func() {
		e.collect(ctx)
		e.sched.wait()
	}
	pass()
	if n := front.count(); n != 5 {
		t.Fatalf("first pass: %d lookups, want 5", n)
	}
	pass()
	if n := front.count(); n != 5 {
		t.Fatalf("second pass, nothing changed: %d lookups in all, want 5", n)
	}
	front.mu.Lock()
	front.gen++
	front.mu.Unlock()
	pass()
	if n := front.count(); n != 10 {
		t.Fatalf("after a session change: %d lookups in all, want 10", n)
	}
}

// listCounter counts the meter listings by what they filter on.
type listCounter struct {
	amigo.Store
	mu             sync.Mutex
	bySite, byColl int
	direct         int
}

func (l *listCounter) ListMeters(ctx context.Context, f amigo.MeterFilter) ([]amigo.Meter, int, error) {
	l.mu.Lock()
	switch {
	case f.DirectOnly:
		l.direct++ // a site's GPRS meters, listed at each of its slots
	case f.CollectorID != 0:
		l.byColl++
	default:
		l.bySite++
	}
	l.mu.Unlock()
	return l.Store.ListMeters(ctx, f)
}

// The scheduler lists every meter at once and fills each collector's
// archive from it: a collector's archive (its login's push, its slots)
// costs no listing of its own, until its archive changes.
func TestArchivesListedInBulk(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	site := amigo.Site{Name: "s", TimeZone: "Asia/Shanghai"}
	if err := s.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	var cols []amigo.Collector
	for i := range 3 {
		c := amigo.Collector{SiteID: site.ID, Name: "c", Address: fmt.Sprintf("0171-%d", i+1)}
		if err := s.CreateCollector(ctx, &c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
		for p := range i { // 0, 1 and 2 meters
			m := amigo.Meter{SiteID: site.ID, CollectorID: c.ID, Port: 1, Pn: p + 1, Address: fmt.Sprintf("0000000%02d%03d", i+1, p+1), InstalledAt: now.AddDate(0, 0, -1)}
			if err := s.CreateMeter(ctx, &m); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The collectors as the scheduler lists them, with their archive
	// revisions.
	reload := func() (before []amigo.Collector) {
		t.Helper()
		before = slices.Clone(cols)
		for i := range cols {
			c, err := s.GetCollector(ctx, cols[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			cols[i] = c
		}
		return before
	}
	reload()
	lc := &listCounter{Store: s}
	e := newEngine(lc, &genFront{}, vclock.NewManual(now))
	e.collect(ctx)
	e.sched.wait()
	for i, c := range cols {
		ms, err := e.archive(ctx, c, now)
		if err != nil || len(ms) != i {
			t.Fatalf("collector %d: %d meters, %v; want %d", i+1, len(ms), err, i)
		}
	}
	if lc.byColl != 0 || lc.bySite == 0 {
		t.Fatalf("listings: %d by collector, %d by site; want none by collector", lc.byColl, lc.bySite)
	}
	e.ArchiveChanged(cols[2].ID)
	if ms, err := e.archive(ctx, cols[2], now); err != nil || len(ms) != 2 || lc.byColl != 1 {
		t.Fatalf("after its archive changed: %d meters, %v, %d listings by collector; want 2, one", len(ms), err, lc.byColl)
	}
	// A day later, nothing changed: no listing. A meter added behind the
	// second collector by another hand (no ArchiveChanged): its revision
	// moved, and its meters alone are listed again.
	later := now.Add(24 * time.Hour)
	for i, c := range cols {
		if ms, err := e.archive(ctx, c, later); err != nil || len(ms) != i || lc.byColl != 1 {
			t.Fatalf("collector %d a day later: %d meters, %v, %d listings by collector; want %d, still one", i+1, len(ms), err, lc.byColl, i)
		}
	}
	m := amigo.Meter{SiteID: site.ID, CollectorID: cols[1].ID, Port: 1, Pn: 2, Address: "000000002002", InstalledAt: now}
	if err := s.CreateMeter(ctx, &m); err != nil {
		t.Fatal(err)
	}
	before := reload()
	for i, c := range cols {
		if moved := c.ArchiveRev != before[i].ArchiveRev; moved != (i == 1) {
			t.Fatalf("collector %d: revision %d -> %d after a meter was added behind collector 2", i+1, before[i].ArchiveRev, c.ArchiveRev)
		}
	}
	for i, c := range cols {
		want := []int{0, 2, 2}[i]
		if ms, err := e.archive(ctx, c, later); err != nil || len(ms) != want {
			t.Fatalf("collector %d after the meter was added: %d meters, %v; want %d", i+1, len(ms), err, want)
		}
	}
	if lc.byColl != 2 {
		t.Fatalf("%d listings by collector after a meter was added behind one, want 2", lc.byColl)
	}
}
