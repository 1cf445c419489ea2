package station

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vee"
)

// veeFlags are the flags validation owns (FlagClockOff is the clock
// check's).
const veeFlags = amigo.FlagReversed | amigo.FlagJump | amigo.FlagStopped

// validate flags rs in place against their neighbours of the same meter
// and kind on both sides, stored or in the batch: a day collected late
// (补抄) is checked against the reading before it, and the stored reading
// after it is re-checked against it; when that changes the later
// reading's flags, they are updated in the store, with the event of a
// problem the late day reveals, or a note for one it explains. A reading
// whose key is stored already is left to the store (a duplicate or a
// conflict). The neighbours come from one query per meter and kind in the
// batch; the meter's last power only when a daily register stood still.
func (e *Engine) validate(ctx context.Context, rs []amigo.Reading, meters map[int64]amigo.Meter) []amigo.Event {
	type key struct {
		meter int64
		kind  string
	}
	groups := map[key][]int{}
	var order []key
	for i, r := range rs {
		k := key{r.MeterID, r.Kind}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	var evs []amigo.Event
	for _, k := range order {
		idx := groups[k]
		sort.SliceStable(idx, func(a, b int) bool { return rs[idx[a]].Time.Before(rs[idx[b]].Time) })
		stored, err := e.store.ReadingsAround(ctx, k.meter, k.kind, rs[idx[0]].Time, rs[idx[len(idx)-1]].Time)
		if err != nil {
			e.log.Warn("validate: neighbours", "meter", k.meter, "err", err)
		}
		evs = append(evs, e.validateSeries(ctx, meters[k.meter], rs, idx, stored)...)
	}
	return evs
}

// node is one reading of a meter's series: stored, or new in the batch.
type node struct {
	r      *amigo.Reading
	stored bool
}

// validateSeries checks the batch readings rs[idx] (one meter and kind,
// oldest first) among the stored ones.
func (e *Engine) validateSeries(ctx context.Context, m amigo.Meter, rs []amigo.Reading, idx []int, stored []amigo.Reading) []amigo.Event {
	have := map[int64]bool{}
	nodes := make([]node, 0, len(stored)+len(idx))
	for i := range stored {
		have[stored[i].Time.Unix()] = true
		nodes = append(nodes, node{&stored[i], true})
	}
	for _, i := range idx {
		if t := rs[i].Time.Unix(); !have[t] {
			have[t] = true
			nodes = append(nodes, node{&rs[i], false})
		}
	}
	sort.SliceStable(nodes, func(a, b int) bool { return nodes[a].r.Time.Before(nodes[b].r.Time) })
	power := e.powerIfStill(ctx, m, nodes)
	var evs []amigo.Event
	for i, n := range nodes {
		if n.stored || i == 0 {
			continue
		}
		flags, es := vee.Check(m, nodes[i-1].r, *n.r, power)
		n.r.Flags = n.r.Flags&^veeFlags | flags
		evs = append(evs, es...)
		if i+1 < len(nodes) && nodes[i+1].stored {
			evs = append(evs, e.recheck(ctx, m, n.r, nodes[i+1].r, power)...)
		}
	}
	// The first new reading of the series, when nothing is stored before
	// it, still re-checks the stored one after it.
	if len(nodes) > 1 && !nodes[0].stored && nodes[1].stored {
		evs = append(evs, e.recheck(ctx, m, nodes[0].r, nodes[1].r, power)...)
	}
	return evs
}

// powerIfStill returns the meter's last known power when a daily register
// of the series stood still between neighbours (the stopped-register
// check needs it), nil otherwise, without a query.
func (e *Engine) powerIfStill(ctx context.Context, m amigo.Meter, nodes []node) *int64 {
	for i := 1; i < len(nodes); i++ {
		a, b := nodes[i-1].r, nodes[i].r
		if b.Kind == amigo.KindDaily && (!a.HasForward || !b.HasForward || a.Forward[0] == b.Forward[0]) && (!nodes[i-1].stored || !nodes[i].stored) {
			if rt, err := e.store.LastReading(ctx, m.ID, amigo.KindRealtime); err == nil {
				return rt.PowerW
			}
			return nil
		}
	}
	return nil
}

// recheck checks the stored reading next against the new reading before
// it and, when its flags change, updates them in the store and says so.
func (e *Engine) recheck(ctx context.Context, m amigo.Meter, late, next *amigo.Reading, power *int64) []amigo.Event {
	flags, es := vee.Check(m, late, *next, power)
	old := next.Flags & veeFlags
	if flags == old {
		return nil
	}
	if _, err := e.store.UpdateReadingFlags(ctx, m.ID, next.Kind, next.Time, next.Time.Add(time.Second), flags, veeFlags); err != nil {
		e.log.Warn("validate: re-check", "meter", m.Address, "err", err)
		return nil
	}
	next.Flags = next.Flags&^veeFlags | flags
	when := late.Time.UTC().Format(time.RFC3339)
	var out []amigo.Event
	for _, ev := range es { // problems the late reading reveals
		ev.Detail += fmt.Sprintf("; found when the late reading of %s arrived", when)
		out = append(out, ev)
	}
	if cleared := old &^ flags; cleared != 0 {
		out = append(out, amigo.Event{Time: late.ReceivedAt, Kind: amigo.EventRechecked, Severity: "info", SiteID: m.SiteID, AreaID: m.AreaID, CollectorID: m.CollectorID, MeterID: m.ID,
			Message: fmt.Sprintf("meter %s: %s reading of %s re-checked after the late reading of %s: no longer %s / 补抄后复核，原告警解除", m.Address, next.Kind, next.Time.UTC().Format(time.RFC3339), when, flagNames(cleared)),
			Detail:  fmt.Sprintf("previous %s kWh at %s, then %s kWh at %s", late.Forward[0], when, next.Forward[0], next.Time.UTC().Format(time.RFC3339))})
	}
	return out
}

func flagNames(f int) string {
	var out []string
	for _, x := range []struct {
		bit  int
		name string
	}{{amigo.FlagReversed, "reversed"}, {amigo.FlagJump, "jumped"}, {amigo.FlagStopped, "stopped"}} {
		if f&x.bit != 0 {
			out = append(out, x.name)
		}
	}
	return strings.Join(out, ", ")
}
