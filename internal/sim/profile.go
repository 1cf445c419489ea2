package sim

import (
	"fmt"
	"math"
	"time"
)

// Profile is a customer type: it shapes a meter's load over the day.
type Profile uint8

// Load profiles.
const (
	Home    Profile = iota // morning and evening peaks
	Office                 // office hours on weekdays
	Factory                // three shifts
	Tower                  // telecom tower: flat
	PV                     // rooftop-PV home: exports around noon
)

var profileNames = [...]string{"home", "office", "factory", "tower", "pv"}

func (p Profile) String() string {
	if int(p) < len(profileNames) {
		return profileNames[p]
	}
	return fmt.Sprintf("profile-%d", p)
}

// ParseProfile parses a profile name; "mixed" is not a profile (the fleet
// assigns one per meter).
func ParseProfile(s string) (Profile, error) {
	for i, n := range profileNames {
		if n == s {
			return Profile(i), nil
		}
	}
	return 0, fmt.Errorf("sim: unknown profile %q (home, office, factory, tower, pv)", s)
}

// hash64 is a small deterministic mixer (splitmix64).
func hash64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	return x ^ x>>31
}

// unit returns a deterministic number in [0, 1) for (seed, a, b).
func unit(seed, a, b uint64) float64 {
	return float64(hash64(seed^hash64(a^hash64(b)))>>11) / (1 << 53)
}

// loadKW returns the meter's net active power in kW at local time t: positive
// imports (forward), negative exports (reverse). scale is the meter's size
// factor, noise a deterministic per-interval variation.
func loadKW(p Profile, t time.Time, scale, noise float64) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	wd := t.Weekday()
	var kw float64
	switch p {
	case Home, PV:
		kw = 0.25 + 1.2*bump(h, 7.5, 1.0) + 2.2*bump(h, 19.5, 1.8)
		if p == PV {
			kw -= 4.0 * math.Max(0, math.Sin(math.Pi*(h-6)/12))
		}
	case Office:
		kw = 0.6
		if wd != time.Saturday && wd != time.Sunday && h >= 8 && h < 18 {
			kw = 6.0 + 1.5*bump(h, 14, 2)
		}
	case Factory:
		// At most 45 kW × 1.5 × 1.1 ≈ 74 kW: the power registers (XX.XXXX kW)
		// hold it.
		switch {
		case h < 8:
			kw = 20
		case h < 16:
			kw = 45
		default:
			kw = 30
		}
		if wd == time.Sunday {
			kw *= 0.3
		}
	case Tower:
		kw = 2.2
	}
	return kw * scale * (0.9 + 0.2*noise)
}

// bump is a smooth peak of height 1 at centre c with half-width w hours.
func bump(h, c, w float64) float64 {
	d := (h - c) / w
	return math.Exp(-d * d)
}

// tariffAt returns the time-of-use tariff (1 sharp 尖, 2 peak 峰, 3 flat 平,
// 4 valley 谷) in force at local hour h.
func tariffAt(h int) int {
	return touSchedule[h]
}

// touSchedule maps each hour to its tariff: valley 23–07, sharp 10–11 and
// 19–21, peak 08–10, 11–12, 17–19, 21–22, flat otherwise.
var touSchedule = [24]int{4, 4, 4, 4, 4, 4, 4, 3, 2, 2, 1, 2, 3, 3, 3, 3, 3, 2, 2, 1, 1, 2, 3, 4}
