// Package analysis computes what operators look at: consumption per day and
// month from daily frozen registers (in the site's time zone, across meter
// replacements and register roll-over, gaps kept as gaps), the reading
// success rate, and line loss per area. It is pure: readings in, figures out.
package analysis

import (
	"sort"
	"time"

	"github.com/amigo-metering/amigo"
)

// Point is the consumption of one interval; Energy is nil for a gap.
type Point struct {
	Start  time.Time     `json:"start"`
	Energy *amigo.Energy `json:"kwh"`
}

// RollOver is where a 6-integer-digit register wraps (999999.99 kWh).
const RollOver = amigo.Energy(1_000_000 * amigo.EnergyScale)

// Segment is one meter's daily readings over its service life (oldest meter
// first for an account whose meter was swapped).
type Segment struct {
	Meter    amigo.Meter
	Readings []amigo.Reading // daily frozen, any order
}

// Consumption returns the consumption of each interval ("day" or "month")
// from `from` to `to` (site zone). A day's consumption is the difference of
// the freezes closing it and the day before; across a swap the old meter's
// last register and the new meter's first are used, so the account stays
// continuous. A wrap of the register counts as roll-over.
func Consumption(segs []Segment, interval string, from, to time.Time, loc *time.Location) []Point {
	// Each meter's marks: its daily freezes, and the manual readings taken
	// when it was installed or removed.
	type mark struct {
		at  time.Time
		fwd amigo.Energy
	}
	marks := make([][]mark, len(segs))
	for i, s := range segs {
		for _, r := range s.Readings {
			if !r.HasForward || r.Quality == amigo.QualityEstimated || (r.Kind != amigo.KindDaily && r.Kind != amigo.KindManual) {
				continue
			}
			marks[i] = append(marks[i], mark{r.Time.In(loc), r.Forward[0]})
		}
		sort.Slice(marks[i], func(a, b int) bool { return marks[i][a].at.Before(marks[i][b].at) })
	}
	// at returns meter i's register at instant t, exactly (no estimate).
	at := func(i int, t time.Time) (amigo.Energy, bool) {
		for _, m := range marks[i] {
			if m.at.Equal(t) {
				return m.fwd, true
			}
		}
		return 0, false
	}
	// dayUse is the consumption of day d over every meter in service that
	// day: from the freeze opening the day (or the installation reading) to
	// the freeze closing it (or the removal reading). A register that wraps
	// counts as roll-over. Any meter without both ends makes the day a gap.
	dayUse := func(d time.Time) (amigo.Energy, bool) {
		end := d.AddDate(0, 0, 1)
		var sum amigo.Energy
		served := false
		for i, s := range segs {
			m := s.Meter
			if (!m.InstalledAt.IsZero() && !m.InstalledAt.Before(end)) || (!m.RemovedAt.IsZero() && !m.RemovedAt.After(d)) {
				continue // not in service that day
			}
			open, closeAt := d, end
			if !m.InstalledAt.IsZero() && m.InstalledAt.After(d) {
				open = m.InstalledAt.In(loc)
			}
			if !m.RemovedAt.IsZero() && m.RemovedAt.Before(end) {
				closeAt = m.RemovedAt.In(loc)
			}
			a, ok1 := at(i, open)
			b, ok2 := at(i, closeAt)
			if !ok1 || !ok2 {
				return 0, false
			}
			u := b - a
			if u < 0 {
				u += RollOver
			}
			sum += u
			served = true
		}
		return sum, served
	}
	var out []Point
	from, to = amigo.Day(from, loc), amigo.Day(to, loc)
	switch interval {
	case "month":
		for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, loc); m.Before(to); m = m.AddDate(0, 1, 0) {
			var sum amigo.Energy
			complete := true
			for d := m; d.Before(m.AddDate(0, 1, 0)); d = d.AddDate(0, 0, 1) {
				u, ok := dayUse(d)
				if !ok {
					complete = false
					break
				}
				sum += u
			}
			p := Point{Start: m}
			if complete {
				p.Energy = &sum
			}
			out = append(out, p)
		}
	default:
		for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
			p := Point{Start: d}
			if u, ok := dayUse(d); ok {
				p.Energy = &u
			}
			out = append(out, p)
		}
	}
	return out
}

// Rate is a reading success rate.
type Rate struct {
	Expected int     `json:"expected"`
	Read     int     `json:"read"`
	Percent  float64 `json:"percent"`
}

// SuccessRate counts the meters (installed before the day ended and not
// removed before it began) whose daily frozen data of day arrived.
func SuccessRate(ms []amigo.Meter, have map[int64][]time.Time, day time.Time, loc *time.Location) Rate {
	closing := amigo.Day(day, loc).AddDate(0, 0, 1)
	var r Rate
	for _, m := range ms {
		if (!m.InstalledAt.IsZero() && !m.InstalledAt.Before(closing)) || (!m.RemovedAt.IsZero() && m.RemovedAt.Before(amigo.Day(day, loc))) {
			continue
		}
		r.Expected++
		for _, t := range have[m.ID] {
			if t.Equal(closing) {
				r.Read++
				break
			}
		}
	}
	if r.Expected > 0 {
		r.Percent = float64(r.Read) * 100 / float64(r.Expected)
	}
	return r
}

// Loss is an area's line loss of a day.
type Loss struct {
	Supply    *amigo.Energy `json:"supply_kwh"`
	Customers *amigo.Energy `json:"customers_kwh"`
	Percent   *float64      `json:"percent"`
	Complete  bool          `json:"complete"`
	OutOfBand bool          `json:"out_of_band"`
}

// LineLoss is (supply − Σ customer meters) / supply for one day, computed
// only when every meter's consumption of the day is known.
func LineLoss(a amigo.Area, supply amigo.Energy, supplyOK bool, customers []amigo.Energy, complete bool) Loss {
	var l Loss
	if !supplyOK || !complete || supply <= 0 {
		return l
	}
	var sum amigo.Energy
	for _, c := range customers {
		sum += c
	}
	pct := float64(supply-sum) * 100 / float64(supply)
	l.Supply, l.Customers, l.Percent, l.Complete = &supply, &sum, &pct, true
	l.OutOfBand = pct < a.LossLow || pct > a.LossHigh
	return l
}
