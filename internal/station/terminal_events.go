package station

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/q1376"
)

// A collector keeps its own event log (ERC records: power down and up,
// meter clock off, meter cover opened, meter power-downs, meter relay
// changed, data lost to its store's cap). The engine fetches what is new
// with AFN 0E F1 (important) and F2 (normal) from where its last fetch
// stopped — the two 1376.1 pointers, kept durably as "erc/<collector id>" =
// "p1,p2" — turns the records into its own events, and moves the pointers
// only after the events are stored: a restart fetches nothing twice and
// loses nothing.

// eventRounds bounds the requests of one fetch per class (32 records each).
const eventRounds = 8

func ercKey(c amigo.Collector) string { return fmt.Sprintf("erc/%d", c.ID) }

// collectEvents fetches and turns into events the collector's new records.
func (e *Engine) collectEvents(ctx context.Context, site amigo.Site, c amigo.Collector, t Terminal, ms []amigo.Meter) error {
	var ptr [3]uint8
	v, ok, err := e.store.GetState(ctx, ercKey(c))
	if err != nil {
		return err
	}
	if ok {
		p := strings.Split(v, ",")
		if len(p) == 2 {
			a, err1 := strconv.ParseUint(p[0], 10, 8)
			b, err2 := strconv.ParseUint(p[1], 10, 8)
			if err1 == nil && err2 == nil {
				ptr[1], ptr[2] = uint8(a), uint8(b)
			}
		}
	}
	byPn := map[uint16]amigo.Meter{}
	for _, m := range ms {
		byPn[uint16(m.Pn)] = m
	}
	for _, fn := range []uint16{q1376.FnImportantEvents, q1376.FnNormalEvents} {
		for range eventRounds {
			pm := ptr[fn]
			answers, err := e.request(ctx, t, q1376.AFNClass3, q1376.NewUnit(0, fn, q1376.EventsRequest(pm, pm-1)))
			if err != nil {
				return err
			}
			var evs q1376.Events
			found := false
			for _, a := range answers {
				if a.AFN != q1376.AFNClass3 || len(a.Units) != 1 {
					continue
				}
				if evs, err = q1376.ParseEvents(a.Units[0].Data); err == nil {
					found = true
				}
			}
			if !found || len(evs.Records) == 0 || evs.Pm != pm {
				break
			}
			var out []amigo.Event
			for _, r := range evs.Records {
				if ev, ok := e.terminalEvent(ctx, site, c, byPn, r); ok {
					out = append(out, ev)
				}
			}
			if len(out) > 0 {
				if err := e.store.AppendEvents(ctx, out...); err != nil {
					return err
				}
			}
			ptr[fn] = evs.Pn
			if err := e.store.PutState(ctx, ercKey(c), fmt.Sprintf("%d,%d", ptr[1], ptr[2]), e.clock.Now()); err != nil {
				return err
			}
		}
	}
	return nil
}

