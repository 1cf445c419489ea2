// Package station is the master station's engine: the collection scheduler
// (real-time data, the previous day's frozen data, re-collection of missing
// days), validation of what arrives, collector and meter status, and the
// durable command executor. It reaches storage through amigo.Store and the
// collectors through the Front interface it declares; cmd/amigo wires the
// front end (internal/fep) in.
package station

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/q1376"
)

// Terminal is a logged-in collector.
type Terminal interface {
	Request(ctx context.Context, afn q1376.AFN, units ...q1376.Unit) ([]*q1376.Frame, error)
	// Confirm acknowledges an answer after its data is committed.
	Confirm(resp *q1376.Frame) error
}

// Front finds the session of a collector by its terminal address, and of a
// directly connected (GPRS) meter by its address.
type Front interface {
	Terminal(address string) (Terminal, bool)
	Meter(address string) (MeterLink, bool)
}

// Config tunes the engine.
type Config struct {
	RealtimeEvery time.Duration // default 15 min (station clock)
	DailyAfter    time.Duration // after midnight; default 10 min
	// DailyWindow spreads the nightly collection: a collector's first
	// daily pass of a day starts DailyAfter plus an offset in [0,
	// DailyWindow) taken from a hash of its address. Default 30 min
	// (station clock); re-collection then follows every RealtimeEvery.
	DailyWindow  time.Duration
	BackfillDays int           // default 31
	CommandTTL   time.Duration // default validity of a command; 24 h
	// Workers bounds how many collectors (and GPRS meters) are served at
	// once; default 256. A silent one holds one worker, nobody else.
	Workers int
	// FrameTimeout bounds the wait for the answer to one request (real
	// time); default 30 s. It is per frame, not per collector.
	FrameTimeout time.Duration
	// CommitMax is the most readings one group commit carries; default
	// 20000.
	CommitMax int
	Log       *slog.Logger

	// Nodes, when set, makes this engine one node of several sharing the
	// store (PostgreSQL): it polls and judges only the collectors and GPRS
	// meters whose lease it holds (taken by the node with the live
	// session), claims commands in the store, and keeps its scheduler
	// state there. Nil: the only node, which holds everything (SQLite).
	Nodes amigo.NodeStore
	// Node names this node in leases and claims; required with Nodes.
	Node string
	// LeaseTTL is how long a lease lasts unrenewed (real time; renewed
	// every third of it); default 30 s. A crashed node's collectors are
	// polled elsewhere after at most this long.
	LeaseTTL time.Duration
	// RealNow is the clock of leases (real time); default time.Now.
	RealNow func() time.Time
	// Notifier, with CommandChannel, wakes the command loop when any node
	// creates a command.
	Notifier       Notifier
	CommandChannel string
	// StartGrace: for this long (real time) after Run starts, a collector
	// the store holds online but without a session is not judged offline
	// yet — a restarted station's collectors are reconnecting, and a
	// restart is not an outage of each of them (no offline alarm and
	// back-online note per collector, no status writes in the reconnect
	// storm). One that is still away after it is judged as usual. 0: at
	// once.
	StartGrace time.Duration
}

// Engine runs the station's work.
type Engine struct {
	store amigo.Store
	front Front
	clock vclock.Clock
	cfg   Config
	log   *slog.Logger

	mu          sync.Mutex
	lastSlot    map[int64]time.Time // collector -> last real-time slot collected
	lastDaily   map[int64]time.Time // collector -> last daily pass
	lastTail    map[int64]time.Time // collector -> last real-time slot whose events and clock were looked at
	missingSent map[string]bool     // meter/day already reported missing (cache of "missing/…" in the state store)
	pushed      map[int64]string    // collector -> signature of the archive it has
	prunedAt    time.Time           // day the missing days were last pruned
	clockDay    map[int64]string    // collector -> day its clock was last checked (terminal_clock.go)
	// dailyDone is, per collector, the day on which its daily pass last
	// found no freeze missing, and the meters it looked at: until the day
	// changes or the meters do, a slot's daily pass asks the store for
	// nothing (freezes that are in do not go away).
	dailyDone map[int64]dailyMark

	// Two loops, two wake channels: a command's wake never lands in the
	// collection loop.
	collectWake chan struct{}
	commandWake chan struct{}
	relist      chan struct{} // a Wake: read the collectors again

	sched   scheduler // which collectors are due, and the pool serving them
	group   committer // group commit of validated readings
	last    lastValues
	cmdLock cmdLocks
	nodes   nodeLeases // leases when several nodes share the store
	// graceUntil: until then (real time, Config.StartGrace from Run's
	// start) no collector is judged offline; Unix ns.
	graceUntil atomic.Int64
}

