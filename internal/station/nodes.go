package station

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
)

// Notifier delivers the payloads of a store's notifications on a channel
// (PostgreSQL LISTEN); the engine listens for created commands with it, so
// that the node holding a meter's line runs its command at once.
type Notifier interface {
	Listen(ctx context.Context, channel string) (<-chan string, error)
}

// nodeLeases is this node's view of the leases when several station nodes
// share one store (Config.Nodes): a collector ("collector/<address>"), a
// GPRS meter ("meter/<address>") or a site's own work ("site/<id>") is
// polled and judged by the node that holds its lease. The node with the
// live session takes a collector's or meter's lease when it is free or
// expired; a heartbeat renews every lease held each third of the TTL; a
// lease whose renewal did not come back in time is not used. With no
// store (one node, SQLite) every resource is held.
type nodeLeases struct {
	store amigo.NodeStore
	node  string
	ttl   time.Duration
	now   func() time.Time // real time
	log   *slog.Logger

	mu        sync.Mutex
	held      map[string]time.Time // resource -> end of our lease
	tried     map[string]time.Time // resource -> last acquisition refused
	freeSince map[string]time.Time // resource -> first seen with no live lease
	live      map[string]string    // the live leases as last listed
	listedAt  time.Time
}

func (l *nodeLeases) init(cfg Config) {
	l.store, l.node, l.ttl, l.now, l.log = cfg.Nodes, cfg.Node, cfg.LeaseTTL, cfg.RealNow, cfg.Log
	l.held, l.tried, l.freeSince, l.live = map[string]time.Time{}, map[string]time.Time{}, map[string]time.Time{}, map[string]string{}
}

// on tells whether several nodes share the store.
func (l *nodeLeases) on() bool { return l.store != nil }

// retryEvery is how often a refused acquisition is tried again.
func (l *nodeLeases) retryEvery() time.Duration { return min(time.Second, l.ttl/3) }

