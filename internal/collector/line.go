package collector

import (
	"context"
	"strconv"
	"time"

	"github.com/amigo-metering/amigo/internal/busmaster"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// Each line (port) has its own worker goroutine, reading its meters one
// request at a time (RS-485 is half-duplex) at the line's own pace; the
// lines run in parallel and share only the store.
//
// A worker's poll cycle serves one real-time slot (RealtimeEvery on the
// collector's clock):
//  1. the real-time values of every meter that has none for the slot, first,
//     because they are of the moment;
//  2. the durable work — daily freezes (re-reading missing days), the monthly
//     settlement, the clock check, the event counters — meter by meter from
//     where the last cycle stopped, until done or until the next slot begins:
//     then the cycle ends and the next one reads that slot's real-time values
//     before the rest resumes, so a long catch-up of freezes never costs a
//     real-time slot (but the durable work gets at least as much of the line
//     as the real-time values took, and the first meter's work of a cycle
//     always completes, so that a line too slow for its interval still
//     advances both);
//  3. one commit: the cycle's readings and the facts it noted (clock checked,
//     event counters, alive) in one transaction, one fsync. Nothing of the
//     cycle is reported stored, nor answerable to the station, before it.
//
// A missed slot is caught up, not skipped: a slot with no reading — the
// collector was down, the line busy past the slot's start, the meter silent
// — is read as soon as the line is free rather than at the next slot: at
// start, at once; after a cycle that overran, at once; a meter that did not
// answer, once more at mid-slot. The reading carries the slot (T) and its
// true read time (ReadAt, which the station gets as the F129 read time); the
// registers read late are the registers of the moment they are read, so a
// slot that passed whole while the collector was down has no real-time
// reading (the meter's daily freezes, kept 62 days, are re-read for every
// missing day).

// commitMax bounds a cycle's readings held in memory: a cycle that reads
// more (a catch-up of many days) commits every commitMax readings.
const commitMax = 1024

// cycle is one poll cycle of one line.
type cycle struct {
	l        *busmaster.Line
	slot     time.Time // the real-time slot it serves
	end      time.Time // the next slot's start: durable work yields then
	force    bool      // complete the current meter's work even past end
	readings []Reading
	state    map[string]string
	after    []func() // memo updates, made once the commit succeeded
	done     map[uint16]*meterDone
}

// meterDone is what a line's worker found done for a meter, so that a
// cycle asks the store nothing about it until the day, month or hour
// changes.
type meterDone struct {
	daily   time.Time // 00:00 of the day whose freezes are all read
	monthly time.Time // the 1st whose settlement is stored
	clock   string    // day of the last clock check
	events  string    // hour of the last event-counter check
}

func (cy *cycle) put(r Reading) { cy.readings = append(cy.readings, r) }

func (cy *cycle) doneOf(pn uint16) *meterDone {
	d := cy.done[pn]
	if d == nil {
		d = &meterDone{}
		cy.done[pn] = d
	}
	return d
}

// over reports whether the next slot has begun and the cycle should yield.
func (c *Collector) over(cy *cycle) bool {
	return !cy.force && !c.clock.Now().Before(cy.end)
}

// lineMeters returns the meters of the archive on line n.
func (c *Collector) lineMeters(n uint8) []MeterEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []MeterEntry
	for _, m := range c.meters {
		if m.Port == n {
			out = append(out, m)
		}
	}
	return out
}

// acquire is the worker of line l.
func (c *Collector) acquire(ctx context.Context, l *busmaster.Line) {
	every := time.Duration(c.cfg.RealtimeEvery)
	done := map[uint16]*meterDone{}
	cursor := 0 // where the durable work resumes
	for ctx.Err() == nil {
		began := c.clock.Now()
		slot := began.Truncate(every)
		cy := &cycle{l: l, slot: slot, end: slot.Add(every), state: map[string]string{}, done: done}
		meters := c.lineMeters(l.Number())
		var failed []MeterEntry
		for _, m := range meters {
			if ctx.Err() != nil {
				break
			}
			if !c.readRealtime(ctx, cy, m) {
				failed = append(failed, m)
			}
			c.commitIfFull(ctx, cy)
		}
		// The durable work gets at least as much of the line as the
		// real-time values took, so that a line too slow for its interval
		// still advances both.
		if now := c.clock.Now(); now.Add(now.Sub(began)).After(cy.end) {
			cy.end = now.Add(now.Sub(began))
		}
		complete := true
		for i := 0; i < len(meters) && ctx.Err() == nil; i++ {
			cy.force = i == 0
			if c.over(cy) {
				complete = false
				break
			}
			if !c.meterWork(ctx, cy, meters[cursor%len(meters)]) {
				complete = false
				break
			}
			cursor = (cursor + 1) % len(meters)
		}
		c.commit(ctx, cy)
		if !complete {
			continue // the next slot began: its real-time values first
		}
		if len(failed) > 0 {
			// Once more at mid-slot for the meters that did not answer.
			if err := vclock.SleepUntil(ctx, c.clock, slot.Add(every/2)); err != nil {
				return
			}
			for _, m := range failed {
				if ctx.Err() != nil || c.over(cy) {
					break
				}
				c.readRealtime(ctx, cy, m)
				c.commitIfFull(ctx, cy)
			}
			c.commit(ctx, cy)
		}
		if err := vclock.SleepUntil(ctx, c.clock, slot.Add(every)); err != nil {
			return
		}
	}
}

// meterWork does m's durable work; false when it stopped for the next slot.
func (c *Collector) meterWork(ctx context.Context, cy *cycle, m MeterEntry) bool {
	if !c.readDaily(ctx, cy, m) || c.over(cy) {
		return false
	}
	c.readMonthly(ctx, cy, m)
	if c.over(cy) {
		return false
	}
	c.checkClock(ctx, cy, m)
	if c.over(cy) {
		return false
	}
	c.checkEvents(ctx, cy, m)
	return true
}

func (c *Collector) commitIfFull(ctx context.Context, cy *cycle) {
	if len(cy.readings) >= commitMax {
		c.commit(ctx, cy)
	}
}

// commit stores the cycle's readings and facts in one transaction, then
// reports the new readings stored. A shutdown does not cancel it: what was
// read is kept.
func (c *Collector) commit(ctx context.Context, cy *cycle) {
	cy.state["alive_at"] = strconv.FormatInt(c.clock.Now().Unix(), 10)
	rs, state, after := cy.readings, cy.state, cy.after
	cy.readings, cy.state, cy.after = nil, map[string]string{}, nil
	added, err := c.store.Commit(context.WithoutCancel(ctx), rs, state)
	if err != nil {
		c.log.Error("store cycle / 存储抄表数据", "port", cy.l.Number(), "readings", len(rs), "err", err.Error())
		return
	}
	n := 0
	for i, r := range rs {
		if added[i] {
			n++
			c.log.Debug("stored", "pn", r.Pn, "kind", r.Kind, "t", r.T)
			if c.OnStored != nil {
				c.OnStored(r)
			}
		}
	}
	for _, f := range after {
		f()
	}
	if c.OnCommit != nil {
		c.OnCommit(cy.l.Number(), cy.slot, n)
	}
}
