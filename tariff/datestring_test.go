package tariff

import (
	"fmt"
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