// New returns an engine.
func New(store amigo.Store, front Front, clock vclock.Clock, cfg Config) *Engine {
	if cfg.RealtimeEvery <= 0 {
		cfg.RealtimeEvery = 15 * time.Minute
	}
	if cfg.DailyAfter <= 0 {
		cfg.DailyAfter = 10 * time.Minute
	}
	if cfg.DailyWindow <= 0 {
		cfg.DailyWindow = 30 * time.Minute
	}
	if cfg.BackfillDays <= 0 {
		cfg.BackfillDays = 31
	}
	if cfg.CommandTTL <= 0 {
		cfg.CommandTTL = 24 * time.Hour
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 256
	}
	if cfg.FrameTimeout <= 0 {
		cfg.FrameTimeout = 30 * time.Second
	}
	if cfg.CommitMax <= 0 {
		cfg.CommitMax = 20000
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.RealNow == nil {
		cfg.RealNow = time.Now
	}
	e := &Engine{store: store, front: front, clock: clock, cfg: cfg, log: cfg.Log,
		lastSlot: map[int64]time.Time{}, lastDaily: map[int64]time.Time{}, lastTail: map[int64]time.Time{}, missingSent: map[string]bool{}, pushed: map[int64]string{}, clockDay: map[int64]string{}, dailyDone: map[int64]dailyMark{},
		collectWake: make(chan struct{}, 1), commandWake: make(chan struct{}, 1), relist: make(chan struct{}, 1)}
	e.sched.init(cfg.Workers)
	e.group.init()
	e.last.init()
	e.cmdLock.init(cfg.Workers)
	e.nodes.init(cfg)
	return e
}

// Wake asks the engine to look at its work now (a login, a new command):
// both loops are woken, each on its own channel.
func (e *Engine) Wake() {
	signal(e.relist)
	signal(e.collectWake)
	signal(e.commandWake)
}

// wakeCommands wakes the command loop only.
func (e *Engine) wakeCommands() { signal(e.commandWake) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run works until ctx ends; it returns after every goroutine it started:
// the collection loop and its workers, the command loop and its commands,
// and last the group committer, so that a batch handed over before ctx
// ended is still written (or refused) and answered.
func (e *Engine) Run(ctx context.Context) {
	e.startGrace()
	var loops sync.WaitGroup
	// The leases outlive the loops: they are given up once no worker
	// polls any more.
	lctx, stopLeases := context.WithCancel(context.WithoutCancel(ctx))
	leasesDone := make(chan struct{})
	go func() { defer close(leasesDone); e.nodes.heartbeat(lctx) }()
	defer func() { stopLeases(); <-leasesDone }()
	loops.Add(3)
	go func() { defer loops.Done(); e.listenCommands(ctx) }()
	go func() {
		defer loops.Done()
		e.loop(ctx, e.collectWake, func(ctx context.Context) time.Duration {
			e.collect(ctx)
			return e.sched.apart
		}, e.sched.freed)
		e.sched.wait()
	}()
	go func() {
		defer loops.Done()
		e.loop(ctx, e.commandWake, func(ctx context.Context) time.Duration {
			e.runCommands(ctx)
			return 0
		}, e.cmdLock.freed)
		e.cmdLock.wait()
	}()
	gctx, stopGroup := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); e.group.run(gctx, e) }()
	loops.Wait()
	stopGroup()
	<-done
}

