package station

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/q1376"
)

// commit validates readings, has them written, then confirms the answers
// that carried them: the collector marks data delivered only after the
// commit that stored its readings. When the write fails nothing is
// confirmed; the collector sends the data again.
func (e *Engine) commit(ctx context.Context, t Terminal, answers []*q1376.Frame, rs []amigo.Reading, meters map[int64]amigo.Meter) error {
	if len(rs) > 0 {
		evs := e.validate(ctx, rs, meters)
		if err := e.write(ctx, rs, evs); err != nil {
			return fmt.Errorf("commit readings: %w", err)
		}
	}
	if t == nil {
		return nil
	}
	var con []*q1376.Frame
	for _, a := range answers {
		if a.Seq.CON {
			con = append(con, a)
		}
	}
	if len(con) == 0 {
		return nil
	}
	// The confirmations of a multi-frame answer in one write (one TLS
	// record) when the terminal can: the same frames, fewer records.
	if b, ok := t.(batchConfirmer); ok {
		return b.ConfirmAll(con)
	}
	for _, a := range con {
		if err := t.Confirm(a); err != nil {
			return err
		}
	}
	return nil
}

// batchConfirmer is a Terminal that writes several confirmations at once
// (fep.Session).
type batchConfirmer interface {
	ConfirmAll(resps []*q1376.Frame) error
}

// commitSet overlaps a collector's commits with its next requests: each
// batch goes to the group committer from a goroutine of its own, so that a
// collector's round trips and the store's transactions are not paid one
// after the other, and the worker asks for the next answer (or the
// collector's events) meanwhile. Only for batches that do not depend on
// each other (distinct meters). The answers of a batch are still confirmed
// only after its own commit.
type commitSet struct{ pending []chan error }

// commit starts committing rs (and then confirming answers) and returns.
func (p *commitSet) commit(ctx context.Context, e *Engine, t Terminal, answers []*q1376.Frame, rs []amigo.Reading, meters map[int64]amigo.Meter) {
	done := make(chan error, 1)
	go func() { done <- e.commit(ctx, t, answers, rs, meters) }()
	p.pending = append(p.pending, done)
}

// wait returns once every commit started is done, with the first error.
func (p *commitSet) wait() error {
	var first error
	for _, d := range p.pending {
		if err := <-d; err != nil && first == nil {
			first = err
		}
	}
	p.pending = nil
	return first
}

// committer is the group commit: workers hand their validated batches to
// one goroutine, which writes everything handed to it while it was busy in
// one transaction, then answers each batch with the outcome of that
// transaction. Under load a transaction carries the batches of many
// collectors; when idle, a batch is written at once.
type committer struct {
	in      chan *commitReq
	running atomic.Bool
	// buf is the array a group's batches are written from (reused: the
	// committer is one goroutine).
	buf []amigo.Reading
}

type commitReq struct {
	rs  []amigo.Reading
	evs []amigo.Event // validation's events, appended after the readings
	// job, instead of readings, is a small write of state (a status): the
	// jobs of a group run in one transaction of their own after its
	// readings, so that a pass over many collectors does not queue one
	// transaction per collector for the store's one writer.
	job  func(tx amigo.Store) error
	what string // the job, for the log
	// queued: nobody waits for the job (queueState), so it may wait for
	// the readings behind it (see committer.run).
	queued bool
	// committed, when set, runs once the job's transaction committed.
	committed func()
	done      chan error
}

func (g *committer) init() { g.in = make(chan *commitReq, 4096) }

// write stores rs (and then evs) durably and returns once they are (or are
// not): through the group committer when the engine runs, directly
// otherwise (an engine driven step by step).
func (e *Engine) write(ctx context.Context, rs []amigo.Reading, evs []amigo.Event) error {
	if !e.group.running.Load() {
		return e.writeBatch(ctx, rs, evs)
	}
	req := &commitReq{rs: rs, evs: evs, done: make(chan error, 1)}
	e.group.in <- req
	// The committer answers every request it takes, ctx or not: a batch
	// is never confirmed without knowing whether it is stored.
	return <-req.done
}

// writeState runs job through the group committer with the other jobs of
// its group, in one transaction, and returns once it ran; directly when
// the engine does not run.
func (e *Engine) writeState(ctx context.Context, what string, job func(tx amigo.Store) error) error {
	if !e.group.running.Load() {
		return job(e.store)
	}
	req := &commitReq{job: job, what: what, done: make(chan error, 1)}
	e.group.in <- req
	return <-req.done
}

// queueState hands job to the group committer without waiting for it
// (what it writes is derived again by the next pass if it is lost); a
// failure is logged.
func (e *Engine) queueState(ctx context.Context, what string, job func(tx amigo.Store) error) {
	e.queueStateThen(ctx, what, job, nil)
}

