package station

import (
	"context"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo"
)

// relistEvery is how often (real time) the scheduler reads the sites and
// collectors from the store again; a Wake (a login) reads them at once.
const relistEvery = 5 * time.Second

// scheduler holds what the collection loop needs between its passes, so
// that a pass over idle collectors costs no query: the sites and their
// collectors (re-read every relistEvery or on Wake), each collector's
// meters (re-read at most once a collection interval), and the jobs at work
// in the bounded pool.
type scheduler struct {
	mu       sync.Mutex
	sites    []siteCollectors
	listedAt time.Time // real time of the last listing
	archives map[int64]archiveCache
	busy     map[jobKey]bool
	slots    chan struct{} // the pool: one token per job at work
	jobs     sync.WaitGroup
	freed    chan struct{} // a worker came free while a job waited for one: the loop looks again
	// cursor is where the next pass starts handing collectors to the pool:
	// the first collector a full pool turned away, so that every collector
	// gets its turn (a pass from the head of the list each time would hand
	// freed workers to the first collectors again and again, and starve
	// the last).
	cursor int
	// refs is the listing flattened, collector by collector; look holds
	// each one's session as last looked up, valid while the front end's
	// generation stays lookGen (lookOK) and the listing is the same: a
	// pass over a thousand collectors whose sessions did not change looks
	// none of them up again.
	refs   []collectorRef
	known  map[int64]bool // the collectors listed
	look   []lookup
	lookOK bool
	// lookGen is the generation the lookups were made at.
	lookGen uint64
	// bulkAt is the station time of the last listing of every meter at
	// once (warmArchives); archiveGen counts ArchiveChanged calls, so that
	// a listing that raced with a change is not kept.
	bulkAt     time.Time
	archiveGen uint64
	// starved is set when a job found every worker busy: the next job to
	// end wakes the loop. Only then: a job that ends wakes nobody
	// otherwise (a site's job, started every pass, would wake the loop
	// at once, and so on: a pass without pause, the CPU of an idle
	// station).
	starved atomic.Bool
	// backlog is set while the last pass found the pool full: collectors
	// wait for a worker, and a job does its real-time slot alone
	// (collectCollector).
	backlog atomic.Bool
	// apart is the CPU the last pass spent on the bulk listing of the
	// meters (warmArchives), work of its own schedule that the loop's
	// rest does not count; only the loop's goroutine touches it.
	apart time.Duration
}

// collectorRef is one collector of the listing: sites[site].collectors[col].
type collectorRef struct{ site, col int }

// lookup is a collector's session as last looked up.
type lookup struct {
	t      Terminal
	online bool
}

// Generational is a Front that counts the changes of its sessions: the
// generation changes whenever a session starts or ends, so that a
// scheduler's pass may keep the lookups of the last pass while it stays.
type Generational interface {
	Generation() uint64
}

type siteCollectors struct {
	site       amigo.Site
	collectors []amigo.Collector
}

// archiveCache is a collector's meters as last listed, at station time at,
// while the collector's archive revision was rev.
type archiveCache struct {
	meters []amigo.Meter
	at     time.Time
	rev    int64
}

// jobKey names a job of the pool: a collector (site 0) or a site's own
// work (GPRS meters, line loss; collector 0).
type jobKey struct{ site, collector int64 }

func (s *scheduler) init(workers int) {
	s.archives = map[int64]archiveCache{}
	s.busy = map[jobKey]bool{}
	s.slots = make(chan struct{}, workers)
	s.freed = make(chan struct{}, 1)
}

// list returns the sites and their collectors, read again from the store
// when the list is older than relistEvery or force is set.
func (s *scheduler) list(ctx context.Context, store amigo.Store, force bool) ([]siteCollectors, error) {
	s.mu.Lock()
	fresh := s.sites != nil && !force && time.Since(s.listedAt) < relistEvery
	out := s.sites
	s.mu.Unlock()
	if fresh {
		return out, nil
	}
	sites, err := store.ListSites(ctx)
	if err != nil {
		return out, err
	}
	next := make([]siteCollectors, 0, len(sites))
	n := 0
	for _, site := range sites {
		cols, err := store.ListCollectors(ctx, site.ID)
		if err != nil {
			return out, err
		}
		next = append(next, siteCollectors{site, cols})
		n += len(cols)
	}
	refs := make([]collectorRef, 0, n)
	known := make(map[int64]bool, n)
	for i := range next {
		for j, c := range next[i].collectors {
			refs = append(refs, collectorRef{i, j})
			known[c.ID] = true
		}
	}
	s.mu.Lock()
	s.sites, s.listedAt = next, time.Now()
	s.refs, s.known, s.look, s.lookOK = refs, known, make([]lookup, n), false
	s.mu.Unlock()
	return next, nil
}