// terminalEvent turns one ERC record into an event; ok is false for a
// record that is not one (it is logged) or is handled otherwise (a meter
// clock off goes through the clock-off path).
func (e *Engine) terminalEvent(ctx context.Context, site amigo.Site, c amigo.Collector, byPn map[uint16]amigo.Meter, r q1376.EventRecord) (amigo.Event, bool) {
	rec, err := q1376.ParseERC(r)
	if err != nil {
		e.log.Warn("collector event record / 终端事件记录", "collector", c.Address, "erc", r.ERC, "err", err)
		return amigo.Event{}, false
	}
	loc := site.Location()
	at := rec.At.In(loc)
	ev := amigo.Event{Time: at, SiteID: site.ID, CollectorID: c.ID, Severity: "warning"}
	m, known := byPn[rec.Pn]
	if rec.Pn != 0 {
		if !known {
			e.log.Warn("collector event for an unknown point / 终端事件测量点未知", "collector", c.Address, "erc", rec.Code, "pn", rec.Pn)
			return amigo.Event{}, false
		}
		ev.MeterID, ev.AreaID = m.ID, m.AreaID
	}
	switch rec.Code {
	case q1376.ERCMeterClock:
		var off time.Duration // the end record (clock set right) closes the incident
		if !rec.Began {
			if err := e.reportClockOff(ctx, m, 0, at); err != nil {
				e.log.Error("clock-off end", "meter", m.Address, "err", err)
			}
			return amigo.Event{}, false
		}
		if rec.HasClocks {
			off = rec.MeterClock.In(loc).Sub(rec.TerminalClock.In(loc))
		}
		if err := e.reportClockOff(ctx, m, off, at); err != nil {
			e.log.Error("clock-off event", "meter", m.Address, "err", err)
		}
		return amigo.Event{}, false
	case q1376.ERCMeterFault:
		if rec.Faults&q1376.FaultPowerDown == 0 {
			return amigo.Event{}, false
		}
		ev.Kind = amigo.EventMeterPowerDown
		ev.Message = fmt.Sprintf("meter %s lost power (its collector saw the count rise) / 电表停电", m.Address)
	case q1376.ERCCoverOpen:
		ev.Kind, ev.Severity = amigo.EventMeterCoverOpen, "alarm"
		ev.Message = fmt.Sprintf("meter %s: cover opened / 电表开表盖", m.Address)
		ev.Detail = fmt.Sprintf("openings in all / 累计次数: %d", rec.Count)
	case q1376.ERCMeterStatus:
		if rec.Changed[2]&0x10 == 0 {
			return amigo.Event{}, false
		}
		state := "closed / 合闸"
		if rec.Status[2]&0x10 != 0 {
			state = "open / 拉闸"
		}
		ev.Kind, ev.Severity = amigo.EventMeterRelayChanged, "info"
		ev.Message = fmt.Sprintf("meter %s: relay now %s / 电表继电器状态变化", m.Address, state)
		ev.Detail = fmt.Sprintf("status word 3 / 状态字3: %04X", rec.Status[2])
	case q1376.ERCPower:
		ev.Kind = amigo.EventCollectorPowerDown
		ev.Message = fmt.Sprintf("collector %s was down / 采集器停电", c.Address)
		if rec.HasUp {
			ev.Detail = fmt.Sprintf("down %s, up %s / 停电、上电", at.Format(time.RFC3339), rec.PowerUp.In(loc).Format(time.RFC3339))
		}
	case q1376.ERCStoreLoss:
		kind := map[uint8]string{q1376.LostRealtime: amigo.KindRealtime, q1376.LostDaily: amigo.KindDaily, q1376.LostMonthly: amigo.KindMonthly}[rec.LostKind]
		ev.Kind, ev.Severity = amigo.EventCollectorDataLost, "alarm"
		ev.Message = fmt.Sprintf("collector %s: store full, %d %s readings lost / 采集器存储满，数据丢失", c.Address, rec.Count, kind)
		ev.Detail = fmt.Sprintf("from %s to %s", rec.LostFrom.In(loc).Format(time.RFC3339), rec.LostTo.In(loc).Format(time.RFC3339))
	case q1376.ERCAuth:
		why := map[uint8]string{q1376.AuthBadPW: "bad authentication code / 消息认证码错误", q1376.AuthStale: "time tag missing or stale / 时间标签缺失或超时",
			q1376.AuthReplay: "replayed / 重放"}[rec.AuthReason]
		if why == "" {
			why = "authentication error / 消息认证错误"
		}
		n := max(rec.Count, 1)
		ev.Kind, ev.Severity = amigo.EventCommandRefused, "alarm"
		ev.Message = fmt.Sprintf("collector %s refused %d command(s) it could not authenticate: %s / 终端拒绝未通过认证的命令", c.Address, n, why)
		ev.Detail = fmt.Sprintf("PW %X, MSA %d", rec.PW[:], rec.MSA)
	default:
		return amigo.Event{}, false
	}
	return ev, true
}
