package station

import (
	"context"
	"fmt"
	"slices"
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
// conflict).
//
// The neighbours cost no query in the common case: a series whose new
// readings are all newer than the last stored one kept in memory
// (lastValues, warmed for a collector's meters in one query before its
// pass) is checked against it, or against nothing when none is stored. The other series of the batch are
// read in one query per kind (ReadingsOfMeters over a look-back window);
// only a series with nothing stored in that window (a new meter, a long
// silence) is read alone (ReadingsAround). The meter's last power comes
// from memory too when a daily register stood still.
func (e *Engine) validate(ctx context.Context, rs []amigo.Reading, meters map[int64]amigo.Meter) []amigo.Event {
	// A series' indices start as a one-element slice of idxBuf (capacity
	// one: a second reading of the series moves it to its own array), so
	// that a batch of one reading per meter allocates no slice per meter.
	groups := make(map[lastKey][]int, len(rs))
	order := make([]lastKey, 0, len(rs))
	idxBuf := make([]int, len(rs))
	for i, r := range rs {
		k := lastKey{r.MeterID, r.Kind}
		idx, ok := groups[k]
		if !ok {
			order = append(order, k)
			idxBuf[i] = i
			groups[k] = idxBuf[i : i+1 : i+1]
			continue
		}
		groups[k] = append(idx, i)
	}
	stored := make(map[lastKey][]amigo.Reading, len(order))
	// The newest stored readings kept in memory, rebuilt into one array.
	var memBuf []amigo.Reading
	var powBuf []int64
	var miss []lastKey
	for _, k := range order {
		idx := groups[k]
		if len(idx) > 1 {
			slices.SortStableFunc(idx, func(a, b int) int { return rs[a].Time.Compare(rs[b].Time) })
		}
		if v, ok := e.last.get(k); ok && v.newer(rs[idx[0]].Time) {
			if v.none {
				stored[k] = nil
				continue
			}
			if memBuf == nil {
				memBuf, powBuf = make([]amigo.Reading, 0, len(order)), make([]int64, 0, len(order))
			}
			n := len(memBuf)
			powBuf = append(powBuf, 0)
			memBuf = append(memBuf, v.readingWith(k, &powBuf[n]))
			stored[k] = memBuf[n : n+1 : n+1]
			continue
		}
		miss = append(miss, k)
	}
	e.neighbours(ctx, rs, groups, miss, stored)
	var evs []amigo.Event
	var nodes []node
	for _, k := range order {
		var es []amigo.Event
		es, nodes = e.validateSeries(ctx, meters[k.meter], rs, groups[k], stored[k], nodes[:0])
		evs = append(evs, es...)
	}
	return evs
}

// warm reads, in one query, the newest stored reading of kind of the
// meters ms that validation's memory lacks (or that none is stored), so
// that their new readings need no query at all: a collector's first pass
// after a start, or after this node took it over.
func (e *Engine) warm(ctx context.Context, ms []amigo.Meter, kind string) {
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	ids = e.last.missing(ids, kind)
	if len(ids) == 0 {
		return
	}
	latest, err := e.store.LatestReadings(ctx, ids, kind)
	if err != nil {
		e.log.Warn("validate: latest readings", "meters", len(ids), "err", err)
		return // validation reads them batch by batch
	}
	e.last.found(ids, kind, latest)
}

// lookBack is how far before a batch the one query of neighbours reaches.
func (e *Engine) lookBack(kind string) time.Duration {
	if kind == amigo.KindRealtime {
		return 4 * e.cfg.RealtimeEvery
	}
	return 72 * time.Hour
}

// neighbours reads the stored neighbours of the series in miss into
// stored: one query per kind for the whole batch, then one per series that
// query could not settle. Each series read gives lastValues its newest
// stored reading.
func (e *Engine) neighbours(ctx context.Context, rs []amigo.Reading, groups map[lastKey][]int, miss []lastKey, stored map[lastKey][]amigo.Reading) {
	byKind := map[string][]lastKey{}
	for _, k := range miss {
		byKind[k.kind] = append(byKind[k.kind], k)
	}
	for kind, keys := range byKind {
		var ids []int64
		from, to := rs[groups[keys[0]][0]].Time, rs[groups[keys[0]][0]].Time
		for _, k := range keys {
			idx := groups[k]
			ids = append(ids, k.meter)
			if t := rs[idx[0]].Time; t.Before(from) {
				from = t
			}
			if t := rs[idx[len(idx)-1]].Time; t.After(to) {
				to = t
			}
		}
		// Everything from the window's start on, to a day past now: the
		// neighbours before, and every stored reading after (a late day's
		// later neighbours), so the last one is the newest stored.
		end := e.clock.Now()
		if to.After(end) {
			end = to
		}
		window, err := e.store.ReadingsOfMeters(ctx, ids, []string{kind}, from.Add(-e.lookBack(kind)), end.Add(24*time.Hour))
		if err != nil {
			e.log.Warn("validate: neighbours", "err", err)
			window = nil
		}
		for _, k := range keys {
			idx := groups[k]
			w := window[k.meter]
			// A reading whose instant is stored already is the store's to
			// judge (a duplicate or a conflict): the series starts at its
			// first new reading. One with none new (a slot read again)
			// needs nothing more.
			var first time.Time
			for _, ix := range idx {
				if t := rs[ix].Time; !storedAt(w, t) {
					first = t
					break
				}
			}
			last := rs[idx[len(idx)-1]].Time
			if first.IsZero() && err == nil {
				stored[k] = w
				if len(w) > 0 {
					e.last.seen(k, w[len(w)-1])
				}
				continue
			}
			if first.IsZero() {
				first = rs[idx[0]].Time
			}
			i := sort.Search(len(w), func(i int) bool { return !w[i].Time.Before(first) })
			if i == 0 {
				// Nothing stored before the series in the window: read it
				// alone (it may have nothing before at all).
				got, err := e.store.ReadingsAround(ctx, k.meter, k.kind, first, last)
				if err != nil {
					e.log.Warn("validate: neighbours", "meter", k.meter, "err", err)
					continue
				}
				stored[k] = got
				// Only a series with nothing stored after it knows its
				// newest stored reading.
				if n := len(got); n > 0 && !got[n-1].Time.After(last) {
					e.last.seen(k, got[n-1])
				}
				continue
			}
			// The last one before, those within (the series' readings
			// stored already among them), and the first after (what
			// ReadingsAround returns).
			i0 := sort.Search(len(w), func(i int) bool { return !w[i].Time.Before(rs[idx[0]].Time) })
			j := sort.Search(len(w), func(j int) bool { return w[j].Time.After(last) })
			stored[k] = w[min(i0, i-1):min(j+1, len(w))]
			if err == nil {
				e.last.seen(k, w[len(w)-1])
			}
		}
	}
}

// storedAt tells whether w (oldest first) holds a reading at t.
func storedAt(w []amigo.Reading, t time.Time) bool {
	i := sort.Search(len(w), func(i int) bool { return !w[i].Time.Before(t) })
	return i < len(w) && w[i].Time.Equal(t)
}

// node is one reading of a meter's series: stored, or new in the batch.
type node struct {
	r      *amigo.Reading
	stored bool
}

// validateSeries checks the batch readings rs[idx] (one meter and kind,
// oldest first) among the stored ones.
func (e *Engine) validateSeries(ctx context.Context, m amigo.Meter, rs []amigo.Reading, idx []int, stored []amigo.Reading, nodes []node) ([]amigo.Event, []node) {
	// Readings at an instant already among the nodes are left out: found
	// by a look along the nodes for a short series, by a map otherwise.
	var have map[int64]bool
	if len(stored)+len(idx) > 16 {
		have = make(map[int64]bool, len(stored)+len(idx))
	}
	seen := func(t int64) bool {
		if have != nil {
			return have[t]
		}
		for _, n := range nodes {
			if n.r.Time.Unix() == t {
				return true
			}
		}
		return false
	}
	for i := range stored {
		if have != nil {
			have[stored[i].Time.Unix()] = true
		}
		nodes = append(nodes, node{&stored[i], true})
	}
	for _, i := range idx {
		if t := rs[i].Time.Unix(); !seen(t) {
			if have != nil {
				have[t] = true
			}
			nodes = append(nodes, node{&rs[i], false})
		}
	}
	if len(nodes) > 1 {
		slices.SortStableFunc(nodes, func(a, b node) int { return a.r.Time.Compare(b.r.Time) })
	}
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
	return evs, nodes
}

// powerIfStill returns the meter's last known power when a daily register
// of the series stood still between neighbours (the stopped-register
// check needs it), nil otherwise, without a query.
func (e *Engine) powerIfStill(ctx context.Context, m amigo.Meter, nodes []node) *int64 {
	for i := 1; i < len(nodes); i++ {
		a, b := nodes[i-1].r, nodes[i].r
		if b.Kind == amigo.KindDaily && (!a.HasForward || !b.HasForward || a.Forward[0] == b.Forward[0]) && (!nodes[i-1].stored || !nodes[i].stored) {
			if v, ok := e.last.get(lastKey{m.ID, amigo.KindRealtime}); ok {
				if v.none {
					return nil
				}
				return v.reading(lastKey{m.ID, amigo.KindRealtime}).PowerW
			}
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
