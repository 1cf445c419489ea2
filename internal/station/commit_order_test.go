package station

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// steppedStore holds every readings write until the test lets it go, and
// logs the order of writes and (through the jobs) state writes.
type steppedStore struct {
	amigo.Store
	entered chan int64 // the first meter of each write, as it starts
	proceed chan struct{}
	mu      sync.Mutex
	log     []string
}

func (s *steppedStore) WriteReadings(ctx context.Context, rs []amigo.Reading) (amigo.WriteResult, error) {
	s.entered <- rs[0].MeterID
	<-s.proceed
	s.note(fmt.Sprintf("R%d", rs[0].MeterID))
	return amigo.WriteResult{Inserted: len(rs)}, nil
}

func (s *steppedStore) note(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, what)
}

func (s *steppedStore) order() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// committerUnderTest runs an engine's group committer alone on a stepped
// store.
func committerUnderTest(t *testing.T) (*Engine, *steppedStore) {
	t.Helper()
	base, _ := openStore(t)
	st := &steppedStore{Store: base, entered: make(chan int64, 8), proceed: make(chan struct{})}
	e := New(st, directFront{}, vclock.NewManual(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)), Config{Log: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.group.run(ctx, e) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the committer running", 5*time.Second, e.group.running.Load)
	return e, st
}

// write hands one reading of meter id to the committer; the returned
// channel gives the outcome.
func writeAsync(e *Engine, id int64) <-chan error {
	out := make(chan error, 1)
	at := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	go func() {
		out <- e.write(context.Background(), []amigo.Reading{{MeterID: id, Kind: amigo.KindRealtime, Time: at, HasForward: true}}, nil)
	}()
	return out
}

// step lets the write in progress (of meter want) finish.
func (s *steppedStore) step(t *testing.T, want int64) {
	t.Helper()
	select {
	case got := <-s.entered:
		if got != want {
			t.Fatalf("write of meter %d under way, want %d (order so far %v)", got, want, s.order())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no write of meter %d (order so far %v)", want, s.order())
	}
	s.proceed <- struct{}{}
}

func queued(s *steppedStore, name string) func(amigo.Store) error {
	return func(amigo.Store) error { s.note(name); return nil }
}

// A state job nobody waits for (a pass's meters status) waits while
// readings are waiting for the committer: readings first.
func TestQueuedStateWaitsForWaitingReadings(t *testing.T) {
	e, st := committerUnderTest(t)
	ctx := context.Background()
	w1 := writeAsync(e, 1)
	first := <-st.entered // write 1 under way, held
	e.queueState(ctx, "status", queued(st, "J"))
	w2 := writeAsync(e, 2)
	waitFor(t, "the job and write 2 queued", 5*time.Second, func() bool { return len(e.group.in) == 2 })
	if first != 1 {
		t.Fatalf("first write of meter %d", first)
	}
	st.proceed <- struct{}{} // write 1 ends; the job and write 2 are taken together
	select {
	case got := <-st.entered:
		if got != 2 {
			t.Fatalf("write of meter %d, want 2", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write 2 never started")
	}
	w3 := writeAsync(e, 3) // waiting when write 2 ends
	waitFor(t, "write 3 queued", 5*time.Second, func() bool { return len(e.group.in) == 1 })
	st.proceed <- struct{}{}
	st.step(t, 3)
	for _, w := range []<-chan error{w1, w2, w3} {
		if err := <-w; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the job run once no readings wait", 5*time.Second, func() bool { return len(st.order()) == 4 })
	if got, want := st.order(), []string{"R1", "R2", "R3", "J"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// A state job that is waited for (a collector offline) runs at once, after
// the jobs held before it, in the order they were given.
func TestWaitedStateRunsHeldJobsFirst(t *testing.T) {
	e, st := committerUnderTest(t)
	ctx := context.Background()
	w1 := writeAsync(e, 1)
	<-st.entered
	e.queueState(ctx, "status", queued(st, "J"))
	w2 := writeAsync(e, 2)
	waitFor(t, "the job and write 2 queued", 5*time.Second, func() bool { return len(e.group.in) == 2 })
	st.proceed <- struct{}{}
	<-st.entered // write 2, with the job held
	wstate := make(chan error, 1)
	go func() { wstate <- e.writeState(ctx, "offline", queued(st, "W")) }()
	w3 := writeAsync(e, 3)
	waitFor(t, "the waited job and write 3 queued", 5*time.Second, func() bool { return len(e.group.in) == 2 })
	st.proceed <- struct{}{}
	st.step(t, 3)
	if err := <-wstate; err != nil {
		t.Fatal(err)
	}
	for _, w := range []<-chan error{w1, w2, w3} {
		if err := <-w; err != nil {
			t.Fatal(err)
		}
	}
	if got, want := st.order(), []string{"R1", "R2", "R3", "J", "W"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}
