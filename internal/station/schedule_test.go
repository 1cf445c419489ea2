package station

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// orderTerm records, across collectors, what each request asks for ("c1
// rt", "c1 events", ...).
type orderTerm struct {
	*fakeTerm
	name  string
	mu    *sync.Mutex
	order *[]string
}

func (o *orderTerm) Request(ctx context.Context, afn q1376.AFN, units ...q1376.Unit) ([]*q1376.Frame, error) {
	what := map[q1376.AFN]string{q1376.AFNClass1: "class1", q1376.AFNClass2: "daily", q1376.AFNClass3: "events"}[afn]
	if afn == q1376.AFNClass1 && len(units) > 0 && len(units[0].Fn) > 0 && units[0].Fn[0] == 129 {
		what = "rt"
	}
	o.mu.Lock()
	*o.order = append(*o.order, o.name+" "+what)
	o.mu.Unlock()
	return o.fakeTerm.Request(ctx, afn, units...)
}

// While collectors wait for a worker (the last pass found the pool full),
// a job does its real-time slot alone and leaves the slot's tail (events,
// clock) and the daily pass to the collector's next turn: after a restart
// every meter's current values come first. (Each job used to do its
// events, its clock and its daily pass first, and the last collectors
// waited for all of that before any reading of theirs.)
func TestBacklogLeavesTheTailForLater(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	site, cs, _ := fleet(t, s, 3, 1)
	loc := site.Location()
	clock := vclock.NewManual(time.Date(2026, 3, 10, 8, 0, 0, 0, loc)) // the daily pass due too
	var mu sync.Mutex
	var order []string
	front := gatedFront{}
	for _, c := range cs {
		front[c.Address] = &orderTerm{fakeTerm: newFakeTerm(t, c.Address, clock, loc), name: c.Name, mu: &mu, order: &order}
	}
	e := New(s, front, clock, Config{Log: quiet(), Workers: 10})
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(order)
	}
	count := func(what string) (n int) {
		for _, o := range seen() {
			if o == what {
				n++
			}
		}
		return n
	}

	// Every worker busy: the pass hands nobody over and notes the backlog.
	for range 10 {
		e.sched.slots <- struct{}{}
	}
	e.collect(ctx)
	if !e.sched.backlog.Load() {
		t.Fatal("a pass that found the pool full noted no backlog")
	}
	for range 10 {
		<-e.sched.slots
	}
	// A job under the backlog: the real-time values alone.
	e.collectCollector(ctx, site, cs[0], front[cs[0].Address])
	if got := seen(); count("c1 rt") != 1 || count("c1 events") != 0 || count("c1 daily") != 0 {
		t.Fatalf("under a backlog the job asked %v; want the real-time values alone", got)
	}
	// The next passes find workers for all: the backlog ends, c1's tail
	// and daily pass come without its real-time values asked again, and
	// the others are served in full.
	for range 2 {
		e.collect(ctx)
		e.sched.wait()
	}
	if e.sched.backlog.Load() {
		t.Error("backlog still noted after passes that served every collector")
	}
	got := seen()
	if count("c1 rt") != 1 {
		t.Errorf("c1's real-time values asked %d times for one slot: %v", count("c1 rt"), got)
	}
	for _, c := range cs {
		if count(c.Name+" rt") != 1 || count(c.Name+" events") == 0 || count(c.Name+" daily") == 0 {
			t.Errorf("%s: real-time %d, events %d, daily %d requests; want 1 and at least 1 each: %v",
				c.Name, count(c.Name+" rt"), count(c.Name+" events"), count(c.Name+" daily"), got)
		}
	}
}