// queueStateThen is queueState, with committed run once the job's
// transaction committed (not when it failed).
func (e *Engine) queueStateThen(ctx context.Context, what string, job func(tx amigo.Store) error, committed func()) {
	if !e.group.running.Load() {
		if err := job(e.store); err != nil {
			e.log.Warn(what, "err", err)
		} else if committed != nil {
			committed()
		}
		return
	}
	e.group.in <- &commitReq{job: job, what: what, queued: true, committed: committed, done: make(chan error, 1)}
}

// Queued state jobs wait while readings are waiting for the committer, up
// to laterMax jobs or laterAge.
const (
	laterMax = 4096
	laterAge = 2 * time.Second
)

// run is the committer's loop; it ends when ctx does, after writing what
// was handed to it.
//
// Readings go first: the state jobs nobody waits for (queueState: the
// meters' status after a pass, for one) are held while more readings are
// waiting, and run, in the order given, once none are, or once a job that
// is waited for comes (before it), or when laterMax of them or laterAge
// have gone by. A first pass over 100,000 meters spent 0.25 s of the
// committer's 0.84 s on its meters' status, ahead of readings whose
// collectors waited for their confirmation.
func (g *committer) run(ctx context.Context, e *Engine) {
	g.running.Store(true)
	defer g.running.Store(false)
	// Never cancelled half-way: every batch taken is written (or refused)
	// and answered; and a store's statements then need no goroutine each
	// to watch for a cancellation.
	wctx := context.WithoutCancel(ctx)
	var later []*commitReq
	var laterAt time.Time
	flush := func() {
		if len(later) > 0 {
			e.runJobs(wctx, later)
			later = nil
		}
	}
	// handle writes a group's readings in one transaction and holds its
	// jobs (running them at once when one is waited for).
	handle := func(group []*commitReq) {
		var readings []*commitReq
		waited := false
		for _, r := range group {
			if r.job == nil {
				readings = append(readings, r)
				continue
			}
			if len(later) == 0 {
				laterAt = time.Now()
			}
			later = append(later, r)
			waited = waited || !r.queued
		}
		if len(readings) > 0 {
			e.writeReadingsGroup(wctx, readings)
		}
		if waited {
			flush()
		}
	}
	for {
		if len(later) > 0 && (len(g.in) == 0 || len(later) >= laterMax || time.Since(laterAt) >= laterAge) {
			flush()
		}
		var first *commitReq
		select {
		case first = <-g.in:
		case <-ctx.Done():
			for {
				select {
				case r := <-g.in:
					handle([]*commitReq{r})
				default:
					flush()
					return
				}
			}
		}
		group, n := []*commitReq{first}, len(first.rs)
	more:
		for n < e.cfg.CommitMax {
			select {
			case r := <-g.in:
				group, n = append(group, r), n+len(r.rs)
			default:
				break more
			}
		}
		handle(group)
	}
}

// runJobs runs the state jobs of a group in one transaction; when that
// fails, each alone.
func (e *Engine) runJobs(ctx context.Context, jobs []*commitReq) {
	if len(jobs) > 1 {
		err := e.store.WithTx(ctx, func(tx amigo.Store) error {
			for _, j := range jobs {
				if err := j.job(tx); err != nil {
					return fmt.Errorf("%s: %w", j.what, err)
				}
			}
			return nil
		})
		if err == nil {
			for _, j := range jobs {
				if j.committed != nil {
					j.committed()
				}
				j.done <- nil
			}
			return
		}
		e.log.Warn("state writes failed together, writing them one by one", "jobs", len(jobs), "err", err)
	}
	for _, j := range jobs {
		err := j.job(e.store)
		if err != nil {
			e.log.Warn(j.what, "err", err)
		} else if j.committed != nil {
			j.committed()
		}
		j.done <- err
	}
}

// writeReadingsGroup writes the readings of a group's batches in one
// transaction (each alone when that fails).
func (e *Engine) writeReadingsGroup(ctx context.Context, group []*commitReq) {
	if len(group) == 1 {
		group[0].done <- e.writeBatch(ctx, group[0].rs, group[0].evs)
		return
	}
	n := 0
	for _, r := range group {
		n += len(r.rs)
	}
	rs := e.group.buf[:0]
	if cap(rs) < n {
		rs = make([]amigo.Reading, 0, n)
	}
	defer func() {
		// Kept for the next group unless it is far larger than usual; its
		// readings' pointers are dropped either way.
		clear(rs)
		if cap(rs) <= 2*e.cfg.CommitMax {
			e.group.buf = rs[:0]
		} else {
			e.group.buf = nil
		}
	}()
	var evs []amigo.Event
	for _, r := range group {
		rs = append(rs, r.rs...)
		evs = append(evs, r.evs...)
	}
	if err := e.writeBatch(ctx, rs, evs); err != nil {
		e.log.Warn("group commit failed, writing its batches one by one", "batches", len(group), "err", err)
		for _, r := range group {
			r.done <- e.writeBatch(ctx, r.rs, r.evs)
		}
		return
	}
	for _, r := range group {
		r.done <- nil
	}
}

