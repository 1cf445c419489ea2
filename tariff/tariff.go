package tariff

import (
	"fmt"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Ladder cycles.
const (
	CycleMonth = "month"
	CycleYear  = "year"
)

// Limits on a document's lists.
const (
	maxPeriods   = 16
	maxRanges    = 12
	maxSeasons   = 12
	maxTiers     = 10
	maxCalendar  = 1000
	maxStanding  = 10
	maxNameLen   = 64
	maxRegisters = 4 // the meter's tariff registers T1–T4
)

// Tariff is one version of a named tariff: from ValidFrom on (site-local
// days) it prices energy until a later version of the same name starts.
// A Tariff is immutable once parsed and safe for concurrent use.
type Tariff struct {
	Name      string
	Title     string         // optional, free text for people (浙江居民生活用电)
	TimeZone  string         // IANA zone of the site-local clock
	Location  *time.Location // TimeZone loaded
	ValidFrom Date

	// FlatPrice is the price of a tariff without periods, and the price a
	// TOU tariff bills a meter without tariff registers at (HasFlatPrice).
	FlatPrice    Price
	HasFlatPrice bool

	Days     PeriodSet // all year, workdays (and every day without RestDays)
	RestDays PeriodSet // weekends and holidays, when the tariff tells them apart
	Seasons  []Season

	Holidays map[Date]bool // rest days that would be workdays
	Workdays map[Date]bool // workdays that would be weekend days (调休)

	Ladder   *Ladder
	Standing []Standing
}

// PeriodSet is the periods of one kind of day: together they cover the 24
// hours once.
type PeriodSet []Period

// Period is one time-of-use period (尖, 峰, 平, 谷) with its clock ranges,
// its price and the meter registers (1–4) whose energy it bills.
type Period struct {
	Name      string
	Hours     []Range
	Price     Price
	Registers []int
}

// Range is a half-open range of the site-local clock [From, To); a range
// with To ≤ From wraps midnight ("22:00"–"08:00").
type Range struct {
	From, To Clock
}

// Season replaces the year-round periods on the days From..To (inclusive,
// wrapping the year end when To is before From).
type Season struct {
	Name     string
	From, To MonthDay
	Days     PeriodSet
	RestDays PeriodSet
}

// Ladder is the tier ladder (阶梯): Thresholds (kWh per cycle, increasing)
// split the cycle's usage into len(Thresholds)+1 tiers; each tier has
// either a surcharge on top of the period price or, for a tariff without
// periods, its own price.
type Ladder struct {
	Cycle      string // CycleMonth or CycleYear
	Thresholds []amigo.Energy
	Surcharges []Price // len(Thresholds)+1, or nil
	Prices     []Price // len(Thresholds)+1, or nil
}

// Standing is a fixed charge per month (基本费, meter rental).
type Standing struct {
	Name     string
	PerMonth amigo.Fen
}

// Version names this version: "zj-residential@2026-01-01". A bill records
// it, so a later version never changes a bill already issued.
func (t *Tariff) Version() string { return t.Name + "@" + t.ValidFrom.String() }

// HasPeriods reports whether the tariff is time-of-use.
func (t *Tariff) HasPeriods() bool { return len(t.Days) > 0 }

// HasRegisters reports whether the periods name the meter registers that
// measure them (then usage comes from the registers T1–T4).
func (t *Tariff) HasRegisters() bool { return len(t.Days) > 0 && len(t.Days[0].Registers) > 0 }

// IsRestDay reports whether d is a weekend day or a holiday of the
// tariff's calendar (a listed workday is not).
func (t *Tariff) IsRestDay(d Date) bool {
	if t.Holidays[d] {
		return true
	}
	if t.Workdays[d] {
		return false
	}
	wd := d.Weekday()
	return wd == time.Saturday || wd == time.Sunday
}

// PeriodsOn returns the periods in force on d, the season's name ("" for
// the year-round periods) and whether d is billed as a rest day. A tariff
// without periods returns nil.
func (t *Tariff) PeriodsOn(d Date) (set PeriodSet, season string, rest bool) {
	days, restDays := t.Days, t.RestDays
	md := d.MonthDay()
	for _, s := range t.Seasons {
		if s.contains(md) {
			days, restDays, season = s.Days, s.RestDays, s.Name
			break
		}
	}
	if len(restDays) > 0 && t.IsRestDay(d) {
		return restDays, season, true
	}
	return days, season, false
}

func (s Season) contains(md MonthDay) bool {
	if s.From <= s.To {
		return s.From <= md && md <= s.To
	}
	return md >= s.From || md <= s.To
}

// PeriodAt returns the period in force at the instant tm (site-local clock
// and day); false for a tariff without periods.
func (t *Tariff) PeriodAt(tm time.Time) (Period, bool) {
	local := tm.In(t.Location)
	set, _, _ := t.PeriodsOn(DateOf(tm, t.Location))
	m := Clock(local.Hour()*60 + local.Minute())
	for _, p := range set {
		for _, r := range p.Hours {
			if r.covers(m) {
				return p, true
			}
		}
	}
	return Period{}, false
}

func (r Range) covers(m Clock) bool {
	if r.From < r.To {
		return r.From <= m && m < r.To
	}
	return m >= r.From || m < r.To
}

// byName returns the period of set named name.
func (s PeriodSet) byName(name string) (Period, bool) {
	for _, p := range s {
		if p.Name == name {
			return p, true
		}
	}
	return Period{}, false
}

// Names lists the period names in order.
func (s PeriodSet) Names() []string {
	out := make([]string, len(s))
	for i, p := range s {
		out[i] = p.Name
	}
	return out
}

// Summary describes the tariff in one line for people, bilingual.
func (t *Tariff) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s valid from / 生效 %s, %s", t.Name, t.ValidFrom, t.TimeZone)
	if t.HasPeriods() {
		fmt.Fprintf(&b, "; periods / 时段: ")
		for i, p := range t.Days {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %s", p.Name, p.Price)
		}
		if len(t.RestDays) > 0 {
			b.WriteString("; rest-day periods / 休息日时段")
		}
		if len(t.Seasons) > 0 {
			fmt.Fprintf(&b, "; %d season(s) / 季节", len(t.Seasons))
		}
	}
	if t.HasFlatPrice {
		fmt.Fprintf(&b, "; flat / 单一电价 %s", t.FlatPrice)
	}
	if l := t.Ladder; l != nil {
		fmt.Fprintf(&b, "; ladder / 阶梯 per %s at", l.Cycle)
		for _, th := range l.Thresholds {
			fmt.Fprintf(&b, " %s", th)
		}
		b.WriteString(" kWh")
	}
	for _, s := range t.Standing {
		fmt.Fprintf(&b, "; %s %s yuan/month / 元/月", s.Name, s.PerMonth)
	}
	return b.String()
}