// startResult says what start did.
type startResult int

const (
	started  startResult = iota
	busyKey              // a job of the same key is at work
	poolFull             // every worker is busy: the next pass tries again
)

// start runs job in the pool unless a job of the same key is at work or
// every worker is busy (then the next pass tries again); it never blocks.
func (s *scheduler) start(ctx context.Context, key jobKey, job func(context.Context)) startResult {
	s.mu.Lock()
	if s.busy[key] {
		s.mu.Unlock()
		return busyKey
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.starved.Store(true)
		s.mu.Unlock()
		return poolFull
	}
	s.busy[key] = true
	s.jobs.Add(1)
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.busy, key)
			s.mu.Unlock()
			<-s.slots
			if s.starved.Swap(false) {
				signal(s.freed)
			}
			s.jobs.Done()
		}()
		job(ctx)
	}()
	return started
}

// wait returns when every job started has returned.
func (s *scheduler) wait() { s.jobs.Wait() }

// collect runs one pass of the scheduler: it tracks each collector's
// status, hands every due one to the pool and returns without waiting for
// them. A slow or silent collector holds one worker and stalls nobody.
func (e *Engine) collect(ctx context.Context) {
	force := false
	select {
	case <-e.relist:
		force = true
	default:
	}
	sites, err := e.sched.list(ctx, e.store, force)
	if err != nil {
		e.log.Error("list sites and collectors", "err", err)
		if sites == nil {
			return
		}
	}
	e.nodes.list(ctx, force)
	now := e.clock.Now()
	e.sched.apart = cpuOf(func() { e.warmArchives(ctx, sites, now) })
	e.pruneMissing(ctx, now)
	// Each site's own work (its GPRS meters, line loss) first: a few jobs,
	// never starved by a thousand collectors.
	for i := range sites {
		site := sites[i].site
		e.sched.start(ctx, jobKey{site: site.ID}, func(ctx context.Context) {
			e.collectDirect(ctx, site)
			if held, _ := e.nodes.hold(ctx, siteResource(site)); held {
				e.checkLineLoss(ctx, site)
			}
		})
	}
	// Then the collectors, from where the last pass found the pool full,
	// round the list: every one's status is tracked each pass, and the due
	// ones are handed to the pool in turn. Each one's session is looked up
	// again only when the front end's sessions changed since the last
	// pass (or the listing did).
	e.sched.mu.Lock()
	refs, look := e.sched.refs, e.sched.look
	first := 0
	if len(refs) > 0 {
		first = e.sched.cursor % len(refs)
	}
	e.sched.mu.Unlock()
	gen, genOK := uint64(0), false
	if g, ok := e.front.(Generational); ok {
		gen, genOK = g.Generation(), true // before the lookups: a change during them shows next pass
	}
	fresh := !(genOK && e.sched.lookOK && e.sched.lookGen == gen)
	if fresh {
		e.sched.lookOK = false // until every lookup of this pass is made
	}
	defer func() {
		if fresh && ctx.Err() == nil {
			e.sched.lookOK, e.sched.lookGen = genOK, gen
		}
	}()
	full := false
	multi := e.nodes.on()
	if multi {
		e.takeLeases(ctx, sites, refs, look, fresh)
	}
	for k := range refs {
		if k%256 == 0 && ctx.Err() != nil {
			return
		}
		pos := (first + k) % len(refs)
		r := refs[pos]
		sc := &sites[r.site]
		c := &sc.collectors[r.col]
		if fresh {
			t, online := e.front.Terminal(c.Address)
			look[pos] = lookup{t, online}
		}
		t, online := look[pos].t, look[pos].online
		if !multi && online == (c.Status == amigo.StatusOnline) && (!online || full) {
			// The only node, the status as it was, and nothing to hand
			// to the pool: the common case of a pass, at no cost.
			continue
		}
		if !online && c.Status == amigo.StatusOnline && e.inStartGrace() {
			// Still reconnecting after the station's start: not judged yet.
			continue
		}
		site := sc.site
		own, judged := e.ownCollector(ctx, c, online)
		if !own {
			continue
		}
		e.trackStatus(ctx, site, c, online)
		judged()
		switch {
		case online && c.Status != amigo.StatusOnline:
			e.sched.mu.Lock()
			c.Status = amigo.StatusOnline
			e.sched.mu.Unlock()
		case !online && c.Status == amigo.StatusOnline:
			e.sched.mu.Lock()
			c.Status = amigo.StatusOffline
			e.sched.mu.Unlock()
		}
		if full || !online || !e.due(site, *c, now) {
			continue
		}
		col := *c
		if e.sched.start(ctx, jobKey{collector: col.ID}, func(ctx context.Context) { e.collectCollector(ctx, site, col, t) }) == poolFull {
			full = true
			e.sched.backlog.Store(true)
			e.sched.mu.Lock()
			e.sched.cursor = pos
			e.sched.mu.Unlock()
		}
	}
	if !full {
		e.sched.backlog.Store(false) // every due collector has a worker
	}
}

