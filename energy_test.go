package amigo

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestEnergyText(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		e    Energy
	}{
		{"1234.56", "1234.56", 12345600}, {"0.01", "0.01", 100}, {"0.0100", "0.01", 100}, {"7", "7.00", 70000},
		{"-1.5", "-1.50", -15000}, {"123.4567", "123.4567", 1234567},
	} {
		e, err := ParseEnergy(c.in)
		if err != nil || e != c.e || e.String() != c.want {
			t.Errorf("%s: %d %q %v", c.in, e, e.String(), err)
		}
	}
	for _, bad := range []string{"", "1.23456", "abc", "1.2.3"} {
		if _, err := ParseEnergy(bad); ErrorKind(err) != EINVALID {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
	if e, err := EnergyFromDecimal(12345600, 4); err != nil || e.String() != "1234.56" {
		t.Error(e, err)
	}
	if e, err := EnergyFromDecimal(123456, 2); err != nil || e != 12345600 {
		t.Error(e, err)
	}
	if _, err := EnergyFromDecimal(1234561, 5); err == nil {
		t.Error("5 decimals with a non-zero last digit accepted")
	}
}

// A site's zone is read from the zone files once, then shared.
func TestSiteLocationIsLoadedOnce(t *testing.T) {
	s := Site{TimeZone: "Europe/Berlin"}
	a, b := s.Location(), s.Location()
	if a != b || a.String() != "Europe/Berlin" {
		t.Fatalf("zones %p %s and %p %s: want the same Europe/Berlin", a, a, b, b)
	}
	if _, err := LoadZone("Nowhere/Atlantis"); err == nil {
		t.Fatal("an unknown zone was loaded")
	}
	if l := (Site{TimeZone: "Nowhere/Atlantis"}).Location(); l.String() != "CST" {
		t.Fatalf("an unknown zone falls back to CST, got %s", l)
	}
}

func BenchmarkSiteLocation(b *testing.B) {
	s := Site{TimeZone: "Asia/Shanghai"}
	for b.Loop() {
		_ = s.Location()
	}
}

// String prints as "%d.%04d" with trailing zeros cut to two decimals did,
// for every magnitude and sign.
func TestEnergyStringAsFormatted(t *testing.T) {
	old := func(e Energy) string {
		neg := e < 0
		if neg {
			e = -e
		}
		s := fmt.Sprintf("%d.%04d", int64(e)/EnergyScale, int64(e)%EnergyScale)
		for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 3 {
			s = s[:len(s)-1]
		}
		if neg {
			s = "-" + s
		}
		return s
	}
	vs := []Energy{0, 1, -1, 9, 10, 99, 100, 101, 1000, 9999, 10000, 10001, 12345, 123400, 123450, 123456, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for x := uint64(1); x < 1<<63; x = x*3 + 7 {
		vs = append(vs, Energy(x), -Energy(x))
	}
	for _, v := range vs {
		for d := Energy(-3); d <= 3; d++ {
			e := v + d
			if got, want := e.String(), old(e); got != want {
				t.Errorf("%d: %q, want %q", int64(e), got, want)
			}
		}
	}
}
