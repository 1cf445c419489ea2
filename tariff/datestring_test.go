package tariff

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// Date.String writes what fmt wrote before it, for ordinary dates and
// for the odd ones it hands to fmt.
func TestDateStringAsFmt(t *testing.T) {
	for _, d := range []Date{{2026, time.October, 1}, {2026, time.December, 31}, {0, 1, 1}, {9999, 12, 31}, {999, 3, 7}, {10000, 1, 1}, {-1, 1, 1}, {2026, 0, 0}, {2026, 13, 100}} {
		if got, want := d.String(), fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day); got != want {
			t.Errorf("%#v: %q, want %q", d, got, want)
		}
	}
	if got := (Date{2026, time.February, 3}).String(); got != "2026-02-03" {
		t.Errorf("got %q, want 2026-02-03", got)
	}
}

// Price.String writes what fmt wrote before it ("%s%d.%04d" with the
// sign apart), for every magnitude and sign.
func TestPriceStringAsFmt(t *testing.T) {
	old := func(p Price) string {
		sign := ""
		if p < 0 {
			sign, p = "-", -p
		}
		return fmt.Sprintf("%s%d.%04d", sign, int64(p)/PriceScale, int64(p)%PriceScale)
	}
	ps := []Price{0, 1, -1, 9, 10, 99, 100, 999, 1000, 5680, 9999, 10000, 10001, -5680, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for x := uint64(1); x < 1<<63; x = x*3 + 7 {
		ps = append(ps, Price(x), -Price(x))
	}
	for _, p := range ps {
		if got, want := p.String(), old(p); got != want {
			t.Errorf("%d: %q, want %q", int64(p), got, want)
		}
	}
}
