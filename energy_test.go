package amigo

import "testing"

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
