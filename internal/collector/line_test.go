package collector_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// countingStore counts the writes that reach the store: each Commit is one
// transaction (one fsync).
type countingStore struct {
	collector.Store
	commits, puts, sets atomic.Int64
	mu                  sync.Mutex
	batches             [][]collector.Reading
}

func (s *countingStore) Commit(ctx context.Context, rs []collector.Reading, state map[string]string) ([]bool, error) {
	s.commits.Add(1)
	s.mu.Lock()
	s.batches = append(s.batches, append([]collector.Reading(nil), rs...))
	s.mu.Unlock()
	return s.Store.Commit(ctx, rs, state)
}

func (s *countingStore) Put(ctx context.Context, r collector.Reading) (bool, error) {
	s.puts.Add(1)
	return s.Store.Put(ctx, r)
}

func (s *countingStore) SetState(ctx context.Context, k, v string) error {
	s.sets.Add(1)
	return s.Store.SetState(ctx, k, v)
}

type commitNote struct {
	line   uint8
	slot   time.Time
	stored int
}

// lineRig is a collector on a manual clock whose lines are given.
type lineRig struct {
	c       *collector.Collector
	commits chan commitNote
	mu      sync.Mutex
	stored  []collector.Reading
	cancel  context.CancelFunc
	done    chan struct{}
}

