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

// directParallel bounds how many GPRS meters of a site one pass reads at
// once: each meter is a few round trips over its own connection, and one
// meter after another left a site of 19,000 meters unread within its slot.
const directParallel = 64

// collectDirect polls the GPRS meters of a site with DL/T 645: real-time
// registers each slot, and every missing daily freeze of the last 31 days
// from the meter's own 62-day memory; it also checks the meter's clock.
// Up to directParallel meters are read at once; what the store already
// holds of the slot and of the freezes is read for all of them in one
// query per 500 meters, and a meter's status is written only when it
// changes, through the group committer.
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
	var direct []int64
	for _, m := range ms {
		if m.Direct && m.RemovedAt.IsZero() {
			direct = append(direct, m.ID)
		}
	}
	if len(direct) == 0 {
		return
	}
	p := directPass{site: site, loc: site.Location(), now: now, slot: slot}
	p.today = amigo.Day(now, p.loc)
	p.daily = now.Sub(p.today) >= e.cfg.DailyAfter
	// The slot's real-time reading a meter already has was taken by this
	// node before a restart, or by another node before the meter moved
	// here: read again now, it would carry a later value under the same
	// slot time, a conflict. The meter is still read (it must answer),
	// but the reading is not kept.
	if p.haveSlot, err = e.store.ReadingTimes(ctx, direct, amigo.KindRealtime, slot, slot.Add(time.Second)); err != nil {
		e.log.Warn("gprs: real-time readings of the slot", "site", site.ID, "err", err)
	}
	if p.daily {
		if p.haveDaily, err = e.store.ReadingTimes(ctx, direct, amigo.KindDaily, p.today.AddDate(0, 0, -e.cfg.BackfillDays), p.today.Add(time.Hour)); err != nil {
			e.log.Warn("gprs: daily readings stored", "site", site.ID, "err", err)
			p.daily = false // read again next slot rather than every freeze now
		}
	}
	sem := make(chan struct{}, directParallel)
	var wg sync.WaitGroup
	for _, m := range ms {
		if !m.Direct || !m.RemovedAt.IsZero() || ctx.Err() != nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			e.collectDirectMeter(ctx, &p, m)
		}()
	}
	wg.Wait()
}

// directPass is what one pass over a site's GPRS meters shares.
type directPass struct {
	site                amigo.Site
	loc                 *time.Location
	now, slot, today    time.Time
	daily               bool // the day's freezes are due
	haveSlot, haveDaily map[int64][]time.Time
}

// collectDirectMeter reads one GPRS meter in a pass.
func (e *Engine) collectDirectMeter(ctx context.Context, p *directPass, m amigo.Meter) {
	now := p.now
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
			r := amigo.Reading{MeterID: m.ID, Time: p.slot.UTC(), Kind: amigo.KindRealtime, Forward: f, HasForward: true, Quality: amigo.QualityActual, Source: "gprs", ReceivedAt: now}
			if pw, err := e.readDirect(ctx, l, a, dlt645.DI(0x02030000)); err == nil && len(pw) == 1 {
				w := scaleTo(pw[0].Num.Mant, int(pw[0].Num.Scale), -3)
				r.PowerW = &w
			}
			if len(p.haveSlot[m.ID]) == 0 {
				rs = append(rs, r)
			}
		}
	} else {
		e.setDirectStatus(ctx, m, amigo.StatusFaulty, "no answer: "+err.Error(), now)
		return
	}
	e.setDirectStatus(ctx, m, amigo.StatusOnline, "", now)
	if p.daily {
		rs = append(rs, e.directDaily(ctx, l, a, m, p.haveDaily[m.ID], p.today, now)...)
		if off, ok := e.directClockOffset(ctx, l, a, p.loc); ok && off.Abs() > ClockTolerance {
			for i := range rs {
				if !rs[i].Time.Before(p.today) {
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

// setDirectStatus records a GPRS meter's status through the group
// committer, and only when it differs from what was listed this pass: a
// site of 19,000 meters online is no write per meter per slot.
func (e *Engine) setDirectStatus(ctx context.Context, m amigo.Meter, status, reason string, now time.Time) {
	if m.Status == status && m.Reason == reason {
		return
	}
	e.queueState(ctx, "gprs meter status", func(tx amigo.Store) error {
		if err := tx.SetMeterStatus(ctx, m.ID, status, reason, now); err != nil {
			return fmt.Errorf("meter %s %s: %w", m.Address, status, err)
		}
		return nil
	})
}

// directDaily reads the freezes the store lacks: freeze n=1 is the latest
// (today 00:00), n=k is k-1 days earlier.
// have is what the store holds of the meter's freezes over those days.
func (e *Engine) directDaily(ctx context.Context, l MeterLink, a dlt645.Address, m amigo.Meter, have []time.Time, today, now time.Time) []amigo.Reading {
	got := make(map[int64]bool, len(have))
	for _, t := range have {
		got[t.Unix()] = true
	}
	var out []amigo.Reading
	for n := e.cfg.BackfillDays; n >= 1; n-- { // oldest first
		at := today.AddDate(0, 0, 1-n)
		if got[at.Unix()] || installedAfter(m, at) { // the same rule as behind collectors
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
	// Through the committer, and waited for (the judgement is written
	// before the lease is given up): the meters judged side by side in a
	// pass share its transactions.
	err := e.writeState(ctx, "gprs meter offline", func(tx amigo.Store) error {
		return tx.SetMeterStatus(ctx, m.ID, amigo.StatusOffline, "not connected / 未连接", now)
	})
	if err != nil {
		e.log.Warn("gprs meter offline", "meter", m.Address, "err", err)
	}
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