// takeLeases takes at once the leases of the online collectors this node
// does not hold yet (a storm of logins, a restart), and reads the
// scheduler state of those it took in one query, before the pass looks at
// them one by one (ownCollector then finds them held). It makes the
// lookups of the pass when fresh (the pass makes them again).
func (e *Engine) takeLeases(ctx context.Context, sites []siteCollectors, refs []collectorRef, look []lookup, fresh bool) {
	var want []string
	byRes := map[string]int64{}
	for pos, r := range refs {
		c := &sites[r.site].collectors[r.col]
		if fresh {
			t, online := e.front.Terminal(c.Address)
			look[pos] = lookup{t, online}
		}
		if !look[pos].online {
			continue
		}
		res := collectorResource(*c)
		if e.nodes.holds(res) {
			continue // the common case of a pass: nothing to take
		}
		want = append(want, res)
		byRes[res] = c.ID
	}
	taken := e.nodes.holdAll(ctx, want)
	ids := make([]int64, 0, len(taken))
	for _, res := range taken {
		ids = append(ids, byRes[res])
	}
	e.loadSchedules(ctx, ids)
	for _, id := range ids {
		e.forgetLast(id)
	}
}

// ownCollector tells whether this node polls collector c and judges its
// status in this pass (always, for the only node). With several nodes: the
// node with c's session holds its lease (taking it when free or expired;
// a lease just taken brings c's scheduler state from the store); a node
// without the session judges c offline only when nobody held its lease for
// a TTL and it could take it, after reading c's status afresh; it calls
// judged once the judgement is written, which gives the lease up.
func (e *Engine) ownCollector(ctx context.Context, c *amigo.Collector, online bool) (own bool, judged func()) {
	nothing := func() {}
	if !e.nodes.on() {
		return true, nothing
	}
	res := collectorResource(*c)
	if online {
		held, fresh := e.nodes.hold(ctx, res)
		if fresh {
			e.loadSchedule(ctx, c.ID)
			e.forgetLast(c.ID)
		}
		return held, nothing
	}
	if c.Status != amigo.StatusOnline {
		e.nodes.drop(ctx, res)
		return false, nil // nothing to judge
	}
	ok, release := e.nodes.judge(ctx, res)
	if !ok {
		return false, nil
	}
	cur, err := e.store.GetCollector(ctx, c.ID)
	if err != nil {
		release()
		e.log.Warn("collector status", "collector", c.Address, "err", err)
		return false, nil
	}
	e.sched.mu.Lock()
	c.Status = cur.Status
	e.sched.mu.Unlock()
	return true, release
}

