package analysis

import (
	"time"

	"github.com/amigo-metering/amigo"
)

// Boundary is an instant a figure needs a meter's registers at (a frozen
// reading, or a swap's removal or installation reading) that has no usable
// reading: none is stored, or only an estimated one.
type Boundary struct {
	MeterID   int64     `json:"meter_id"`
	Address   string    `json:"meter"`
	Time      time.Time `json:"time"`
	Estimated bool      `json:"estimated,omitempty"` // a reading is stored but it is an estimate
}

// Interval is an account's primary-side consumption over one interval
// [open, close): what a bill prices. A figure is known only when every
// meter in service gave it; the boundaries that lack a reading are listed,
// never taken as zero.
type Interval struct {
	Energy amigo.Energy    // forward active, total
	Tariff [4]amigo.Energy // forward active, T1..T4
	// HasTariffs: every meter's tariff registers were read and advanced
	// in step with its total (a meter without tariff registers keeps
	// them at zero).
	HasTariffs bool
	// Known: the total is known (no missing boundary, no reversal).
	Known    bool
	Reversed bool
	Missing  []Boundary
	Served   bool // some meter was in service in the interval
}

// Between returns the consumption of the meters of segs over [open,
// close), by the same rule as Consumption (each meter from the mark at
// open, or its installation reading, to the mark at close, or its removal
// reading; roll-over and reversal by vee.Advance; × CT × PT): a swap keeps
// it continuous. A meter whose tariff registers stay at zero while its
// total advances has none (HasTariffs false: bill it from totals).
func Between(segs []Segment, open, close time.Time) Interval {
	out := Interval{Known: true, HasTariffs: true}
	for _, sg := range segs {
		s := newSeries(sg)
		m := s.m
		if !inService(m, open, close) {
			continue
		}
		out.Served = true
		a, b := open, close
		if !m.InstalledAt.IsZero() && m.InstalledAt.After(a) {
			a = m.InstalledAt
		}
		if !m.RemovedAt.IsZero() && m.RemovedAt.Before(b) {
			b = m.RemovedAt
		}
		ma, ok1 := s.marks[a.Unix()]
		mb, ok2 := s.marks[b.Unix()]
		for _, x := range []struct {
			t  time.Time
			ok bool
		}{{a, ok1}, {b, ok2}} {
			if !x.ok {
				out.Missing = append(out.Missing, Boundary{MeterID: m.ID, Address: m.Address, Time: x.t, Estimated: estimatedAt(sg.Readings, x.t)})
			}
		}
		if ok1 && !ma.hasF {
			out.Missing = append(out.Missing, Boundary{MeterID: m.ID, Address: m.Address, Time: a})
		}
		if ok2 && !mb.hasF {
			out.Missing = append(out.Missing, Boundary{MeterID: m.ID, Address: m.Address, Time: b})
		}
		if !ok1 || !ok2 || !ma.hasF || !mb.hasF {
			out.Known, out.HasTariffs = false, false
			continue
		}
		u := s.between(ma, mb, b.Sub(a))
		if u.reversed || !u.ok[0] {
			out.Reversed = out.Reversed || u.reversed
			out.Known, out.HasTariffs = false, false
			continue
		}
		out.Energy += u.e[0]
		zero := ma.fwd[1]+ma.fwd[2]+ma.fwd[3]+ma.fwd[4] == 0 && mb.fwd[1]+mb.fwd[2]+mb.fwd[3]+mb.fwd[4] == 0
		if !ma.hasT || !mb.hasT || (zero && u.e[0] > 0) || !u.ok[1] || !u.ok[2] || !u.ok[3] || !u.ok[4] {
			out.HasTariffs = false
			continue
		}
		for i := range 4 {
			out.Tariff[i] += u.e[i+1]
		}
	}
	if !out.Known {
		out.HasTariffs = false
	}
	return out
}

// estimatedAt reports whether rs holds an estimated daily, monthly or
// manual reading at t.
func estimatedAt(rs []amigo.Reading, t time.Time) bool {
	for _, r := range rs {
		if r.Quality == amigo.QualityEstimated && r.Time.Equal(t) && (r.Kind == amigo.KindDaily || r.Kind == amigo.KindMonthly || r.Kind == amigo.KindManual) {
			return true
		}
	}
	return false
}
