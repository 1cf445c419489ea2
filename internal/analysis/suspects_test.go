package analysis

import (
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// Four customer meters under one supply meter over Jan 1..5 (days 1..4),
// the supply 100 kWh a day: m1 (address d) steady 30 a day; m2 (c) 30, 30,
// then 10, 10 (it under-registers from day 3); m3 (b) 20, 20, 15, 20; m4
// (a) 10 a day, first without its Jan 3 freeze (days 2 and 3 are gaps).
func TestSuspectsRanking(t *testing.T) {
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 1, 5, 0, 0, 0, 0, loc)
	series := func(id int64, kwh ...int64) []amigo.Reading {
		var rs []amigo.Reading
		var sum int64 = 1000
		rs = append(rs, daily(id, 1, sum))
		for i, k := range kwh {
			sum += k
			rs = append(rs, daily(id, i+2, sum))
		}
		return rs
	}
	meter := func(id int64, addr string) amigo.Meter { return amigo.Meter{ID: id, Address: addr} }
	supply := []Segment{{Meter: meter(10, "s"), Readings: series(10, 100, 100, 100, 100)}}
	m4 := series(4, 10, 10, 10, 10)
	m4 = append(m4[:2], m4[3:]...) // no freeze on Jan 3
	customers := []Segment{
		{Meter: meter(1, "d"), Readings: series(1, 30, 30, 30, 30)},
		{Meter: meter(2, "c"), Readings: series(2, 30, 30, 10, 10)},
		{Meter: meter(3, "b"), Readings: series(3, 20, 20, 15, 20)},
		{Meter: meter(4, "a"), Readings: m4},
	}
	got, err := Suspects(supply, customers, from, to, loc, map[int64]int{3: 1}, map[int64]int{1: 2})
	if err != nil {
		t.Fatal(err)
	}
	// m4: 2 missing days first; then m3 (1 stopped), m1 (2 reversals), m2.
	order := []string{"a", "b", "d", "c"}
	for i, s := range got {
		if s.Meter.Address != order[i] {
			t.Fatalf("rank %d: %s, want %s (%+v)", i, s.Meter.Address, order[i], got)
		}
	}
	if got[0].MissingDays != 2 || got[1].Stopped != 1 || got[2].Reversed != 2 {
		t.Errorf("signs: %+v", got)
	}

	// Every freeze present. Losses: day 1: 100−(30+30+20+10)=10 → 10 %;
	// day 2: same, 10 %; day 3: 100−(30+10+15+10)=35 → 35 % (rose):
	// drops m2 30→10 = 20, m3 20→15 = 5, total 25; day 4:
	// 100−(30+10+20+10)=30 → 30 % (fell). Shares: m2 20/25 = 0.8, m3
	// 5/25 = 0.2. No events: m2, then m3, then m1 and m4 (no drop) by
	// address (a, d).
	customers[3].Readings = series(4, 10, 10, 10, 10)
	got, err = Suspects(supply, customers, from, to, loc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	order = []string{"c", "b", "a", "d"}
	for i, s := range got {
		if s.Meter.Address != order[i] {
			t.Fatalf("rank %d: %s, want %s (%+v)", i, s.Meter.Address, order[i], got)
		}
	}
	if got[0].Drop != amigo.KWh(20) || got[0].DropShare != 0.8 || got[1].Drop != amigo.KWh(5) || got[1].DropShare != 0.2 || got[2].Signs() || got[0].MissingDays != 0 {
		t.Errorf("drops: %+v", got)
	}
}