// forgetLast drops what this node holds of collector id's meters, the
// node that held it before may have written since: validation's memory of
// their values (it may have stored newer readings), the meters as last
// listed (it may have written their status) and the daily pass's mark.
func (e *Engine) forgetLast(id int64) {
	e.sched.mu.Lock()
	a, ok := e.sched.archives[id]
	delete(e.sched.archives, id)
	e.sched.mu.Unlock()
	e.mu.Lock()
	delete(e.dailyDone, id)
	e.mu.Unlock()
	if !ok {
		return
	}
	ids := make([]int64, len(a.meters))
	for i, m := range a.meters {
		ids[i] = m.ID
	}
	e.last.forget(ids)
}

// due tells from memory alone whether collector c has work at now: a
// real-time slot not yet collected or its tail (events, clock) not yet
// done, or a daily pass (the first of the day after DailyAfter plus the
// collector's offset in DailyWindow, then one every collection interval
// for re-collection).
func (e *Engine) due(site amigo.Site, c amigo.Collector, now time.Time) bool {
	return e.dueWork(site, c, now).any()
}

// work is what a collector has due: its real-time slot, the slot's tail
// (its events and clock), its daily pass.
type work struct {
	rt, tail, daily bool
	slot            time.Time
}

func (w work) any() bool { return w.rt || w.tail || w.daily }

func (e *Engine) dueWork(site amigo.Site, c amigo.Collector, now time.Time) work {
	every := e.cfg.RealtimeEvery
	slot := now.Add(-offset(c.Address, every)).Truncate(every)
	today := amigo.Day(now, site.Location())
	start := today.Add(e.cfg.DailyAfter + spread(c.Address, e.cfg.DailyWindow))
	e.mu.Lock()
	defer e.mu.Unlock()
	last := e.lastDaily[c.ID]
	return work{
		rt:    e.lastSlot[c.ID].Before(slot),
		tail:  e.lastTail[c.ID].Before(slot),
		daily: !now.Before(start) && (last.Before(start) || now.Sub(last) >= every),
		slot:  slot,
	}
}

// spread is a collector's offset in [0, window) taken from its address:
// the 32-bit hash scaled onto the window (hash × window / 2³²), so the
// offsets cover the whole window evenly. (A hash taken modulo a window
// of nanoseconds, far above 2³², would keep every offset under 4.3 s.)
func spread(address string, window time.Duration) time.Duration {
	if window <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(hash(address)), uint64(window))
	return time.Duration(hi<<32 | lo>>32)
}

// archive returns collector c's meters in service with a point number, as
// last listed while c's archive revision stays (the store counts every
// change to the meters behind c, whoever makes it); listed again when it
// moved on, when the clock went back, or when the cache was dropped (this
// node's own change, ArchiveChanged; c's lease taken). The status the
// station writes is put into the list once committed (listedStatus).
func (e *Engine) archive(ctx context.Context, c amigo.Collector, now time.Time) ([]amigo.Meter, error) {
	e.sched.mu.Lock()
	a, ok := e.sched.archives[c.ID]
	e.sched.mu.Unlock()
	if ok && a.rev == c.ArchiveRev && !now.Before(a.at) {
		return a.meters, nil
	}
	ms, err := e.meters(ctx, c)
	if err != nil {
		return nil, err
	}
	e.sched.mu.Lock()
	e.sched.archives[c.ID] = archiveCache{meters: ms, at: now, rev: c.ArchiveRev}
	e.sched.mu.Unlock()
	return ms, nil
}

// listedStatus gives collector id's meters as last listed the status just
// written: on online, off offline. The list is copied (a job may be
// reading the old one).
func (e *Engine) listedStatus(id int64, on, off []int64) {
	set := make(map[int64]string, len(on)+len(off))
	for _, m := range on {
		set[m] = amigo.StatusOnline
	}
	for _, m := range off {
		set[m] = amigo.StatusOffline
	}
	e.sched.mu.Lock()
	defer e.sched.mu.Unlock()
	a, ok := e.sched.archives[id]
	if !ok {
		return
	}
	ms := slices.Clone(a.meters)
	for i := range ms {
		if st, ok := set[ms[i].ID]; ok {
			ms[i].Status = st
		}
	}
	a.meters = ms
	e.sched.archives[id] = a
}

