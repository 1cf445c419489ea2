package billing

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
	"github.com/amigo-metering/amigo/tariff"
)

var sh, _ = time.LoadLocation("Asia/Shanghai")

func loadTariff(t *testing.T, file string, edit ...string) *tariff.Tariff {
	t.Helper()
	b, err := os.ReadFile("../../docs/tariffs/" + file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for i := 0; i+1 < len(edit); i += 2 {
		if !strings.Contains(doc, edit[i]) {
			t.Fatalf("%s has no %q", file, edit[i])
		}
		doc = strings.Replace(doc, edit[i], edit[i+1], 1)
	}
	tf, err := tariff.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return tf
}

func setOf(t *testing.T, ts ...*tariff.Tariff) *tariff.Set {
	t.Helper()
	var s tariff.Set
	for _, x := range ts {
		if err := s.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	return &s
}

func at(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, sh) }

// frozen is a daily freeze of meter at 00:00 of the day: total, T1..T4 in kWh.
func frozen(meter int64, t time.Time, regs ...int64) amigo.Reading {
	r := amigo.Reading{MeterID: meter, Time: t.UTC(), Kind: amigo.KindDaily, HasForward: true, Quality: amigo.QualityActual}
	for i, v := range regs {
		r.Forward[i] = amigo.KWh(v)
	}
	return r
}

func meter(id int64, ct int) amigo.Meter {
	return amigo.Meter{ID: id, Address: "00000000000" + string(rune('0'+id)), CTRatio: ct, PTRatio: 1}
}

func compute(t *testing.T, acct Account, cycle string, set *tariff.Set, rs ...amigo.Reading) amigo.Bill {
	t.Helper()
	cyc, err := CycleOf(cycle, max(acct.BillingDay, 1), sh)
	if err != nil {
		t.Fatal(err)
	}
	var segs []analysis.Segment
	for _, m := range acct.Meters {
		sg := analysis.Segment{Meter: m}
		for _, r := range rs {
			if r.MeterID == m.ID {
				sg.Readings = append(sg.Readings, r)
			}
		}
		segs = append(segs, sg)
	}
	b, ok, err := Compute(acct, cyc, segs, Params{Loc: sh, Tariffs: set, IssuedAt: at(2026, 11, 2), By: "test"})
	if err != nil || !ok {
		t.Fatalf("compute: ok=%v err=%v", ok, err)
	}
	return b
}

// lineFen returns the amounts of the lines as "kind name=fen" strings.
func lines(b amigo.Bill) []string {
	var out []string
	for _, l := range b.Lines {
		s := l.Kind + " " + l.Name + "="
		if l.KWh != nil {
			s += l.KWh.String() + "kWh@" + l.Price + "="
		}
		out = append(out, s+amigo.Fen(l.AmountFen).String())
	}
	return out
}

func wantLines(t *testing.T, b amigo.Bill, total amigo.Fen, want ...string) {
	t.Helper()
	got := lines(b)
	if strings.Join(got, "; ") != strings.Join(want, "; ") || b.TotalFen != total {
		t.Fatalf("bill %s (%s):\n got  %s total %d\n want %s total %d\nflags %+v", b.Number, b.Status, strings.Join(got, "; "), b.TotalFen, strings.Join(want, "; "), total, b.Flags)
	}
}

var jan1, oct1, nov1 = at(2026, 1, 1), at(2026, 10, 1), at(2026, 11, 1)

// A whole cycle on the Zhejiang-style tariff: peak (T1–T3) 0.5680, valley
// (T4) 0.2880, a yearly ladder at 2760 / 4800 kWh with surcharges 0 /
// 0.05 / 0.30.
//
//	Jan 1 [1000; 100 400 300 200], Oct 1 [3600; 300 1400 900 1000],
//	Nov 1 [3900; 320 1550 930 1100]
//	year to date before October: 3600 − 1000 = 2600 kWh
//	October: peak (20 + 150 + 30) = 200 kWh, valley 100 kWh, 300 in all
//	peak 200 × 0.5680 = 113.60 yuan; valley 100 × 0.2880 = 28.80
//	ladder: 2600 → 2900 crosses 2760: tier 2 holds 140 × 0.05 = 7.00
//	total 113.60 + 28.80 + 7.00 = 149.40 yuan = 14940 fen; due Nov 1 + 15 = Nov 16.
func TestWholeCycleTOUWithYearLadder(t *testing.T) {
	set := setOf(t, loadTariff(t, "zj-residential.json"))
	acct := Account{ID: 1, Number: "A0001", SiteID: 1, Tariff: "zj-residential", BillingDay: 1, Meters: []amigo.Meter{meter(1, 1)}}
	rs := []amigo.Reading{frozen(1, jan1, 1000, 100, 400, 300, 200), frozen(1, oct1, 3600, 300, 1400, 900, 1000), frozen(1, nov1, 3900, 320, 1550, 930, 1100)}
	b := compute(t, acct, "2026-10", set, rs...)
	wantLines(t, b, 14940, "energy peak=200.00kWh@0.5680=113.60", "energy valley=100.00kWh@0.2880=28.80", "tier tier 2=140.00kWh@0.0500=7.00")
	if b.Status != amigo.BillIssued || b.DueDate != "2026-11-16" || b.Number != "202610-1-A0001" || b.KWh != amigo.KWh(300) || len(b.Flags) != 0 {
		t.Fatalf("bill %+v", b)
	}
	if !b.PeriodStart.Equal(oct1) || !b.PeriodEnd.Equal(nov1) || b.Tariffs[0] != "zj-residential@2026-01-01" {
		t.Fatalf("period %v–%v tariffs %v", b.PeriodStart, b.PeriodEnd, b.Tariffs)
	}

	// The instants it needs: the cycle's boundaries and the ladder's start.
	cyc, _ := CycleOf("2026-10", 1, sh)
	ins, err := Instants(acct, cyc, Params{Loc: sh, Tariffs: set})
	if err != nil || len(ins) != 3 {
		t.Fatalf("instants %v %v", ins, err)
	}

	// The same on the primary side of a CT of 10: the registers advance a
	// tenth as much (Jan 1 100.0, Oct 1 360.0, Nov 1 390.0: 30 × 10 = 300 kWh).
	acct.Meters = []amigo.Meter{meter(1, 10)}
	rs = []amigo.Reading{frozen(1, jan1, 100, 10, 40, 30, 20), frozen(1, oct1, 360, 30, 140, 90, 100), frozen(1, nov1, 390, 32, 155, 93, 110)}
	wantLines(t, compute(t, acct, "2026-10", set, rs...), 14940, "energy peak=200.00kWh@0.5680=113.60", "energy valley=100.00kWh@0.2880=28.80", "tier tier 2=140.00kWh@0.0500=7.00")
}

// A boundary reading missing or estimated holds the bill, never prices it
// as zero.
func TestMissingOrEstimatedBoundaryHoldsTheBill(t *testing.T) {
	set := setOf(t, loadTariff(t, "zj-residential.json"))
	acct := Account{ID: 1, Number: "A0001", SiteID: 1, Tariff: "zj-residential", BillingDay: 1, Meters: []amigo.Meter{meter(1, 1)}}
	b := compute(t, acct, "2026-10", set, frozen(1, jan1, 1000, 100, 400, 300, 200), frozen(1, oct1, 3600, 300, 1400, 900, 1000))
	if b.Status != amigo.BillHeld || b.TotalFen != 0 || len(b.Lines) != 0 || len(b.Flags) != 1 || b.Flags[0].Code != FlagMissing || !b.Flags[0].Time.Equal(nov1) {
		t.Fatalf("missing Nov 1: %+v", b)
	}
	est := frozen(1, nov1, 3900, 320, 1550, 930, 1100)
	est.Quality = amigo.QualityEstimated
	b = compute(t, acct, "2026-10", set, frozen(1, jan1, 1000, 100, 400, 300, 200), frozen(1, oct1, 3600, 300, 1400, 900, 1000), est)
	if b.Status != amigo.BillHeld || len(b.Flags) != 1 || b.Flags[0].Code != FlagEstimated || !strings.Contains(b.Flags[0].Message, "估算") {
		t.Fatalf("estimated Nov 1: %+v", b)
	}
	// The ladder's start (Jan 1) missing: the position is unknown, held.
	b = compute(t, acct, "2026-10", set, frozen(1, oct1, 3600, 300, 1400, 900, 1000), frozen(1, nov1, 3900, 320, 1550, 930, 1100))
	if b.Status != amigo.BillHeld || len(b.Flags) != 1 || !b.Flags[0].Time.Equal(jan1) || !strings.Contains(b.Flags[0].Message, "ladder") {
		t.Fatalf("missing Jan 1: %+v", b)
	}
}

// A meter without tariff registers (T1–T4 stay zero) is billed from its
// total at the first period's price (zj-residential has no flat_price) and
// the bill says so.
//
//	300 kWh × 0.5680 = 170.40 yuan; tier 2: 140 × 0.05 = 7.00; total 177.40
func TestMeterWithoutTariffRegistersIsBilledFromTotals(t *testing.T) {
	set := setOf(t, loadTariff(t, "zj-residential.json"))
	acct := Account{ID: 1, Number: "A0001", SiteID: 1, Tariff: "zj-residential", BillingDay: 1, Meters: []amigo.Meter{meter(1, 1)}}
	b := compute(t, acct, "2026-10", set, frozen(1, jan1, 1000), frozen(1, oct1, 3600), frozen(1, nov1, 3900))
	wantLines(t, b, 17740, "energy peak=300.00kWh@0.5680=170.40", "tier tier 2=140.00kWh@0.0500=7.00")
	if !b.FromTotals || b.Status != amigo.BillIssued || len(b.Flags) != 1 || b.Flags[0].Code != FlagFromTotals || !b.Lines[0].FromTotals {
		t.Fatalf("from totals: %+v", b)
	}
}

// Move-in on October 11: the account is in service 21 of October's 31 days
// and 82 days of the ladder year (Oct 11–31: 21, Nov: 30, Dec: 31), so the
// thresholds are prorated: 2760 × 82 / 365 = 620.05 → 620 kWh, 4800 × 82 /
// 365 = 1078.36 → 1078 kWh. The ladder position starts at 0 on Oct 11.
//
//	Oct 11 [5000; 0 3000 0 2000], Nov 1 [5700; 0 3500 0 2200]: peak 500, valley 200
//	peak 500 × 0.5680 = 284.00; valley 200 × 0.2880 = 57.60
//	tier 2: 700 − 620 = 80 × 0.05 = 4.00; total 345.60 yuan
func TestMoveInProratesTheLadder(t *testing.T) {
	set := setOf(t, loadTariff(t, "zj-residential.json"))
	oct11 := at(2026, 10, 11)
	m := meter(1, 1)
	m.InstalledAt = oct11
	acct := Account{ID: 1, Number: "A0001", SiteID: 1, Tariff: "zj-residential", BillingDay: 1, Start: oct11, Meters: []amigo.Meter{m}}
	b := compute(t, acct, "2026-10", set, frozen(1, oct11, 5000, 0, 3000, 0, 2000), frozen(1, nov1, 5700, 0, 3500, 0, 2200))
	wantLines(t, b, 34560, "energy peak=500.00kWh@0.5680=284.00", "energy valley=200.00kWh@0.2880=57.60", "tier tier 2=80.00kWh@0.0500=4.00")
	if !b.PeriodStart.Equal(oct11) {
		t.Fatalf("period starts %v", b.PeriodStart)
	}
}

// Move-out on October 11 on a flat commercial tariff with a standing
// charge: 10 of 31 days.
//
//	Oct 1 [800], Oct 11 [900]: 100 kWh × 0.7280 = 72.80 yuan
//	basic charge 300.00 × 10 / 31 = 96.774 → 96.77 yuan
//	total 72.80 + 96.77 = 169.57 yuan
func TestMoveOutProratesTheStandingCharge(t *testing.T) {
	set := setOf(t, loadTariff(t, "sh-commercial-flat.json"))
	oct11 := at(2026, 10, 11)
	acct := Account{ID: 2, Number: "C7", SiteID: 3, Tariff: "sh-commercial-flat", BillingDay: 1, End: oct11, Meters: []amigo.Meter{meter(2, 1)}}
	b := compute(t, acct, "2026-10", set, frozen(2, oct1, 800), frozen(2, oct11, 900))
	wantLines(t, b, 16957, "energy flat=100.00kWh@0.7280=72.80", "standing basic charge=96.77")
	if b.Lines[1].ShareDays != 10 || b.Lines[1].ShareOf != 31 || b.FromTotals {
		t.Fatalf("standing line %+v", b.Lines[1])
	}
	// The whole month: 300.00.
	acct.End = time.Time{}
	b = compute(t, acct, "2026-10", set, frozen(2, oct1, 800), frozen(2, nov1, 1000))
	wantLines(t, b, 44560, "energy flat=200.00kWh@0.7280=145.60", "standing basic charge=300.00")
}

// A tariff version from October 16 (peak 0.6000): each part of the cycle
// is priced by its own version and its own part of the ladder year.
//
//	v1 prices Jan 1–Oct 15: 288 days, thresholds 2760 × 288/365 = 2177.75 → 2178, 4800 × 288/365 = 3787.4 → 3787
//	v2 prices Oct 16–Dec 31: 77 days, thresholds 2760 × 77/365 = 582.25 → 582, 4800 × 77/365 = 1012.6 → 1013
//	Jan 1 [1000; 100 400 300 200], Oct 1 [3000; 250 1250 700 800] (2000 before),
//	Oct 16 [3150; 260 1330 720 840]: peak 110, valley 40 (v1: 2150 ≤ 2178, tier 1 only)
//	Nov 1 [3800; 280 1750 770 1000]: peak 490, valley 160 (v2: 0 before, 650 > 582)
//	v1: 110 × 0.5680 = 62.48; 40 × 0.2880 = 11.52
//	v2: 490 × 0.6000 = 294.00; 160 × 0.2880 = 46.08; tier 2: 68 × 0.05 = 3.40
//	total 62.48 + 11.52 + 294.00 + 46.08 + 3.40 = 417.48 yuan
func TestTariffChangeMidCycle(t *testing.T) {
	v1 := loadTariff(t, "zj-residential.json")
	v2 := loadTariff(t, "zj-residential.json", `"valid_from": "2026-01-01"`, `"valid_from": "2026-10-16"`, `"price": "0.5680"`, `"price": "0.6000"`)
	set := setOf(t, v1, v2)
	acct := Account{ID: 1, Number: "A0001", SiteID: 1, Tariff: "zj-residential", BillingDay: 1, Meters: []amigo.Meter{meter(1, 1)}}
	b := compute(t, acct, "2026-10", set, frozen(1, jan1, 1000, 100, 400, 300, 200), frozen(1, oct1, 3000, 250, 1250, 700, 800),
		frozen(1, at(2026, 10, 16), 3150, 260, 1330, 720, 840), frozen(1, nov1, 3800, 280, 1750, 770, 1000))
	wantLines(t, b, 41748, "energy peak=110.00kWh@0.5680=62.48", "energy valley=40.00kWh@0.2880=11.52",
		"energy peak=490.00kWh@0.6000=294.00", "energy valley=160.00kWh@0.2880=46.08", "tier tier 2=68.00kWh@0.0500=3.40")
	if len(b.Tariffs) != 2 || b.Tariffs[1] != "zj-residential@2026-10-16" || b.Lines[0].To != "2026-10-15" || b.Lines[2].From != "2026-10-16" {
		t.Fatalf("versions %v lines %+v", b.Tariffs, b.Lines)
	}
	// Without the version, the same readings price October as one part.
	//	peak 600 × 0.5680 = 340.80; valley 200 × 0.2880 = 57.60; 2000 → 2800: tier 2 40 × 0.05 = 2.00
	b = compute(t, acct, "2026-10", setOf(t, v1), frozen(1, jan1, 1000, 100, 400, 300, 200), frozen(1, oct1, 3000, 250, 1250, 700, 800), frozen(1, nov1, 3800, 280, 1750, 770, 1000))
	wantLines(t, b, 40040, "energy peak=600.00kWh@0.5680=340.80", "energy valley=200.00kWh@0.2880=57.60", "tier tier 2=40.00kWh@0.0500=2.00")
}

// A meter swap on October 20 keeps the usage continuous: the old meter
// from Oct 1 to its removal, the new one from its installation.
//
//	old: Jan 1 [1000; 100 400 300 200], Oct 1 [2000; 200 800 600 400], Oct 20 [2100; 210 860 620 410]: peak 90, valley 10
//	new: Oct 20 [0; 0 0 0 0], Nov 1 [50; 5 30 5 10]: peak 40, valley 10
//	1000 before; peak 130 × 0.5680 = 73.84; valley 20 × 0.2880 = 5.76; total 79.60 yuan
func TestMeterSwapKeepsUsageContinuous(t *testing.T) {
	set := setOf(t, loadTariff(t, "zj-residential.json"))
	oct20 := at(2026, 10, 20)
	old, nw := meter(1, 1), meter(2, 1)
	old.RemovedAt, nw.InstalledAt = oct20, oct20
	acct := Account{ID: 1, Number: "A0001", SiteID: 1, Tariff: "zj-residential", BillingDay: 1, Meters: []amigo.Meter{old, nw}}
	b := compute(t, acct, "2026-10", set, frozen(1, jan1, 1000, 100, 400, 300, 200), frozen(1, oct1, 2000, 200, 800, 600, 400), frozen(1, oct20, 2100, 210, 860, 620, 410),
		frozen(2, oct20, 0, 0, 0, 0, 0), frozen(2, nov1, 50, 5, 30, 5, 10))
	wantLines(t, b, 7960, "energy peak=130.00kWh@0.5680=73.84", "energy valley=20.00kWh@0.2880=5.76")
	// The new meter's installation reading missing: held, naming it.
	b = compute(t, acct, "2026-10", set, frozen(1, jan1, 1000, 100, 400, 300, 200), frozen(1, oct1, 2000, 200, 800, 600, 400), frozen(1, oct20, 2100, 210, 860, 620, 410),
		frozen(2, nov1, 50, 5, 30, 5, 10))
	if b.Status != amigo.BillHeld || len(b.Flags) != 1 || b.Flags[0].MeterID != 2 || !b.Flags[0].Time.Equal(oct20) {
		t.Fatalf("held swap: %+v", b)
	}
}

// A billing day of 15: cycle 2026-10 is Oct 15 – Nov 15, and a monthly
// ladder splits it at Nov 1 (each calendar month its own ladder cycle).
func TestCycleBoundaries(t *testing.T) {
	c, err := CycleOf("2026-10", 15, sh)
	if err != nil || !c.Open.Equal(at(2026, 10, 15)) || !c.Close.Equal(at(2026, 11, 15)) {
		t.Fatalf("cycle %+v %v", c, err)
	}
	c, _ = CycleOf("2026-12", 1, sh)
	if !c.Close.Equal(at(2027, 1, 1)) {
		t.Fatalf("december closes %v", c.Close)
	}
	for _, bad := range []string{"2026-13", "26-10", "2026-1", "2026/10", "+026-10", "2026--1", ""} {
		if _, err := CycleOf(bad, 1, sh); amigo.ErrorKind(err) != amigo.EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := CycleOf("2026-10", 29, sh); err == nil || !strings.Contains(err.Error(), "billing day") {
		t.Errorf("day 29: %v", err)
	}
}

// Billing day 15 with a monthly ladder (200 / 400 kWh, surcharges 0 / 0.05
// / 0.30): the cycle Oct 15 – Nov 15 is two ladder cycles, each quoted on
// its own; October's position counts from Oct 1.
//
//	Oct 1 [1000; 0 500 0 500], Oct 15 [1150; 0 600 0 550]: 150 before
//	Nov 1 [1300; 0 700 0 600]: peak 100, valley 50; 150 → 300: tier 2 100 × 0.05 = 5.00
//	Nov 15 [1550; 0 900 0 650]: peak 200, valley 50; 0 → 250: tier 2 50 × 0.05 = 2.50
//	peak 100 × 0.5680 = 56.80, valley 50 × 0.2880 = 14.40, peak 200 × 0.5680 = 113.60, valley 14.40
//	total 56.80 + 14.40 + 5.00 + 113.60 + 14.40 + 2.50 = 206.70 yuan
func TestMonthlyLadderSplitsACycleAcrossMonths(t *testing.T) {
	set := setOf(t, loadTariff(t, "zj-residential.json", `"cycle": "year", "thresholds_kwh": ["2760", "4800"]`, `"cycle": "month", "thresholds_kwh": ["200", "400"]`))
	acct := Account{ID: 1, Number: "A0001", SiteID: 1, Tariff: "zj-residential", BillingDay: 15, Meters: []amigo.Meter{meter(1, 1)}}
	b := compute(t, acct, "2026-10", set, frozen(1, oct1, 1000, 0, 500, 0, 500), frozen(1, at(2026, 10, 15), 1150, 0, 600, 0, 550),
		frozen(1, nov1, 1300, 0, 700, 0, 600), frozen(1, at(2026, 11, 15), 1550, 0, 900, 0, 650))
	wantLines(t, b, 20670, "energy peak=100.00kWh@0.5680=56.80", "energy valley=50.00kWh@0.2880=14.40", "tier tier 2=100.00kWh@0.0500=5.00",
		"energy peak=200.00kWh@0.5680=113.60", "energy valley=50.00kWh@0.2880=14.40", "tier tier 2=50.00kWh@0.0500=2.50")
	if b.DueDate != "2026-11-30" {
		t.Fatalf("due %s", b.DueDate)
	}
}

func TestDays(t *testing.T) {
	for _, c := range []struct {
		a, b time.Time
		want int
	}{
		{oct1, nov1, 31}, {jan1, at(2027, 1, 1), 365}, {at(2026, 10, 11), at(2027, 1, 1), 82},
		{oct1, oct1, 0}, {oct1, oct1.Add(time.Hour), 1}, {oct1.Add(time.Hour), at(2026, 10, 3), 2},
	} {
		if got := days(c.a, c.b, sh); got != c.want {
			t.Errorf("days %v–%v = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// A tariff with rest-day periods: the cycle is cut where the kind of day
// changes, each run of days priced by its own periods from the registers
// at its boundaries. In service Thu Oct 8 – Tue Oct 13 (move-in, move-out):
//
//	Oct 8 [100; 60 40] → Oct 10 (Thu–Fri, workdays) [130; 80 50]: peak 20 @ 0.6000, valley 10 @ 0.3000
//	Oct 10 → Oct 12 (Sat–Sun, rest days) [150; 90 60]: peak 10 @ 0.5000, valley 10 @ 0.3000
//	Oct 12 → Oct 13 (Mon) [160; 96 64]: peak 6 @ 0.6000, valley 4 @ 0.3000
//	one quote; the same period at the same price is one line:
//	peak 26 × 0.6000 = 15.60; valley 24 × 0.3000 = 7.20; peak 10 × 0.5000 = 5.00; total 27.80 yuan
func TestRestDayPeriodsSplitTheCycle(t *testing.T) {
	doc := `{"name": "wk", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01",
	  "periods": [{"name": "peak", "from": "08:00", "to": "22:00", "price": "0.6000", "registers": [1]},
	              {"name": "valley", "from": "22:00", "to": "08:00", "price": "0.3000", "registers": [2]}],
	  "rest_periods": [{"name": "peak", "from": "10:00", "to": "20:00", "price": "0.5000", "registers": [1]},
	                   {"name": "valley", "from": "20:00", "to": "10:00", "price": "0.3000", "registers": [2]}]}`
	tf, err := tariff.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	set := setOf(t, tf)
	oct8, oct10, oct12, oct13 := at(2026, 10, 8), at(2026, 10, 10), at(2026, 10, 12), at(2026, 10, 13)
	acct := Account{ID: 1, Number: "W1", SiteID: 1, Tariff: "wk", BillingDay: 1, Start: oct8, End: oct13, Meters: []amigo.Meter{meter(1, 1)}}
	cyc, _ := CycleOf("2026-10", 1, sh)
	ins, err := Instants(acct, cyc, Params{Loc: sh, Tariffs: set})
	if err != nil || len(ins) != 4 {
		t.Fatalf("instants %v %v", ins, err)
	}
	b := compute(t, acct, "2026-10", set, frozen(1, oct8, 100, 60, 40), frozen(1, oct10, 130, 80, 50), frozen(1, oct12, 150, 90, 60), frozen(1, oct13, 160, 96, 64))
	wantLines(t, b, 2780, "energy peak=26.00kWh@0.6000=15.60", "energy valley=24.00kWh@0.3000=7.20", "energy peak=10.00kWh@0.5000=5.00")
	// Sunday's closing freeze (Oct 12) missing: held, naming it.
	b = compute(t, acct, "2026-10", set, frozen(1, oct8, 100, 60, 40), frozen(1, oct10, 130, 80, 50), frozen(1, oct13, 160, 96, 64))
	if b.Status != amigo.BillHeld || len(b.Flags) != 1 || !b.Flags[0].Time.Equal(oct12) || b.Flags[0].Code != FlagMissing {
		t.Fatalf("held: %+v", b.Flags)
	}
}

// A held bill reviewed by hand: a manual reading (total only) entered at
// the missing freeze's instant stands in for it; the cycle is then billed
// from totals.
//
//	300 kWh × 0.5680 (first period, no flat_price) = 170.40; tier 2 140 × 0.05 = 7.00; total 177.40
func TestManualReadingReleasesAHeldBill(t *testing.T) {
	set := setOf(t, loadTariff(t, "zj-residential.json"))
	acct := Account{ID: 1, Number: "A0001", SiteID: 1, Tariff: "zj-residential", BillingDay: 1, Meters: []amigo.Meter{meter(1, 1)}}
	manual := amigo.Reading{MeterID: 1, Time: nov1.UTC(), Kind: amigo.KindManual, Forward: [5]amigo.Energy{amigo.KWh(3900)}, HasForward: true, Quality: amigo.QualityActual}
	b := compute(t, acct, "2026-10", set, frozen(1, jan1, 1000, 100, 400, 300, 200), frozen(1, oct1, 3600, 300, 1400, 900, 1000), manual)
	wantLines(t, b, 17740, "energy peak=300.00kWh@0.5680=170.40", "tier tier 2=140.00kWh@0.0500=7.00")
	if b.Status != amigo.BillIssued || !b.FromTotals {
		t.Fatalf("released bill %+v", b)
	}
}
