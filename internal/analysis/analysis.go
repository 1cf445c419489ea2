// Package analysis computes what operators and bills look at: consumption
// per day and month from frozen registers (in the site's time zone, on the
// primary side of CT and PT, per tariff and reverse, across meter swaps and
// register roll-over, gaps and reversals kept out), the reading success
// rate, and line loss per area. Its figures are pure functions of readings;
// load.go reads them through the small Reader interface it declares, so
// that the API and the station use one code path.
package analysis

import (
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vee"
)

// Bounds of a consumption query: a request beyond them is refused, never
// computed.
const (
	MaxDays   = 366 // day interval
	MaxMonths = 120 // month interval
)

// Point is the consumption of one interval on the primary side: register
// advance × CT × PT. A nil figure is a gap (a missing read, or a register
// that went back).
type Point struct {
	Start   time.Time        `json:"start"`
	End     time.Time        `json:"end"`
	Energy  *amigo.Energy    `json:"kwh"`         // forward active, total
	Tariffs [4]*amigo.Energy `json:"tariffs_kwh"` // forward active, tariffs T1..T4
	Reverse *amigo.Energy    `json:"reverse_kwh"` // reverse active, total (rooftop PV)
	// Reversed: a register went back in the interval (not a roll-over); the
	// figure it touched is left out and validation raised its event.
	Reversed bool `json:"reversed,omitempty"`
	// Partial: a month only partly inside the asked range; Days is the
	// number of its days the figures cover.
	Partial bool `json:"partial,omitempty"`
	Days    int  `json:"days,omitempty"`
	// Source is "monthly" for a month computed from the meters' monthly
	// frozen data, "daily" for a month summed from its days.
	Source string `json:"source,omitempty"`
}

// Segment is one meter's readings over its service life (for an account
// whose meter was swapped: oldest meter first). Daily, monthly and manual
// readings are used; others are ignored.
type Segment struct {
	Meter    amigo.Meter
	Readings []amigo.Reading // any order
}

// Multiplier is what a meter's register advance is multiplied by to give
// primary energy: CT × PT (1 when unset).
func Multiplier(m amigo.Meter) int64 { return int64(max(m.CTRatio, 1)) * int64(max(m.PTRatio, 1)) }

// regs is a meter's registers at one instant.
type regs struct {
	fwd      [5]amigo.Energy
	hasF     bool
	hasT     bool // fwd[1..4], the tariff registers, were read
	rev      amigo.Energy
	hasR     bool
	fromKind string
}

// series is one meter's registers by instant (Unix seconds): the daily
// freezes and manual readings (marks), and the monthly freezes apart.
type series struct {
	m       amigo.Meter
	mul     amigo.Energy
	marks   map[int64]regs
	monthly map[int64]regs
}

func newSeries(s Segment) series {
	out := series{m: s.Meter, mul: amigo.Energy(Multiplier(s.Meter)), marks: make(map[int64]regs, len(s.Readings)), monthly: map[int64]regs{}}
	for _, r := range s.Readings {
		if (!r.HasForward && !r.HasReverse) || r.Quality == amigo.QualityEstimated {
			continue
		}
		g := regs{fwd: r.Forward, hasF: r.HasForward, hasT: r.HasForward && tariffsRead(r), rev: r.Reverse[0], hasR: r.HasReverse, fromKind: r.Kind}
		k := r.Time.Unix()
		switch r.Kind {
		case amigo.KindDaily:
			out.marks[k] = g // a daily freeze is preferred at its instant
		case amigo.KindManual:
			if _, ok := out.marks[k]; !ok {
				out.marks[k] = g
			}
		case amigo.KindMonthly:
			out.monthly[k] = g
		}
	}
	// The monthly settlement at 00:00 on the 1st stands in for a missing
	// daily freeze of the same instant.
	for k, g := range out.monthly {
		if _, ok := out.marks[k]; !ok {
			out.marks[k] = g
		}
	}
	return out
}

// tariffsRead reports whether r carries its tariff registers. Freezes do;
// a manual reading (a swap's removal or installation reading) usually
// carries the total alone, its tariffs stored as zeros: they are unknown,
// not zero, unless one of them is set or the total is zero (a new meter).
// Treating them as zeros would make the old meter's tariffs "go back" and
// count the new meter's whole tariff registers on the swap day.
func tariffsRead(r amigo.Reading) bool {
	if r.Kind != amigo.KindManual || r.Forward[0] == 0 {
		return true
	}
	return r.Forward[1] != 0 || r.Forward[2] != 0 || r.Forward[3] != 0 || r.Forward[4] != 0
}

