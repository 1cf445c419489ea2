package collector

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/busmaster"
	"github.com/amigo-metering/amigo/q1376"
)

// The collector's event log: ERC records, kept durably in its store and
// served to the station by AFN 0E F1 (important) and F2 (normal).

// clockAlarm is the meter clock offset that is recorded as ERC 12.
const clockAlarm = 5 * time.Minute

// classOf says which log an ERC goes to.
func classOf(code uint8) uint8 {
	switch code {
	case q1376.ERCMeterClock, q1376.ERCMeterFault:
		return 2
	}
	return 1
}

// record appends e to its log. Failures are logged: an event lost to a
// broken disk must not stop the reading.
func (c *Collector) record(ctx context.Context, e q1376.ERC) {
	b, err := q1376.AppendERC(nil, e)
	if err != nil {
		c.log.Error("event record / 事件记录", "erc", e.Code, "err", err.Error())
		return
	}
	ev, err := c.store.AppendEvent(ctx, classOf(e.Code), e.Code, b[2:], c.clock.Now())
	if err != nil {
		c.log.Error("event record / 事件记录", "erc", e.Code, "err", err.Error())
		return
	}
	c.log.Info("event recorded / 记录事件", "erc", e.Code, "pn", e.Pn, "class", ev.Class, "seq", ev.Seq)
}

// alive notes that the collector is up now; at the next start the last
// note is the power-down time of ERC 14.
func (c *Collector) alive(ctx context.Context) {
	c.store.SetState(ctx, "alive_at", strconv.FormatInt(c.clock.Now().Unix(), 10))
}

// poweredUp records ERC 14 for the time the collector was down, if it ever
// ran before.
func (c *Collector) poweredUp(ctx context.Context) {
	v, err := c.store.GetState(ctx, "alive_at")
	if err != nil || v == "" {
		return
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return
	}
	down := time.Unix(sec, 0).In(c.cfg.Loc)
	up := c.clock.Now().In(c.cfg.Loc)
	c.record(ctx, q1376.ERC{Code: q1376.ERCPower, At: dlt645.DateTimeOf(down), PowerUp: dlt645.DateTimeOf(up), HasUp: true})
}

// checkEvents reads m's event counters and relay state once an hour: a
// rise of the power-down count is ERC 13, of the cover-open count ERC 37,
// a change of the relay ERC 33. The first reading of a meter is its
// baseline.
func (c *Collector) checkEvents(ctx context.Context, cy *cycle, m MeterEntry) {
	if is1997(m) {
		return
	}
	l := cy.l
	now := c.clock.Now().In(c.cfg.Loc)
	hour := now.Format("2006-01-02T15")
	key := "events_checked_" + m.Address.String()
	md := cy.doneOf(m.Pn)
	if md.events == hour {
		return
	}
	if v, _ := c.store.GetState(ctx, key); v == hour {
		md.events = hour
		return
	}
	for _, ev := range []struct {
		di   dlt645.DI
		name string
	}{{dlt645.DIPowerDownCount, "power_down"}, {dlt645.DICoverOpenCount, "cover_open"}, {dlt645.DITripCount, "trip"}} {
		v, err := c.read(ctx, l, m, ev.di)
		if err != nil || len(v) != 1 {
			if errors.Is(err, busmaster.ErrNoAnswer) {
				return // try again next time
			}
			continue
		}
		k := "events_" + ev.name + "_" + m.Address.String()
		prev, _ := c.store.GetState(ctx, k)
		count := v[0].Num.Mant
		if p, err := strconv.ParseInt(prev, 10, 64); err == nil && count > p {
			c.log.Warn("meter event counter rose / 电表事件计数增加", "meter", m.Address.String(), "event", ev.name, "was", p, "now", count)
			at := dlt645.DateTimeOf(now)
			switch ev.name {
			case "power_down":
				c.record(ctx, q1376.ERC{Code: q1376.ERCMeterFault, At: at, Pn: m.Pn, Began: true, Faults: q1376.FaultPowerDown})
			case "cover_open":
				c.record(ctx, q1376.ERC{Code: q1376.ERCCoverOpen, At: at, Pn: m.Pn, Count: uint32(min(count, 999999))})
			}
		}
		if cur := strconv.FormatInt(count, 10); cur != prev {
			cy.state[k] = cur
		}
	}
	if v, err := c.read(ctx, l, m, dlt645.DIStatusWord3); err == nil && len(v) == 1 {
		c.noteRelay(ctx, m, v[0].Text)
	}
	cy.state[key] = hour
	cy.after = append(cy.after, func() { md.events = hour })
}

// noteRelay keeps status word 3 (hex text) of m and records ERC 33 when
// its relay bit (4) changed since the last reading.
func (c *Collector) noteRelay(ctx context.Context, m MeterEntry, word string) {
	k := "relay_" + m.Address.String()
	prev, _ := c.store.GetState(ctx, k)
	if prev == word {
		return
	}
	c.store.SetState(ctx, k, word)
	was, err1 := strconv.ParseUint(prev, 16, 16)
	now, err2 := strconv.ParseUint(word, 16, 16)
	if err1 != nil || err2 != nil || (was^now)&0x10 == 0 {
		return
	}
	e := q1376.ERC{Code: q1376.ERCMeterStatus, At: dlt645.DateTimeOf(c.clock.Now().In(c.cfg.Loc)), Pn: m.Pn}
	e.Changed[2], e.Status[2] = uint16(was^now), uint16(now)
	c.record(ctx, e)
}

// reportLoss logs and records undelivered data the store dropped at its
// cap, and counts it durably ("lost_<kind>").
func (c *Collector) reportLoss(ctx context.Context, losses []Loss) {
	for _, l := range losses {
		k := "lost_" + l.Kind
		prev, _ := c.store.GetState(ctx, k)
		n, _ := strconv.Atoi(prev)
		c.store.SetState(ctx, k, strconv.Itoa(n+l.Count))
		c.log.Error("store full: undelivered data dropped / 存储已满，丢弃未上送数据", "kind", l.Kind, "readings", l.Count,
			"from", l.From.Format(time.RFC3339), "to", l.To.Format(time.RFC3339), "lost_in_all", n+l.Count)
		kind := uint8(q1376.LostRealtime)
		switch l.Kind {
		case KindDaily:
			kind = q1376.LostDaily
		case KindMonthly:
			kind = q1376.LostMonthly
		}
		c.record(ctx, q1376.ERC{Code: q1376.ERCStoreLoss, At: dlt645.DateTimeOf(c.clock.Now().In(c.cfg.Loc)), LostKind: kind, Count: uint32(l.Count),
			LostFrom: dlt645.DateTimeOf(l.From.In(c.cfg.Loc)), LostTo: dlt645.DateTimeOf(l.To.In(c.cfg.Loc))})
	}
}
