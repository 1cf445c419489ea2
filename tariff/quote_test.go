package tariff

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/amigo-metering/amigo"
)

func kwh(s string) amigo.Energy {
	e, err := amigo.ParseEnergy(s)
	if err != nil {
		panic(err)
	}
	return e
}

// lines renders a quote's lines as "kind name kwh price amount" for
// comparison with the hand-computed expectation.
func lines(q Quote) string {
	var out []string
	for _, l := range q.Lines {
		s := l.Kind + " " + l.Name
		if l.Season != "" {
			s += "(" + l.Season + ")"
		}
		if l.KWh != nil {
			s += fmt.Sprintf(" %s×%s", *l.KWh, *l.Price)
		}
		if l.Share != nil {
			s += fmt.Sprintf(" %d/%d", l.Share.Days, l.Share.Of)
		}
		s += fmt.Sprintf("=%d", l.AmountFen)
		if l.FromTotals {
			s += " [totals]"
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

func day(y, m, d int) Date { return Date{y, timeMonth(m), d} }

func usage(d Date, kv ...string) Span {
	u := map[string]amigo.Energy{}
	for i := 0; i < len(kv); i += 2 {
		u[kv[i]] = kwh(kv[i+1])
	}
	return Span{Date: d, Usage: u}
}

func TestQuoteZhejiangLadder(t *testing.T) {
	zj := mustParseFile(t, "../docs/tariffs/zj-residential.json")
	d := day(2026, 3, 3)
	for _, c := range []struct {
		name   string
		before string
		span   Span
		want   string
		total  amigo.Fen
	}{
		// 12.34 kWh × 0.5680 = 7.00912 yuan = 700.912 fen → 701 (up);
		// 12.34 kWh × 0.2880 = 3.55392 yuan = 355.392 fen → 355 (down).
		{"rounding", "0", usage(d, "peak", "12.34", "valley", "12.34"),
			"energy peak 12.34×0.5680=701; energy valley 12.34×0.2880=355", 1056},
		// Exactly half a fen goes up: 0.625 × 0.5680 = 0.355 yuan = 35.5 fen → 36;
		// just under: 0.6249 × 0.5680 = 0.3549432 yuan = 35.49432 fen → 35;
		// and the valley: 1.5625 × 0.2880 = 0.45 yuan = 45 fen exactly.
		{"half a fen", "0", usage(d, "peak", "0.625"), "energy peak 0.625×0.5680=36", 36},
		{"under half a fen", "0", usage(d, "peak", "0.6249"), "energy peak 0.6249×0.5680=35", 35},
		// Threshold exactly hit: 2700 + 40 + 20 = 2760 = the first threshold:
		// all of it stays in tier 1, no tier line.
		// 40 × 0.5680 = 22.72 yuan = 2272 fen; 20 × 0.2880 = 5.76 yuan = 576 fen.
		{"threshold exactly hit", "2700", usage(d, "peak", "40", "valley", "20"),
			"energy peak 40.00×0.5680=2272; energy valley 20.00×0.2880=576", 2848},
		// The next kWh after the threshold is tier 2: 2760 + 10 → 10 kWh in
		// tier 2: 10 × 0.05 = 0.50 yuan = 50 fen; 10 × 0.5680 = 568 fen.
		{"just past the threshold", "2760", usage(d, "peak", "10"),
			"energy peak 10.00×0.5680=568; tier tier 2 10.00×0.0500=50", 618},
		// Crossing two thresholds in one quote: 2700 + 2000 + 500 = 5200.
		// tier 1: 2760 − 2700 = 60 (no surcharge); tier 2: 4800 − 2760 = 2040;
		// tier 3: 5200 − 4800 = 400.
		// 2000 × 0.5680 = 1136.00 yuan = 113600; 500 × 0.2880 = 144.00 = 14400;
		// 2040 × 0.05 = 102.00 = 10200; 400 × 0.30 = 120.00 = 12000.
		// 113600 + 14400 + 10200 + 12000 = 150200.
		{"two thresholds crossed", "2700", usage(d, "peak", "2000", "valley", "500"),
			"energy peak 2000.00×0.5680=113600; energy valley 500.00×0.2880=14400; tier tier 2 2040.00×0.0500=10200; tier tier 3 400.00×0.3000=12000", 150200},
		// Year to date already above the second threshold: all 150 kWh in
		// tier 3: 150 × 0.30 = 45.00 yuan = 4500; 100 × 0.568 = 5680; 50 × 0.288 = 1440.
		{"already above", "5000", usage(d, "peak", "100", "valley", "50"),
			"energy peak 100.00×0.5680=5680; energy valley 50.00×0.2880=1440; tier tier 3 150.00×0.3000=4500", 11620},
		// From the meter's registers: T1..T3 are peak, T4 valley.
		// peak 1 + 2 + 3 = 6 kWh × 0.568 = 3.408 yuan → 341 fen; valley 4 × 0.288 = 1.152 → 115.
		{"registers", "0", Span{Date: d, Registers: []amigo.Energy{kwh("1"), kwh("2"), kwh("3"), kwh("4")}},
			"energy peak 6.00×0.5680=341; energy valley 4.00×0.2880=115", 456},
		// A meter without tariff registers: its total at the first
		// period's price (zj has no flat_price), marked.
		// 10 × 0.5680 = 5.68 yuan = 568 fen.
		{"from totals", "0", Span{Date: d, FromTotals: true, Total: kwh("10")},
			"energy peak 10.00×0.5680=568 [totals]", 568},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, err := zj.Quote(QuoteInput{Spans: []Span{c.span}, CycleUsageBefore: kwh(c.before)})
			if err != nil {
				t.Fatal(err)
			}
			if got := lines(q); got != c.want || q.TotalFen != c.total {
				t.Fatalf("got  %s = %d\nwant %s = %d", got, q.TotalFen, c.want, c.total)
			}
			var sum amigo.Fen
			for _, l := range q.Lines {
				sum += l.AmountFen
			}
			if sum != q.TotalFen || q.Tariff != "zj-residential" || q.ValidFrom != day(2026, 1, 1) {
				t.Fatalf("total %d, sum %d, version %s@%s", q.TotalFen, sum, q.Tariff, q.ValidFrom)
			}
		})
	}
}

// The total is the sum of the rounded lines, not the rounded sum: two
// lines of 0.5 fen each are 1 + 1 = 2 fen, where their exact sum rounds to 1.
func TestTotalIsTheSumOfRoundedLines(t *testing.T) {
	tr := mustParse(t, `{"name": "half", "time_zone": "UTC", "valid_from": "2026-01-01",
	 "periods": [{"name": "a", "from": "00:00", "to": "12:00", "price": "0.5000"},
	             {"name": "b", "from": "12:00", "to": "24:00", "price": "0.5000"}]}`)
	// 0.01 kWh × 0.5000 = 0.005 yuan = 0.5 fen → 1 fen, on each line.
	q, err := tr.Quote(QuoteInput{Spans: []Span{usage(day(2026, 1, 5), "a", "0.01", "b", "0.01")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(q); got != "energy a 0.01×0.5000=1; energy b 0.01×0.5000=1" || q.TotalFen != 2 {
		t.Fatalf("%s = %d", got, q.TotalFen)
	}
}

// A move-in: in service 100 of 2026's 365 days. Thresholds:
// 2760 × 100 / 365 = 756.16 → 756 kWh; 4800 × 100 / 365 = 1315.07 → 1315 kWh.
// 800 + 200 = 1000 kWh from 0: tier 1 756, tier 2 244, tier 3 0.
// 800 × 0.568 = 454.40 yuan = 45440; 200 × 0.288 = 57.60 = 5760;
// 244 × 0.05 = 12.20 = 1220. Total 52420.
func TestQuotePartialCycle(t *testing.T) {
	zj := mustParseFile(t, "../docs/tariffs/zj-residential.json")
	if n := CycleDays(CycleYear, day(2026, 9, 23)); n != 365 {
		t.Fatalf("2026 has %d days", n)
	}
	q, err := zj.Quote(QuoteInput{Spans: []Span{usage(day(2026, 12, 31), "peak", "800", "valley", "200")}, InService: Share{Days: 100, Of: 365}})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(q); got != "energy peak 800.00×0.5680=45440; energy valley 200.00×0.2880=5760; tier tier 2 244.00×0.0500=1220" || q.TotalFen != 52420 {
		t.Fatalf("%s = %d", got, q.TotalFen)
	}
	if fmt.Sprint(q.Thresholds) != "[756.00 1315.00]" {
		t.Fatalf("thresholds %v", q.Thresholds)
	}
	// Rounding of a prorated threshold, half-up to a whole kWh:
	// 215 × 1 / 2 = 107.5 → 108; 2760 × 1 / 2 = 1380; 4800 × 1 / 2 = 2400;
	// 2760 × 200 / 365 = 1512.33 → 1512; 4800 × 200 / 365 = 2630.14 → 2630.
	l := &Ladder{Thresholds: []amigo.Energy{kwh("215"), kwh("2760"), kwh("4800")}}
	if got := fmt.Sprint(l.applied(Share{Days: 1, Of: 2})); got != "[108.00 1380.00 2400.00]" {
		t.Errorf("1/2: %s", got)
	}
	if got := fmt.Sprint(l.applied(Share{Days: 200, Of: 365})); got != "[118.00 1512.00 2630.00]" { // 215 × 200 / 365 = 117.81 → 118
		t.Errorf("200/365: %s", got)
	}
	if got := fmt.Sprint(l.applied(Share{Days: 0, Of: 30})); got != "[0.00 0.00 0.00]" {
		t.Errorf("0/30: %s", got)
	}
}

// A commercial flat rate with a standing charge.
// 1234.5 kWh × 0.7280 = 898.716 yuan = 89871.6 fen → 89872;
// the basic charge 300.00 yuan for the whole month = 30000 fen; 119872.
// For 10 of 31 days: 30000 × 10 / 31 = 9677.42 → 9677 fen.
// Half a fen up: 10 of 16 days... not a month; the prorate rule itself:
// 12345 × 1 / 2 = 6172.5 → 6173.
func TestQuoteStandingCharge(t *testing.T) {
	sh := mustParseFile(t, "../docs/tariffs/sh-commercial-flat.json")
	d := day(2026, 1, 31)
	q, err := sh.Quote(QuoteInput{Spans: []Span{{Date: d, FromTotals: true, Total: kwh("1234.5")}}, Standing: Share{Days: 1, Of: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(q); got != "energy flat 1234.50×0.7280=89872; standing basic charge=30000" || q.TotalFen != 119872 || q.FromTotals {
		t.Fatalf("%s = %d (from totals %v: a flat tariff always bills the total, no note)", got, q.TotalFen, q.FromTotals)
	}
	q, err = sh.Quote(QuoteInput{Spans: []Span{usage(d, "flat", "0")}, Standing: Share{Days: 10, Of: 31}})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(q); got != "energy flat 0.00×0.7280=0; standing basic charge 10/31=9677" || q.TotalFen != 9677 {
		t.Fatalf("%s = %d", got, q.TotalFen)
	}
	// A month charged day by day (the prepaid wallet): day n's share is
	// the rounded charge through day n less the rounded charge through
	// day n − 1, so the 31 days add up to 30000 fen, not 31 × 968 = 30008.
	// Day 1: 30000 × 1/31 = 967.74 → 968. Day 2: 30000 × 2/31 = 1935.48 →
	// 1935, less 968 = 967. Day 31: 30000 less 30000 × 30/31 = 29032.26 →
	// 29032, = 968.
	sum := amigo.Fen(0)
	for n := 1; n <= 31; n++ {
		q, err := sh.Quote(QuoteInput{Spans: []Span{usage(day(2026, 1, n), "flat", "0")}, Standing: Share{Days: 1, Of: 31, After: n - 1}})
		if err != nil {
			t.Fatal(err)
		}
		want := map[int]amigo.Fen{1: 968, 2: 967, 31: 968}[n]
		if want != 0 && q.TotalFen != want {
			t.Fatalf("day %d: %d fen, want %d", n, q.TotalFen, want)
		}
		sum += q.TotalFen
	}
	if sum != 30000 {
		t.Fatalf("31 days of the basic charge add up to %d fen, want 30000", sum)
	}
	if _, err := sh.Quote(QuoteInput{Spans: []Span{usage(d, "flat", "0")}, Standing: Share{Days: 2, Of: 31, After: 30}}); err == nil {
		t.Fatal("a share past the month's end accepted")
	}
	if _, err := sh.Quote(QuoteInput{Spans: []Span{usage(d, "flat", "0")}, InService: Share{Days: 1, Of: 31, After: 3}}); err == nil {
		t.Fatal("an in-service share with after accepted")
	}
	if prorate(12345, 1, 2) != 6173 || prorate(12344, 1, 2) != 6172 {
		t.Fatal("prorate does not round half-up")
	}
	// No standing share: no standing line.
	q, _ = sh.Quote(QuoteInput{Spans: []Span{usage(d, "flat", "1")}})
	if got := lines(q); got != "energy flat 1.00×0.7280=73" { // 0.728 yuan = 72.8 fen → 73
		t.Fatalf("%s", got)
	}
}

// Seasons, rest days and holidays, from the meter's registers, with the
// four-period tariff and its monthly ladder.
func TestQuoteSeasonsAndHolidays(t *testing.T) {
	gd := mustParseFile(t, "../docs/tariffs/gd-residential-tou.json")
	regs := []amigo.Energy{kwh("2"), kwh("5"), kwh("3"), kwh("10")} // T1 sharp, T2 peak, T3 flat, T4 valley
	for _, c := range []struct {
		name string
		day  Date
		want string
	}{
		// A Tuesday in June (no season): 2 × 0.9480 = 1.896 → 190 (189.6);
		// 5 × 0.7650 = 3.825 → 383 (382.5, half up); 3 × 0.5480 = 1.644 → 164
		// (164.4); 10 × 0.3010 = 3.01 → 301.
		{"workday", day(2026, 6, 30), "energy sharp 2.00×0.9480=190; energy peak 5.00×0.7650=383; energy flat 3.00×0.5480=164; energy valley 10.00×0.3010=301"},
		// The next day summer starts: sharp is 1.0270: 2 × 1.027 = 2.054 → 205 (205.4).
		{"season change", day(2026, 7, 1), "energy sharp(summer) 2.00×1.0270=205; energy peak(summer) 5.00×0.7650=383; energy flat(summer) 3.00×0.5480=164; energy valley(summer) 10.00×0.3010=301"},
		// National Day (a Thursday): T1–T3 are all flat: 10 × 0.548 = 5.48 → 548.
		{"holiday", day(2026, 10, 1), "energy flat 10.00×0.5480=548; energy valley 10.00×0.3010=301"},
		// Saturday 10 October is a workday (调休): workday periods again.
		{"make-up workday", day(2026, 10, 10), "energy sharp 2.00×0.9480=190; energy peak 5.00×0.7650=383; energy flat 3.00×0.5480=164; energy valley 10.00×0.3010=301"},
		// A Sunday in summer: the season's rest-day periods.
		{"summer weekend", day(2026, 8, 2), "energy flat(summer) 10.00×0.5480=548; energy valley(summer) 10.00×0.3010=301"},
	} {
		q, err := gd.Quote(QuoteInput{Spans: []Span{{Date: c.day, Registers: regs}}})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := lines(q); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	// Several days of one month in one quote: the same period at the same
	// price is one line; the holiday's flat joins the workdays' flat.
	// 30 Sep (summer Wednesday) + 1 Oct (holiday) are different months: refused.
	_, err := gd.Quote(QuoteInput{Spans: []Span{{Date: day(2026, 9, 30), Registers: regs}, {Date: day(2026, 10, 1), Registers: regs}}})
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("spans across two monthly cycles: %v", err)
	}
	// 1 Oct (holiday) + 12 Oct (Monday), month-to-date 180 kWh:
	// sharp 2 × 0.948 = 190 (189.6); peak 5 × 0.765 = 383 (382.5);
	// flat 10 + 3 = 13 × 0.548 = 7.124 → 712 (712.4); valley 20 × 0.301 = 6.02 → 602;
	// usage 40 kWh: 180 + 40 = 220: 20 kWh in tier 1, 20 in tier 2: 20 × 0.05 = 1.00 → 100.
	q, err := gd.Quote(QuoteInput{Spans: []Span{{Date: day(2026, 10, 1), Registers: regs}, {Date: day(2026, 10, 12), Registers: regs}}, CycleUsageBefore: kwh("180")})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(q); got != "energy flat 13.00×0.5480=712; energy valley 20.00×0.3010=602; energy sharp 2.00×0.9480=190; energy peak 5.00×0.7650=383; tier tier 2 20.00×0.0500=100" || q.TotalFen != 1987 {
		t.Fatalf("%s = %d", got, q.TotalFen)
	}
	// A meter without registers on gd: its total at gd's flat_price 0.5880
	// (a line "total", not to be mistaken for the period "flat", 平):
	// 40 × 0.588 = 23.52 → 2352, and the ladder still applies: 180 + 40 → 20 × 0.05 = 100.
	q, err = gd.Quote(QuoteInput{Spans: []Span{{Date: day(2026, 10, 12), FromTotals: true, Total: kwh("40")}}, CycleUsageBefore: kwh("180")})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(q); got != "energy total 40.00×0.5880=2352 [totals]; tier tier 2 20.00×0.0500=100" || !q.FromTotals || q.Lines[0].Note != NoteFromTotals {
		t.Fatalf("%s %+v", got, q.Lines[0])
	}
}

// A ladder of tier prices (a flat residential tariff, 0.538 / 0.588 /
// 0.838 at 230 / 400 kWh a month). 200 before, 250 now: 30 kWh in tier 1,
// 170 in tier 2, 50 in tier 3.
// 30 × 0.538 = 16.14 → 1614; 170 × 0.588 = 99.96 → 9996; 50 × 0.838 = 41.90 → 4190.
func TestQuoteTierPrices(t *testing.T) {
	tr := mustParse(t, `{"name": "flat-ladder", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01",
	 "ladder": {"cycle": "month", "thresholds_kwh": ["230", "400"], "prices": ["0.538", "0.588", "0.838"]}}`)
	q, err := tr.Quote(QuoteInput{Spans: []Span{{Date: day(2026, 5, 31), FromTotals: true, Total: kwh("250")}}, CycleUsageBefore: kwh("200")})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(q); got != "energy flat 30.00×0.5380=1614; tier tier 2 170.00×0.5880=9996; tier tier 3 50.00×0.8380=4190" || q.TotalFen != 15800 {
		t.Fatalf("%s = %d", got, q.TotalFen)
	}
	// Periods with a ladder of prices are refused at parse time.
	_, err = Parse([]byte(strings.Replace(base, `"surcharges"`, `"prices"`, 1)))
	if err == nil || !strings.Contains(err.Error(), "ladder.prices") {
		t.Fatalf("periods with tier prices: %v", err)
	}
}

func TestQuoteRefusesBadInput(t *testing.T) {
	zj := mustParseFile(t, "../docs/tariffs/zj-residential.json")
	d := day(2026, 3, 3)
	for _, c := range []struct {
		name string
		in   QuoteInput
		want string
	}{
		{"unknown period", QuoteInput{Spans: []Span{usage(d, "sharp", "1")}}, `no period "sharp"`},
		{"before the version", QuoteInput{Spans: []Span{usage(day(2025, 12, 31), "peak", "1")}}, "before zj-residential@2026-01-01"},
		{"negative", QuoteInput{Spans: []Span{{Date: d, Usage: map[string]amigo.Energy{"peak": -1}}}}, "energy"},
		{"two kinds of usage", QuoteInput{Spans: []Span{{Date: d, Usage: map[string]amigo.Energy{}, FromTotals: true}}}, "exactly one"},
		{"bad share", QuoteInput{Spans: []Span{usage(d, "peak", "1")}, InService: Share{Days: 40, Of: 30}}, "share"},
		{"too much", QuoteInput{Spans: []Span{usage(d, "peak", "1000000001")}}, "energy"},
		{"two years", QuoteInput{Spans: []Span{usage(d, "peak", "1"), usage(day(2027, 1, 1), "peak", "1")}}, "cycle"},
		{"no date", QuoteInput{Spans: []Span{{Usage: map[string]amigo.Energy{}}}}, "no date"},
	} {
		_, err := zj.Quote(c.in)
		if err == nil || amigo.ErrorKind(err) != amigo.EINVALID || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), " / ") {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// The JSON of a quote is what the CLI and the API print.
func TestQuoteJSON(t *testing.T) {
	zj := mustParseFile(t, "../docs/tariffs/zj-residential.json")
	q, err := zj.Quote(QuoteInput{Spans: []Span{usage(day(2026, 3, 3), "peak", "10")}, CycleUsageBefore: kwh("2760")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(q)
	want := `{"tariff":"zj-residential","valid_from":"2026-01-01","total_fen":618,"lines":[` +
		`{"kind":"energy","name":"peak","kwh":"10.00","price":"0.5680","amount_fen":568},` +
		`{"kind":"tier","name":"tier 2","kwh":"10.00","price":"0.0500","amount_fen":50}],` +
		`"kwh":"10.00","cycle_kwh_before":"2760.00","thresholds_kwh":["2760.00","4800.00"]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestAmountIsExactForLargeValues(t *testing.T) {
	// 10⁹ kWh × 100 yuan/kWh = 10¹¹ yuan = 10¹³ fen, beyond int64 in the
	// intermediate 0.0001 × 0.0001 units (10¹³ × 10⁶ = 10¹⁹ > 9.2 × 10¹⁸).
	if got := amount(MaxEnergy, MaxPrice); got != 10_000_000_000_000 {
		t.Fatalf("got %d", got)
	}
}