// LoggedIn tells the engine that collector id logged in: the next pass of
// each loop looks at it at once. The collectors are read again from the store only
// when id is not among those listed (one added since): a storm of ten
// thousand logins is not ten thousand listings.
func (e *Engine) LoggedIn(id int64) {
	e.sched.mu.Lock()
	known := e.sched.known[id]
	e.sched.mu.Unlock()
	if !known {
		signal(e.relist)
	}
	signal(e.collectWake)
	signal(e.commandWake) // commands that waited for it
}

// warmArchives fills every listed collector's archive cache from one
// listing of all the meters (a few pages per site) when more than half of
// the collectors have no valid cache (a start, an import, every archive
// changed at once): a restart's storm of logins, each pushing its
// collector's archive, and the collectors' slots then find their meters
// listed instead of asking the store one collector at a time. A few
// collectors whose meters changed list their own in their slot.
//
// With several nodes it lists nothing: each node listed every meter of
// the fleet (every half interval) to serve the third it holds, and the
// collectors it takes list their own (one seek of meters_collector each).
// Three nodes on one PostgreSQL, 100,000 meters: the same time from the
// storm's start to every meter's first reading (first_pass_s 4.5–5.3 s
// either way), 24–25 s of station CPU a run instead of 31–34 s, 710–730 MB
// of station RSS instead of 1,100–1,140 MB, command p99 57–103 ms instead
// of 143–250 ms (three runs each, docs/benchmarks.md).
func (e *Engine) warmArchives(ctx context.Context, sites []siteCollectors, now time.Time) {
	if e.nodes.on() {
		return
	}
	e.sched.mu.Lock()
	stale, all := 0, 0
	for _, sc := range sites {
		for _, c := range sc.collectors {
			all++
			if a, ok := e.sched.archives[c.ID]; !ok || a.rev != c.ArchiveRev || now.Before(a.at) {
				stale++
			}
		}
	}
	due := e.sched.bulkAt.IsZero() || now.Before(e.sched.bulkAt) || 2*stale > all
	gen := e.sched.archiveGen
	e.sched.mu.Unlock()
	if !due || len(sites) == 0 {
		return
	}
	by := map[int64][]amigo.Meter{}
	listed := 0
	for _, sc := range sites {
		// Paged by the last id seen, uncounted: a page is one seek of the
		// key (OFFSET pages and a count each made a listing of 100,000
		// meters read about 1.5 million rows).
		const page = 10000
		for after := int64(0); ; {
			ms, _, err := e.store.ListMeters(ctx, amigo.MeterFilter{SiteID: sc.site.ID, AfterID: after, NoTotal: true, Limit: page})
			if err != nil {
				e.log.Warn("list the meters", "site", sc.site.ID, "err", err)
				return
			}
			for _, m := range ms {
				if m.CollectorID != 0 && m.RemovedAt.IsZero() && m.Pn > 0 { // as meters() lists them
					by[m.CollectorID] = append(by[m.CollectorID], m)
					listed++
				}
			}
			if len(ms) < page {
				break
			}
			after = ms[len(ms)-1].ID
		}
	}
	e.last.reserve(2 * listed) // their real-time and daily values
	e.sched.mu.Lock()
	defer e.sched.mu.Unlock()
	e.sched.bulkAt = now
	if e.sched.archiveGen != gen {
		return // an archive changed meanwhile: the next listing
	}
	for _, sc := range sites {
		for _, c := range sc.collectors {
			e.sched.archives[c.ID] = archiveCache{meters: by[c.ID], at: now, rev: c.ArchiveRev}
		}
	}
}

// ArchiveChanged tells the engine that collector id's meters changed (0:
// any collector's): the next pass lists them again, pushes the new archive
// to the collector and reads its real-time values at once, so that a meter
// swapped on a measuring point is read under its new address as soon as
// possible.
func (e *Engine) ArchiveChanged(id int64) {
	e.sched.mu.Lock()
	e.sched.archiveGen++
	if id == 0 {
		clear(e.sched.archives)
	} else {
		delete(e.sched.archives, id)
	}
	e.sched.mu.Unlock()
	e.mu.Lock()
	if id == 0 {
		clear(e.lastSlot)
	} else {
		delete(e.lastSlot, id)
	}
	e.mu.Unlock()
	e.Wake()
}
