package station

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The nightly offsets spread over the whole window: 1,000 collectors'
// offsets fall in [0, window), and each tenth of the window gets some
// (the hash scaled onto the window; taken modulo a window of nanoseconds
// it left every offset under 4.3 s).
func TestSpreadCoversTheWindow(t *testing.T) {
	const window = 30 * time.Minute
	var tenths [10]int
	for i := range 1000 {
		d := spread(fmt.Sprintf("%08d", 31000000+i), window)
		if d < 0 || d >= window {
			t.Fatalf("offset %s outside [0, %s)", d, window)
		}
		tenths[d*10/window]++
	}
	for i, n := range tenths {
		if n < 50 { // 100 expected in each
			t.Fatalf("tenth %d of the window holds %d offsets of 1000: %v", i, n, tenths)
		}
	}
	if spread("x", 0) != 0 {
		t.Fatal("no window, no offset")
	}
}

// A job that ends wakes the loop only when another job found every worker
// busy: otherwise the site's job, started every pass, woke the loop at
// once, and the loop ran pass after pass without pause (most of an idle
// station's CPU).
func TestAJobEndingWakesTheLoopOnlyForAWaitingJob(t *testing.T) {
	var s scheduler
	s.init(1)
	ctx := context.Background()
	release := make(chan struct{})
	if !s.start(ctx, jobKey{site: 1}, func(context.Context) {}) {
		t.Fatal("the pool refused a job with a free worker")
	}
	s.wait()
	select {
	case <-s.freed:
		t.Fatal("a job ending woke the loop with nobody waiting for a worker")
	default:
	}
	if !s.start(ctx, jobKey{collector: 1}, func(context.Context) { <-release }) {
		t.Fatal("the pool refused a job with a free worker")
	}
	if s.start(ctx, jobKey{collector: 2}, func(context.Context) {}) {
		t.Fatal("the pool took a second job with its only worker busy")
	}
	close(release)
	s.wait()
	select {
	case <-s.freed:
	default:
		t.Fatal("the worker came free, and the job that waited for it was not woken")
	}
}