func startLines(t *testing.T, clock vclock.Clock, st collector.Store, ports []collector.Port, meters []collector.Meter, timeout time.Duration, opts ...func(*collector.Collector)) *lineRig {
	t.Helper()
	cfg := collector.Config{
		Terminal: "0171-5", Stations: []string{freePort(t)}, PlainTCP: true, ReconnectMax: collector.Duration(time.Second),
		Timeout: collector.Duration(timeout), Ports: ports, Meters: meters,
		DataDir: t.TempDir(), Clock: clock, Loc: cst, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	c, err := collector.New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &lineRig{c: c, commits: make(chan commitNote, 1000), cancel: cancel, done: make(chan struct{})}
	c.OnStored = func(rd collector.Reading) {
		r.mu.Lock()
		r.stored = append(r.stored, rd)
		r.mu.Unlock()
	}
	c.OnCommit = func(line uint8, slot time.Time, n int) { r.commits <- commitNote{line, slot, n} }
	for _, o := range opts {
		o(c)
	}
	go func() { c.Run(ctx); close(r.done) }()
	t.Cleanup(r.stop)
	return r
}

func (r *lineRig) stop() {
	r.cancel()
	<-r.done
}

// waitCommit waits for a commit that ok accepts.
func (r *lineRig) waitCommit(t *testing.T, what string, ok func(commitNote) bool) commitNote {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case n := <-r.commits:
			if ok(n) {
				return n
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (r *lineRig) realtime(pn uint16, slot time.Time) (collector.Reading, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rd := range r.stored {
		if rd.Pn == pn && rd.Kind == collector.KindRealtime && rd.T.Equal(slot) {
			return rd, true
		}
	}
	return collector.Reading{}, false
}

// fleet starts n virtual meters from first, served on a TCP serial server.
func fleet(t *testing.T, clock vclock.Clock, first string, n int, faults ...string) *sim.Fleet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fl, err := sim.Start(ctx, sim.Config{Meters: n, FirstAddress: first, Listen: "127.0.0.1:0", Seed: 7, Clock: clock, Location: cst, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	return fl
}

func metersOf(t *testing.T, first string, n int, port uint8, pn0 uint16) []collector.Meter {
	t.Helper()
	var ms []collector.Meter
	for i := range n {
		a, err := sim.AddressN(first, i)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, collector.Meter{Address: a.String(), Port: port, Pn: pn0 + uint16(i)})
	}
	return ms
}

func sqliteStore(t *testing.T) collector.Store { return openStore(t, t.TempDir()) }

// Two lines are read in parallel: line 1's first meter answers each request
// 2 s late (its real-time read alone takes 6 requests, ≥ 12 s), and line
// 2's cycle is committed while line 1's is still being read.
func TestLinesReadInParallel(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 3, 2, 10, 0, 30, 0, cst))
	slow := fleet(t, clock, "000000000001", 2, "000000000001:late:2s")
	fast := fleet(t, clock, "000000000101", 2)
	ms := append(metersOf(t, "000000000001", 2, 1, 1), metersOf(t, "000000000101", 2, 2, 11)...)
	r := startLines(t, clock, sqliteStore(t), []collector.Port{{Number: 1, Address: slow.Addr.String()}, {Number: 2, Address: fast.Addr.String()}}, ms, 3*time.Second)
	slot := time.Date(2026, 3, 2, 10, 0, 0, 0, cst)
	var line1 []commitNote
	n := r.waitCommit(t, "line 2's cycle", func(n commitNote) bool {
		if n.line == 1 {
			line1 = append(line1, n)
		}
		return n.line == 2
	})
	if len(line1) != 0 {
		t.Fatalf("line 1 committed %v before line 2: the lines waited for each other", line1)
	}
	// Line 2's cycle: real-time values of its two meters for 10:00, plus
	// whatever durable work it did.
	if !n.slot.Equal(slot) || n.stored < 2 {
		t.Fatalf("line 2's cycle: %+v, want slot %s and at least 2 readings", n, slot)
	}
	for _, pn := range []uint16{11, 12} {
		if _, ok := r.realtime(pn, slot); !ok {
			t.Errorf("p%d: no real-time reading for 10:00 after line 2's cycle", pn)
		}
	}
	if _, ok := r.realtime(1, slot); ok {
		t.Error("p1 (line 1, 2 s a request) reported stored before line 2's cycle ended")
	}
}

// A poll cycle's readings and facts are committed in one transaction: no
// reading is written alone, and a reading is reported stored only once it
// is in the store.
func TestOneCommitPerCycle(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 3, 2, 10, 0, 30, 0, cst))
	fl := fleet(t, clock, "000000000001", 3)
	st := &countingStore{Store: sqliteStore(t)}
	var durable atomic.Int64
	r := startLines(t, clock, st, []collector.Port{{Number: 1, Address: fl.Addr.String()}}, metersOf(t, "000000000001", 3, 1, 1), time.Second, func(c *collector.Collector) {
		c.OnStored = func(rd collector.Reading) {
			if ok, err := st.Store.Has(context.Background(), rd.Pn, rd.Kind, rd.T); err != nil || !ok {
				t.Errorf("reported stored before it was: %+v", rd)
			}
			durable.Add(1)
		}
	})
	first := r.waitCommit(t, "the 10:00 cycle", func(n commitNote) bool { return n.line == 1 })
	setsAfterFirst := st.sets.Load()
	clock.Set(time.Date(2026, 3, 2, 10, 15, 30, 0, cst))
	second := r.waitCommit(t, "the 10:15 cycle", func(n commitNote) bool { return n.line == 1 })

	// Cycle 1 read the 3 meters' real-time values (the fresh meters have
	// no freeze or settlement yet); cycle 2 the 3 meters' values of 10:15
	// only: the day's clock check and the hour's event counters are done.
	if first.stored != 3 || second.stored != 3 || !second.slot.Equal(time.Date(2026, 3, 2, 10, 15, 0, 0, cst)) {
		t.Fatalf("cycles stored %+v then %+v, want 3 and 3 (10:15)", first, second)
	}
	if c, p := st.commits.Load(), st.puts.Load(); c != 2 || p != 0 {
		t.Fatalf("%d commits and %d single puts for two cycles, want 2 and 0", c, p)
	}
	if s := st.sets.Load() - setsAfterFirst; s != 0 {
		t.Errorf("%d separate state writes in cycle 2, want 0 (all in its commit)", s)
	}
	st.mu.Lock()
	b := st.batches[1]
	st.mu.Unlock()
	if len(b) != 3 {
		t.Fatalf("cycle 2's transaction held %d readings, want 3", len(b))
	}
	for i, rd := range b {
		if rd.Pn != uint16(i+1) || rd.Kind != collector.KindRealtime || !rd.T.Equal(second.slot) {
			t.Errorf("cycle 2 reading %d: p%d %s %s", i, rd.Pn, rd.Kind, rd.T)
		}
	}
	if n := durable.Load(); n != 6 {
		t.Errorf("%d readings reported stored, want 3 + 3", n)
	}
}

