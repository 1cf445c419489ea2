package analysis

import (
	"sort"
	"time"

	"github.com/amigo-metering/amigo"
)

// SuspectRule is how Suspects ranks an area's customer meters, in one
// sentence (the areas page and docs/architecture.md show it).
const SuspectRule = "Meters rank by missing days of data, then stopped-register events, then reversal events, then their share of the customers' consumption drop on the days the area's line loss rose (each day against the day before). / 排序依据：先按缺数天数，再按停走事件数、倒走事件数，最后按线损上升日（与前一日相比）各表在全部用户用电量下降中所占的份额。"

// Suspect is a customer meter of an area with the signs that it explains
// the area's line loss over a window of days.
type Suspect struct {
	Meter amigo.Meter `json:"-"`
	// MissingDays: days in service whose consumption is missing or went
	// back.
	MissingDays int `json:"missing_days"`
	// Stopped and Reversed: the meter's reading.stopped and
	// reading.reversed events in the window (as the caller counted them).
	Stopped  int `json:"stopped"`
	Reversed int `json:"reversed"`
	// Drop is the meter's consumption drop summed over the days the loss
	// rose; DropShare its share of all customers' drop then (0..1).
	Drop      amigo.Energy `json:"drop_kwh"`
	DropShare float64      `json:"drop_share"`
}

// Signs reports whether the meter shows any sign at all.
func (s Suspect) Signs() bool {
	return s.MissingDays > 0 || s.Stopped > 0 || s.Reversed > 0 || s.Drop > 0
}

// Suspects ranks the customer meters of an area over the site days
// [from, to) by SuspectRule. supply is the area's supply chain (as
// LoadAreaDay gives it), customers one segment per meter; stopped and
// reversed count events by meter id. The loss of a day is judged only when
// the supply and every customer meter in service have its figure. The
// work is linear in days × meters.
func Suspects(supply, customers []Segment, from, to time.Time, loc *time.Location, stopped, reversed map[int64]int) ([]Suspect, error) {
	sp, err := Consumption(supply, "day", from, to, loc)
	if err != nil {
		return nil, err
	}
	out := make([]Suspect, len(customers))
	pts := make([][]Point, len(customers))
	for i, c := range customers {
		if pts[i], err = Consumption([]Segment{c}, "day", from, to, loc); err != nil {
			return nil, err
		}
		out[i] = Suspect{Meter: c.Meter, Stopped: stopped[c.Meter.ID], Reversed: reversed[c.Meter.ID]}
		for _, p := range pts[i] {
			if p.Energy == nil && inService(c.Meter, p.Start, p.End) {
				out[i].MissingDays++
			}
		}
	}
	// loss[d]: the day's loss as a fraction, when judged.
	loss := make([]*float64, len(sp))
	for d, p := range sp {
		if p.Energy == nil || *p.Energy <= 0 {
			continue
		}
		var sum amigo.Energy
		complete := true
		for i := range customers {
			q := pts[i][d]
			if q.Energy != nil {
				sum += *q.Energy
			} else if inService(customers[i].Meter, q.Start, q.End) {
				complete = false
			}
		}
		if complete {
			l := float64(*p.Energy-sum) / float64(*p.Energy)
			loss[d] = &l
		}
	}
	var total amigo.Energy
	for d := 1; d < len(sp); d++ {
		if loss[d] == nil || loss[d-1] == nil || *loss[d] <= *loss[d-1] {
			continue
		}
		for i := range customers {
			a, b := pts[i][d-1].Energy, pts[i][d].Energy
			if a != nil && b != nil && *b < *a {
				out[i].Drop += *a - *b
				total += *a - *b
			}
		}
	}
	if total > 0 {
		for i := range out {
			out[i].DropShare = float64(out[i].Drop) / float64(total)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.MissingDays != b.MissingDays:
			return a.MissingDays > b.MissingDays
		case a.Stopped != b.Stopped:
			return a.Stopped > b.Stopped
		case a.Reversed != b.Reversed:
			return a.Reversed > b.Reversed
		case a.Drop != b.Drop:
			return a.Drop > b.Drop
		}
		return a.Meter.Address < b.Meter.Address
	})
	return out, nil
}
