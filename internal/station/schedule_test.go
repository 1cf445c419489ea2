package station

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/q1376"
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
	if s.start(ctx, jobKey{site: 1}, func(context.Context) {}) != started {
		t.Fatal("the pool refused a job with a free worker")
	}
	s.wait()
	select {
	case <-s.freed:
		t.Fatal("a job ending woke the loop with nobody waiting for a worker")
	default:
	}
	if s.start(ctx, jobKey{collector: 1}, func(context.Context) { <-release }) != started {
		t.Fatal("the pool refused a job with a free worker")
	}
	if s.start(ctx, jobKey{collector: 2}, func(context.Context) {}) != poolFull {
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

// gatedTerm holds each real-time request for meter data (F129) until the
// test lets it go, and says which collector asked.
type gatedTerm struct {
	*fakeTerm
	name    string
	entered chan string
	gate    chan struct{}
}

func (g *gatedTerm) Request(ctx context.Context, afn q1376.AFN, units ...q1376.Unit) ([]*q1376.Frame, error) {
	if afn == q1376.AFNClass1 && len(units) > 0 && len(units[0].Fn) > 0 && units[0].Fn[0] == 129 {
		g.entered <- g.name
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.fakeTerm.Request(ctx, afn, units...)
}

type gatedFront map[string]Terminal

func (f gatedFront) Terminal(a string) (Terminal, bool) { t, ok := f[a]; return t, ok }
func (gatedFront) Meter(string) (MeterLink, bool)       { return nil, false }

// A pool too small for its collectors serves them in turn: with one worker
// and a new slot due for every collector each time a pass ends, the
// collectors are served c1, c2, c3, c1 — not c1 again and again (each pass
// used to start from the head of the list, and the last collectors of a
// big station went without readings).
func TestFullPoolServesCollectorsInTurn(t *testing.T) {
	s, _ := openStore(t)
	site, cs, _ := fleet(t, s, 3, 1)
	loc := site.Location()
	clock := vclock.NewManual(time.Date(2026, 3, 10, 0, 1, 0, 0, loc)) // before the nightly window
	entered, gate := make(chan string), make(chan struct{})
	front := gatedFront{}
	for _, c := range cs {
		front[c.Address] = &gatedTerm{fakeTerm: newFakeTerm(t, c.Address, clock, loc), name: c.Name, entered: entered, gate: gate}
	}
	e := New(s, front, clock, Config{Log: quiet(), Workers: 1})
	runEngine(t, e)
	var order []string
	for range 4 {
		select {
		case who := <-entered:
			order = append(order, who)
		case <-time.After(20 * time.Second):
			t.Fatalf("no collector served within 20 s; served %v", order)
		}
		// Every collector has a new slot due by the time this one ends.
		clock.Advance(15 * time.Minute)
		gate <- struct{}{}
	}
	if got := strings.Join(order, " "); got != "c1 c2 c3 c1" {
		t.Fatalf("served %s, want c1 c2 c3 c1", got)
	}
}
