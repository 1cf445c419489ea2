package station

import (
	"context"
	"fmt"
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