// request is one request seen on a line: the meter and the identifier.
type request struct {
	addr dlt645.Address
	di   dlt645.DI
}

func (q request) String() string { return fmt.Sprintf("%s:%08X", q.addr, uint32(q.di)) }

// hookedLine serves bus on a TCP serial server of its own that calls hook
// with each request before the bus answers it (hook may hold the line).
func hookedLine(t *testing.T, bus *sim.Bus, hook func(request)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				sc := bufio.NewScanner(c)
				sc.Buffer(make([]byte, 0, 512), 4096)
				sc.Split(dlt645.Split)
				for sc.Scan() {
					var f dlt645.Frame
					if _, err := f.Decode(sc.Bytes()); err != nil {
						continue
					}
					di, _ := f.DI()
					hook(request{f.Address, di})
					for _, rep := range bus.Handle(&f, nil) {
						if _, err := c.Write(rep.Frame); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// A cycle whose durable work runs into the next slot yields: that slot's
// real-time values are read as soon as the line is free, before the rest of
// the durable work, and nothing of the earlier slot is read late.
func TestRealtimeSlotNotLostToDurableWork(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 3, 2, 10, 0, 30, 0, cst))
	fl := fleet(t, clock, "000000000001", 2)
	m1, m2 := mustAddr(t, "000000000001"), mustAddr(t, "000000000002")
	held, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var after []request // requests once the hold is released
	var holding atomic.Bool
	released := false
	addr := hookedLine(t, fl.Bus, func(q request) {
		if q.addr == m1 && q.di == dlt645.DailyFreezeTime(1) && holding.CompareAndSwap(false, true) {
			close(held)
			<-release // the line is busy with m1's durable work
			mu.Lock()
			released = true
			mu.Unlock()
			return
		}
		mu.Lock()
		if released {
			after = append(after, q)
		}
		mu.Unlock()
	})
	r := startLines(t, clock, sqliteStore(t), []collector.Port{{Number: 1, Address: addr}}, metersOf(t, "000000000001", 2, 1, 1), time.Second)
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("m1's daily freeze never asked")
	}
	clock.Set(time.Date(2026, 3, 2, 10, 15, 30, 0, cst)) // the next slot began meanwhile
	close(release)
	slot2 := time.Date(2026, 3, 2, 10, 15, 0, 0, cst)
	r.waitCommit(t, "the 10:15 cycle", func(n commitNote) bool { return n.slot.Equal(slot2) })

	// Both meters' 10:00 values were read before any durable work, at
	// 10:00:30; their 10:15 values are stored.
	for _, pn := range []uint16{1, 2} {
		rd, ok := r.realtime(pn, time.Date(2026, 3, 2, 10, 0, 0, 0, cst))
		if !ok || !rd.ReadAt.Equal(time.Date(2026, 3, 2, 10, 0, 30, 0, cst)) {
			t.Errorf("p%d 10:00: stored %v, read at %s; want read at 10:00:30", pn, ok, rd.ReadAt)
		}
		if rd, ok := r.realtime(pn, slot2); !ok || !rd.ReadAt.Equal(time.Date(2026, 3, 2, 10, 15, 30, 0, cst)) {
			t.Errorf("p%d 10:15: stored %v, read at %s", pn, ok, rd.ReadAt)
		}
	}
	// After the hold: m1's 10:15 values before m2's durable work begins.
	mu.Lock()
	defer mu.Unlock()
	first := func(a dlt645.Address, di dlt645.DI) int {
		for i, q := range after {
			if q.addr == a && q.di == di {
				return i
			}
		}
		return -1
	}
	rt1, rt2, daily2 := first(m1, dlt645.DIForwardActiveBlock), first(m2, dlt645.DIForwardActiveBlock), first(m2, dlt645.DailyFreezeTime(1))
	if rt1 < 0 || rt2 < 0 || daily2 < 0 || !(rt1 < rt2 && rt2 < daily2) {
		t.Errorf("after the hold: m1 real-time at %d, m2 real-time at %d, m2 daily freeze at %d; want in that order (%v)", rt1, rt2, daily2, after)
	}
}