// loop runs work every 200 ms, and at once when woken or when one of its
// workers comes free (so that the pool never idles while work is due) —
// but takes no more than a tenth of a core: after a pass that spent c of
// CPU, the next starts at the earliest c×(passRest-1) after it ended, and
// at the latest maxRest after. A pass over ten thousand collectors woken
// by every login of a storm, or by every job that ends while the pool is
// full, would otherwise take a core of its own.
//
// The rest follows the pass's own CPU time (its goroutine locked to its
// thread, whose CPU time it reads), not its wall time: a pass that waited
// on the store (leases, the bulk listing of the meters, a claim of
// commands, slow round trips on a loaded machine) costs no CPU, and
// resting ten times its wait left the pool idle and the commands waiting
// for up to a second.
//
// work returns the CPU it spent on work of its own schedule (the bulk
// listing of every meter, once half a collection interval): that is not
// the cost of a pass, and resting for it kept the pool idle for a second
// after a restart's first pass, with every collector due.
func (e *Engine) loop(ctx context.Context, wake <-chan struct{}, work func(context.Context) time.Duration, freed <-chan struct{}) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		start := time.Now()
		cpu0, cpuOK := threadCPU()
		apart := work(ctx)
		took := time.Since(start)
		cost := took
		if cpu1, ok := threadCPU(); ok && cpuOK {
			cost = min(cpu1-cpu0, took)
		}
		cost = max(cost-apart, 0)
		rest := took + min(cost*(passRest-1), maxRest)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		case <-freed:
		}
		if wait := time.Until(start.Add(rest)); wait > time.Millisecond {
			r := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				r.Stop()
				return
			case <-r.C:
			}
		}
	}
}

// cpuOf runs f and returns the CPU time it took on the calling thread (its
// wall time where that cannot be read): for a goroutine locked to its
// thread, the cost of f alone.
func cpuOf(f func()) time.Duration {
	start := time.Now()
	c0, ok0 := threadCPU()
	f()
	if c1, ok1 := threadCPU(); ok0 && ok1 {
		return c1 - c0
	}
	return time.Since(start)
}

// passRest is how long a loop rests after a pass, in multiples of the
// pass's own time (see loop).
const passRest = 10

// maxRest bounds a loop's rest after a pass.
const maxRest = time.Second

// offset spreads collectors over the first half of the collection
// interval, so that ten thousand of them are not asked in the same second.
func offset(address string, every time.Duration) time.Duration {
	return spread(address, every/2)
}

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// startGrace starts the StartGrace (Run's start).
func (e *Engine) startGrace() {
	if e.cfg.StartGrace > 0 {
		e.graceUntil.Store(e.cfg.RealNow().Add(e.cfg.StartGrace).UnixNano())
	}
}

// inStartGrace reports whether the engine is within its StartGrace.
func (e *Engine) inStartGrace() bool {
	until := e.graceUntil.Load()
	return until != 0 && e.cfg.RealNow().UnixNano() < until
}

// trackStatus raises one alarm when a collector goes offline (not one per
// meter behind it) and one note when it returns.
func (e *Engine) trackStatus(ctx context.Context, site amigo.Site, c *amigo.Collector, online bool) {
	// Every collector each pass: nothing to do unless its status changes.
	if online == (c.Status == amigo.StatusOnline) {
		return
	}
	if online {
		e.markOnline(ctx, site, c.ID, c.Address, c.Status)
	} else {
		e.markOffline(ctx, site, c.ID, c.Address)
	}
}

// markOnline queues a collector's change to online (an event when it was
// offline) to the group committer: a login storm of a thousand collectors
// is a few transactions, and the scheduler's pass waits for none of them.
func (e *Engine) markOnline(ctx context.Context, site amigo.Site, id int64, address, prev string) {
	now := e.clock.Now()
	e.queueState(ctx, "collector online", func(tx amigo.Store) error {
		if err := tx.SetCollectorStatus(ctx, id, amigo.StatusOnline, "", now); err != nil {
			return fmt.Errorf("collector %s online: %w", address, err)
		}
		if prev != amigo.StatusOffline {
			return nil
		}
		return tx.AppendEvents(ctx, amigo.Event{Time: now, Kind: amigo.EventCollectorUp, SiteID: site.ID, CollectorID: id,
			Message: fmt.Sprintf("collector %s is back online / 采集器恢复在线", address)})
	})
}

// markOffline writes a collector's change to offline, with its alarm,
// through the committer too (after any online change still queued there),
// and waits for it: with several nodes, the judgement is written before
// the lease is given up.
func (e *Engine) markOffline(ctx context.Context, site amigo.Site, id int64, address string) {
	now := e.clock.Now()
	err := e.writeState(ctx, "collector offline", func(tx amigo.Store) error {
		if err := tx.SetCollectorStatus(ctx, id, amigo.StatusOffline, "no connection / 无连接", now); err != nil {
			return fmt.Errorf("collector %s offline: %w", address, err)
		}
		return tx.AppendEvents(ctx, amigo.Event{Time: now, Kind: amigo.EventCollectorDown, Severity: "alarm", SiteID: site.ID, CollectorID: id,
			Message: fmt.Sprintf("collector %s is offline / 采集器离线", address)})
	})
	if err != nil {
		e.log.Warn("collector offline", "collector", address, "err", err)
	}
}

