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
	for _, a := range answers {
		if a.Seq.CON && t != nil {
			if err := t.Confirm(a); err != nil {
				return err
			}
		}
	}
	return nil
}

// commitPipe overlaps a collector's commits with its next request: at most
// one commit at work while the next answer is awaited, so a collector's
// round trip and the store's transaction are not paid one after the other.
// Only for batches that do not depend on each other (distinct meters). The
// answers of a batch are still confirmed only after its own commit.
type commitPipe struct{ pending chan error }

// commit waits for the previous commit, then starts this one and returns;
// the error is the previous commit's.
func (p *commitPipe) commit(ctx context.Context, e *Engine, t Terminal, answers []*q1376.Frame, rs []amigo.Reading, meters map[int64]amigo.Meter) error {
	if err := p.wait(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- e.commit(ctx, t, answers, rs, meters) }()
	p.pending = done
	return nil
}

// wait returns the outcome of the commit at work, if any.
func (p *commitPipe) wait() error {
	if p.pending == nil {
		return nil
	}
	err := <-p.pending
	p.pending = nil
	return err
}

// committer is the group commit: workers hand their validated batches to
// one goroutine, which writes everything handed to it while it was busy in
// one transaction, then answers each batch with the outcome of that
// transaction. Under load a transaction carries the batches of many
// collectors; when idle, a batch is written at once.
type committer struct {
	in      chan *commitReq
	running atomic.Bool
}

type commitReq struct {
	rs   []amigo.Reading
	evs  []amigo.Event // validation's events, appended after the readings
	done chan error
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

// run is the committer's loop; it ends when ctx does, after writing what
// was handed to it.
func (g *committer) run(ctx context.Context, e *Engine) {
	g.running.Store(true)
	defer g.running.Store(false)
	for {
		var first *commitReq
		select {
		case first = <-g.in:
		case <-ctx.Done():
			for {
				select {
				case r := <-g.in:
					e.writeGroup(context.WithoutCancel(ctx), []*commitReq{r})
				default:
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
		e.writeGroup(ctx, group)
	}
}

// writeGroup writes the batches of a group in one transaction. When that
// fails and the group holds several batches, each is written alone, so that
// one bad batch does not hold back the others.
func (e *Engine) writeGroup(ctx context.Context, group []*commitReq) {
	if len(group) == 1 {
		group[0].done <- e.writeBatch(ctx, group[0].rs, group[0].evs)
		return
	}
	var rs []amigo.Reading
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
// total forward register and power: what validation compares a new reading
// with, so that the common case (a reading newer than every stored one)
// needs no query. An entry is made by validation from what it read in the
// store, and moved on by each commit; a conflict drops the entries of its
// batch (the store kept another value).
type lastValues struct {
	mu sync.Mutex
	m  map[lastKey]lastVal
}

type lastKey struct {
	meter int64
	kind  string
}

type lastVal struct {
	t        int64 // Unix seconds
	fwd      amigo.Energy
	hasFwd   bool
	power    int64
	hasPower bool
}

func (l *lastValues) init() { l.m = map[lastKey]lastVal{} }

func lastOf(r amigo.Reading) lastVal {
	v := lastVal{t: r.Time.Unix(), fwd: r.Forward[0], hasFwd: r.HasForward}
	if r.PowerW != nil {
		v.power, v.hasPower = *r.PowerW, true
	}
	return v
}

// reading rebuilds the stored reading as far as validation reads it.
func (v lastVal) reading(k lastKey) amigo.Reading {
	r := amigo.Reading{MeterID: k.meter, Kind: k.kind, Time: unixUTC(v.t), HasForward: v.hasFwd}
	r.Forward[0] = v.fwd
	if v.hasPower {
		p := v.power
		r.PowerW = &p
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
	if v, ok := l.m[k]; !ok || v.t < r.Time.Unix() {
		l.m[k] = lastOf(r)
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
		case ok && v.t < r.Time.Unix():
			l.m[k] = lastOf(r)
		}
	}
}

func unixUTC(t int64) time.Time { return time.Unix(t, 0).UTC() }