// hold returns whether this node holds resource, taking its lease when it
// is free or expired (at most once per retryEvery while another node
// holds it); fresh is true when it was taken just now.
func (l *nodeLeases) hold(ctx context.Context, resource string) (held, fresh bool) {
	if !l.on() {
		return true, false
	}
	now := l.now()
	l.mu.Lock()
	if now.Before(l.held[resource]) {
		l.mu.Unlock()
		return true, false
	}
	if t, ok := l.tried[resource]; ok && now.Sub(t) < l.retryEvery() {
		l.mu.Unlock()
		return false, false
	}
	l.mu.Unlock()
	ok, err := l.store.AcquireLease(ctx, resource, l.node, l.ttl, now)
	if err != nil {
		l.log.Warn("acquire lease", "resource", resource, "err", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		l.tried[resource] = now
		delete(l.held, resource)
		return false, false
	}
	delete(l.tried, resource)
	delete(l.freeSince, resource)
	l.held[resource] = now.Add(l.ttl)
	return true, true
}

// holdAll takes, in one transaction, the leases of those of resources
// this node does not hold and did not try within retryEvery, and returns
// those it took just now (hold then finds them held, not fresh). A
// node's first pass over its share of a thousand collectors took their
// leases one autocommit at a time, in the pass, ahead of their polls.
func (l *nodeLeases) holdAll(ctx context.Context, resources []string) (fresh []string) {
	if !l.on() || len(resources) == 0 {
		return nil
	}
	now := l.now()
	var want []string
	l.mu.Lock()
	for _, r := range resources {
		if now.Before(l.held[r]) {
			continue
		}
		if t, ok := l.tried[r]; ok && now.Sub(t) < l.retryEvery() {
			continue
		}
		want = append(want, r)
	}
	l.mu.Unlock()
	if len(want) == 0 {
		return nil
	}
	got, err := l.store.AcquireLeases(ctx, want, l.node, l.ttl, now)
	if err != nil {
		// Each is tried alone by hold, as before.
		l.log.Warn("acquire leases", "resources", len(want), "err", err)
		return nil
	}
	won := make(map[string]bool, len(got))
	for _, r := range got {
		won[r] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range want {
		if !won[r] {
			l.tried[r] = now
			delete(l.held, r)
			continue
		}
		delete(l.tried, r)
		delete(l.freeSince, r)
		l.held[r] = now.Add(l.ttl)
		fresh = append(fresh, r)
	}
	return fresh
}

// holds tells from memory whether this node holds resource now.
func (l *nodeLeases) holds(resource string) bool {
	if !l.on() {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now().Before(l.held[resource])
}

// drop gives resource up if this node holds it (its session is gone).
func (l *nodeLeases) drop(ctx context.Context, resource string) {
	if !l.on() {
		return
	}
	l.mu.Lock()
	_, ok := l.held[resource]
	delete(l.held, resource)
	l.mu.Unlock()
	if ok {
		if err := l.store.ReleaseLease(ctx, resource, l.node); err != nil {
			l.log.Warn("release lease", "resource", resource, "err", err)
		}
	}
}

// judge decides whether this node may judge resource offline: nobody has
// held its lease for one TTL (a collector moving to another node takes it
// well within that), and this node could take it. It then holds it until
// release is called. A lease this node held is given up first: a session
// lost here may come back on another node.
func (l *nodeLeases) judge(ctx context.Context, resource string) (ok bool, release func()) {
	if !l.on() {
		return true, func() {}
	}
	l.drop(ctx, resource)
	now := l.now()
	l.mu.Lock()
	other := l.live[resource] != "" && l.live[resource] != l.node
	since, seen := l.freeSince[resource]
	switch {
	case other:
		delete(l.freeSince, resource)
	case !seen:
		l.freeSince[resource] = now
	}
	l.mu.Unlock()
	if other || !seen || now.Sub(since) < l.ttl {
		return false, nil
	}
	if held, _ := l.hold(ctx, resource); !held {
		return false, nil
	}
	return true, func() {
		l.drop(ctx, resource)
		l.mu.Lock()
		delete(l.freeSince, resource)
		l.mu.Unlock()
	}
}

// list reads the live leases again when the last listing is older than
// relistEvery or force is set.
func (l *nodeLeases) list(ctx context.Context, force bool) {
	if !l.on() {
		return
	}
	now := l.now()
	l.mu.Lock()
	stale := force || now.Sub(l.listedAt) >= relistEvery
	l.mu.Unlock()
	if !stale {
		return
	}
	live, err := l.store.Leases(ctx, now)
	if err != nil {
		l.log.Warn("list leases", "err", err)
		return
	}
	l.mu.Lock()
	l.live, l.listedAt = live, now
	for r, n := range live {
		if n != l.node {
			delete(l.freeSince, r)
		}
	}
	l.mu.Unlock()
}

// heartbeat renews this node's leases every third of the TTL until ctx
// ends, then gives them all up (a clean stop: the others need not wait for
// them to expire).
func (l *nodeLeases) heartbeat(ctx context.Context) {
	if !l.on() {
		return
	}
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := l.store.ReleaseLeases(rctx, l.node); err != nil {
				l.log.Warn("release leases", "err", err)
			}
			l.mu.Lock()
			clear(l.held)
			l.mu.Unlock()
			return
		case <-t.C:
		}
		now := l.now()
		kept, err := l.store.RenewLeases(ctx, l.node, l.ttl, now)
		if err != nil {
			// The leases run out on their own: nothing is used unrenewed.
			l.log.Warn("renew leases", "err", err)
			continue
		}
		l.mu.Lock()
		next := make(map[string]time.Time, len(kept))
		for _, r := range kept {
			if _, ok := l.held[r]; ok {
				next[r] = now.Add(l.ttl)
			}
		}
		for r, end := range l.held {
			if _, ok := next[r]; ok {
				continue
			}
			if end.After(now.Add(l.ttl)) {
				next[r] = end // taken while the renewal ran
				continue
			}
			l.log.Info("lease lost / 租约已失去", "resource", r, "node", l.node)
		}
		l.held = next
		l.mu.Unlock()
	}
}

func collectorResource(c amigo.Collector) string { return "collector/" + c.Address }
func meterResource(m amigo.Meter) string         { return "meter/" + m.Address }

// OwnsSite says whether this node does a site's site-wide work (line loss,
// the prepaid wallet): the holder of the site's lease; always true for the
// only node.
func (e *Engine) OwnsSite(ctx context.Context, siteID int64) bool {
	held, _ := e.nodes.hold(ctx, siteResource(amigo.Site{ID: siteID}))
	return held
}

func siteResource(s amigo.Site) string { return "site/" + strconv.FormatInt(s.ID, 10) }

// Scheduler state kept in the store when several nodes share it, so that
// a collector moving to another node is not collected again from the
// start: its last real-time slot and its last daily pass (Unix seconds,
// station time).
func slotKey(id int64) string  { return "sched/slot/" + strconv.FormatInt(id, 10) }
func dailyKey(id int64) string { return "sched/daily/" + strconv.FormatInt(id, 10) }

// loadSchedule reads collector id's scheduler state from the store (a
// lease just taken: the collector may come from another node).
func (e *Engine) loadSchedule(ctx context.Context, id int64) {
	read := func(key string) time.Time {
		v, ok, err := e.store.GetState(ctx, key)
		if err != nil || !ok {
			return time.Time{}
		}
		return stateTime(v)
	}
	e.setSchedule(id, read(slotKey(id)), read(dailyKey(id)))
}

// loadSchedules is loadSchedule for many collectors, in one query.
func (e *Engine) loadSchedules(ctx context.Context, ids []int64) {
	if len(ids) == 0 {
		return
	}
	keys := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		keys = append(keys, slotKey(id), dailyKey(id))
	}
	vals, err := e.cfg.Nodes.GetStates(ctx, keys)
	if err != nil {
		e.log.Warn("scheduler state", "collectors", len(ids), "err", err)
		for _, id := range ids {
			e.loadSchedule(ctx, id)
		}
		return
	}
	for _, id := range ids {
		e.setSchedule(id, stateTime(vals[slotKey(id)]), stateTime(vals[dailyKey(id)]))
	}
}