func (e *Engine) meters(ctx context.Context, c amigo.Collector) ([]amigo.Meter, error) {
	// A collector has at most 2,040 points: one page, no count needed.
	ms, _, err := e.store.ListMeters(ctx, amigo.MeterFilter{CollectorID: c.ID, NoTotal: true})
	if err != nil {
		return nil, err
	}
	out := ms[:0]
	for _, m := range ms {
		if m.RemovedAt.IsZero() && m.Pn > 0 {
			out = append(out, m)
		}
	}
	return out, nil
}

// collectCollector does collector c's due work: the real-time slot, then
// the slot's tail (the collector's events and its clock), then the daily
// pass (the previous day's freezes and every missing day). It runs in a
// worker of the pool, one at a time per collector.
//
// While other collectors wait for a worker (a restart, the first pass, a
// pool too small), a job does the real-time slot alone and leaves the
// tail and the daily pass to the collector's next turn: every meter's
// current values first, then the rest, instead of a third of the
// collectors fully served and the others without a reading.
func (e *Engine) collectCollector(ctx context.Context, site amigo.Site, c amigo.Collector, t Terminal) {
	now := e.clock.Now()
	w := e.dueWork(site, c, now)
	if !w.any() {
		return
	}
	ms, err := e.archive(ctx, c, now)
	if err != nil {
		e.log.Warn("list meters", "collector", c.Address, "err", err)
		return
	}
	if len(ms) == 0 {
		// Nothing to collect: the slot is done all the same, so that an
		// empty collector costs nothing until the next one.
		e.mu.Lock()
		e.lastSlot[c.ID], e.lastTail[c.ID], e.lastDaily[c.ID] = w.slot, w.slot, now
		e.mu.Unlock()
		e.saveSchedule(ctx, slotKey(c.ID), w.slot)
		e.saveSchedule(ctx, dailyKey(c.ID), now)
		return
	}
	// A changed archive (meters added, moved, re-keyed, swapped) is pushed
	// before it is used.
	e.mu.Lock()
	stale := e.pushed[c.ID] != archiveSignature(ms)
	e.mu.Unlock()
	if stale {
		if err := e.PushArchive(ctx, c); err != nil {
			e.log.Warn("archive push", "collector", c.Address, "err", err)
		}
	}
	// The real-time answers are committed while the collector's events and
	// clock are asked for: the worker waits on the store once, at the end,
	// not after every batch.
	var finish func() error
	if w.rt {
		if finish, err = e.collectRealtime(ctx, site, c, t, ms); err != nil {
			e.log.Warn("real-time collection", "collector", c.Address, "err", err)
		}
	}
	// Looked at once the values are in: is anybody waiting for a worker?
	rtOnly := w.rt && e.sched.backlog.Load()
	if w.tail && !rtOnly {
		if err := e.collectEvents(ctx, site, c, t, ms); err != nil {
			e.log.Warn("collector events", "collector", c.Address, "err", err)
		}
		if err := e.checkTerminalClock(ctx, site, c, t); err != nil {
			e.log.Warn("collector clock", "collector", c.Address, "err", err)
		}
		e.mu.Lock()
		e.lastTail[c.ID] = w.slot
		e.mu.Unlock()
	}
	if finish != nil {
		if err := finish(); err != nil {
			e.log.Warn("real-time collection", "collector", c.Address, "err", err)
		} else {
			e.mu.Lock()
			e.lastSlot[c.ID] = w.slot
			e.mu.Unlock()
			e.saveSchedule(ctx, slotKey(c.ID), w.slot)
		}
	}
	if w.daily && !rtOnly {
		mark := dailyMark{day: amigo.Day(now, site.Location()).Unix(), meters: metersKey(ms)}
		e.mu.Lock()
		done := e.dailyDone[c.ID] == mark
		e.mu.Unlock()
		if !done {
			complete, err := e.collectDaily(ctx, site, c, t, ms)
			if err != nil {
				e.log.Warn("daily collection", "collector", c.Address, "err", err)
			}
			e.mu.Lock()
			if complete {
				e.dailyDone[c.ID] = mark
			} else {
				delete(e.dailyDone, c.ID)
			}
			e.mu.Unlock()
		}
		e.mu.Lock()
		e.lastDaily[c.ID] = now
		e.mu.Unlock()
		e.saveSchedule(ctx, dailyKey(c.ID), now)
	}
}

