package station

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/q1376"
)

// A collector's clock is read (AFN 0C F2) once per site day, away from
// midnight, and set (AFN 05 F31) when it is off by more than
// TerminalClockTolerance. The collector checks a command's time tag on its
// own clock, so the clock setting allows the measured offset on top of the
// usual delay (when the front end can say so: clockSetter) — otherwise a
// collector whose clock is far off could never be set.

// TerminalClockTolerance is how far a collector's clock may be off before
// the station sets it.
const TerminalClockTolerance = time.Minute

// terminalClockQuiet keeps the check away from midnight, when the
// collector freezes and reads the day's data.
const terminalClockQuiet = 10 * time.Minute

// clockSetDelay is the usual delay allowed to the clock setting on top of
// the offset.
const clockSetDelay = 5 * time.Minute

// clockSetter is a Terminal that can send a command whose time tag allows a
// chosen delay (fep.Session).
type clockSetter interface {
	RequestWithin(ctx context.Context, delay time.Duration, afn q1376.AFN, units ...q1376.Unit) ([]*q1376.Frame, error)
}

func terminalClockKey(c amigo.Collector) string { return fmt.Sprintf("tclock/%d", c.ID) }

// checkTerminalClock reads c's clock once per site day and sets it when it
// is off; the day is marked done only when the check (and any setting)
// succeeded, so a failure is tried again at the next pass.
func (e *Engine) checkTerminalClock(ctx context.Context, site amigo.Site, c amigo.Collector, t Terminal) error {
	loc := site.Location()
	now := e.clock.Now().In(loc)
	today := amigo.Day(now, loc)
	if now.Sub(today) < terminalClockQuiet || today.AddDate(0, 0, 1).Sub(now) < terminalClockQuiet {
		return nil
	}
	day := today.Format("2006-01-02")
	// Checked today: known from memory after the first look, so that a
	// collector's every real-time slot does not query the store for it.
	e.mu.Lock()
	done := e.clockDay[c.ID] == day
	e.mu.Unlock()
	if done {
		return nil
	}
	if v, ok, err := e.store.GetState(ctx, terminalClockKey(c)); err != nil || (ok && v == day) {
		if err == nil {
			e.noteClockDay(c.ID, day)
		}
		return err
	}
	before := e.clock.Now()
	answers, err := t.Request(ctx, q1376.AFNClass1, q1376.NewUnit(0, q1376.FnTerminalClock, nil))
	if err != nil {
		return fmt.Errorf("terminal clock: %w", err)
	}
	after := e.clock.Now()
	clk, err := terminalClock(answers)
	if err != nil {
		return err
	}
	// Offset from the middle of the exchange: off by at most half of it.
	off := clk.DateTime.In(loc).Sub(before.Add(after.Sub(before) / 2))
	if off.Abs() > TerminalClockTolerance {
		set := q1376.NewUnit(0, q1376.FnTimeSync, q1376.AppendClock(nil, q1376.ClockOf(e.clock.Now().In(loc))))
		var ans []*q1376.Frame
		if cs, ok := t.(clockSetter); ok {
			ans, err = cs.RequestWithin(ctx, off.Abs()+clockSetDelay, q1376.AFNControl, set)
		} else {
			ans, err = t.Request(ctx, q1376.AFNControl, set)
		}
		if err != nil {
			return fmt.Errorf("terminal clock setting: %w", err)
		}
		if len(ans) == 0 {
			return errors.New("terminal clock setting: no answer")
		}
		if ok, _ := ans[0].IsConfirm(); !ok {
			return errors.New("terminal clock setting refused by the collector / 终端拒绝对时")
		}
		e.log.Info("collector clock set / 终端对时", "collector", c.Address, "was_off", off.Round(time.Second).String())
	}
	// With the other state writes of the moment, in one transaction of
	// the group committer, not an autocommit (and a WAL flush) of its own
	// per collector: lost, it costs one more clock read.
	key, at := terminalClockKey(c), e.clock.Now()
	e.queueState(ctx, "terminal clock checked", func(tx amigo.Store) error {
		if err := tx.PutState(ctx, key, day, at); err != nil {
			return fmt.Errorf("terminal clock of collector %s checked: %w", c.Address, err)
		}
		return nil
	})
	e.noteClockDay(c.ID, day)
	return nil
}

// noteClockDay remembers that collector id's clock was checked on day.
func (e *Engine) noteClockDay(id int64, day string) {
	e.mu.Lock()
	e.clockDay[id] = day
	e.mu.Unlock()
}

// terminalClock finds the AFN 0C F2 clock in answers.
func terminalClock(answers []*q1376.Frame) (q1376.Clock, error) {
	for _, a := range answers {
		if a.AFN != q1376.AFNClass1 {
			continue
		}
		items, err := a.Items()
		if err != nil {
			continue
		}
		for _, it := range items {
			if it.Fn == q1376.FnTerminalClock && it.Pn == 0 {
				return q1376.ParseClock(it.Data)
			}
		}
	}
	return q1376.Clock{}, errors.New("terminal clock: no AFN 0C F2 in the answer / 终端未回答时钟")
}
