package station

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sqlite"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// countingStore counts the daily readings written and the transactions.
type countingStore struct {
	amigo.Store
	daily, txs atomic.Int64
	onWrite    func([]amigo.Reading) // after each write that succeeded
}

func (c *countingStore) WriteReadings(ctx context.Context, rs []amigo.Reading) (amigo.WriteResult, error) {
	res, err := c.Store.WriteReadings(ctx, rs)
	if err == nil {
		c.txs.Add(1)
		if c.onWrite != nil {
			c.onWrite(rs)
		}
		for _, r := range rs {
			if r.Kind == amigo.KindDaily {
				c.daily.Add(1)
			}
		}
	}
	return res, err
}

// BenchmarkNightlyPass: 100 fake collectors of 50 meters (5,000 meters) on
// a fresh SQLite store, each answering after a 50 ms round trip, at 08:00
// after the nightly window: the time until
// every meter's real-time reading and its one missing day are committed.
// "serial" is one worker and no grouping (the engine's former shape),
// "pool" the defaults.
func BenchmarkNightlyPass(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  Config
	}{{"serial", Config{Workers: 1, CommitMax: 1}}, {"pool", Config{}}} {
		b.Run(mode.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				ctx, cancel := context.WithCancel(context.Background())
				s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "b.db"))
				if err != nil {
					b.Fatal(err)
				}
				site := amigo.Site{Name: "b", TimeZone: "Asia/Shanghai"}
				s.CreateSite(ctx, &site)
				loc := site.Location()
				now := time.Date(2026, 3, 10, 8, 0, 0, 0, loc)
				clock := vclock.NewManual(now)
				front := &termFront{terms: map[string]*fakeTerm{}}
				const cols, per = 100, 50
				for i := range cols {
					c := amigo.Collector{SiteID: site.ID, Address: fmt.Sprintf("0171-%d", i+1)}
					s.CreateCollector(ctx, &c)
					for p := range per {
						m := amigo.Meter{SiteID: site.ID, CollectorID: c.ID, Port: 1, Pn: p + 1, Address: fmt.Sprintf("000000%03d%03d", i+1, p+1), InstalledAt: now.AddDate(0, 0, -1)}
						if err := s.CreateMeter(ctx, &m); err != nil {
							b.Fatal(err)
						}
					}
					ft := newFakeTerm(nil, c.Address, clock, loc)
					ft.latency = 50 * time.Millisecond // a GPRS/4G round trip
					front.set(c.Address, ft)
				}
				cs := &countingStore{Store: s}
				cfg := mode.cfg
				cfg.Log = quiet()
				e := New(cs, front, clock, cfg)
				done := make(chan struct{})
				b.StartTimer()
				go func() { e.Run(ctx); close(done) }()
				tick := time.NewTicker(5 * time.Millisecond)
				for cs.daily.Load() < cols*per {
					<-tick.C
				}
				b.StopTimer()
				tick.Stop()
				b.ReportMetric(float64(cs.txs.Load()), "transactions")
				cancel()
				<-done
				s.Close()
			}
		})
	}
}