// firstMissing reports whether the missing day key ("<meter id> <unix>")
// is reported now for the first time: the first caller of any node wins
// ("missing/<meter id>/<unix>" in the state store); memory keeps repeated
// passes from asking again. When the store cannot tell, nothing is
// reported (the next pass asks again).
func (e *Engine) firstMissing(ctx context.Context, key string, now time.Time) bool {
	e.mu.Lock()
	sent := e.missingSent[key]
	e.mu.Unlock()
	if sent {
		return false
	}
	first, err := e.store.PutStateOnce(ctx, "missing/"+strings.ReplaceAll(key, " ", "/"), "", now)
	if err != nil {
		e.log.Warn("missing day", "key", key, "err", err)
		return false
	}
	e.mu.Lock()
	e.missingSent[key] = true
	e.mu.Unlock()
	return first
}

// pruneMissing forgets, once a day, the missing days reported that no pass
// looks at any more (older than BackfillDays and two more).
func (e *Engine) pruneMissing(ctx context.Context, now time.Time) {
	p, ok := e.store.(interface {
		PruneState(ctx context.Context, prefix string, before time.Time) (int, error)
	})
	if !ok {
		return
	}
	day := now.Truncate(24 * time.Hour)
	e.mu.Lock()
	done := !e.prunedAt.Before(day)
	e.prunedAt = day
	e.mu.Unlock()
	if done {
		return
	}
	before := now.AddDate(0, 0, -e.cfg.BackfillDays-2)
	if _, err := p.PruneState(ctx, "missing/", before); err != nil {
		e.log.Warn("prune missing days", "err", err)
	}
	e.mu.Lock()
	for k := range e.missingSent {
		if _, unix, ok := strings.Cut(k, " "); ok {
			if n, err := strconv.ParseInt(unix, 10, 64); err == nil && time.Unix(n, 0).Before(before) {
				delete(e.missingSent, k)
			}
		}
	}
	e.mu.Unlock()
}

// request sends one request and waits for its answer at most FrameTimeout:
// the bound is per frame, not per collector.
func (e *Engine) request(ctx context.Context, t Terminal, afn q1376.AFN, units ...q1376.Unit) ([]*q1376.Frame, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.FrameTimeout)
	defer cancel()
	answers, err := t.Request(ctx, afn, units...)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("no answer to AFN %02X within %s / 采集器无应答: %w", byte(afn), e.cfg.FrameTimeout, err)
	}
	return answers, err
}

// chunks yields units in requests of at most n.
func chunks(units []q1376.Unit, n int) [][]q1376.Unit {
	var out [][]q1376.Unit
	for i := 0; i < len(units); i += n {
		out = append(out, units[i:min(i+n, len(units))])
	}
	return out
}

func energyOf(v q1376.Value) (amigo.Energy, bool) {
	if !v.Valid {
		return 0, false
	}
	e, err := amigo.EnergyFromDecimal(v.Mant, int(v.Scale))
	return e, err == nil
}

func registers(ind q1376.Indication) ([5]amigo.Energy, bool) {
	var out [5]amigo.Energy
	if len(ind.Values) < 1 {
		return out, false
	}
	for i := 0; i < 5 && i < len(ind.Values); i++ {
		e, ok := energyOf(ind.Values[i])
		if !ok && i == 0 {
			return out, false
		}
		out[i] = e
	}
	return out, true
}

// realtimeMetersPerRequest is how many meters one real-time request asks
// for (three data units each: F129, F131, F25: 768 bytes of DA/DT in the
// request, well within a frame's 16,383 bytes of user data); a collector
// answers them in as many frames as it needs (the load generator's carry
// at most 32 units each). Fewer, larger requests are fewer round trips,
// commits, maps and goroutine switches per meter.
const realtimeMetersPerRequest = 64