// inService reports whether the meter served some of [a, b).
func inService(m amigo.Meter, a, b time.Time) bool {
	return (m.InstalledAt.IsZero() || m.InstalledAt.Before(b)) && (m.RemovedAt.IsZero() || m.RemovedAt.After(a))
}

// usage is consumption being summed; ok[i] false makes figure i a gap.
// Index 0..4 are forward total and tariffs, 5 is reverse.
type usage struct {
	e        [6]amigo.Energy
	ok       [6]bool
	reversed bool
	served   bool
}

func (u *usage) add(o usage) {
	if !o.served {
		return
	}
	if !u.served {
		*u = o
		return
	}
	for i := range u.e {
		u.e[i] += o.e[i]
		u.ok[i] = u.ok[i] && o.ok[i]
	}
	u.reversed = u.reversed || o.reversed
}

func (u usage) point(p Point) Point {
	if !u.served {
		return p
	}
	fig := func(i int) *amigo.Energy {
		if !u.ok[i] {
			return nil
		}
		v := u.e[i]
		return &v
	}
	p.Energy, p.Reverse, p.Reversed = fig(0), fig(5), u.reversed
	for i := range 4 {
		p.Tariffs[i] = fig(i + 1)
	}
	return p
}

// between is the meter's primary consumption from mark a to mark b, each
// register decided by vee.Advance (roll-over or reversal).
func (s series) between(a, b regs, span time.Duration) usage {
	u := usage{served: true}
	one := func(i int, prev, cur amigo.Energy) {
		d, step := vee.Advance(s.m, prev, cur, span)
		if step == vee.Reversed {
			u.reversed = true
			return
		}
		u.e[i], u.ok[i] = d*s.mul, true
	}
	if a.hasF && b.hasF {
		one(0, a.fwd[0], b.fwd[0])
		if a.hasT && b.hasT {
			for i := 1; i < 5; i++ {
				one(i, a.fwd[i], b.fwd[i])
			}
		}
	}
	if a.hasR && b.hasR {
		one(5, a.rev, b.rev)
	}
	return u
}

// span returns the meter's consumption over [open, close) cut to its
// service: from the mark at open (or its installation reading) to the mark
// at close (or its removal reading). served is false when the meter was
// not in service then; a missing mark makes every figure a gap.
func (s series) span(open, close time.Time) usage {
	m := s.m
	if !inService(m, open, close) {
		return usage{}
	}
	if !m.InstalledAt.IsZero() && m.InstalledAt.After(open) {
		open = m.InstalledAt
	}
	if !m.RemovedAt.IsZero() && m.RemovedAt.Before(close) {
		close = m.RemovedAt
	}
	a, ok1 := s.marks[open.Unix()]
	b, ok2 := s.marks[close.Unix()]
	if !ok1 || !ok2 {
		return usage{served: true}
	}
	return s.between(a, b, close.Sub(open))
}

// month returns the meter's consumption of the whole month [m0, m1) from
// its monthly freezes, when it served all of it and both are stored.
func (s series) month(m0, m1 time.Time) (usage, bool) {
	m := s.m
	if (!m.InstalledAt.IsZero() && m.InstalledAt.After(m0)) || (!m.RemovedAt.IsZero() && m.RemovedAt.Before(m1)) {
		return usage{}, false
	}
	a, ok1 := s.monthly[m0.Unix()]
	b, ok2 := s.monthly[m1.Unix()]
	if !ok1 || !ok2 {
		return usage{}, false
	}
	return s.between(a, b, m1.Sub(m0)), true
}

