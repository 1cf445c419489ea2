package analysis

import (
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// Line loss on hand numbers. The supply meter, CT 40, advances 25.00 kWh:
// 25.00 x 40 = 1000.00 kWh. Customers: C1 400.00; C2 swapped at 14:00
// (old 100.00 -> 220.00 at removal = 120.00, new 0.00 -> 180.00 = 180.00,
// 300.00 in all); C3 retired at 10:00 (1000.00 -> 1250.00 = 250.00); C4
// installed the next day does not count. Σ = 400 + 300 + 250 = 950.00;
// loss = (1000 − 950) / 1000 = 5.00 %.
func TestAreaDayLoss(t *testing.T) {
	day := time.Date(2026, 6, 10, 0, 0, 0, 0, loc)
	end := day.AddDate(0, 0, 1)
	swap, retire := day.Add(14*time.Hour), day.Add(10*time.Hour)
	a := amigo.Area{ID: 1, SupplyMeterID: 10, LossLow: 1, LossHigh: 6}
	supply := []Segment{{Meter: amigo.Meter{ID: 10, Address: "S", CTRatio: 40}, Readings: []amigo.Reading{
		reg(10, day, amigo.KindDaily, fwd("3000.00"), ""), reg(10, end, amigo.KindDaily, fwd("3025.00"), "")}}}
	c1 := Segment{Meter: amigo.Meter{ID: 1, Address: "C1"}, Readings: []amigo.Reading{
		reg(1, day, amigo.KindDaily, fwd("600.00"), ""), reg(1, end, amigo.KindDaily, fwd("1000.00"), "")}}
	c2old := Segment{Meter: amigo.Meter{ID: 2, Address: "C2old", RemovedAt: swap}, Readings: []amigo.Reading{
		reg(2, day, amigo.KindDaily, fwd("100.00"), ""), reg(2, swap, amigo.KindManual, fwd("220.00"), "")}}
	c2new := Segment{Meter: amigo.Meter{ID: 3, Address: "C2new", InstalledAt: swap}, Readings: []amigo.Reading{
		reg(3, swap, amigo.KindManual, fwd("0"), ""), reg(3, end, amigo.KindDaily, fwd("180.00"), "")}}
	c3 := Segment{Meter: amigo.Meter{ID: 4, Address: "C3", RemovedAt: retire}, Readings: []amigo.Reading{
		reg(4, day, amigo.KindDaily, fwd("1000.00"), ""), reg(4, retire, amigo.KindManual, fwd("1250.00"), "")}}
	c4 := Segment{Meter: amigo.Meter{ID: 5, Address: "C4", InstalledAt: end.Add(time.Hour)}}
	customers := []Segment{c1, c2old, c2new, c3, c4}
	l := AreaDayLoss(a, supply, customers, day, loc)
	if !l.Complete || !is(l.Supply, "1000.00") || !is(l.Customers, "950.00") || l.Percent == nil || *l.Percent != 5 || l.OutOfBand {
		t.Fatalf("loss %+v", l)
	}
	// With a band of 0..4 % the same day is out of band.
	a.LossHigh = 4
	if l := AreaDayLoss(a, supply, customers, day, loc); !l.OutOfBand {
		t.Fatalf("5 %% outside 0..4 %% not flagged: %+v", l)
	}
	// Without the swap's removal reading the day is incomplete, and says
	// which meter is missing.
	c2old.Readings = c2old.Readings[:1]
	l = AreaDayLoss(a, supply, []Segment{c1, c2old, c2new, c3, c4}, day, loc)
	if l.Complete || l.Percent != nil || len(l.Missing) != 1 || l.Missing[0] != "C2old" {
		t.Fatalf("incomplete day %+v", l)
	}
}

// The supply meter's chain: the meter it replaced (removed at the instant
// it was installed) is part of the supply, a customer meter is not.
func TestSupplyChain(t *testing.T) {
	at := time.Date(2026, 6, 10, 9, 0, 0, 0, loc)
	old := amigo.Meter{ID: 1, RemovedAt: at}
	cur := amigo.Meter{ID: 2, InstalledAt: at}
	cust := amigo.Meter{ID: 3, RemovedAt: at, AccountID: 7}
	other := amigo.Meter{ID: 4}
	chain := SupplyChain(cur, []amigo.Meter{old, cur, cust, other})
	if len(chain) != 2 || chain[0].ID != 1 || chain[1].ID != 2 {
		t.Fatalf("chain %+v", chain)
	}
}