func (e *Engine) collectRealtime(ctx context.Context, site amigo.Site, c amigo.Collector, t Terminal, ms []amigo.Meter) (finish func() error, err error) {
	byPn := make(map[uint16]amigo.Meter, len(ms))
	byID := make(map[int64]amigo.Meter, len(ms))
	units := make([]q1376.Unit, 0, 3*len(ms))
	source := "collector " + c.Address
	// The units' points in one array, their functions shared (encoding a
	// request only reads them): no slice allocated per meter.
	pns := make([]uint16, len(ms))
	for i, m := range ms {
		byPn[uint16(m.Pn)], byID[m.ID] = m, m
		pns[i] = uint16(m.Pn)
		pn := pns[i : i+1 : i+1]
		units = append(units, q1376.Unit{Pn: pn, Fn: fnF129}, q1376.Unit{Pn: pn, Fn: fnF131}, q1376.Unit{Pn: pn, Fn: fnF25})
	}
	e.warm(ctx, ms, amigo.KindRealtime)
	loc := site.Location()
	now := e.clock.Now()
	got := make(map[int64]bool, len(ms))
	// Each request's meters are distinct, so one batch is committed while
	// the next is asked for (its validation needs nothing of the other).
	var commits commitSet
	for _, req := range chunks(units, 3*realtimeMetersPerRequest) {
		answers, err := e.request(ctx, t, q1376.AFNClass1, req...)
		if err != nil {
			// What was answered is still committed (and confirmed).
			if werr := commits.wait(); werr != nil {
				return nil, fmt.Errorf("%w; and %w", err, werr)
			}
			return nil, err
		}
		// The request's readings in one array (slot of a meter by its id),
		// their power and voltage in another.
		slot := make(map[int64]int, len(req)/3)
		readings := make([]amigo.Reading, 0, len(req)/3)
		var values []int64
		var vals [15]q1376.Value
		for _, a := range answers {
			if a.AFN != q1376.AFNClass1 {
				continue // a deny: no data for these points yet
			}
			items, err := a.Items()
			if err != nil {
				e.log.Warn("real-time answer", "collector", c.Address, "err", err)
				continue
			}
			for _, it := range items {
				m, ok := byPn[it.Pn]
				if !ok {
					continue
				}
				k, ok := slot[m.ID]
				if !ok {
					k = len(readings)
					slot[m.ID] = k
					readings = append(readings, amigo.Reading{MeterID: m.ID, Kind: amigo.KindRealtime, Quality: amigo.QualityActual, Source: source, ReceivedAt: now})
				}
				r := &readings[k]
				switch it.Fn {
				case 129, 131:
					ind, err := q1376.ParseIndicationInto(vals[:], it.Data) // registers copies them
					if err != nil {
						continue
					}
					regs, ok := registers(ind)
					if !ok {
						continue
					}
					if it.Fn == 129 {
						r.Forward, r.HasForward = regs, true
						if ind.HasAt {
							r.Time = ind.ReadAt.In(loc).UTC()
						}
					} else {
						r.Reverse, r.HasReverse = regs, true
					}
				case 25:
					in, err := q1376.ParseInstant(it.Data)
					if err != nil {
						continue
					}
					if values == nil {
						values = make([]int64, 0, 2*cap(readings))
					}
					if in.P[0].Valid {
						r.PowerW = valueIn(&values, scaleTo(in.P[0].Mant, int(in.P[0].Scale), -3)) // kW -> W
					}
					if in.U[0].Valid {
						r.VoltageDV = valueIn(&values, scaleTo(in.U[0].Mant, int(in.U[0].Scale), 1))
					}
				}
			}
		}
		rs := readings[:0]
		for _, r := range readings {
			if !r.HasForward || r.Time.IsZero() {
				continue
			}
			if installedAfter(byID[r.MeterID], r.Time) {
				continue // read before this meter was on the point: a swapped-out meter's
			}
			rs = append(rs, r)
			got[r.MeterID] = true
		}
		slices.SortFunc(rs, func(a, b amigo.Reading) int { return cmp.Compare(a.MeterID, b.MeterID) })
		commits.commit(ctx, e, t, answers, rs, byID)
	}
	return func() error {
		if err := commits.wait(); err != nil {
			return err
		}
		e.meterStatus(ctx, c, ms, got, now)
		return nil
	}, nil
}

// The functions of a real-time request's units (read only).
var fnF129, fnF131, fnF25 = []uint16{129}, []uint16{131}, []uint16{25}

