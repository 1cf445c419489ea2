package station

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
)

// lossQueue is an area's line-loss work, kept in the StateStore under
// "lineloss/<area id>": the days waiting for complete data, and the first
// day not yet queued.
type lossQueue struct {
	Next    string   `json:"next"`              // YYYY-MM-DD
	Pending []string `json:"pending,omitempty"` // oldest first
}

// checkLineLoss judges the line loss of the site's areas with a supply
// meter, day by day, once each day's data is complete; a day whose data
// arrives late (补抄) is judged when it becomes complete, within
// BackfillDays. An out-of-band day raises one event. What is pending and
// what was judged ("lineloss/<area id>/<day>") is durable, so a restart
// neither forgets a pending day nor judges a day twice. It runs at most once
// a collection interval per site, after DailyAfter.
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
		e.lastDaily[-site.ID] = now
	}
	e.mu.Unlock()
	if recent {
		return
	}
	areas, err := e.store.ListAreas(ctx, site.ID)
	if err != nil {
		e.log.Warn("line loss: list areas", "site", site.Name, "err", err)
		return
	}
	for _, a := range areas {
		if a.SupplyMeterID == 0 || ctx.Err() != nil {
			continue
		}
		if err := e.judgeArea(ctx, site, a, today, now); err != nil {
			e.log.Warn("line loss", "area", a.Name, "err", err)
		}
	}
}

// judgeArea queues the area's days up to yesterday and judges every
// pending day whose data is complete.
func (e *Engine) judgeArea(ctx context.Context, site amigo.Site, a amigo.Area, today, now time.Time) error {
	loc := site.Location()
	key := fmt.Sprintf("lineloss/%d", a.ID)
	var q lossQueue
	if v, ok, err := e.store.GetState(ctx, key); err != nil {
		return err
	} else if ok {
		if err := json.Unmarshal([]byte(v), &q); err != nil {
			e.log.Warn("line loss: bad queue state, starting again", "area", a.Name, "err", err)
			q = lossQueue{}
		}
	}
	oldest := today.AddDate(0, 0, -e.cfg.BackfillDays)
	next := today.AddDate(0, 0, -1)
	if t, err := time.ParseInLocation("2006-01-02", q.Next, loc); err == nil {
		next = t
	}
	if next.Before(oldest) {
		next = oldest
	}
	for d := next; d.Before(today); d = d.AddDate(0, 0, 1) {
		q.Pending = append(q.Pending, d.Format("2006-01-02"))
	}
	if next.Before(today) {
		q.Next = today.Format("2006-01-02")
	}
	var still []string
	for _, ds := range q.Pending {
		day, err := time.ParseInLocation("2006-01-02", ds, loc)
		if err != nil || day.Before(oldest) {
			continue // beyond the back-fill window: no data will come
		}
		l, err := analysis.AreaLoss(ctx, e.store, a, day, loc)
		if err != nil {
			return err
		}
		if !l.Complete {
			still = append(still, ds)
			continue
		}
		if err := e.reportLoss(ctx, site, a, day, l, now); err != nil {
			return err
		}
	}
	q.Pending = still
	b, _ := json.Marshal(q)
	return e.store.PutState(ctx, key, string(b), now)
}

// reportLoss records a judged area-day once and raises the out-of-band
// event the first time only.
func (e *Engine) reportLoss(ctx context.Context, site amigo.Site, a amigo.Area, day time.Time, l analysis.Loss, now time.Time) error {
	pct := "-"
	if l.Percent != nil {
		pct = fmt.Sprintf("%.2f", *l.Percent)
	}
	key := fmt.Sprintf("lineloss/%d/%s", a.ID, day.Format("2006-01-02"))
	first, err := e.store.PutStateOnce(ctx, key, pct, now)
	if err != nil || !first || !l.OutOfBand {
		return err
	}
	ev := amigo.Event{Time: now, Kind: amigo.EventLineLoss, Severity: "warning", SiteID: site.ID, AreaID: a.ID,
		Message: fmt.Sprintf("area %s: line loss %s %% on %s is outside %.1f..%.1f %% / 线损率越限", a.Name, pct, day.Format("2006-01-02"), a.LossLow, a.LossHigh),
		Detail:  fmt.Sprintf("supply %s kWh, customers %s kWh (primary side)", l.Supply, l.Customers)}
	if err := e.store.AppendEvents(ctx, ev); err != nil {
		e.store.DeleteState(ctx, key)
		return err
	}
	return nil
}
