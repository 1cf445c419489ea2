package station

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// A restarted station does not judge its collectors offline while they
// reconnect (StartGrace): the one that logs in within the grace raises no
// alarm and no back-online note, the one still away after it is judged
// offline once, with its alarm; without a grace the judgement is at once.
func TestStartGrace(t *testing.T) {
	ctx := context.Background()
	for _, grace := range []time.Duration{0, time.Minute} {
		s, _ := openStore(t)
		start := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
		site := amigo.Site{Name: "grace", TimeZone: "Asia/Shanghai"}
		if err := s.CreateSite(ctx, &site); err != nil {
			t.Fatal(err)
		}
		var cols []amigo.Collector
		for _, a := range []string{"0171-1", "0171-2"} {
			c := amigo.Collector{SiteID: site.ID, Address: a}
			if err := s.CreateCollector(ctx, &c); err != nil {
				t.Fatal(err)
			}
			// Online when the last station stopped.
			if err := s.SetCollectorStatus(ctx, c.ID, amigo.StatusOnline, "", start); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, c)
		}
		var real atomic.Int64
		real.Store(start.UnixNano())
		front := &termFront{terms: map[string]*fakeTerm{}}
		clock := vclock.NewManual(start)
		e := New(s, front, clock, Config{StartGrace: grace, RealNow: func() time.Time { return time.Unix(0, real.Load()) }})
		e.startGrace()
		status := func(c amigo.Collector) string {
			got, err := s.GetCollector(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Status
		}

		e.collect(ctx) // no session yet
		if grace == 0 {
			if status(cols[0]) != amigo.StatusOffline || status(cols[1]) != amigo.StatusOffline {
				t.Fatalf("no grace: %s, %s, want both offline at once", status(cols[0]), status(cols[1]))
			}
			if n := len(events(t, s, amigo.EventCollectorDown)); n != 2 {
				t.Fatalf("no grace: %d offline alarms, want 2", n)
			}
			continue
		}
		if status(cols[0]) != amigo.StatusOnline || status(cols[1]) != amigo.StatusOnline {
			t.Fatalf("within the grace: %s, %s, want both still online", status(cols[0]), status(cols[1]))
		}
		// The first comes back within the grace.
		front.set(cols[0].Address, newFakeTerm(t, cols[0].Address, clock, site.Location()))
		real.Add(int64(30 * time.Second))
		e.collect(ctx)
		if n := len(events(t, s, amigo.EventCollectorDown)) + len(events(t, s, amigo.EventCollectorUp)); n != 0 {
			t.Fatalf("within the grace: %d offline/online events, want none", n)
		}
		// Past the grace: the second is judged, once.
		real.Add(int64(31 * time.Second))
		e.collect(ctx)
		e.collect(ctx)
		if status(cols[0]) != amigo.StatusOnline || status(cols[1]) != amigo.StatusOffline {
			t.Fatalf("past the grace: %s, %s, want online, offline", status(cols[0]), status(cols[1]))
		}
		if es := events(t, s, amigo.EventCollectorDown); len(es) != 1 || es[0].CollectorID != cols[1].ID {
			t.Fatalf("past the grace: offline alarms %+v, want one for %s", es, cols[1].Address)
		}
		if n := len(events(t, s, amigo.EventCollectorUp)); n != 0 {
			t.Fatalf("%d back-online notes, want none", n)
		}
	}
}
