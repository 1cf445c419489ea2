package tariff

import (
	"strings"
	"testing"

	"github.com/amigo-metering/amigo"
)

// A new version starts on its day and changes nothing before it: a quote
// made with the old version keeps its prices and says which version it used.
func TestSetPicksTheVersionInForce(t *testing.T) {
	v1 := mustParse(t, base)
	v2 := mustParse(t, strings.NewReplacer(`"2026-01-01"`, `"2026-07-01"`, `"0.5680"`, `"0.6000"`).Replace(base))
	var s Set
	if err := s.Add(v2); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(v1); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(mustParse(t, base)); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("same version twice: %v", err)
	}
	for _, c := range []struct {
		day  Date
		want string
	}{
		{day(2026, 1, 1), "zj-residential@2026-01-01"},
		{day(2026, 6, 30), "zj-residential@2026-01-01"},
		{day(2026, 7, 1), "zj-residential@2026-07-01"},
		{day(2030, 1, 1), "zj-residential@2026-07-01"},
	} {
		v, err := s.At("zj-residential", c.day)
		if err != nil || v.Version() != c.want {
			t.Errorf("%s: %v %v, want %s", c.day, v, err, c.want)
		}
	}
	if _, err := s.At("zj-residential", day(2025, 12, 31)); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Errorf("before the first version: %v", err)
	}
	if _, err := s.At("nope", day(2026, 1, 1)); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Errorf("unknown name: %v", err)
	}
	// A June bill made with v1 (10 kWh peak: 10 × 0.568 = 568 fen) stays
	// 568 after v2 (0.6000) arrives; July is priced by v2: 10 × 0.6 = 600.
	june, _ := s.At("zj-residential", day(2026, 6, 30))
	q, _ := june.Quote(QuoteInput{Spans: []Span{usage(day(2026, 6, 30), "peak", "10")}})
	july, _ := s.At("zj-residential", day(2026, 7, 1))
	q2, _ := july.Quote(QuoteInput{Spans: []Span{usage(day(2026, 7, 1), "peak", "10")}})
	if q.TotalFen != 568 || q.ValidFrom != day(2026, 1, 1) || q2.TotalFen != 600 || q2.ValidFrom != day(2026, 7, 1) {
		t.Fatalf("june %d @%s, july %d @%s", q.TotalFen, q.ValidFrom, q2.TotalFen, q2.ValidFrom)
	}
	if got := s.Names(); len(got) != 1 || len(s.Versions("zj-residential")) != 2 {
		t.Fatalf("names %v", got)
	}
}

func TestDatesAndCycles(t *testing.T) {
	for s, ok := range map[string]bool{"2026-02-28": true, "2028-02-29": true, "2026-02-29": false, "2026-13-01": false, "26-01-01": false, "2026-1-01": false, "２026-01-01": false} {
		if _, err := ParseDate(s); (err == nil) != ok {
			t.Errorf("%s: %v", s, err)
		}
	}
	// 2028 is a leap year: 366 days; February 2028 has 29.
	if CycleDays(CycleYear, day(2028, 5, 5)) != 366 || CycleDays(CycleMonth, day(2028, 2, 10)) != 29 || CycleDays(CycleMonth, day(2026, 2, 10)) != 28 {
		t.Fatal("cycle days")
	}
}
