package station_test

import (
	"context"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/sim"
)

// A meter that refuses its daily freeze: the collector keeps its current
// registers as the day's value, and the station stores that day with the
// quality "from-current"; its neighbour's freeze stays "actual". A
// DL/T 645-1997 meter (no freezes, no 2007 frames) is read with 1997 frames
// and its days come from its current registers too.
func TestDailyFromCurrentRegistersAnd1997(t *testing.T) {
	start := time.Date(2026, 6, 1, 23, 50, 0, 0, cst)
	s := startSystem(t, systemConfig{start: start, speed: 300, meters: 3, proto97: map[int]bool{3: true},
		prepare: func(fl *sim.Fleet) {
			a, _ := sim.AddressN("000000000001", 1) // meter 2
			if err := fl.Bus.ApplyFault(a.String() + ":no-freeze"); err != nil {
				t.Fatal(err)
			}
		}})
	// Day 2026-06-01 ends at 2026-06-02 00:00.
	end := time.Date(2026, 6, 2, 0, 0, 0, 0, cst)
	var r1, r2, r3 amigo.Reading
	waitFor(t, "the three meters' day at the station", 60*time.Second, func() bool {
		var ok1, ok2, ok3 bool
		r1, ok1 = s.daily(1, end)
		r2, ok2 = s.daily(2, end)
		r3, ok3 = s.daily(3, end)
		return ok1 && ok2 && ok3
	})
	if r1.Quality != amigo.QualityActual {
		t.Errorf("meter 1 froze its day: quality %q, want actual", r1.Quality)
	}
	if r2.Quality != amigo.QualityFromCurrent || r3.Quality != amigo.QualityFromCurrent {
		t.Errorf("qualities %q and %q, want %q", r2.Quality, r3.Quality, amigo.QualityFromCurrent)
	}
	// The value is what the meter's registers held when the collector read
	// them: at or after the end of the day, so at least the register at
	// 00:00, and what the collector stored, to the 0.01 kWh.
	ctx := context.Background()
	for pn, r := range map[uint16]amigo.Reading{2: r2, 3: r3} {
		cr, ok, err := s.colStore.At(ctx, pn, collector.KindDaily, end.UTC())
		if err != nil || !ok || !cr.FromCurrent {
			t.Fatalf("p%d: collector keeps %+v, %v, %v", pn, cr, ok, err)
		}
		// 0.01 kWh in the collector is 100 units of 0.0001 kWh at the station.
		if int64(r.Forward[0]) != cr.Fwd[0]*100 {
			t.Errorf("p%d: station %d, collector %d x 100", pn, r.Forward[0], cr.Fwd[0])
		}
		a, _ := sim.AddressN("000000000001", int(pn-1))
		m, _ := s.fleet.Bus.Meter(a)
		// The meter froze internally at 00:00 (it only refused to tell);
		// the registers read later hold at least that and at most now's.
		now := s.clock.Now()
		at, frozen, ok := m.DailyFrozen(now, 1)
		if !ok || !at.Equal(end) {
			t.Fatalf("p%d: the meter's own freeze %v %v", pn, at, ok)
		}
		if cur := m.ForwardTotal(now); cr.Fwd[0] < frozen.Mant || cr.Fwd[0] > cur.Mant {
			t.Errorf("p%d: kept %d, outside [%s at 00:00, %s now]", pn, cr.Fwd[0], frozen, cur)
		}
	}
	// The 1997 meter's reverse total came over 1997 frames, without tariffs.
	if !r3.HasReverse {
		t.Errorf("1997 meter: no reverse total")
	}
	// The 1997 meter's real-time data arrived too.
	waitFor(t, "1997 real-time data", 30*time.Second, func() bool {
		r, err := s.store.LastReading(ctx, s.meters[2].ID, amigo.KindRealtime)
		return err == nil && r.HasForward && r.Forward[0] > 0
	})
}
