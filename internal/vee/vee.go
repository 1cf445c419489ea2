// Package vee validates readings (the "V" of validation, estimation and
// editing): registers lower than before, jumps larger than the meter's rating
// allows, registers that stopped while power flows. It also owns the one rule
// that tells a register's roll-over from a reversal (Advance), which
// consumption uses too. It is pure: it takes readings and returns flags and
// events.
package vee

import (
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
)

// Nominal phase voltage used for the rating bound (V).
const nominalVolts = 220

// DefaultRatedAmps is the Imax assumed for a meter whose archive names
// none (the stores default to it as well).
const DefaultRatedAmps = 60

// RegisterCapacity is where an energy register of 6 integer and 2 decimal
// digits wraps: 999999.99 kWh + 0.01 kWh reads 000000.00.
const RegisterCapacity = amigo.Energy(1_000_000 * amigo.EnergyScale)

// MaxEnergy is the most a meter's register can advance in d: its rated
// (maximum) current at nominal voltage on every phase, with a 20 % margin.
// It is in register units: the meter's own current (the secondary side of
// its CT for a meter behind transformers), so CT and PT do not enter; they
// multiply what the register counted into primary energy, afterwards.
func MaxEnergy(m amigo.Meter, d time.Duration) amigo.Energy {
	if d <= 0 {
		return 0
	}
	phases := max(m.Phases, 1)
	amps := m.RatedAmps
	if amps <= 0 {
		amps = DefaultRatedAmps
	}
	// The bound is 1.2 × amps × volts × phases W; over s seconds, in
	// 0.0001 kWh (0.1 Wh): 10 × W × s / 3600 = w12 × s / 3600, exactly.
	w12 := int64(amps) * nominalVolts * int64(phases) * 12 // 10 × the bound in W
	return amigo.Energy(w12 * int64(d/time.Second) / 3600)
}

// Step is what a register did between two reads.
type Step int

// Steps.
const (
	Advanced   Step = iota // went forward or stayed
	RolledOver             // wrapped past RegisterCapacity
	Reversed               // went back: a fault or tampering
)

func (s Step) String() string {
	return [...]string{"advanced", "rolled over", "reversed"}[s]
}

// Advance decides what a register of meter m did going from prev to cur in
// span, and returns the energy it registered (register units; 0 for a
// reversal). This is the one rule both validation and consumption use.
//
// A register that goes back (cur < prev) has rolled over only when the
// wrapped advance, RegisterCapacity − prev + cur, is within what the meter
// can register in span (MaxEnergy): that is, prev was within MaxEnergy of
// the capacity and cur is small. Anything else that goes back is a
// reversal, never a million kWh.
func Advance(m amigo.Meter, prev, cur amigo.Energy, span time.Duration) (amigo.Energy, Step) {
	if cur >= prev {
		return cur - prev, Advanced
	}
	if prev < RegisterCapacity && cur >= 0 {
		if wrapped := RegisterCapacity - prev + cur; wrapped <= MaxEnergy(m, span) {
			return wrapped, RolledOver
		}
	}
	return 0, Reversed
}

// Check compares cur with prev (the reading of the same meter and kind
// before it, or nil) and returns cur's flags and the events to record.
// powerW is the meter's last known total power (nil when unknown).
func Check(m amigo.Meter, prev *amigo.Reading, cur amigo.Reading, powerW *int64) (int, []amigo.Event) {
	if prev == nil || !prev.HasForward || !cur.HasForward || !cur.Time.After(prev.Time) {
		return 0, nil
	}
	flags := 0
	var evs []amigo.Event
	ev := func(kind, sev, msg string) {
		evs = append(evs, amigo.Event{Time: cur.ReceivedAt, Kind: kind, Severity: sev, SiteID: m.SiteID, AreaID: m.AreaID, CollectorID: m.CollectorID, MeterID: m.ID, Message: msg,
			Detail: fmt.Sprintf("%s reading: previous %s kWh at %s, now %s kWh at %s", cur.Kind, prev.Forward[0], prev.Time.Format(time.RFC3339), cur.Forward[0], cur.Time.Format(time.RFC3339))})
	}
	span := cur.Time.Sub(prev.Time)
	delta, step := Advance(m, prev.Forward[0], cur.Forward[0], span)
	switch {
	case step == Reversed:
		flags |= amigo.FlagReversed
		ev(amigo.EventReversed, "alarm", fmt.Sprintf("meter %s: register went back by %s kWh / 电表示数倒走", m.Address, prev.Forward[0]-cur.Forward[0]))
	case delta > MaxEnergy(m, span):
		flags |= amigo.FlagJump
		ev(amigo.EventJump, "alarm", fmt.Sprintf("meter %s: register jumped %s kWh in %s, more than its rating allows / 电表示数飞走", m.Address, delta, span.Round(time.Minute)))
	case delta == 0 && powerW != nil && *powerW > 50 && cur.Kind == amigo.KindDaily:
		flags |= amigo.FlagStopped
		ev(amigo.EventStopped, "alarm", fmt.Sprintf("meter %s: register stopped while %d W flows / 电表停走", m.Address, *powerW))
	}
	return flags, evs
}
