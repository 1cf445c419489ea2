package station

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/sqlite"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// openStore opens a fresh SQLite store in a temporary directory; reopen
// opens the same file again (a station restart).
func openStore(t *testing.T) (amigo.Store, func() amigo.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "amigo.db")
	open := func() amigo.Store {
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(), open
}

// busLink is a direct meter's link served by a virtual meter bus: the
// request is encoded and the bus answers as the meter would on its line.
type busLink struct{ bus *sim.Bus }

func (l busLink) Exchange(ctx context.Context, req dlt645.Frame, timeout time.Duration) (dlt645.Frame, error) {
	raw, err := dlt645.AppendFrame(nil, &req)
	if err != nil {
		return dlt645.Frame{}, err
	}
	out := l.bus.HandleBytes(raw, nil)
	if len(out) == 0 {
		return dlt645.Frame{}, errors.New("no answer")
	}
	f, _, err := dlt645.FindFrame(out)
	if err != nil {
		return dlt645.Frame{}, err
	}
	return dlt645.Parse(f)
}

// directFront serves direct meters only.
type directFront map[string]MeterLink

func (directFront) Terminal(string) (Terminal, bool) { return nil, false }
func (f directFront) Meter(a string) (MeterLink, bool) {
	l, ok := f[a]
	return l, ok
}

// fixture creates a site in zone tz, an area and n meters behind one
// collector (meter i gets address 00000000000i+1).
func fixture(t *testing.T, s amigo.Store, tz string, n int) (amigo.Site, amigo.Area, []amigo.Meter) {
	t.Helper()
	ctx := context.Background()
	site := amigo.Site{Name: "site", TimeZone: tz}
	if err := s.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	area := amigo.Area{SiteID: site.ID, Name: "area", LossLow: -1, LossHigh: 8}
	if err := s.CreateArea(ctx, &area); err != nil {
		t.Fatal(err)
	}
	c := amigo.Collector{SiteID: site.ID, Name: "c", Address: "0171-0001"}
	if err := s.CreateCollector(ctx, &c); err != nil {
		t.Fatal(err)
	}
	var ms []amigo.Meter
	for i := range n {
		m := amigo.Meter{SiteID: site.ID, AreaID: area.ID, CollectorID: c.ID, Port: 1, Pn: i + 1, Address: "0000000000" + string(rune('0'+(i+1)/10)) + string(rune('0'+(i+1)%10))}
		if err := s.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return site, area, ms
}

func newEngine(s amigo.Store, front Front, clock vclock.Clock) *Engine {
	if front == nil {
		front = directFront{}
	}
	return New(s, front, clock, Config{})
}

func events(t *testing.T, s amigo.Store, kind string) []amigo.Event {
	t.Helper()
	es, _, err := s.ListEvents(context.Background(), amigo.EventFilter{Kind: kind, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return es
}
