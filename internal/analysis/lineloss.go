package analysis

import (
	"time"

	"github.com/amigo-metering/amigo"
)

// Loss is an area's line loss of a day, on the primary side.
type Loss struct {
	Supply    *amigo.Energy `json:"supply_kwh"`
	Customers *amigo.Energy `json:"customers_kwh"`
	Percent   *float64      `json:"percent"`
	// Complete: every meter in service that day (the supply and each
	// customer meter, swapped and retired ones for their part of the day)
	// has its consumption of the day. Only a complete day is judged.
	Complete  bool `json:"complete"`
	OutOfBand bool `json:"out_of_band"`
	// Missing names the meters (addresses) whose data of the day is
	// missing or went back.
	Missing []string `json:"missing,omitempty"`
}

// AreaDayLoss is the line loss of area a on site day (in loc):
// (supply − Σ customers) / supply, each meter's consumption multiplied by
// its CT × PT. supply is the area's supply meter with the meters it
// replaced or was replaced by (one account-like chain); customers are the
// other meters of the area, each on its own. A meter not in service that
// day does not count; one in service without both ends of its part of the
// day makes the day incomplete, with no figures. A supply of zero gives
// no percentage.
func AreaDayLoss(a amigo.Area, supply, customers []Segment, day time.Time, loc *time.Location) Loss {
	day = amigo.Day(day, loc)
	end := day.AddDate(0, 0, 1)
	var l Loss
	complete := true
	use := func(segs []Segment) (amigo.Energy, bool) {
		var u usage
		for _, sg := range segs {
			x := newSeries(sg).span(day, end)
			if !x.served {
				continue
			}
			if !x.ok[0] {
				complete = false
				l.Missing = append(l.Missing, sg.Meter.Address)
			}
			u.add(x)
		}
		return u.e[0], u.served && u.ok[0]
	}
	s, sOK := use(supply)
	if !sOK && complete { // no supply meter in service that day
		complete = false
	}
	var sum amigo.Energy
	for _, c := range customers {
		e, ok := use([]Segment{c})
		if ok {
			sum += e
		}
	}
	if !complete {
		return l
	}
	l.Supply, l.Customers, l.Complete = &s, &sum, true
	if s > 0 {
		pct := float64(s-sum) * 100 / float64(s)
		l.Percent = &pct
		l.OutOfBand = pct < a.LossLow || pct > a.LossHigh
	}
	return l
}

// SupplyChain returns the area's supply meter and the meters it replaced
// or was replaced by, oldest first: meters of the area removed at the
// instant the next was installed (a swap). ms are the area's meters, all
// of them, removed ones included; supply is the meter the area names.
func SupplyChain(supply amigo.Meter, ms []amigo.Meter) []amigo.Meter {
	chain := []amigo.Meter{supply}
	used := map[int64]bool{supply.ID: true}
	for changed := true; changed; {
		changed = false
		for _, m := range ms {
			if used[m.ID] || m.AccountID != 0 {
				continue
			}
			first, last := chain[0], chain[len(chain)-1]
			switch {
			case !m.RemovedAt.IsZero() && !first.InstalledAt.IsZero() && m.RemovedAt.Equal(first.InstalledAt):
				chain = append([]amigo.Meter{m}, chain...)
			case !last.RemovedAt.IsZero() && !m.InstalledAt.IsZero() && m.InstalledAt.Equal(last.RemovedAt):
				chain = append(chain, m)
			default:
				continue
			}
			used[m.ID], changed = true, true
		}
	}
	return chain
}
