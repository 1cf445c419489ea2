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

func kwh(s string) amigo.Energy {
	e, err := amigo.ParseEnergy(s)
	if err != nil {
		panic(err)
	}
	return e
}

// reg is a reading of kind at t: forward total and T1..T4, reverse total
// ("" for none).
func reg(meter int64, t time.Time, kind string, fwd [5]string, rev string) amigo.Reading {
	r := amigo.Reading{MeterID: meter, Time: t.UTC(), Kind: kind, HasForward: true}
	for i, s := range fwd {
		if s != "" {
			r.Forward[i] = kwh(s)
		}
	}
	if rev != "" {
		r.Reverse[0], r.HasReverse = kwh(rev), true
	}
	return r
}

func fwd(total string) [5]string { return [5]string{total} }

func consumption(t *testing.T, segs []Segment, interval string, from, to time.Time, l *time.Location) []Point {
	t.Helper()
	pts, err := Consumption(segs, interval, from, to, l)
	if err != nil {
		t.Fatal(err)
	}
	return pts
}

// is reports whether figure e is the energy want ("" for a gap).
func is(e *amigo.Energy, want string) bool {
	if want == "" {
		return e == nil
	}
	return e != nil && *e == kwh(want)
}

func TestConsumptionGapsRollOverAndSwap(t *testing.T) {
	old := Segment{Meter: amigo.Meter{ID: 1}, Readings: []amigo.Reading{daily(1, 1, 100), daily(1, 2, 110), daily(1, 3, 125), daily(1, 5, 140)}}
	pts := consumption(t, []Segment{old}, "day", time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 1, 5, 0, 0, 0, 0, loc), loc)
	if len(pts) != 4 || *pts[0].Energy != amigo.KWh(10) || *pts[1].Energy != amigo.KWh(15) || pts[2].Energy != nil || pts[3].Energy != nil {
		t.Fatalf("points %+v", pts)
	}
	// A register rolling over 999999.99: 999995 -> 3 is 5 + 3 = 8 kWh.
	wrap := Segment{Meter: amigo.Meter{ID: 2}, Readings: []amigo.Reading{daily(2, 1, 999995), daily(2, 2, 3)}}
	pts = consumption(t, []Segment{wrap}, "day", time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 1, 2, 0, 0, 0, 0, loc), loc)
	if *pts[0].Energy != amigo.KWh(8) {
		t.Fatalf("roll-over %s", pts[0].Energy)
	}
	// A gap is a gap, not zero: a month with a missing day has no total.
	pts = consumption(t, []Segment{old}, "month", time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 2, 1, 0, 0, 0, 0, loc), loc)
	if len(pts) != 1 || pts[0].Energy != nil || pts[0].Partial || pts[0].Days != 31 {
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
	pts := consumption(t, []Segment{old, repl}, "day", time.Date(2026, 1, 2, 0, 0, 0, 0, loc), time.Date(2026, 1, 5, 0, 0, 0, 0, loc), loc)
	want := []int64{10, 13, 12} // 510-500; (516-510)+(7-0); 19-7
	for i, w := range want {
		if pts[i].Energy == nil || *pts[i].Energy != amigo.KWh(w) {
			t.Fatalf("day %d: %v, want %d kWh", i, pts[i].Energy, w)
		}
	}
	// Without the removal reading the swap day is a gap, not a guess.
	old.Readings = old.Readings[:2]
	pts = consumption(t, []Segment{old, repl}, "day", time.Date(2026, 1, 3, 0, 0, 0, 0, loc), time.Date(2026, 1, 4, 0, 0, 0, 0, loc), loc)
	if pts[0].Energy != nil {
		t.Fatalf("swap day without the removal reading: %s", pts[0].Energy)
	}
}

