package station_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/internal/fep"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/sqlite"
	"github.com/amigo-metering/amigo/internal/station"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/q1376"
)

var cst = time.FixedZone("CST", 8*3600)

// system is a whole reading chain on real parts: virtual meters on a TCP
// serial line, the collector with its SQLite store, the 1376.1 link in TLS,
// the front end, the engine and the station's SQLite store.
type system struct {
	t         *testing.T
	store     amigo.Store
	eng       *station.Engine
	clock     *vclock.Virtual
	fleet     *sim.Fleet
	col       *collector.Collector
	colStore  *colsqlite.Store
	site      amigo.Site
	collector amigo.Collector
	meters    []amigo.Meter // pn i+1 at index i
	stopCol   func()        // stops the collector (Run returns)
	startCol  func()        // starts it again on the same store

	// With systemConfig.twoNodes: a second front end and engine (node
	// "b") on the same store; the first is node "a". stations sets the
	// station addresses the collector dials at its next start.
	engB     *station.Engine
	addrA    string
	addrB    string
	stations func(addrs ...string)
}

type frontAdapter struct{ f *fep.FEP }

func (a frontAdapter) Meter(address string) (station.MeterLink, bool) {
	s, ok := a.f.MeterSession(address)
	if !ok {
		return nil, false
	}
	return s, true
}

func (a frontAdapter) Terminal(address string) (station.Terminal, bool) {
	s, ok := a.f.Session(address)
	if !ok {
		return nil, false
	}
	return s, true
}

// systemConfig shapes a system: n meters, those in proto97 (by pn) being
// DL/T 645-1997 meters; prepare runs on the fleet before anything reads it.
type systemConfig struct {
	start    time.Time
	speed    float64
	meters   int
	proto97  map[int]bool
	storeCap int
	prepare  func(*sim.Fleet)
	// plain links the collector over plain TCP instead of TLS.
	plain bool
	// collectorMaster, when set, is the master key the collector's key is
	// derived from (the station's is testMaster): a wrongly provisioned
	// collector.
	collectorMaster []byte
	// collectorOffset starts the collector's clock this far from the
	// station's (a stored F31 offset).
	collectorOffset time.Duration
	// twoNodes runs two station nodes on the store (leases and command
	// claims, lease TTL leaseTTL); the collector dials node a.
	twoNodes bool
	leaseTTL time.Duration
}

// testMaster is the station's downlink master key in these tests.
var testMaster = []byte("station master key for the tests")