// BenchmarkFirstRealtimePass: the engine alone (no TLS, no load generator)
// on its first real-time pass after a start: 500 fake collectors of 100
// meters (50,000 meters) answering at once, on a fresh SQLite store, at
// 00:05 (before the nightly window): readings committed per second, until
// every meter has its reading.
func BenchmarkFirstRealtimePass(b *testing.B) {
	const cols, per = 500, 100
	for range b.N {
		b.StopTimer()
		ctx, cancel := context.WithCancel(context.Background())
		s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "b.db"))
		if err != nil {
			b.Fatal(err)
		}
		site := amigo.Site{Name: "b", TimeZone: "Asia/Shanghai"}
		s.CreateSite(ctx, &site)
		loc := site.Location()
		now := time.Date(2026, 3, 10, 0, 5, 0, 0, loc)
		clock := vclock.NewManual(now)
		front := &termFront{terms: map[string]*fakeTerm{}}
		for i := range cols {
			c := amigo.Collector{SiteID: site.ID, Address: fmt.Sprintf("0171-%d", i+1)}
			s.CreateCollector(ctx, &c)
			var ms []amigo.Meter
			for p := range per {
				ms = append(ms, amigo.Meter{SiteID: site.ID, CollectorID: c.ID, Port: 1, Pn: p + 1, Address: fmt.Sprintf("000%04d%05d", i+1, p+1)})
			}
			for j := range ms {
				if err := s.CreateMeter(ctx, &ms[j]); err != nil {
					b.Fatal(err)
				}
			}
			front.set(c.Address, newFakeTerm(nil, c.Address, clock, loc))
		}
		qc := &queryCounter{Store: s, n: map[string]int{}}
		cs := &countingStore{Store: qc}
		e := New(cs, front, clock, Config{Log: quiet()})
		done := make(chan struct{})
		var n atomic.Int64
		cs.onWrite = func(rs []amigo.Reading) { n.Add(int64(len(rs))) }
		start := time.Now()
		b.StartTimer()
		go func() { e.Run(ctx); close(done) }()
		tick := time.NewTicker(5 * time.Millisecond)
		for n.Load() < cols*per {
			<-tick.C
		}
		b.StopTimer()
		b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "readings/s")
		b.ReportMetric(float64(cs.txs.Load()), "transactions")
		b.ReportMetric(float64(qc.get("around "+amigo.KindRealtime)+qc.get("window "+amigo.KindRealtime)), "neighbour-queries")
		// Then the night: every meter's freeze of the next midnight.
		var days atomic.Int64
		cs.onWrite = func(rs []amigo.Reading) {
			for _, r := range rs {
				if r.Kind == amigo.KindDaily {
					days.Add(1)
				}
			}
		}
		clock.Set(time.Date(2026, 3, 11, 0, 45, 0, 0, loc))
		e.Wake()
		for days.Load() < cols*per {
			<-tick.C
		}
		b.ReportMetric(float64(qc.get("around "+amigo.KindDaily)+qc.get("window "+amigo.KindDaily)), "daily-neighbour-queries")
		tick.Stop()
		cancel()
		<-done
		s.Close()
	}
}

// validateBatch is one real-time request's readings (64 meters), each
// newer than its stored reading held in memory (lastValues): the common
// case of a pass, needing no query.
func validateBatch(tb testing.TB) (*Engine, []amigo.Reading, map[int64]amigo.Meter) {
	const n = realtimeMetersPerRequest
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	e := New(nil, nil, vclock.NewManual(now), Config{Log: quiet()})
	meters := make(map[int64]amigo.Meter, n)
	rs := make([]amigo.Reading, n)
	for i := range n {
		id := int64(i + 1)
		meters[id] = amigo.Meter{ID: id, SiteID: 1, CollectorID: 1, Pn: i + 1, Address: fmt.Sprintf("%012d", id), Phases: 1, RatedAmps: 60}
		p := int64(1000)
		prev := amigo.Reading{MeterID: id, Kind: amigo.KindRealtime, Time: now.Add(-15 * time.Minute), Forward: [5]amigo.Energy{amigo.Energy(1000000)}, HasForward: true, PowerW: &p}
		e.last.seen(lastKey{id, amigo.KindRealtime}, prev)
		rs[i] = prev
		rs[i].Time = now
		rs[i].Forward[0] += 25
	}
	return e, rs, meters
}

// BenchmarkValidateRealtimeBatch: validation of one request's readings
// (validateBatch).
func BenchmarkValidateRealtimeBatch(b *testing.B) {
	e, rs, meters := validateBatch(b)
	b.ReportAllocs()
	for b.Loop() {
		if evs := e.validate(context.Background(), rs, meters); len(evs) != 0 {
			b.Fatalf("events %+v", evs)
		}
	}
}
