package fep

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// txDir is a directory with transactions: it counts them and the status
// writes made inside one.
type txDir struct {
	*dir
	mu     sync.Mutex
	txs    int
	inTx   map[int64]time.Time
	closed bool
}

// txStore is the transaction's view: only the status write is used.
type txStore struct {
	amigo.Store
	d *txDir
}

func (t txStore) SetCollectorStatus(_ context.Context, id int64, s, _ string, at time.Time) error {
	t.d.mu.Lock()
	defer t.d.mu.Unlock()
	if t.d.closed {
		panic("status written outside its transaction")
	}
	t.d.inTx[id] = at
	return nil
}

func (d *txDir) WithTx(_ context.Context, fn func(tx amigo.Store) error) error {
	d.mu.Lock()
	d.txs++
	d.closed = false
	d.mu.Unlock()
	err := fn(txStore{d: d})
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	return err
}

// The online marks of logins and heartbeats are written in one transaction
// per batch, a collector's marks coalesced to its latest; a directory
// without transactions gets them one by one.
func TestStatusMarksAreBatched(t *testing.T) {
	d := &txDir{dir: &dir{status: map[int64]string{}}, inTx: map[int64]time.Time{}}
	f := New(Config{}, d)
	t0 := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	f.status.mark(1, t0)
	f.status.mark(2, t0)
	f.status.mark(1, t0.Add(time.Minute))
	f.status.mark(3, t0)
	f.status.mark(1, t0.Add(-time.Minute)) // older: the latest stays
	f.flushStatus(context.Background())
	if d.txs != 1 || len(d.inTx) != 3 || !d.inTx[1].Equal(t0.Add(time.Minute)) {
		t.Fatalf("%d transactions, writes %v; want one transaction of three, collector 1 at %v", d.txs, d.inTx, t0.Add(time.Minute))
	}
	f.flushStatus(context.Background())
	if d.txs != 1 {
		t.Fatal("an empty batch opened a transaction")
	}
	// Without transactions: each mark through SetCollectorStatus.
	plain := &dir{status: map[int64]string{}}
	g := New(Config{}, plain)
	g.status.mark(4, t0)
	g.status.mark(5, t0)
	g.flushStatus(context.Background())
	if plain.status[4] != amigo.StatusOnline || plain.status[5] != amigo.StatusOnline {
		t.Fatalf("statuses %v", plain.status)
	}
}

// A login's mark is written by the front end's status writer while it
// serves, and what is pending when it ends is written before Serve returns.
func TestStatusWrittenBeforeServeReturns(t *testing.T) {
	d := &txDir{dir: &dir{status: map[int64]string{}}, inTx: map[int64]time.Time{}}
	f := New(Config{}, d)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Serve(ctx) }()
	f.status.mark(9, time.Now())
	cancel()
	<-done
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.inTx[9]; !ok {
		t.Fatal("the pending mark was not written")
	}
}
