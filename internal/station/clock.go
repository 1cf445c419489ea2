package station

import (
	"context"
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
)

// ClockTolerance is how far a meter's clock may be off before it is
// reported.
const ClockTolerance = 5 * time.Minute

// clockOffKey is the durable "already reported" mark of an open clock-off
// incident of a meter: set when it is first reported, removed when the
// meter's clock is next found within tolerance.
func clockOffKey(meterID int64) string {
	return fmt.Sprintf("clockoff/%d", meterID)
}

// reportClockOff records that meter m's clock was found off by offset
// (meter time minus true time) at instant at: by the station's own check
// of a direct GPRS meter, or by the meter's collector (1376.1 ERC12, and
// its end record with offset 0). Both paths call it.
//
// Beyond ClockTolerance, the meter's stored readings of the site day of at
// (from its 00:00 freeze on) get FlagClockOff, and one EventClockOff is
// raised per incident: the key "clockoff/<meter id>" in the StateStore
// marks it reported, so further checks, further reports from the
// collector, later days while the clock stays off, and restarts of the
// station raise nothing more. Within tolerance the incident is closed (the
// mark removed), so that the clock going off again is a new event. It
// returns the store's error; when the event cannot be stored the mark is
// removed again, so that the next report tries anew.
func (e *Engine) reportClockOff(ctx context.Context, m amigo.Meter, offset time.Duration, at time.Time) error {
	key := clockOffKey(m.ID)
	if offset.Abs() <= ClockTolerance {
		if _, open, err := e.store.GetState(ctx, key); err != nil || !open {
			return err
		}
		return e.store.DeleteState(ctx, key)
	}
	loc := amigo.Site{}.Location()
	if site, err := e.store.GetSite(ctx, m.SiteID); err == nil {
		loc = site.Location()
	}
	day := amigo.Day(at, loc)
	if _, err := e.store.UpdateReadingFlags(ctx, m.ID, "", day, day.AddDate(0, 0, 1), amigo.FlagClockOff, 0); err != nil {
		return fmt.Errorf("clock off: %w", err)
	}
	first, err := e.store.PutStateOnce(ctx, key, offset.String(), at)
	if err != nil || !first {
		return err
	}
	dir := "ahead / 快"
	if offset < 0 {
		dir = "behind / 慢"
	}
	ev := amigo.Event{Time: at, Kind: amigo.EventClockOff, Severity: "warning", SiteID: m.SiteID, AreaID: m.AreaID, CollectorID: m.CollectorID, MeterID: m.ID,
		Message: fmt.Sprintf("meter %s: clock is off by %s (%s), more than %s / 电表时钟偏差超过%d分钟", m.Address, offset.Abs().Round(time.Second), dir, ClockTolerance, int(ClockTolerance.Minutes())),
		Detail:  fmt.Sprintf("offset %s found at %s", offset.Round(time.Second), at.In(loc).Format(time.RFC3339))}
	if err := e.store.AppendEvents(ctx, ev); err != nil {
		e.store.DeleteState(ctx, key)
		return fmt.Errorf("clock off: %w", err)
	}
	return nil
}