// Range checks a consumption query and returns its bounds as site days:
// [from, to) with from before to, at most MaxDays days for "day" and
// MaxMonths months for "month". Its errors are EINVALID, bilingual.
func Range(interval string, from, to time.Time, loc *time.Location) (time.Time, time.Time, error) {
	if interval != "day" && interval != "month" {
		return from, to, amigo.Errorf(amigo.EINVALID, "consumption", "interval must be day or month / 间隔应为 day 或 month")
	}
	from, to = amigo.Day(from, loc), amigo.Day(to, loc)
	if !from.Before(to) {
		return from, to, amigo.Errorf(amigo.EINVALID, "consumption", "from (%s) must be before to (%s) / 开始日期应早于结束日期", from.Format("2006-01-02"), to.Format("2006-01-02"))
	}
	switch interval {
	case "day":
		// Sub saturates for far ranges, so the comparison holds for any input.
		if to.Sub(from) > time.Duration(MaxDays)*24*time.Hour+2*time.Hour {
			return from, to, amigo.Errorf(amigo.EINVALID, "consumption", "a day interval covers at most %d days; ask for months or a shorter range / 按日查询最多%d天", MaxDays, MaxDays)
		}
	case "month":
		n := (int64(to.Year())-int64(from.Year()))*12 + int64(to.Month()) - int64(from.Month())
		if to.Day() > 1 {
			n++
		}
		if n > MaxMonths {
			return from, to, amigo.Errorf(amigo.EINVALID, "consumption", "a month interval covers at most %d months / 按月查询最多%d个月", MaxMonths, MaxMonths)
		}
	}
	return from, to, nil
}

// Consumption returns the primary-side consumption of each interval ("day"
// or "month") of [from, to) (site days in loc) over segs: every meter in
// service in the interval counts, from the freeze opening it (or its
// installation reading) to the freeze closing it (or its removal reading),
// so an account stays continuous across a swap. A register that wraps by no
// more than the meter can register is a roll-over; anything else that goes
// back is a reversal and its figure a gap (vee.Advance decides both). A
// month uses the meters' monthly freezes where a meter served the whole
// month and both are stored, and the sum of its days otherwise (one gap
// day makes it a gap); a month only partly inside [from, to) covers those
// days and is marked Partial.
//
// The range is checked by Range first. The work is linear in days ×
// segments plus the readings (map lookups).
func Consumption(segs []Segment, interval string, from, to time.Time, loc *time.Location) ([]Point, error) {
	from, to, err := Range(interval, from, to, loc)
	if err != nil {
		return nil, err
	}
	ss := make([]series, len(segs))
	for i, s := range segs {
		ss[i] = newSeries(s)
	}
	day := func(d time.Time) usage {
		var u usage
		for _, s := range ss {
			if x := s.span(d, d.AddDate(0, 0, 1)); x.served {
				u.add(x)
			}
		}
		return u
	}
	var out []Point
	if interval == "day" {
		for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
			out = append(out, day(d).point(Point{Start: d, End: d.AddDate(0, 0, 1)}))
		}
		return out, nil
	}
	for m0 := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, loc); m0.Before(to); m0 = m0.AddDate(0, 1, 0) {
		m1 := m0.AddDate(0, 1, 0)
		a, b := m0, m1
		if from.After(a) {
			a = from
		}
		if to.Before(b) {
			b = to
		}
		p := Point{Start: a, End: b, Partial: !a.Equal(m0) || !b.Equal(m1)}
		for d := a; d.Before(b); d = d.AddDate(0, 0, 1) {
			p.Days++
		}
		var u usage
		monthly := !p.Partial
		for _, s := range ss {
			if !inService(s.m, a, b) {
				continue
			}
			x, ok := usage{}, false
			if !p.Partial {
				x, ok = s.month(m0, m1)
			}
			if !ok {
				monthly = false
				for d := a; d.Before(b); d = d.AddDate(0, 0, 1) {
					if y := s.span(d, d.AddDate(0, 0, 1)); y.served {
						x.add(y)
					}
				}
			}
			u.add(x)
		}
		if u.served {
			p.Source = "daily"
			if monthly {
				p.Source = "monthly"
			}
		}
		out = append(out, u.point(p))
	}
	return out, nil
}

// Rate is a reading success rate.
type Rate struct {
	Expected int     `json:"expected"`
	Read     int     `json:"read"`
	Percent  float64 `json:"percent"`
}

// SuccessRate counts the meters in service at the day's freeze (the end of
// the day: installed before it, not removed before it) whose daily frozen
// data of day arrived. A meter swapped during the day counts once: the new
// one, which froze the day; the old one was gone before the freeze.
func SuccessRate(ms []amigo.Meter, have map[int64][]time.Time, day time.Time, loc *time.Location) Rate {
	closing := amigo.Day(day, loc).AddDate(0, 0, 1)
	var r Rate
	for _, m := range ms {
		if (!m.InstalledAt.IsZero() && !m.InstalledAt.Before(closing)) || (!m.RemovedAt.IsZero() && m.RemovedAt.Before(closing)) {
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
