package analysis

import (
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// Between: registers × CT × PT across a swap; a boundary missing or only
// estimated is named, never zero; tariff registers at zero mean none.
func TestBetween(t *testing.T) {
	d := func(day int) time.Time { return time.Date(2026, 1, day, 0, 0, 0, 0, loc) }
	old := amigo.Meter{ID: 1, Address: "000000000001", CTRatio: 5, PTRatio: 2, RemovedAt: d(10)}
	nw := amigo.Meter{ID: 2, Address: "000000000002", CTRatio: 1, InstalledAt: d(10)}
	segs := []Segment{
		{Meter: old, Readings: []amigo.Reading{reg(1, d(1), amigo.KindDaily, [5]string{"100", "10", "40", "30", "20"}, ""), reg(1, d(10), amigo.KindDaily, [5]string{"110", "11", "44", "33", "22"}, "")}},
		{Meter: nw, Readings: []amigo.Reading{reg(2, d(10), amigo.KindDaily, [5]string{"0", "0", "0", "0", "0"}, ""), reg(2, d(20), amigo.KindDaily, [5]string{"50", "5", "20", "15", "10"}, "")}},
	}
	// old: 10 kWh × 5 × 2 = 100 (T1 10, T2 40, T3 30, T4 20); new: 50 (5, 20, 15, 10).
	iv := Between(segs, d(1), d(20))
	if !iv.Known || !iv.HasTariffs || iv.Energy != kwh("150") || iv.Tariff != [4]amigo.Energy{kwh("15"), kwh("60"), kwh("45"), kwh("30")} || len(iv.Missing) != 0 {
		t.Fatalf("across the swap: %+v", iv)
	}
	// The new meter's closing freeze is only an estimate: named, not used.
	est := reg(2, d(21), amigo.KindDaily, [5]string{"55"}, "")
	est.Quality = amigo.QualityEstimated
	segs[1].Readings = append(segs[1].Readings, est)
	iv = Between(segs, d(1), d(21))
	if iv.Known || len(iv.Missing) != 1 || !iv.Missing[0].Estimated || iv.Missing[0].MeterID != 2 || !iv.Missing[0].Time.Equal(d(21)) {
		t.Fatalf("estimated boundary: %+v", iv)
	}
	// A meter without tariff registers: total known, tariffs not.
	flat := []Segment{{Meter: amigo.Meter{ID: 3}, Readings: []amigo.Reading{reg(3, d(1), amigo.KindDaily, fwd("100"), ""), reg(3, d(2), amigo.KindDaily, fwd("107.5"), "")}}}
	iv = Between(flat, d(1), d(2))
	if !iv.Known || iv.HasTariffs || iv.Energy != kwh("7.5") {
		t.Fatalf("no tariff registers: %+v", iv)
	}
	// No meter in service (the old one removed on the 10th, alone).
	if iv := Between(segs[:1], d(11), d(12)); iv.Served || len(iv.Missing) != 0 {
		t.Fatalf("no meter: %+v", iv)
	}
}