func startSystem(t *testing.T, sc systemConfig) *system {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	const a1, a2 = 0x0171, 31
	if err := pki.InitCA(dir, "test"); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssueServer(dir, dir, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.IssueCollector(dir, dir, a1, a2); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	store, err := sqlite.Open(ctx, filepath.Join(dir, "amigo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := &system{t: t, store: store, clock: vclock.NewVirtual(sc.start, sc.speed)}
	s.site = amigo.Site{Name: "test", TimeZone: "Asia/Shanghai"}
	if err := store.CreateSite(ctx, &s.site); err != nil {
		t.Fatal(err)
	}
	s.collector = amigo.Collector{SiteID: s.site.ID, Name: "c", Address: fmt.Sprintf("%04X-%d", a1, a2), PlainTCP: sc.plain}
	if err := store.CreateCollector(ctx, &s.collector); err != nil {
		t.Fatal(err)
	}
	fl, err := sim.Start(ctx, sim.Config{Meters: sc.meters, Listen: "127.0.0.1:0", Seed: 9, Clock: s.clock, Location: cst, Profile: "office"})
	if err != nil {
		t.Fatal(err)
	}
	s.fleet = fl
	ccfg := collector.Config{Terminal: s.collector.Address, CAFile: filepath.Join(dir, pki.CACert),
		CertFile: filepath.Join(dir, fmt.Sprintf("collector-%04x-%d.crt", a1, a2)), KeyFile: filepath.Join(dir, fmt.Sprintf("collector-%04x-%d.key", a1, a2)),
		Heartbeat: collector.Duration(time.Second), ReconnectMax: collector.Duration(300 * time.Millisecond), Timeout: collector.Duration(time.Second),
		StoreCap: sc.storeCap, Ports: []collector.Port{{Number: 1, Address: fl.Addr.String()}}, DataDir: t.TempDir(), Clock: s.clock, Loc: cst, Log: log}
	colMaster := testMaster
	if sc.collectorMaster != nil {
		colMaster = sc.collectorMaster
	}
	ccfg.AuthKey = hex.EncodeToString(q1376.TerminalKey(colMaster, q1376.Address{A1: a1, A2: a2}))
	ccfg.PlainTCP = sc.plain
	for i := range sc.meters {
		a, _ := sim.AddressN("000000000001", i)
		m := amigo.Meter{SiteID: s.site.ID, Address: a.String(), CollectorID: s.collector.ID, Port: 1, Pn: i + 1, Password: "02123456",
			Protocol: "dlt645-2007", InstalledAt: sc.start.Add(-72 * time.Hour), Phases: 1, RatedAmps: 60}
		proto := ""
		if sc.proto97[i+1] {
			m.Protocol, proto = "dlt645-1997", "dlt645-1997"
			sm, _ := fl.Bus.Meter(a)
			sm.SpeakOnly1997(true)
		}
		if err := store.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		s.meters = append(s.meters, m)
		ccfg.Meters = append(ccfg.Meters, collector.Meter{Address: a.String(), Port: 1, Pn: uint16(i + 1), Password: "02123456", Protocol: proto})
	}
	if sc.prepare != nil {
		sc.prepare(fl)
	}
	tlsCfg, err := pki.ServerConfig(filepath.Join(dir, pki.CACert), filepath.Join(dir, "station.crt"), filepath.Join(dir, "station.key"))
	if err != nil {
		t.Fatal(err)
	}
	var eng *station.Engine
	// The time tags allow an hour: 12 s of real time at 300 times real
	// speed, ample for a frame queued behind a slow one.
	front := fep.New(fep.Config{TLSAddr: "127.0.0.1:0", TLS: tlsCfg, Heartbeat: time.Second, Now: s.clock.Now, Log: log,
		DownlinkKey: testMaster, DownlinkDelay: time.Hour, PlainAddr: plainAddr(sc.plain),
		OnLogin: func(c amigo.Collector) {
			eng.PushArchive(ctx, c)
			eng.Wake()
		}}, store)
	ecfg := station.Config{Log: log}
	if sc.twoNodes {
		ecfg.Nodes, ecfg.Node, ecfg.LeaseTTL = store, "a", sc.leaseTTL
	}
	eng = station.New(store, frontAdapter{front}, s.clock, ecfg)
	s.eng = eng
	if err := front.Listen(); err != nil {
		t.Fatal(err)
	}
	s.addrA = front.TLSAddr().String()
	var frontB *fep.FEP
	if sc.twoNodes {
		frontB = fep.New(fep.Config{TLSAddr: "127.0.0.1:0", TLS: tlsCfg, Heartbeat: time.Second, Now: s.clock.Now, Log: log,
			DownlinkKey: testMaster, DownlinkDelay: time.Hour,
			OnLogin: func(c amigo.Collector) {
				s.engB.PushArchive(ctx, c)
				s.engB.Wake()
			}}, store)
		s.engB = station.New(store, frontAdapter{frontB}, s.clock, station.Config{Log: log, Nodes: store, Node: "b", LeaseTTL: sc.leaseTTL})
		if err := frontB.Listen(); err != nil {
			t.Fatal(err)
		}
		s.addrB = frontB.TLSAddr().String()
	}
	ccfg.Stations = []string{front.TLSAddr().String()}
	if sc.plain {
		ccfg.Stations = []string{front.PlainAddr().String()}
	}
	done := make(chan struct{}, 4)
	go func() { front.Serve(ctx); done <- struct{}{} }()
	go func() { eng.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	if sc.twoNodes {
		go func() { frontB.Serve(ctx); done <- struct{}{} }()
		go func() { s.engB.Run(ctx); done <- struct{}{} }()
		t.Cleanup(func() { cancel(); <-done; <-done })
	}
	s.stations = func(addrs ...string) { ccfg.Stations = addrs }
	s.colStore, err = colsqlite.Open(filepath.Join(ccfg.DataDir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.colStore.Close() })
	if sc.collectorOffset != 0 {
		if err := s.colStore.SetState(ctx, "clock_offset_ns", strconv.FormatInt(int64(sc.collectorOffset), 10)); err != nil {
			t.Fatal(err)
		}
	}
	s.startCol = func() {
		col, err := collector.New(ccfg, s.colStore)
		if err != nil {
			t.Fatal(err)
		}
		s.col = col
		cctx, ccancel := context.WithCancel(ctx)
		cdone := make(chan struct{})
		go func() { col.Run(cctx); close(cdone) }()
		s.stopCol = func() { ccancel(); <-cdone }
	}
	s.startCol()
	t.Logf("TIMING collector started at virtual %s", s.clock.Now().Format("15:04:05"))
	t.Cleanup(func() { s.stopCol() })
	return s
}

func plainAddr(on bool) string {
	if on {
		return "127.0.0.1:0"
	}
	return ""
}

// waitFor polls ok until it holds, failing the test after d of real time.
func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// daily returns the station's daily reading of meter pn at the freeze
// instant at, if any.
func (s *system) daily(pn int, at time.Time) (amigo.Reading, bool) {
	rs, err := s.store.ListReadings(context.Background(), s.meters[pn-1].ID, amigo.KindDaily, at, at.Add(time.Second))
	if err != nil || len(rs) == 0 {
		return amigo.Reading{}, false
	}
	return rs[0], true
}

// events returns the station's events of a kind.
func (s *system) events(kind string) []amigo.Event {
	es, _, err := s.store.ListEvents(context.Background(), amigo.EventFilter{Kind: kind, Limit: 100})
	if err != nil {
		s.t.Fatal(err)
	}
	return es
}