// A swap's removal and installation readings carry the total only: the
// swap day's total is continuous, its tariffs are unknown (gaps), and
// nothing "went back". Old meter: 3568.09 (T1..T4 356.80, 1070.40,
// 1248.80, 892.09) at 00:00, removed at 3569.17; new meter installed at
// 1864.90, 1875.30 (T1..T4 189.75, 562.80, 654.82, 467.91) at the next
// 00:00. The day is (3569.17 - 3568.09) + (1875.30 - 1864.90) = 1.08 +
// 10.40 = 11.48 kWh, not T1 = 189.75 - 0.
func TestSwapDayTariffsAreGapsNotReversals(t *testing.T) {
	d0 := time.Date(2026, 1, 2, 0, 0, 0, 0, loc)
	at := d0.Add(4*time.Hour + 30*time.Minute)
	old := Segment{Meter: amigo.Meter{ID: 1, RemovedAt: at}, Readings: []amigo.Reading{
		reg(1, d0, amigo.KindDaily, [5]string{"3568.09", "356.80", "1070.40", "1248.80", "892.09"}, "0"),
		reg(1, at, amigo.KindManual, fwd("3569.17"), "")}}
	repl := Segment{Meter: amigo.Meter{ID: 2, InstalledAt: at}, Readings: []amigo.Reading{
		reg(2, at, amigo.KindManual, fwd("1864.90"), ""),
		reg(2, d0.AddDate(0, 0, 1), amigo.KindDaily, [5]string{"1875.30", "189.75", "562.80", "654.82", "467.91"}, "0")}}
	for _, c := range []struct {
		name string
		segs []Segment
		want string
	}{{"account", []Segment{old, repl}, "11.48"}, {"old meter", []Segment{old}, "1.08"}, {"new meter", []Segment{repl}, "10.40"}} {
		p := consumption(t, c.segs, "day", d0, d0.AddDate(0, 0, 1), loc)[0]
		if !is(p.Energy, c.want) || p.Reversed || p.Tariffs != [4]*amigo.Energy{} {
			t.Errorf("%s: %v reversed=%v tariffs=%v, want %s kWh, no reversal, tariffs unknown", c.name, p.Energy, p.Reversed, p.Tariffs, c.want)
		}
	}
	// A new meter installed at 0.00 has its tariffs at zero too: its day
	// counts them (T1 0.00 -> 0.10).
	zero := Segment{Meter: amigo.Meter{ID: 3, InstalledAt: at}, Readings: []amigo.Reading{
		reg(3, at, amigo.KindManual, fwd("0"), ""),
		reg(3, d0.AddDate(0, 0, 1), amigo.KindDaily, [5]string{"0.30", "0.10", "0.20", "0", "0"}, "0")}}
	p := consumption(t, []Segment{zero}, "day", d0, d0.AddDate(0, 0, 1), loc)[0]
	if !is(p.Energy, "0.30") || !is(p.Tariffs[0], "0.10") || !is(p.Tariffs[1], "0.20") {
		t.Errorf("new meter from zero: %v %v", p.Energy, p.Tariffs)
	}
}

// CT and PT multiply the register's advance: CT 200/5 = 40, PT 10 kV/100 V
// = 100; a register going 1234.56 -> 1236.06 is 1.50 x 40 x 100 = 6000.00
// kWh on the primary side. Across a swap each meter counts with its own.
func TestConsumptionCTAndPT(t *testing.T) {
	m := amigo.Meter{ID: 1, CTRatio: 40, PTRatio: 100, Phases: 3, RatedAmps: 6}
	d0 := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
	seg := Segment{Meter: m, Readings: []amigo.Reading{reg(1, d0, amigo.KindDaily, fwd("1234.56"), ""), reg(1, d0.AddDate(0, 0, 1), amigo.KindDaily, fwd("1236.06"), "")}}
	pts := consumption(t, []Segment{seg}, "day", d0, d0.AddDate(0, 0, 1), loc)
	if !is(pts[0].Energy, "6000.00") || Multiplier(m) != 4000 {
		t.Fatalf("CT x PT: %v (multiplier %d)", pts[0].Energy, Multiplier(m))
	}
	// Swapped at 12:00 for a meter with CT 50, PT 100: old 1236.06 ->
	// 1236.56 (0.50 x 4000 = 2000.00), new 0.00 -> 0.30 (0.30 x 5000 =
	// 1500.00): the day is 3500.00.
	at := d0.AddDate(0, 0, 1).Add(12 * time.Hour)
	m.RemovedAt = at
	seg.Meter = m
	seg.Readings = append(seg.Readings, reg(1, at, amigo.KindManual, fwd("1236.56"), ""))
	repl := Segment{Meter: amigo.Meter{ID: 2, CTRatio: 50, PTRatio: 100, InstalledAt: at}, Readings: []amigo.Reading{
		reg(2, at, amigo.KindManual, fwd("0"), ""), reg(2, d0.AddDate(0, 0, 2), amigo.KindDaily, fwd("0.30"), "")}}
	pts = consumption(t, []Segment{seg, repl}, "day", d0.AddDate(0, 0, 1), d0.AddDate(0, 0, 2), loc)
	if !is(pts[0].Energy, "3500.00") {
		t.Fatalf("swap with different ratios: %v", pts[0].Energy)
	}
}

