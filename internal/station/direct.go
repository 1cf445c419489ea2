package station

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
)

// MeterLink is a directly connected (GPRS) meter.
type MeterLink interface {
	Exchange(ctx context.Context, req dlt645.Frame, timeout time.Duration) (dlt645.Frame, error)
}

const directTimeout = 10 * time.Second

func (e *Engine) readDirect(ctx context.Context, l MeterLink, a dlt645.Address, di dlt645.DI) ([]dlt645.FieldValue, error) {
	f, err := l.Exchange(ctx, dlt645.ReadRequest(a, di), directTimeout)
	if err != nil {
		return nil, err
	}
	if ew, ok := f.ErrorWord(); ok {
		return nil, fmt.Errorf("%s: %w", di, ew)
	}
	// The link drops replies for another meter or DI (fep.replyMatches);
	// checked again here, so that no link can hand a wrong value in.
	if got, ok := f.DI(); !ok || got != di || f.Address != a {
		return nil, fmt.Errorf("%s: reply from %s for another data identifier / 应答不匹配", di, f.Address)
	}
	return f.Values()
}

func energies(vals []dlt645.FieldValue) ([5]amigo.Energy, bool) {
	var out [5]amigo.Energy
	if len(vals) != 5 {
		return out, false
	}
	for i, v := range vals {
		e, err := amigo.EnergyFromDecimal(v.Num.Mant, int(v.Num.Scale))
		if err != nil {
			return out, false
		}
		out[i] = e
	}
	return out, true
}

// collectDirect polls the GPRS meters of a site with DL/T 645: real-time
// registers each slot, and every missing daily freeze of the last 31 days
// from the meter's own 62-day memory; it also checks the meter's clock.
func (e *Engine) collectDirect(ctx context.Context, site amigo.Site) {
	now := e.clock.Now()
	slot := now.Truncate(e.cfg.RealtimeEvery)
	e.mu.Lock()
	due := e.lastSlot[-site.ID].Before(slot)
	if due {
		e.lastSlot[-site.ID] = slot
	}
	e.mu.Unlock()
	if !due {
		return
	}
	ms, err := e.siteMeters(ctx, site.ID)
	if err != nil {
		return
	}
	// The slot's real-time reading a meter already has was taken by this
	// node before a restart, or by another node before the meter moved
	// here: read again now, it would carry a later value under the same
	// slot time, a conflict. The meter is still read (it must answer),
	// but the reading is not kept.
	var direct []int64
	for _, m := range ms {
		if m.Direct {
			direct = append(direct, m.ID)
		}
	}
	var haveSlot map[int64][]time.Time
	if len(direct) > 0 {
		if haveSlot, err = e.store.ReadingTimes(ctx, direct, amigo.KindRealtime, slot, slot.Add(time.Second)); err != nil {
			e.log.Warn("gprs: real-time readings of the slot", "site", site.ID, "err", err)
		}
	}
	loc := site.Location()
	// The meters are polled directPar at a time: one after the other, a
	// slot's round trips to twenty thousand meters take longer than the
	// slot.
	var wg sync.WaitGroup
	par := make(chan struct{}, directPar)
	for _, m := range ms {
		if !m.Direct || !m.RemovedAt.IsZero() || ctx.Err() != nil {
			continue
		}
		par <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-par; wg.Done() }()
			e.pollDirect(ctx, m, slot, now, loc, haveSlot)
		}()
	}
	wg.Wait()
}

// directPar is how many GPRS meters of a site one pass polls at once.
const directPar = 16

// pollDirect does GPRS meter m's work of a pass: its status when it has no
// session, else the slot's real-time registers, and after DailyAfter its
// missing freezes and its clock. A status is written only when it changes:
// a pass over twenty thousand meters answering as before writes none.
func (e *Engine) pollDirect(ctx context.Context, m amigo.Meter, slot, now time.Time, loc *time.Location, haveSlot map[int64][]time.Time) {
	l, ok := e.front.Meter(m.Address)
	if !ok {
		if m.Status != amigo.StatusOffline {
			e.judgeMeterOffline(ctx, m, now)
		} else {
			e.nodes.drop(ctx, meterResource(m))
		}
		return
	}
	if held, _ := e.nodes.hold(ctx, meterResource(m)); !held {
		return // another node's until its lease ends
	}
	a, err := dlt645.ParseAddress(m.Address)
	if err != nil {
		return
	}
	var rs []amigo.Reading
	var clockOff *time.Duration
	var clockAt time.Time
	if v, err := e.readDirect(ctx, l, a, dlt645.DIForwardActiveBlock); err == nil {
		if f, ok := energies(v); ok {
			r := amigo.Reading{MeterID: m.ID, Time: slot.UTC(), Kind: amigo.KindRealtime, Forward: f, HasForward: true, Quality: amigo.QualityActual, Source: "gprs", ReceivedAt: now}
			if p, err := e.readDirect(ctx, l, a, dlt645.DI(0x02030000)); err == nil && len(p) == 1 {
				w := scaleTo(p[0].Num.Mant, int(p[0].Num.Scale), -3)
				r.PowerW = &w
			}
			if len(haveSlot[m.ID]) == 0 {
				rs = append(rs, r)
			}
		}
	} else {
		if m.Status != amigo.StatusFaulty {
			e.store.SetMeterStatus(ctx, m.ID, amigo.StatusFaulty, "no answer: "+err.Error(), now)
		}
		return
	}
	if m.Status != amigo.StatusOnline {
		e.store.SetMeterStatus(ctx, m.ID, amigo.StatusOnline, "", now)
	}
	today := amigo.Day(now, loc)
	if now.Sub(today) >= e.cfg.DailyAfter {
		rs = append(rs, e.directDaily(ctx, l, a, m, today, now)...)
		if off, ok := e.directClockOffset(ctx, l, a, loc); ok && off.Abs() > ClockTolerance {
			for i := range rs {
				if !rs[i].Time.Before(today) {
					rs[i].Flags |= amigo.FlagClockOff // read with the clock off
				}
			}
			clockOff, clockAt = &off, now
		}
	}
	byID := map[int64]amigo.Meter{m.ID: m}
	if err := e.commit(ctx, nil, nil, rs, byID); err != nil {
		e.log.Warn("gprs commit", "meter", m.Address, "err", err)
	}
	if clockOff != nil {
		if err := e.reportClockOff(ctx, m, *clockOff, clockAt); err != nil {
			e.log.Warn("clock off", "meter", m.Address, "err", err)
		}
	}
}