// valueIn appends v to *vs and returns where it is: while *vs has room,
// the values share its array.
func valueIn(vs *[]int64, v int64) *int64 {
	if len(*vs) == cap(*vs) {
		*vs = make([]int64, 0, max(8, cap(*vs)))
	}
	*vs = append(*vs, v)
	return &(*vs)[len(*vs)-1]
}

// meterStatus has the status of collector c's meters written: online those
// read (got), offline the others; only the changes, queued to the group
// committer after the readings just committed. A write that fails is
// logged, and the next pass, seeing the old status, writes it again.
func (e *Engine) meterStatus(ctx context.Context, c amigo.Collector, ms []amigo.Meter, got map[int64]bool, now time.Time) {
	// The meters whose status changes, in one transaction each way (one
	// per meter made a first pass over 100,000 meters 100,000 fsyncs).
	var on, off []int64
	for _, m := range ms {
		if got[m.ID] {
			if m.Status != amigo.StatusOnline {
				on = append(on, m.ID)
			}
		} else if m.Status != amigo.StatusOffline {
			off = append(off, m.ID)
		}
	}
	if len(on)+len(off) == 0 {
		return
	}
	// Written with the other collectors' changes of the same moment, in one
	// transaction (the group committer's), after this pass's readings; once
	// committed, the meters as listed take the status written (a write that
	// failed leaves them with the old, and the next pass writes it again).
	e.queueStateThen(ctx, "meters status", func(tx amigo.Store) error {
		if err := tx.SetMetersStatus(ctx, on, amigo.StatusOnline, "", now); err != nil {
			return fmt.Errorf("meters of collector %s online: %w", c.Address, err)
		}
		if err := tx.SetMetersStatus(ctx, off, amigo.StatusOffline, "no data from its collector / 采集器无该表数据", now); err != nil {
			return fmt.Errorf("meters of collector %s offline: %w", c.Address, err)
		}
		return nil
	}, func() { e.listedStatus(c.ID, on, off) })
}

// scaleTo converts mant×10^-scale to an integer in units of 10^-want (want
// may be negative: W from kW is want = -3).
func scaleTo(mant int64, scale, want int) int64 {
	for s := scale; s < want; s++ {
		mant *= 10
	}
	for s := scale; s > want; s-- {
		mant /= 10
	}
	return mant
}

// dailyMark is a daily pass that found nothing missing: its day (site
// time) and a key of the meters it looked at (metersKey).
type dailyMark struct {
	day    int64 // Unix seconds of the day's start
	meters uint64
}

// metersKey hashes the meters' ids and installation instants: what decides
// which freezes a daily pass wants.
func metersKey(ms []amigo.Meter) uint64 {
	h := fnv.New64a()
	var b [16]byte
	for _, m := range ms {
		binary.LittleEndian.PutUint64(b[:8], uint64(m.ID))
		binary.LittleEndian.PutUint64(b[8:], uint64(m.InstalledAt.UnixNano()))
		h.Write(b[:])
	}
	return h.Sum64()
}

