package station

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// A site's GPRS meters in one pass, read side by side: the connected ones
// answer and go online with their slot reading and the freezes they lack,
// one that does not answer goes faulty, one with no connection offline.
// The next slot adds its real-time readings and reads no freeze again.
func TestDirectPassOverManyMeters(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	loc, _ := time.LoadLocation("Asia/Shanghai")
	start := time.Date(2026, 3, 8, 12, 0, 0, 0, loc)
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, loc)
	clock := vclock.NewManual(start)
	site := amigo.Site{Name: "gprs", TimeZone: "Asia/Shanghai"}
	if err := s.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	const answering = 2 * directParallel // more than one pass reads at once
	front := directFront{}
	var sims []*sim.Meter
	var ms []amigo.Meter
	for i := range answering + 2 {
		m := amigo.Meter{SiteID: site.ID, Address: fmt.Sprintf("0000000%05d", i+1), Direct: true, InstalledAt: start}
		if err := s.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
		if i < answering {
			a, _ := dlt645.ParseAddress(m.Address)
			sims = append(sims, sim.NewMeter(sim.MeterConfig{Address: a, Phases: 1, Seed: uint64(i + 1), Auth: sim.DefaultAuth}, start))
		}
	}
	bus := sim.NewBus(clock, sims...)
	var asked atomic.Int64
	for _, m := range ms[:answering] {
		front[m.Address] = countLink{busLink{bus}, &asked}
	}
	// The last but one is connected but on no bus (no answer); the last
	// has no connection at all.
	mute, gone := ms[answering], ms[answering+1]
	front[mute.Address] = busLink{sim.NewBus(clock)}
	clock.Set(now)
	e := newEngine(s, front, clock)
	e.collectDirect(ctx, site)

	today := amigo.Day(now, loc)
	for _, m := range ms[:answering] {
		got, err := s.GetMeter(ctx, m.ID)
		if err != nil || got.Status != amigo.StatusOnline {
			t.Fatalf("meter %s: %s (%v), want online", m.Address, got.Status, err)
		}
		rt, _ := s.ListReadings(ctx, m.ID, amigo.KindRealtime, today, today.AddDate(0, 0, 1))
		daily, _ := s.ListReadings(ctx, m.ID, amigo.KindDaily, start, today.Add(time.Hour))
		// Freezes of 03-09 and 03-10 00:00 (installed 03-08 noon).
		if len(rt) != 1 || !rt[0].Time.Equal(now) || len(daily) != 2 || !daily[1].Time.Equal(today) {
			t.Fatalf("meter %s: real-time %+v, daily %+v", m.Address, rt, daily)
		}
	}
	if got, _ := s.GetMeter(ctx, mute.ID); got.Status != amigo.StatusFaulty || !strings.HasPrefix(got.Reason, "no answer") {
		t.Fatalf("the mute meter: %s %q, want faulty, no answer", got.Status, got.Reason)
	}
	if got, _ := s.GetMeter(ctx, gone.ID); got.Status != amigo.StatusOffline {
		t.Fatalf("the meter with no connection: %s, want offline", got.Status)
	}

	// The next slot: one more real-time reading each, no freeze read again.
	before := asked.Load()
	clock.Set(now.Add(15 * time.Minute))
	e.collectDirect(ctx, site)
	for _, m := range ms[:answering] {
		rt, _ := s.ListReadings(ctx, m.ID, amigo.KindRealtime, today, today.AddDate(0, 0, 1))
		daily, _ := s.ListReadings(ctx, m.ID, amigo.KindDaily, start, today.Add(time.Hour))
		if len(rt) != 2 || len(daily) != 2 {
			t.Fatalf("meter %s after the next slot: %d real-time, %d daily readings, want 2 and 2", m.Address, len(rt), len(daily))
		}
	}
	// Per meter: energy, power, date and time; no freeze.
	if n := asked.Load() - before; n != 4*answering {
		t.Fatalf("the next slot asked the meters %d times, want %d", n, 4*answering)
	}
}

// countLink counts the requests sent over a link.
type countLink struct {
	MeterLink
	n *atomic.Int64
}

func (l countLink) Exchange(ctx context.Context, req dlt645.Frame, timeout time.Duration) (dlt645.Frame, error) {
	l.n.Add(1)
	return l.MeterLink.Exchange(ctx, req, timeout)
}