// stateTime reads a scheduler time as saveSchedule wrote it (zero when
// unset or unreadable).
func stateTime(v string) time.Time {
	n, err := strconv.ParseInt(v, 10, 64)
	if v == "" || err != nil {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

// setSchedule moves collector id's scheduler times on to slot and daily
// when they are later.
func (e *Engine) setSchedule(id int64, slot, daily time.Time) {
	e.mu.Lock()
	if slot.After(e.lastSlot[id]) {
		e.lastSlot[id] = slot
	}
	if daily.After(e.lastDaily[id]) {
		e.lastDaily[id] = daily
	}
	e.mu.Unlock()
}

// saveSchedule writes a scheduler time of a collector when several nodes
// share the store.
func (e *Engine) saveSchedule(ctx context.Context, key string, t time.Time) {
	if !e.nodes.on() {
		return
	}
	// With the other collectors' state of the moment, in one transaction
	// of the group committer: a node taking the collector over re-reads at
	// worst a slot whose write was lost, and the store keeps it once.
	v, now := strconv.FormatInt(t.Unix(), 10), e.clock.Now()
	e.queueState(ctx, "save scheduler state", func(tx amigo.Store) error {
		if err := tx.PutState(ctx, key, v, now); err != nil {
			return fmt.Errorf("scheduler state %s: %w", key, err)
		}
		return nil
	})
}

// listenCommands wakes the command loop on every command created on any
// node, until ctx ends.
func (e *Engine) listenCommands(ctx context.Context) {
	if e.cfg.Notifier == nil || e.cfg.CommandChannel == "" {
		return
	}
	ch, err := e.cfg.Notifier.Listen(ctx, e.cfg.CommandChannel)
	if err != nil {
		e.log.Warn("listen for commands: the command loop polls only / 无法监听命令通知", "err", err)
		return
	}
	for range ch {
		e.wakeCommands()
	}
}