// collectDaily asks for every missing day of the last BackfillDays, oldest
// first, for each meter of the collector (补抄), and commits what comes. It
// reports complete when none was missing.
func (e *Engine) collectDaily(ctx context.Context, site amigo.Site, c amigo.Collector, t Terminal, ms []amigo.Meter) (complete bool, err error) {
	loc := site.Location()
	now := e.clock.Now()
	today := amigo.Day(now, loc)
	from := today.AddDate(0, 0, -e.cfg.BackfillDays)
	ids := make([]int64, len(ms))
	byPn := map[uint16]amigo.Meter{}
	byID := map[int64]amigo.Meter{}
	for i, m := range ms {
		ids[i] = m.ID
		byPn[uint16(m.Pn)], byID[m.ID] = m, m
	}
	have, err := e.store.ReadingTimes(ctx, ids, amigo.KindDaily, from.Add(time.Hour), today.Add(time.Hour))
	if err != nil {
		return false, err
	}
	type want struct {
		m   amigo.Meter
		day time.Time // the day D whose freeze (D+1 00:00) is missing
	}
	var missing []want
	for _, m := range ms {
		got := map[int64]bool{}
		for _, x := range have[m.ID] {
			got[x.Unix()] = true
		}
		first := from
		if start := amigo.Day(m.InstalledAt, loc); !m.InstalledAt.IsZero() && start.After(first) {
			first = start
		}
		for d := first; d.Before(today); d = d.AddDate(0, 0, 1) {
			if !got[d.AddDate(0, 0, 1).Unix()] {
				missing = append(missing, want{m, d})
			}
		}
	}
	if len(missing) == 0 {
		return true, nil
	}
	sort.SliceStable(missing, func(i, j int) bool { return missing[i].day.Before(missing[j].day) })
	e.warm(ctx, ms, amigo.KindDaily)
	var units []q1376.Unit
	for _, w := range missing {
		td := q1376.DayOf(w.day).AppendTd(nil)
		units = append(units, q1376.NewUnit(uint16(w.m.Pn), 161, td), q1376.NewUnit(uint16(w.m.Pn), 163, td))
	}
	arrived := map[string]bool{}
	for _, req := range chunks(units, 32) {
		answers, err := e.request(ctx, t, q1376.AFNClass2, req...)
		if err != nil {
			return false, err
		}
		rs := map[string]*amigo.Reading{}
		for _, a := range answers {
			if a.AFN != q1376.AFNClass2 {
				continue
			}
			items, err := a.Items()
			if err != nil {
				continue
			}
			for _, it := range items {
				m, ok := byPn[it.Pn]
				if !ok || (it.Fn != 161 && it.Fn != 163) {
					continue
				}
				day, err := q1376.ParseDay(it.Data)
				if err != nil {
					continue
				}
				ind, err := q1376.ParseIndication(it.Data[3:])
				if err != nil {
					continue
				}
				regs, ok := registers(ind)
				if !ok {
					continue
				}
				at := day.In(loc).AddDate(0, 0, 1).UTC()
				key := fmt.Sprint(m.ID, at.Unix())
				r := rs[key]
				if r == nil {
					r = &amigo.Reading{MeterID: m.ID, Time: at, Kind: amigo.KindDaily, Quality: amigo.QualityActual, Source: "collector " + c.Address, ReceivedAt: now}
					rs[key] = r
				}
				if it.Fn == 161 {
					r.Forward, r.HasForward = regs, true
					// A freeze carries its freeze instant as reading time;
					// current registers standing in for it, when they were read.
					if ind.HasAt && !ind.ReadAt.In(loc).Equal(at) {
						r.Quality = amigo.QualityFromCurrent
					}
				} else {
					r.Reverse, r.HasReverse = regs, true
				}
			}
		}
		var batch []amigo.Reading
		for k, r := range rs {
			if r.HasForward && installedAfter(byID[r.MeterID], r.Time) {
				arrived[k] = true // the freeze of the meter this one replaced: not ours, not missing
				continue
			}
			if r.HasForward {
				batch = append(batch, *r)
				arrived[k] = true
			}
		}
		sort.Slice(batch, func(i, j int) bool {
			if batch[i].Time.Equal(batch[j].Time) {
				return batch[i].MeterID < batch[j].MeterID
			}
			return batch[i].Time.Before(batch[j].Time)
		})
		if err := e.commit(ctx, t, answers, batch, byID); err != nil {
			return false, err
		}
	}
	// A day still missing two days after it ended is reported, once: the
	// state store says so across restarts and nodes.
	var evs []amigo.Event
	for _, w := range missing {
		at := w.day.AddDate(0, 0, 1)
		key := fmt.Sprint(w.m.ID, at.UTC().Unix())
		if arrived[key] || now.Sub(at) < 48*time.Hour {
			continue
		}
		if e.firstMissing(ctx, key, now) {
			evs = append(evs, amigo.Event{Time: now, Kind: amigo.EventMissingDay, Severity: "warning", SiteID: site.ID, AreaID: w.m.AreaID, CollectorID: c.ID, MeterID: w.m.ID,
				Message: fmt.Sprintf("meter %s: daily data of %s still missing / 日冻结数据缺失", w.m.Address, w.day.Format("2006-01-02"))})
		}
	}
	if len(evs) > 0 {
		e.store.AppendEvents(ctx, evs...)
	}
	return false, nil
}

// installedAfter reports whether meter m came onto its measuring point
// after instant t: a value the collector read at t on that point belongs to
// the meter m replaced (whose removal reading already closed it), not to m.
func installedAfter(m amigo.Meter, t time.Time) bool {
	return !m.InstalledAt.IsZero() && t.Before(m.InstalledAt)
}
