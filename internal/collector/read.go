package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/busmaster"
	"github.com/amigo-metering/amigo/q1376"
)

// DL/T 645-1997 identifiers the collector reads of old meters.
const (
	di97ForwardBlock uint16 = 0x901F // forward active total and tariffs
	di97ReverseTotal uint16 = 0x9020 // reverse active total (no tariffs)
	di97DateWeek     uint16 = 0xC010
	di97Time         uint16 = 0xC011
)

// fromCurrentWithin bounds how late after midnight the current registers
// may stand in for a day's freeze: later, they say too little of 00:00.
const fromCurrentWithin = 2 * time.Hour

func is1997(m MeterEntry) bool { return m.Protocol == q1376.ProtoDLT645_1997 }

// read reads di (DL/T 645-2007) of m. A meter's error answer comes back as
// an error wrapping dlt645.ErrBits.
func (c *Collector) read(ctx context.Context, l *busmaster.Line, m MeterEntry, di dlt645.DI) ([]dlt645.FieldValue, error) {
	return c.exchange(ctx, l, m, dlt645.ReadRequest(m.Address, di), di.String())
}

// read97 reads a DL/T 645-1997 identifier of m.
func (c *Collector) read97(ctx context.Context, l *busmaster.Line, m MeterEntry, di uint16) ([]dlt645.FieldValue, error) {
	return c.exchange(ctx, l, m, dlt645.Read1997Request(m.Address, di), fmt.Sprintf("%04X", di))
}

func (c *Collector) exchange(ctx context.Context, l *busmaster.Line, m MeterEntry, req dlt645.Frame, what string) ([]dlt645.FieldValue, error) {
	f, err := l.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if e, ok := f.ErrorWord(); ok {
		return nil, fmt.Errorf("meter %s, %s: %w", m.Address, what, e)
	}
	vals, err := f.Values()
	if err != nil {
		return nil, fmt.Errorf("meter %s, %s: %w", m.Address, what, err)
	}
	return vals, nil
}

// refused reports whether err is the meter's own error answer (it is there
// and says no), not silence or a broken line.
func refused(err error) bool {
	var e dlt645.ErrBits
	return errors.As(err, &e)
}

func regs(vals []dlt645.FieldValue) ([5]int64, error) {
	var r [5]int64
	if len(vals) != 5 {
		return r, fmt.Errorf("want 5 registers, have %d", len(vals))
	}
	for i, v := range vals {
		if v.Num.Scale != 2 {
			return r, fmt.Errorf("register %d has %d decimals", i, v.Num.Scale)
		}
		r[i] = v.Num.Mant
	}
	return r, nil
}

// current reads m's current forward and reverse registers, with the frames
// of its protocol.
func (c *Collector) current(ctx context.Context, l *busmaster.Line, m MeterEntry) (fwd, rev [5]int64, hasRev bool, err error) {
	if is1997(m) {
		fv, err := c.read97(ctx, l, m, di97ForwardBlock)
		if err != nil {
			return fwd, rev, false, err
		}
		if fwd, err = regs(fv); err != nil {
			return fwd, rev, false, fmt.Errorf("meter %s: %w", m.Address, err)
		}
		if rv, err := c.read97(ctx, l, m, di97ReverseTotal); err == nil && len(rv) == 1 && rv[0].Num.Scale == 2 {
			rev, hasRev = [5]int64{rv[0].Num.Mant, Absent, Absent, Absent, Absent}, true
		}
		return fwd, rev, hasRev, nil
	}
	fv, err := c.read(ctx, l, m, dlt645.DIForwardActiveBlock)
	if err != nil {
		return fwd, rev, false, err
	}
	if fwd, err = regs(fv); err != nil {
		return fwd, rev, false, fmt.Errorf("meter %s: %w", m.Address, err)
	}
	if rv, err := c.read(ctx, l, m, dlt645.DIReverseActiveBlock); err == nil {
		if rev, err = regs(rv); err == nil {
			hasRev = true
		}
	}
	return fwd, rev, hasRev, nil
}

// meterClock reads m's date and time.
func (c *Collector) meterClock(ctx context.Context, l *busmaster.Line, m MeterEntry) (time.Time, error) {
	var dv, tv []dlt645.FieldValue
	var err error
	if is1997(m) {
		if dv, err = c.read97(ctx, l, m, di97DateWeek); err == nil {
			tv, err = c.read97(ctx, l, m, di97Time)
		}
	} else if dv, err = c.read(ctx, l, m, dlt645.DIDateWeek); err == nil {
		tv, err = c.read(ctx, l, m, dlt645.DITime)
	}
	if err != nil {
		return time.Time{}, err
	}
	if len(dv) != 1 || len(tv) != 1 {
		return time.Time{}, fmt.Errorf("meter %s: clock of %d+%d fields", m.Address, len(dv), len(tv))
	}
	return time.ParseInLocation("2006-01-02 15:04:05", dv[0].Text+" "+tv[0].Text, c.cfg.Loc)
}

// dailyFromCurrent keeps m's current registers as the value of the day
// ending at midnight (today 00:00), marked FromCurrent, when the meter gave
// no freeze for it (why says what it answered) and it is not too late to.
func (c *Collector) dailyFromCurrent(ctx context.Context, cy *cycle, m MeterEntry, today time.Time, why error) {
	now := c.clock.Now()
	if now.Sub(today) > fromCurrentWithin {
		return
	}
	if ok, err := c.store.Has(ctx, m.Pn, KindDaily, today.UTC()); err != nil || ok {
		return
	}
	fwd, rev, hasRev, err := c.current(ctx, cy.l, m)
	if err != nil {
		c.log.Warn("current registers for the day / 读当前示值代日冻结", "meter", m.Address.String(), "err", err.Error())
		return
	}
	c.log.Warn("no daily freeze: current registers kept as the day's value / 无日冻结，以当前示值作为日数据",
		"meter", m.Address.String(), "day", today.AddDate(0, 0, -1).Format("2006-01-02"), "reason", fmt.Sprint(why))
	cy.put(Reading{Pn: m.Pn, Kind: KindDaily, T: today.UTC(), ReadAt: now, Fwd: fwd, Rev: rev, HasRev: hasRev, FromCurrent: true})
}
