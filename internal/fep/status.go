package fep

import (
	"context"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
)

// statusWriter writes the collectors' "online, last seen" marks of logins
// and heartbeats in batches: whatever is marked while a batch is written
// goes into the next one, in one transaction when the directory has them
// (amigo.Store's WithTx). A storm of ten thousand logins is a few dozen
// transactions, not ten thousand; the marks of one collector coalesce to
// its latest, so what waits is bounded by the collectors connected. A
// batch that fails is logged and dropped: the next heartbeat marks the
// collector again. Nothing is acknowledged on it (the login's confirmation
// does not wait for it).
type statusWriter struct {
	mu      sync.Mutex
	pending map[int64]time.Time
	wake    chan struct{}
}

func (w *statusWriter) mark(id int64, at time.Time) {
	w.mu.Lock()
	if w.pending == nil {
		w.pending = map[int64]time.Time{}
	}
	if at.After(w.pending[id]) {
		w.pending[id] = at
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns what is pending and forgets it.
func (w *statusWriter) take() map[int64]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending
	w.pending = nil
	return p
}

// txDirectory is a directory that runs a function in one transaction.
type txDirectory interface {
	WithTx(ctx context.Context, fn func(tx amigo.Store) error) error
}

// flushStatus writes the pending marks: in one transaction when the
// directory can, else one by one.
func (f *FEP) flushStatus(ctx context.Context) {
	p := f.status.take()
	if len(p) == 0 {
		return
	}
	write := func(d interface {
		SetCollectorStatus(ctx context.Context, id int64, status, reason string, at time.Time) error
	}) error {
		for id, at := range p {
			if err := d.SetCollectorStatus(ctx, id, amigo.StatusOnline, "", at); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if tx, ok := f.dir.(txDirectory); ok {
		err = tx.WithTx(ctx, func(tx amigo.Store) error { return write(tx) })
	} else {
		err = write(f.dir)
	}
	if err != nil {
		f.cfg.Log.Warn("collector status / 采集器状态", "collectors", len(p), "err", err)
	}
	f.stats.statusBatches.Add(1)
}

// runStatus writes the marks as they come until ctx ends, then what is
// left (bounded by five seconds).
func (f *FEP) runStatus(ctx context.Context) {
	for {
		select {
		case <-f.status.wake:
			f.flushStatus(ctx)
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			f.flushStatus(fctx)
			return
		}
	}
}
