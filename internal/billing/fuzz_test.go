package billing

import (
	"testing"
	"time"
)

// FuzzParseCycle: a cycle from outside (a flag, a request) is refused or
// gives a cycle of 28–31 days that names itself.
func FuzzParseCycle(f *testing.F) {
	for _, s := range []string{"2026-10", "2026-13", "+026-10", "2099-12", "2000-01", "", "2026-1x", "٢٠٢٦-10"} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, s string, day int) {
		c, err := CycleOf(s, day, sh)
		if err != nil {
			return
		}
		if c.Name != s || c.Open.Format("2006-01") != s || day < 1 || day > MaxBillingDay {
			t.Fatalf("%q day %d: %+v", s, day, c)
		}
		if n := days(c.Open, c.Close, sh); n < 28 || n > 31 {
			t.Fatalf("%q: %d days", s, n)
		}
		if c.Close.Sub(c.Open) < 27*24*time.Hour {
			t.Fatalf("%q: %v", s, c.Close.Sub(c.Open))
		}
	})
}
