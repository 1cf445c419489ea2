package station

import (
	"context"
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
)

// checkLineLoss computes yesterday's line loss of every area with a supply
// meter once its data is complete, and raises an event when it is outside
// the area's band. Each area-day is judged once.
func (e *Engine) checkLineLoss(ctx context.Context, site amigo.Site) {
	loc := site.Location()
	now := e.clock.Now()
	today := amigo.Day(now, loc)
	if now.Sub(today) < e.cfg.DailyAfter {
		return
	}
	e.mu.Lock()
	recent := now.Sub(e.lastDaily[-site.ID]) < e.cfg.RealtimeEvery
	if !recent {
		e.lastDaily[-site.ID] = now // at most once a collection interval
	}
	e.mu.Unlock()
	if recent {
		return
	}
	day := today.AddDate(0, 0, -1)
	areas, err := e.store.ListAreas(ctx, site.ID)
	if err != nil {
		return
	}
	for _, a := range areas {
		key := fmt.Sprint("loss", a.ID, day.Unix())
		e.mu.Lock()
		done := e.missingSent[key]
		e.mu.Unlock()
		if done || a.SupplyMeterID == 0 {
			continue
		}
		ms, _, err := e.store.ListMeters(ctx, amigo.MeterFilter{AreaID: a.ID, IncludeRetired: true})
		if err != nil {
			return
		}
		var supply amigo.Energy
		supplyOK := false
		var customers []amigo.Energy
		complete := true
		for _, m := range ms {
			rs, err := e.store.ListReadings(ctx, m.ID, "", day.Add(-time.Hour), day.AddDate(0, 0, 1).Add(time.Hour))
			if err != nil {
				return
			}
			pts := analysis.Consumption([]analysis.Segment{{Meter: m, Readings: rs}}, "day", day, day.AddDate(0, 0, 1), loc)
			if len(pts) != 1 || pts[0].Energy == nil {
				if !m.InstalledAt.IsZero() && !m.InstalledAt.Before(day.AddDate(0, 0, 1)) {
					continue // installed after the day
				}
				complete = false
				continue
			}
			if m.ID == a.SupplyMeterID {
				supply, supplyOK = *pts[0].Energy, true
			} else {
				customers = append(customers, *pts[0].Energy)
			}
		}
		if !complete || !supplyOK {
			continue // judged when the data is complete
		}
		l := analysis.LineLoss(a, supply, supplyOK, customers, complete)
		e.mu.Lock()
		e.missingSent[key] = true
		e.mu.Unlock()
		if l.OutOfBand {
			e.store.AppendEvents(ctx, amigo.Event{Time: now, Kind: amigo.EventLineLoss, Severity: "warning", SiteID: site.ID, AreaID: a.ID,
				Message: fmt.Sprintf("area %s: line loss %.2f %% on %s is outside %.1f..%.1f %% / 线损率越限", a.Name, *l.Percent, day.Format("2006-01-02"), a.LossLow, a.LossHigh),
				Detail:  fmt.Sprintf("supply %s kWh, customers %s kWh", l.Supply, l.Customers)})
		}
	}
}