// A register that goes back is a reversal unless it wrapped within what
// the meter can register (60 A single phase: 380.16 kWh a day): the day is
// left out and marked, never a million kWh; the month holding it is a gap.
func TestConsumptionReversalIsNotARollOver(t *testing.T) {
	m := amigo.Meter{ID: 1, Phases: 1, RatedAmps: 60}
	d := func(n int) time.Time { return time.Date(2026, 5, n, 0, 0, 0, 0, loc) }
	seg := Segment{Meter: m, Readings: []amigo.Reading{
		reg(1, d(1), amigo.KindDaily, fwd("999950.00"), ""),
		reg(1, d(2), amigo.KindDaily, fwd("12.34"), ""),     // roll-over: 50.00 + 12.34 = 62.34
		reg(1, d(3), amigo.KindDaily, fwd("5.00"), ""),      // went back 7.34: reversal
		reg(1, d(4), amigo.KindDaily, fwd("10.00"), ""),     // 5.00
		reg(1, d(5), amigo.KindDaily, fwd("500000.00"), ""), // 499990.00 in a day: counted as read (validation flags the jump)
		reg(1, d(6), amigo.KindDaily, fwd("3.00"), ""),      // back from 500000: a reversal, not 500003.00
	}}
	pts := consumption(t, []Segment{seg}, "day", d(1), d(6), loc)
	want := []string{"62.34", "", "5.00", "499990.00", ""}
	for i, w := range want {
		if !is(pts[i].Energy, w) || pts[i].Reversed != (w == "") {
			t.Fatalf("day %d: %v reversed=%v, want %q", i+1, pts[i].Energy, pts[i].Reversed, w)
		}
	}
	pts = consumption(t, []Segment{seg}, "month", d(1), d(6), loc)
	if len(pts) != 1 || pts[0].Energy != nil || !pts[0].Reversed || !pts[0].Partial || pts[0].Days != 5 {
		t.Fatalf("month %+v", pts[0])
	}
}

// Tariffs T1..T4 and reverse energy per day and per month, in UTC; a
// month partly inside the range is partial and covers its days only.
func TestConsumptionTariffsAndReverseUTC(t *testing.T) {
	d := func(n int) time.Time { return time.Date(2026, 5, n, 0, 0, 0, 0, time.UTC) }
	seg := Segment{Meter: amigo.Meter{ID: 1}, Readings: []amigo.Reading{
		reg(1, d(1), amigo.KindDaily, [5]string{"1000.00", "100.00", "300.00", "400.00", "200.00"}, "50.00"),
		reg(1, d(2), amigo.KindDaily, [5]string{"1012.50", "101.00", "305.50", "404.00", "202.00"}, "58.25"),
		reg(1, d(3), amigo.KindDaily, [5]string{"1020.00", "102.00", "308.00", "407.50", "202.50"}, "60.00"),
	}}
	pts := consumption(t, []Segment{seg}, "day", d(1), d(3), time.UTC)
	want := [][6]string{
		{"12.50", "1.00", "5.50", "4.00", "2.00", "8.25"}, // 1012.50-1000.00; 101-100; 305.5-300; 404-400; 202-200; 58.25-50
		{"7.50", "1.00", "2.50", "3.50", "0.50", "1.75"},  // 1020-1012.50; ...; 60-58.25
	}
	check := func(p Point, w [6]string) {
		t.Helper()
		if !is(p.Energy, w[0]) || !is(p.Tariffs[0], w[1]) || !is(p.Tariffs[1], w[2]) || !is(p.Tariffs[2], w[3]) || !is(p.Tariffs[3], w[4]) || !is(p.Reverse, w[5]) {
			t.Fatalf("%s: total %v tariffs %v %v %v %v reverse %v, want %v", p.Start, p.Energy, p.Tariffs[0], p.Tariffs[1], p.Tariffs[2], p.Tariffs[3], p.Reverse, w)
		}
	}
	for i, w := range want {
		check(pts[i], w)
	}
	// May 1..3 of a month query: partial, 2 days, the sums of both days.
	pts = consumption(t, []Segment{seg}, "month", d(1), d(3), time.UTC)
	if len(pts) != 1 || !pts[0].Partial || pts[0].Days != 2 || pts[0].Source != "daily" || !pts[0].Start.Equal(d(1)) || !pts[0].End.Equal(d(3)) {
		t.Fatalf("month %+v", pts)
	}
	check(pts[0], [6]string{"20.00", "2.00", "8.00", "7.50", "2.50", "10.00"})
}

