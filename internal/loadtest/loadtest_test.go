package loadtest

import (
	"testing"
	"time"
)

func TestForwardAt(t *testing.T) {
	// Meter 3: base (1000 + 3·7919 mod 5000) kWh = (1000 + 3757) kWh =
	// 47,570,000 × 0.0001 kWh; 500 W for an hour is 0.5 kWh = 5,000 units.
	got := forwardAt(3, modelEpoch.Add(time.Hour))
	want := [5]int64{47_575_000, 4_757_500, 14_272_500, 16_651_250, 11_893_750} // 10 %, 30 %, 35 %, the rest
	if got != want {
		t.Fatalf("forwardAt(3, +1h) = %v, want %v", got, want)
	}
	if got[1]+got[2]+got[3]+got[4] != got[0] {
		t.Fatalf("tariffs %v do not add up to the total", got)
	}
}

func TestSegmentRoundTrip(t *testing.T) {
	s := Segment{Start: time.Date(2026, 3, 3, 0, 0, 2, 0, shanghai), Origin: time.Unix(0, 1_790_000_000_123_456_789), Speed: 60}
	got, err := ParseSegment(s.String())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Start.Equal(s.Start) || !got.Origin.Equal(s.Origin) || got.Speed != 60 {
		t.Fatalf("round trip of %q gave %+v", s.String(), got)
	}
	for _, bad := range []string{"", "clock", "clock x 1 1", "clock 2026-03-03T00:00:00Z x 1", "clock 2026-03-03T00:00:00Z 1 0", "time 2026-03-03T00:00:00Z 1 1"} {
		if _, err := ParseSegment(bad); err == nil {
			t.Errorf("ParseSegment(%q) accepted", bad)
		}
	}
}

func TestClockJump(t *testing.T) {
	// At speed 1 the clock reads start plus the real time since origin:
	// an origin one hour in the past reads start + 1 h (and a little).
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, shanghai)
	c := NewClock(Segment{Start: start, Origin: time.Now().Add(-time.Hour), Speed: 1})
	if d := c.Now().Sub(start); d < time.Hour || d > time.Hour+time.Minute {
		t.Fatalf("clock reads start + %s, want about 1 h", d)
	}
	midnight := time.Date(2026, 3, 3, 0, 0, 0, 0, shanghai)
	c.Set(Segment{Start: midnight, Origin: time.Now(), Speed: 1})
	if d := c.Now().Sub(midnight); d < 0 || d > time.Minute {
		t.Fatalf("after the jump the clock reads midnight + %s", d)
	}
}

func TestPercentile(t *testing.T) {
	// Nearest rank: p50 of 1..100 is the 50th value, p99 the 99th.
	var ms []float64
	for i := 100; i >= 1; i-- {
		ms = append(ms, float64(i))
	}
	if p := percentile(ms, 0.50); p != 50 {
		t.Errorf("p50 = %v, want 50", p)
	}
	if p := percentile(ms, 0.99); p != 99 {
		t.Errorf("p99 = %v, want 99", p)
	}
	if p := percentile([]float64{7}, 0.99); p != 7 {
		t.Errorf("p99 of one = %v, want 7", p)
	}
}

func TestRegistrationLine(t *testing.T) {
	if got := string(registrationLine(gprsAddress(41), gprsIMEI(41), gprsSecret(41))); got != "REG 900000000042 860000000000041 bench-secret-000041\r\n" {
		t.Fatalf("registration line %q", got)
	}
}

func FuzzParseSegment(f *testing.F) {
	f.Add("clock 2026-03-03T00:00:02+08:00 1790000000123456789 60")
	f.Add("clock x y z")
	f.Fuzz(func(t *testing.T, line string) {
		s, err := ParseSegment(line)
		if err != nil {
			return
		}
		again, err := ParseSegment(s.String())
		if err != nil || !again.Start.Equal(s.Start) || !again.Origin.Equal(s.Origin) || again.Speed != s.Speed {
			t.Fatalf("%q parsed to %+v, which does not round-trip: %+v, %v", line, s, again, err)
		}
	})
}
