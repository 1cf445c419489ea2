package tariff

import (
	"strings"
	"testing"

	"github.com/amigo-metering/amigo"
)

// A request is the same quote as the CLI's flags: the move-in case of
// TestQuotePartialCycle (100 of 365 days, 800 + 200 kWh → 52420 fen), with
// 10 of December's 31 days of standing charges (zj has none: no line).
func TestRequest(t *testing.T) {
	zj := mustParseFile(t, "../docs/tariffs/zj-residential.json")
	req, err := DecodeRequest([]byte(`{"date": "2026-12-31", "usage": {"peak": "800", "valley": "200"}, "year_to_date": "0", "in_service_days": 100, "standing_days": 10}`))
	if err != nil {
		t.Fatal(err)
	}
	q, err := zj.QuoteRequest(req)
	if err != nil || q.TotalFen != 52420 || len(q.Lines) != 3 {
		t.Fatalf("%+v %v", q, err)
	}
	for _, c := range []struct{ body, want string }{
		{`{"date": "2026-12-31", "usage": {"peak": 800}}`, "usage: want string"},
		{`{"date": "2026-12-31", "usage": {"peak": "800"}, "colour": 1}`, "unknown field"},
		{`{"date": "2026-12-31", "usage": {"peak": "800"}} {}`, "nothing after"},
		{`{"date": "2026-12-31", "usage": {"peak": "800"}`, "not a quote request"},
		{strings.Repeat(" ", MaxRequest+1), "larger than"},
	} {
		if _, err := DecodeRequest([]byte(c.body)); err == nil || !strings.Contains(err.Error(), c.want) || amigo.ErrorKind(err) != amigo.EINVALID {
			t.Errorf("%.60s: %v, want %q", c.body, err, c.want)
		}
	}
	ytd := "0"
	for _, c := range []struct {
		req  Request
		want string
	}{
		{Request{Date: "2026-12-31", Usage: map[string]string{"peak": "1"}}, "year_to_date (--year-to-date): required"},
		{Request{Date: "2026-12-31", YearToDate: &ytd}, "give one of"},
		{Request{Date: "31/12/2026", Usage: map[string]string{"peak": "1"}, YearToDate: &ytd}, "date (--date)"},
		{Request{Date: "2026-12-31", Registers: []string{"1", "2", "3", "4", "5"}, YearToDate: &ytd}, "at most 4"},
		{Request{Date: "2026-12-31", Registers: []string{"1", "-2"}, YearToDate: &ytd}, "registers[1]"},
		{Request{Date: "2026-12-31", Usage: map[string]string{"peak": "1"}, YearToDate: &ytd, StandingDays: new(32)}, "standing_days (--standing-days): 32: want 0 to 31"},
	} {
		if _, err := zj.QuoteRequest(c.req); err == nil || !strings.Contains(err.Error(), c.want) || amigo.ErrorKind(err) != amigo.EINVALID {
			t.Errorf("%+v: %v, want %q", c.req, err, c.want)
		}
	}
}

// FuzzDecodeRequest: whatever a client sends, decoding and quoting never
// panic, and an answer adds up.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"date": "2026-12-31", "usage": {"peak": "800", "valley": "200"}, "year_to_date": "0", "in_service_days": 100, "standing_days": 10}`))
	f.Add([]byte(`{"date": "2026-03-03", "registers": ["1", "2", "3", "4"], "year_to_date": "2759.9999"}`))
	f.Add([]byte(`{"date": "2026-03-03", "total": "10", "month_to_date": "5"}`))
	zj := mustParseFile(f, "../docs/tariffs/zj-residential.json")
	gd := mustParseFile(f, "../docs/tariffs/gd-residential-tou.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeRequest(b)
		if err != nil {
			return
		}
		for _, tr := range []*Tariff{zj, gd} {
			q, err := tr.QuoteRequest(req)
			if err != nil {
				if amigo.ErrorKind(err) != amigo.EINVALID {
					t.Fatal(err)
				}
				continue
			}
			var sum amigo.Fen
			for _, l := range q.Lines {
				sum += l.AmountFen
			}
			if sum != q.TotalFen {
				t.Fatalf("total %d, lines %d", q.TotalFen, sum)
			}
		}
	})
}