// directDaily reads the freezes the store lacks: freeze n=1 is the latest
// (today 00:00), n=k is k-1 days earlier.
func (e *Engine) directDaily(ctx context.Context, l MeterLink, a dlt645.Address, m amigo.Meter, today, now time.Time) []amigo.Reading {
	have, err := e.store.ReadingTimes(ctx, []int64{m.ID}, amigo.KindDaily, today.AddDate(0, 0, -e.cfg.BackfillDays), today.Add(time.Hour))
	if err != nil {
		return nil
	}
	got := map[int64]bool{}
	for _, t := range have[m.ID] {
		got[t.Unix()] = true
	}
	var out []amigo.Reading
	for n := e.cfg.BackfillDays; n >= 1; n-- { // oldest first
		at := today.AddDate(0, 0, 1-n)
		if got[at.Unix()] || (!m.InstalledAt.IsZero() && at.Before(amigo.Day(m.InstalledAt, at.Location()))) {
			continue
		}
		tv, err := e.readDirect(ctx, l, a, dlt645.DailyFreezeTime(n))
		if err != nil || len(tv) != 1 || tv[0].Text != at.Format("2006-01-02 15:04") {
			continue // the meter has no such freeze (yet)
		}
		fv, err := e.readDirect(ctx, l, a, dlt645.DailyFrozenForward(n))
		f, ok := energies(fv)
		if err != nil || !ok {
			continue
		}
		r := amigo.Reading{MeterID: m.ID, Time: at.UTC(), Kind: amigo.KindDaily, Forward: f, HasForward: true, Quality: amigo.QualityActual, Source: "gprs", ReceivedAt: now}
		if rv, err := e.readDirect(ctx, l, a, dlt645.DailyFrozenReverse(n)); err == nil {
			r.Reverse, r.HasReverse = energies(rv)
		}
		out = append(out, r)
	}
	return out
}

// directClockOffset reads the meter's date and time and returns how far
// its clock is off (meter minus station); ok is false when it cannot tell.
func (e *Engine) directClockOffset(ctx context.Context, l MeterLink, a dlt645.Address, loc *time.Location) (time.Duration, bool) {
	d, err1 := e.readDirect(ctx, l, a, dlt645.DIDateWeek)
	t, err2 := e.readDirect(ctx, l, a, dlt645.DITime)
	if err1 != nil || err2 != nil || len(d) != 1 || len(t) != 1 {
		return 0, false
	}
	mt, err := time.ParseInLocation("2006-01-02 15:04:05", d[0].Text+" "+t[0].Text, loc)
	if err != nil {
		return 0, false
	}
	return mt.Sub(e.clock.Now()), true
}

// judgeMeterOffline marks a GPRS meter with no session here offline: at
// once for the only node; with several, only when nobody held its lease
// for a TTL and this node could take it (then its status is read afresh).
func (e *Engine) judgeMeterOffline(ctx context.Context, m amigo.Meter, now time.Time) {
	ok, release := e.nodes.judge(ctx, meterResource(m))
	if !ok {
		return
	}
	defer release()
	if e.nodes.on() {
		cur, err := e.store.GetMeter(ctx, m.ID)
		if err != nil || cur.Status == amigo.StatusOffline {
			return
		}
	}
	e.store.SetMeterStatus(ctx, m.ID, amigo.StatusOffline, "not connected / 未连接", now)
}

// siteMeters lists the direct (GPRS) meters of a site, page after page:
// one listing returns at most 10,000 meters. The meters behind collectors
// are not read at all (a site of 100,000 meters has them listed by their
// collectors' jobs).
func (e *Engine) siteMeters(ctx context.Context, siteID int64) ([]amigo.Meter, error) {
	var all []amigo.Meter
	for {
		ms, total, err := e.store.ListMeters(ctx, amigo.MeterFilter{SiteID: siteID, DirectOnly: true, Offset: len(all)})
		if err != nil {
			return nil, err
		}
		all = append(all, ms...)
		if len(ms) == 0 || len(all) >= total {
			return all, nil
		}
	}
}