// A slot missed while the collector was down is caught up at once when it
// starts, not at the next slot: the manual clock never reaches 10:45. The
// reading carries the slot in progress and its true read time; the 10:15
// slot, which passed whole while it was down, has no real-time reading.
func TestMissedSlotCaughtUpAfterPause(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 3, 2, 10, 0, 30, 0, cst))
	fl := fleet(t, clock, "000000000001", 2)
	dir := t.TempDir()
	ports := []collector.Port{{Number: 1, Address: fl.Addr.String()}}
	ms := metersOf(t, "000000000001", 2, 1, 1)
	st := openStore(t, dir)
	r := startLines(t, clock, st, ports, ms, time.Second)
	r.waitCommit(t, "the 10:00 cycle", func(n commitNote) bool { return n.stored == 2 })
	r.stop()

	clock.Set(time.Date(2026, 3, 2, 10, 40, 0, 0, cst)) // down through 10:15 and 10:30
	r = startLines(t, clock, st, ports, ms, time.Second)
	slot := time.Date(2026, 3, 2, 10, 30, 0, 0, cst)
	r.waitCommit(t, "the 10:30 slot caught up", func(n commitNote) bool { return n.slot.Equal(slot) && n.stored >= 2 })
	for _, pn := range []uint16{1, 2} {
		rd, ok := r.realtime(pn, slot)
		if !ok || !rd.ReadAt.Equal(clock.Now()) {
			t.Errorf("p%d 10:30: stored %v, read at %s; want read at once, 10:40", pn, ok, rd.ReadAt)
		}
		if ok, _ := st.Has(context.Background(), pn, collector.KindRealtime, time.Date(2026, 3, 2, 10, 15, 0, 0, cst)); ok {
			t.Errorf("p%d: a 10:15 reading made up after the fact", pn)
		}
	}
}

// A meter silent at its slot is read once more at mid-slot: the slot is
// caught up when it answers again, not left empty.
func TestSilentMeterRetriedAtMidSlot(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 3, 2, 10, 0, 30, 0, cst))
	fl := fleet(t, clock, "000000000001", 2, "000000000002:no-answer")
	r := startLines(t, clock, sqliteStore(t), []collector.Port{{Number: 1, Address: fl.Addr.String()}}, metersOf(t, "000000000001", 2, 1, 1), 200*time.Millisecond)
	slot := time.Date(2026, 3, 2, 10, 0, 0, 0, cst)
	r.waitCommit(t, "the 10:00 cycle", func(n commitNote) bool { return n.slot.Equal(slot) })
	if _, ok := r.realtime(2, slot); ok {
		t.Fatal("the silent meter has a reading")
	}
	if err := fl.Bus.ApplyFault("000000000002:none"); err != nil {
		t.Fatal(err)
	}
	// Mid-slot: 10:00 + 15 min / 2 = 10:07:30.
	clock.Set(time.Date(2026, 3, 2, 10, 7, 30, 0, cst))
	r.waitCommit(t, "the retry", func(n commitNote) bool { return n.slot.Equal(slot) && n.stored == 1 })
	rd, ok := r.realtime(2, slot)
	if !ok || !rd.ReadAt.Equal(time.Date(2026, 3, 2, 10, 7, 30, 0, cst)) {
		t.Fatalf("p2 10:00: stored %v read at %s, want read at 10:07:30", ok, rd.ReadAt)
	}
}