// writeBatch writes readings in one transaction, then validation's events,
// and keeps the newest values for the next validation.
func (e *Engine) writeBatch(ctx context.Context, rs []amigo.Reading, evs []amigo.Event) error {
	res, err := e.store.WriteReadings(ctx, rs)
	if err != nil {
		return err
	}
	if len(evs) > 0 {
		if err := e.store.AppendEvents(ctx, evs...); err != nil {
			e.log.Error("validation events", "err", err)
		}
	}
	e.last.committed(rs, res.Conflicts > 0)
	e.log.Debug("readings committed", "readings", len(rs), "inserted", res.Inserted, "duplicates", res.Duplicates, "conflicts", res.Conflicts)
	return nil
}

// lastValues keeps, per meter and kind, the newest stored reading's time,
// total forward register and power, or that nothing of the kind is stored:
// what validation compares a new reading with, so that the common case (a
// reading newer than every stored one) needs no query. An entry is made by
// validation from what it read in the store, or for a collector's meters
// at once before its pass (warm: one query for them all), moved on by each
// commit, and dropped by a conflict in its batch (the store kept another
// value) or when this node takes the collector over from another (which
// may have stored newer readings).
type lastValues struct {
	mu sync.Mutex
	m  map[lastKey]lastVal
}

type lastKey struct {
	meter int64
	kind  string
}

type lastVal struct {
	none     bool  // nothing of the kind is stored
	t        int64 // Unix seconds
	fwd      amigo.Energy
	hasFwd   bool
	power    int64
	hasPower bool
}

func (l *lastValues) init() { l.m = map[lastKey]lastVal{} }

// reserve makes room for n entries while none is kept (a station's first
// listing of its meters): a first pass over 100,000 meters otherwise grew
// the map a dozen times under its lock.
func (l *lastValues) reserve(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) == 0 && n > 0 {
		l.m = make(map[lastKey]lastVal, n)
	}
}

func lastOf(r amigo.Reading) lastVal {
	v := lastVal{t: r.Time.Unix(), fwd: r.Forward[0], hasFwd: r.HasForward}
	if r.PowerW != nil {
		v.power, v.hasPower = *r.PowerW, true
	}
	return v
}

// newer tells whether a reading at t is newer than every stored one.
func (v lastVal) newer(t time.Time) bool { return v.none || t.Unix() > v.t }

// reading rebuilds the stored reading as far as validation reads it.
func (v lastVal) reading(k lastKey) amigo.Reading {
	return v.readingWith(k, new(int64))
}

// readingWith is reading with its power, if any, in *p.
func (v lastVal) readingWith(k lastKey, p *int64) amigo.Reading {
	r := amigo.Reading{MeterID: k.meter, Kind: k.kind, Time: unixUTC(v.t), HasForward: v.hasFwd}
	r.Forward[0] = v.fwd
	if v.hasPower {
		*p = v.power
		r.PowerW = p
	}
	return r
}

func (l *lastValues) get(k lastKey) (lastVal, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.m[k]
	return v, ok
}

// seen records the newest stored reading of a series, as read from the
// store.
func (l *lastValues) seen(k lastKey, r amigo.Reading) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok := l.m[k]; !ok || v.newer(r.Time) {
		l.m[k] = lastOf(r)
	}
}

// missing lists the keys of meters of kind without an entry.
func (l *lastValues) missing(ids []int64, kind string) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for _, id := range ids {
		if _, ok := l.m[lastKey{id, kind}]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// found records what one query found stored of kind for ids: the newest
// reading of each meter in latest, nothing for the others. An entry made
// meanwhile (by a commit) is kept.
func (l *lastValues) found(ids []int64, kind string, latest map[int64]amigo.Reading) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		k := lastKey{id, kind}
		if _, ok := l.m[k]; ok {
			continue
		}
		if r, ok := latest[id]; ok {
			l.m[k] = lastOf(r)
		} else {
			l.m[k] = lastVal{none: true}
		}
	}
}

// forget drops the entries of the meters ids (every kind).
func (l *lastValues) forget(ids []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		for _, kind := range []string{amigo.KindRealtime, amigo.KindDaily, amigo.KindMonthly} {
			delete(l.m, lastKey{id, kind})
		}
	}
}

// committed moves the entries on after rs were stored (or found stored
// with the same values); conflict drops them.
func (l *lastValues) committed(rs []amigo.Reading, conflict bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		k := lastKey{r.MeterID, r.Kind}
		v, ok := l.m[k]
		switch {
		case conflict:
			delete(l.m, k)
		case ok && v.newer(r.Time):
			l.m[k] = lastOf(r)
		}
	}
}

func unixUTC(t int64) time.Time { return time.Unix(t, 0).UTC() }
