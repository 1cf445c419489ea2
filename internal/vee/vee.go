// Package vee validates readings (the "V" of validation, estimation and
// editing): registers lower than before, jumps larger than the meter's rating
// allows, registers that stopped while power flows. It is pure: it takes
// readings and returns flags and events.
package vee

import (
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
)

// Nominal phase voltage used for the rating bound (V).
const nominalVolts = 220

// MaxEnergy is the most energy a meter can register in d: rated current at
// nominal voltage on every phase, through its CT and PT, with a 20 % margin.
func MaxEnergy(m amigo.Meter, d time.Duration) amigo.Energy {
	phases := max(m.Phases, 1)
	amps := max(m.RatedAmps, 1)
	ratio := max(m.CTRatio, 1) * max(m.PTRatio, 1)
	kw := float64(amps*nominalVolts*phases*ratio) / 1000 * 1.2
	return amigo.Energy(kw * d.Hours() * amigo.EnergyScale)
}

// Check compares cur with prev (the previous reading of the same meter and
// kind, or nil) and returns cur's flags and the events to record. powerW is
// the meter's last known total power (nil when unknown).
func Check(m amigo.Meter, prev *amigo.Reading, cur amigo.Reading, powerW *int64) (int, []amigo.Event) {
	if prev == nil || !prev.HasForward || !cur.HasForward || !cur.Time.After(prev.Time) {
		return 0, nil
	}
	flags := 0
	var evs []amigo.Event
	ev := func(kind, sev, msg string) {
		evs = append(evs, amigo.Event{Time: cur.ReceivedAt, Kind: kind, Severity: sev, SiteID: m.SiteID, AreaID: m.AreaID, CollectorID: m.CollectorID, MeterID: m.ID, Message: msg,
			Detail: fmt.Sprintf("previous %s kWh at %s, now %s kWh at %s", prev.Forward[0], prev.Time.Format(time.RFC3339), cur.Forward[0], cur.Time.Format(time.RFC3339))})
	}
	delta := cur.Forward[0] - prev.Forward[0]
	span := cur.Time.Sub(prev.Time)
	switch {
	case delta < 0:
		flags |= amigo.FlagReversed
		ev(amigo.EventReversed, "alarm", fmt.Sprintf("meter %s: register went back by %s kWh / 电表示数倒走", m.Address, -delta))
	case delta > MaxEnergy(m, span):
		flags |= amigo.FlagJump
		ev(amigo.EventJump, "alarm", fmt.Sprintf("meter %s: register jumped %s kWh in %s, more than its rating allows / 电表示数飞走", m.Address, delta, span.Round(time.Minute)))
	case delta == 0 && powerW != nil && *powerW > 50 && cur.Kind == amigo.KindDaily:
		flags |= amigo.FlagStopped
		ev(amigo.EventStopped, "alarm", fmt.Sprintf("meter %s: register stopped while %d W flows / 电表停走", m.Address, *powerW))
	}
	return flags, evs
}
