package analysis

import (
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

var loc = time.FixedZone("CST", 8*3600)

func daily(meter int64, day int, kwh int64) amigo.Reading {
	return amigo.Reading{MeterID: meter, Kind: amigo.KindDaily, Time: time.Date(2026, 1, day, 0, 0, 0, 0, loc).UTC(), Forward: [5]amigo.Energy{amigo.KWh(kwh)}, HasForward: true}
}

func TestConsumptionGapsRollOverAndSwap(t *testing.T) {
	old := Segment{Meter: amigo.Meter{ID: 1}, Readings: []amigo.Reading{daily(1, 1, 100), daily(1, 2, 110), daily(1, 3, 125), daily(1, 5, 140)}}
	pts := Consumption([]Segment{old}, "day", time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 1, 5, 0, 0, 0, 0, loc), loc)
	if len(pts) != 4 || *pts[0].Energy != amigo.KWh(10) || *pts[1].Energy != amigo.KWh(15) || pts[2].Energy != nil || pts[3].Energy != nil {
		t.Fatalf("points %+v", pts)
	}
	// A register rolling over 999999.99.
	wrap := Segment{Meter: amigo.Meter{ID: 2}, Readings: []amigo.Reading{daily(2, 1, 999995), daily(2, 2, 3)}}
	pts = Consumption([]Segment{wrap}, "day", time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 1, 2, 0, 0, 0, 0, loc), loc)
	if *pts[0].Energy != amigo.KWh(8) {
		t.Fatalf("roll-over %s", pts[0].Energy)
	}
	// A gap is a gap, not zero: a month with a missing day has no total.
	pts = Consumption([]Segment{old}, "month", time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 1, 31, 0, 0, 0, 0, loc), loc)
	if len(pts) != 1 || pts[0].Energy != nil {
		t.Fatalf("month %+v", pts)
	}
}

// A meter swap keeps the account continuous: the old meter's removal
// reading and the new meter's installation reading bridge the swap day.
func TestConsumptionAcrossASwap(t *testing.T) {
	swap := time.Date(2026, 1, 3, 14, 0, 0, 0, loc)
	manual := func(meter int64, kwh int64) amigo.Reading {
		return amigo.Reading{MeterID: meter, Kind: amigo.KindManual, Time: swap.UTC(), Forward: [5]amigo.Energy{amigo.KWh(kwh)}, HasForward: true}
	}
	old := Segment{Meter: amigo.Meter{ID: 1, RemovedAt: swap}, Readings: []amigo.Reading{daily(1, 2, 500), daily(1, 3, 510), manual(1, 516)}}
	repl := Segment{Meter: amigo.Meter{ID: 2, InstalledAt: swap}, Readings: []amigo.Reading{manual(2, 0), daily(2, 4, 7), daily(2, 5, 19)}}
	pts := Consumption([]Segment{old, repl}, "day", time.Date(2026, 1, 2, 0, 0, 0, 0, loc), time.Date(2026, 1, 5, 0, 0, 0, 0, loc), loc)
	want := []int64{10, 13, 12} // 510-500; (516-510)+(7-0); 19-7
	for i, w := range want {
		if pts[i].Energy == nil || *pts[i].Energy != amigo.KWh(w) {
			t.Fatalf("day %d: %v, want %d kWh", i, pts[i].Energy, w)
		}
	}
	// Without the removal reading the swap day is a gap, not a guess.
	old.Readings = old.Readings[:2]
	pts = Consumption([]Segment{old, repl}, "day", time.Date(2026, 1, 3, 0, 0, 0, 0, loc), time.Date(2026, 1, 4, 0, 0, 0, 0, loc), loc)
	if pts[0].Energy != nil {
		t.Fatalf("swap day without the removal reading: %s", pts[0].Energy)
	}
}

func TestSuccessRateAndLineLoss(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
	closing := day.AddDate(0, 0, 1).UTC()
	ms := []amigo.Meter{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4, InstalledAt: day.AddDate(0, 0, 3)}}
	r := SuccessRate(ms, map[int64][]time.Time{1: {closing}, 2: {closing}}, day, loc)
	if r.Expected != 3 || r.Read != 2 || int(r.Percent) != 66 {
		t.Fatalf("rate %+v", r)
	}
	a := amigo.Area{LossLow: -1, LossHigh: 10}
	l := LineLoss(a, amigo.KWh(100), true, []amigo.Energy{amigo.KWh(50), amigo.KWh(45)}, true)
	if !l.Complete || *l.Percent != 5 || l.OutOfBand {
		t.Fatalf("loss %+v", l)
	}
	if l := LineLoss(a, amigo.KWh(100), true, []amigo.Energy{amigo.KWh(80)}, true); !l.OutOfBand {
		t.Fatal("20 % loss not flagged")
	}
	if l := LineLoss(a, amigo.KWh(100), true, nil, false); l.Complete || l.Percent != nil {
		t.Fatal("incomplete data gave a loss figure")
	}
}
