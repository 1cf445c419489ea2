package station

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/q1376"
)

// stateCounter counts the state store reads.
type stateCounter struct {
	amigo.Store
	mu   sync.Mutex
	gets int
}

func (s *stateCounter) GetState(ctx context.Context, key string) (string, bool, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Store.GetState(ctx, key)
}

// clockTerminal answers the terminal clock read with the station's clock.
type clockTerminal struct {
	clock vclock.Clock
	reads int
}

func (c *clockTerminal) Request(_ context.Context, afn q1376.AFN, units ...q1376.Unit) ([]*q1376.Frame, error) {
	c.reads++
	req := &q1376.Frame{AFN: afn}
	return []*q1376.Frame{q1376.Response(req, true, true, false, q1376.NewUnit(0, q1376.FnTerminalClock, q1376.AppendClock(nil, q1376.ClockOf(c.clock.Now()))))}, nil
}

func (c *clockTerminal) Confirm(*q1376.Frame) error { return nil }

// A collector's clock is checked once a day, and after the first check of
// the day its real-time slots ask the store nothing about it; a new day
// checks again.
func TestTerminalClockCheckedOncePerDayFromMemory(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	loc, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, loc)
	clock := vclock.NewManual(now)
	site := amigo.Site{Name: "s", TimeZone: "Asia/Shanghai"}
	s.CreateSite(ctx, &site)
	c := amigo.Collector{ID: 7, SiteID: site.ID, Address: "0171-7"}
	sc := &stateCounter{Store: s}
	e := newEngine(sc, nil, clock)
	term := &clockTerminal{clock: clock}
	for i := range 4 {
		clock.Set(now.Add(time.Duration(i) * 15 * time.Minute))
		if err := e.checkTerminalClock(ctx, site, c, term); err != nil {
			t.Fatal(err)
		}
	}
	if term.reads != 1 || sc.gets != 1 {
		t.Fatalf("four slots of a day: %d clock reads, %d state reads; want 1 and 1", term.reads, sc.gets)
	}
	clock.Set(now.Add(24 * time.Hour))
	if err := e.checkTerminalClock(ctx, site, c, term); err != nil {
		t.Fatal(err)
	}
	if term.reads != 2 || sc.gets != 2 {
		t.Fatalf("the next day: %d clock reads, %d state reads; want 2 and 2", term.reads, sc.gets)
	}
}