// Europe/Berlin across the change to summer time (2026-03-29 has 23
// hours): days are the site's days, and the freezes at local midnight
// close them.
func TestConsumptionBerlinAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	d := func(day int) time.Time { return time.Date(2026, 3, day, 0, 0, 0, 0, berlin) }
	seg := Segment{Meter: amigo.Meter{ID: 1}, Readings: []amigo.Reading{
		reg(1, d(28), amigo.KindDaily, fwd("500.00"), ""), reg(1, d(29), amigo.KindDaily, fwd("510.00"), ""),
		reg(1, d(30), amigo.KindDaily, fwd("518.00"), ""), reg(1, d(31), amigo.KindDaily, fwd("530.00"), ""),
	}}
	pts := consumption(t, []Segment{seg}, "day", d(28), d(31), berlin)
	for i, w := range []string{"10.00", "8.00", "12.00"} { // 510-500; 518-510 in 23 h; 530-518
		if !is(pts[i].Energy, w) {
			t.Fatalf("day %d: %v, want %s", 28+i, pts[i].Energy, w)
		}
	}
	if h := pts[1].End.Sub(pts[1].Start); h != 23*time.Hour || pts[2].Start.Format(time.RFC3339) != "2026-03-30T00:00:00+02:00" {
		t.Fatalf("DST day lasts %s; next starts %s", h, pts[2].Start.Format(time.RFC3339))
	}
	// The same freezes read as UTC days find nothing at UTC midnight.
	if pts := consumption(t, []Segment{seg}, "day", d(28), d(31), time.UTC); pts[0].Energy != nil {
		t.Fatalf("UTC days matched Berlin freezes: %v", pts[0].Energy)
	}
	// Monthly frozen data (the settlement at 00:00 on the 1st): March from
	// 400.00 to 700.00 with CT 2 is 600.00, though most March days are
	// missing; April is partial (1..3), summed from its days, a gap here.
	m := amigo.Meter{ID: 1, CTRatio: 2}
	seg.Meter = m
	seg.Readings = append(seg.Readings,
		reg(1, d(1), amigo.KindMonthly, fwd("400.00"), ""),
		reg(1, time.Date(2026, 4, 1, 0, 0, 0, 0, berlin), amigo.KindMonthly, fwd("700.00"), ""))
	pts = consumption(t, []Segment{seg}, "month", d(1), time.Date(2026, 4, 3, 0, 0, 0, 0, berlin), berlin)
	if len(pts) != 2 || !is(pts[0].Energy, "600.00") || pts[0].Source != "monthly" || pts[0].Partial || pts[0].Days != 31 {
		t.Fatalf("March %+v", pts[0])
	}
	if pts[1].Energy != nil || !pts[1].Partial || pts[1].Days != 2 {
		t.Fatalf("April %+v", pts[1])
	}
	// March 31 -> April 1 comes from the daily 530.00 and the monthly
	// settlement 700.00 standing in for the missing daily freeze: 170 x 2.
	pts = consumption(t, []Segment{seg}, "day", d(31), time.Date(2026, 4, 1, 0, 0, 0, 0, berlin), berlin)
	if !is(pts[0].Energy, "340.00") {
		t.Fatalf("March 31: %v", pts[0].Energy)
	}
}

// The range is bounded: ten thousand years is refused before any work.
func TestConsumptionRangeIsBounded(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		interval string
		to       time.Time
		ok       bool
	}{
		{"day", from.AddDate(0, 0, 366), true},
		{"day", from.AddDate(0, 0, 367), false},
		{"month", from.AddDate(0, 120, 0), true},
		{"month", from.AddDate(0, 120, 1), false},
		{"month", from.AddDate(10000, 0, 0), false},
		{"day", from.AddDate(10000, 0, 0), false},
		{"day", from, false},
		{"week", from.AddDate(0, 0, 7), false},
	}
	for _, c := range cases {
		_, err := Consumption(nil, c.interval, from, c.to, time.UTC)
		if (err == nil) != c.ok || (err != nil && amigo.ErrorKind(err) != amigo.EINVALID) {
			t.Errorf("%s to %s: err %v, want ok=%v", c.interval, c.to.Format("2006-01-02"), err, c.ok)
		}
	}
}

func TestSuccessRate(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
	closing := day.AddDate(0, 0, 1).UTC()
	ms := []amigo.Meter{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4, InstalledAt: day.AddDate(0, 0, 3)}}
	r := SuccessRate(ms, map[int64][]time.Time{1: {closing}, 2: {closing}}, day, loc)
	if r.Expected != 3 || r.Read != 2 || int(r.Percent) != 66 {
		t.Fatalf("rate %+v", r)
	}
	// A swap at 10:00 on the day: meter 5 removed, meter 6 installed;
	// only 6 froze the day. A meter removed at the freeze instant itself
	// (7) froze it too: 4 read (1, 2, 6, 7) of 5 expected (1, 2, 3, 6, 7).
	swap := day.Add(10 * time.Hour)
	ms = append(ms[:3:3], amigo.Meter{ID: 5, RemovedAt: swap}, amigo.Meter{ID: 6, InstalledAt: swap}, amigo.Meter{ID: 7, RemovedAt: closing})
	r = SuccessRate(ms, map[int64][]time.Time{1: {closing}, 2: {closing}, 6: {closing}, 7: {closing}}, day, loc)
	if r.Expected != 5 || r.Read != 4 || r.Percent != 80 {
		t.Fatalf("rate with a swap %+v, want 4 of 5 (meters 1, 2, 6, 7 of 1, 2, 3, 6, 7)", r)
	}
}
