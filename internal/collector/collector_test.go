package collector_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/q1376"
)

var cst = time.FixedZone("CST", 8*3600)

var terminal = q1376.Address{A1: 0x0171, A2: 2082}

// certs makes a CA, a station certificate and this collector's certificate.
func certs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := pki.InitCA(dir, "test"); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssueServer(dir, dir, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.IssueCollector(dir, dir, terminal.A1, terminal.A2); err != nil {
		t.Fatal(err)
	}
	return dir
}

// peer is a 1376.1 station test peer: a TLS server that confirms logins and
// heartbeats and lets the test send requests and read answers.
type peer struct {
	t      *testing.T
	l      net.Listener
	mu     sync.Mutex
	conn   net.Conn
	frames chan *q1376.Frame
	seq    uint8
	login  chan string
}

func newPeer(t *testing.T, dir, addr string) *peer {
	t.Helper()
	cfg, err := pki.ServerConfig(filepath.Join(dir, pki.CACert), filepath.Join(dir, "station.crt"), filepath.Join(dir, "station.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, l: l, frames: make(chan *q1376.Frame, 1000), login: make(chan string, 10)}
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.conn != nil {
			p.conn.Close()
		}
	})
	return p
}

func (p *peer) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conn = c
		p.mu.Unlock()
		go p.read(c, pki.PeerName(tc.ConnectionState()))
	}
}

func (p *peer) read(c net.Conn, cn string) {
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	sc.Split(q1376.Split)
	for sc.Scan() {
		f, err := q1376.Parse(sc.Bytes())
		if err != nil {
			continue
		}
		if fn, ok := f.IsLink(); ok {
			p.write(q1376.Confirm(f))
			if fn == 1 {
				p.login <- cn + " " + f.Address.String()
			}
			continue
		}
		p.frames <- f
	}
}

func (p *peer) write(f *q1376.Frame) {
	b, err := q1376.AppendFrame(nil, f)
	if err != nil {
		p.t.Error(err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		p.conn.Write(b)
	}
}

// ask sends a request and returns the answer frames (until FIN).
func (p *peer) ask(afn q1376.AFN, units ...q1376.Unit) []*q1376.Frame {
	p.t.Helper()
	p.seq = (p.seq + 1) & 0x0F
	req := q1376.Request(q1376.Address{A1: terminal.A1, A2: terminal.A2, MSA: 1}, afn, p.seq, nil, units...)
	raw, err := q1376.AppendFrame(nil, req)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.askRaw(raw)
}

// askRaw sends a request's bytes and returns the answer frames (until
// FIN) that carry its sequence number.
func (p *peer) askRaw(raw []byte) []*q1376.Frame {
	p.t.Helper()
	// AFN and SEQ at their places (the data may be bad on purpose).
	afn, num := q1376.AFN(raw[12]), raw[13]&0x0F
	p.mu.Lock()
	if p.conn != nil {
		p.conn.Write(raw)
	}
	p.mu.Unlock()
	var out []*q1376.Frame
	for {
		select {
		case f := <-p.frames:
			if f.Seq.Num != num {
				continue
			}
			out = append(out, f)
			if f.Seq.FIN || f.AFN == q1376.AFNConfirm {
				return out
			}
		case <-time.After(20 * time.Second):
			p.t.Fatalf("no answer to AFN %02X", byte(afn))
		}
	}
}

type rig struct {
	clock   *vclock.Virtual
	fleet   *sim.Fleet
	c       *collector.Collector
	dir     string
	station string
	stored  chan collector.Reading
	cancel  context.CancelFunc
	done    chan struct{}
}

func startRig(t *testing.T, start time.Time, speed float64, meters int, station string, dir string) *rig {
	t.Helper()
	return startRigWith(t, start, speed, meters, station, dir, nil)
}

// startRigWith starts a rig whose configuration edit changes first.
func startRigWith(t *testing.T, start time.Time, speed float64, meters int, station string, dir string, edit func(*collector.Config)) *rig {
	t.Helper()
	clock := vclock.NewVirtual(start, speed)
	ctx, cancel := context.WithCancel(context.Background())
	fl, err := sim.Start(ctx, sim.Config{Meters: meters, Listen: "127.0.0.1:0", Seed: 5, Clock: clock, Location: cst, Profile: "office"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := collector.Config{
		Terminal: terminal.String(), Stations: []string{station},
		CAFile: filepath.Join(dir, pki.CACert), CertFile: filepath.Join(dir, "collector-0171-2082.crt"), KeyFile: filepath.Join(dir, "collector-0171-2082.key"),
		Heartbeat: collector.Duration(time.Second), ReconnectMax: collector.Duration(300 * time.Millisecond), Timeout: collector.Duration(time.Second),
		Ports:   []collector.Port{{Number: 1, Address: fl.Addr.String()}},
		DataDir: t.TempDir(), Clock: clock, Loc: cst, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	for i := range meters {
		a, _ := sim.AddressN("000000000001", i)
		cfg.Meters = append(cfg.Meters, collector.Meter{Address: a.String(), Port: 1, Pn: uint16(i + 1), Password: "02123456"})
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := collector.New(cfg, openStore(t, cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{clock: clock, fleet: fl, c: c, dir: dir, station: station, stored: make(chan collector.Reading, 100000), cancel: cancel, done: make(chan struct{})}
	c.OnStored = func(rd collector.Reading) { r.stored <- rd }
	go func() { c.Run(ctx); close(r.done) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// openStore opens a collector store in dir, closed when the test ends
// (after the collector stopped: cleanups run last-in first-out).
func openStore(t *testing.T, dir string) *colsqlite.Store {
	t.Helper()
	st, err := colsqlite.Open(filepath.Join(dir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReadingsControlsAndForwarding(t *testing.T) {
	dir := certs(t)
	station := freePort(t)
	p := newPeer(t, dir, station)
	r := startRig(t, time.Date(2026, 1, 1, 23, 58, 0, 0, cst), 60, 3, station, dir)
	select {
	case who := <-p.login:
		if who != "0171-2082 0171-2082" {
			t.Fatalf("login from %q", who)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no login")
	}
	waitFor(t, "real-time readings", 10*time.Second, func() bool {
		n, _ := r.c.Store().Undelivered(context.Background(), collector.KindRealtime)
		return n >= 3
	})
	// Real-time energy of every meter, answered from the store, CON set.
	ans := p.ask(q1376.AFNClass1, q1376.Unit{Pn: []uint16{1, 2, 3}, Fn: []uint16{129}})
	items, err := ans[0].Items()
	if err != nil || len(items) != 3 || !ans[0].Seq.CON {
		t.Fatalf("F129 answer %v %v", items, err)
	}
	for _, it := range items {
		ind, err := q1376.ParseIndication(it.Data)
		if err != nil {
			t.Fatal(err)
		}
		stored, _, _ := r.c.Store().Latest(context.Background(), it.Pn, collector.KindRealtime)
		if ind.Values[0].Mant != stored.Fwd[0]*100 || ind.Values[0].Scale != 4 {
			t.Errorf("p%d: sent %s, stored %d", it.Pn, ind.Values[0], stored.Fwd[0])
		}
		m, _ := r.fleet.Bus.Meter(mustAddr(t, fmt.Sprintf("%012d", it.Pn)))
		if now := m.ForwardTotal(r.clock.Now()); now.Mant < stored.Fwd[0] {
			t.Errorf("p%d: meter reads %s now, below the stored %d", it.Pn, now, stored.Fwd[0])
		}
	}
	// Not delivered until the station confirms.
	if n, _ := r.c.Store().Undelivered(context.Background(), collector.KindRealtime); n < 3 {
		t.Fatalf("delivered before confirmation: %d undelivered", n)
	}
	p.write(&q1376.Frame{Control: q1376.CtlMasterAck, Address: ans[0].Address, AFN: q1376.AFNConfirm, Seq: q1376.Single(ans[0].Seq.Num, false), Units: []q1376.Unit{q1376.NewUnit(0, 1, nil)}})
	waitFor(t, "delivery marks", 5*time.Second, func() bool {
		rs, _ := r.c.Store().List(context.Background(), 0, collector.KindRealtime)
		delivered := 0
		for _, x := range rs {
			if x.Delivered {
				delivered++
			}
		}
		return delivered == 3
	})
	// Instantaneous values.
	ans = p.ask(q1376.AFNClass1, q1376.NewUnit(1, 25, nil))
	in, err := q1376.ParseInstant(ans[0].Units[0].Data)
	if err != nil || !in.U[0].Valid || in.U[0].Mant < 2100 {
		t.Fatalf("F25: %+v %v", in, err)
	}
	// The daily freeze of 2026-01-01 arrives after 00:05.
	waitFor(t, "daily frozen data", 20*time.Second, func() bool {
		ok, _ := r.c.Store().Has(context.Background(), 1, collector.KindDaily, time.Date(2026, 1, 2, 0, 0, 0, 0, cst))
		return ok
	})
	ans = p.ask(q1376.AFNClass2, q1376.NewUnit(1, 161, q1376.Day{Year: 2026, Month: 1, Day: 1}.AppendTd(nil)))
	if ans[0].AFN != q1376.AFNClass2 {
		t.Fatalf("F161 answered with AFN %02X", byte(ans[0].AFN))
	}
	day, _ := q1376.ParseDay(ans[0].Units[0].Data)
	ind, err := q1376.ParseIndication(ans[0].Units[0].Data[3:])
	if err != nil || day.String() != "2026-01-01" || !ind.Values[0].Valid {
		t.Fatalf("F161 %v %+v %v", day, ind, err)
	}
	m1, _ := r.fleet.Bus.Meter(mustAddr(t, "000000000001"))
	_, frozen, _ := m1.DailyFrozen(r.clock.Now(), 1)
	if ind.Values[0].Mant != frozen.Mant*100 {
		t.Fatalf("F161 total %s, meter froze %s", ind.Values[0], frozen)
	}
	// A day the collector does not have: deny.
	ans = p.ask(q1376.AFNClass2, q1376.NewUnit(1, 161, q1376.Day{Year: 2025, Month: 6, Day: 1}.AppendTd(nil)))
	if ok, isC := ans[0].IsConfirm(); ok || !isC {
		t.Fatal("a missing day was not denied")
	}
	// Trip meter 2, read its relay back, close it again.
	m2, _ := r.fleet.Bus.Meter(mustAddr(t, "000000000002"))
	ans = p.ask(q1376.AFNControl, q1376.NewUnit(2, 1, []byte{0}))
	if ok, _ := ans[0].IsConfirm(); !ok || !m2.RelayOpen() {
		t.Fatalf("trip: confirmed %v, relay open %v", ok, m2.RelayOpen())
	}
	if v, _ := r.c.Store().GetState(context.Background(), "relay_000000000002"); v != "0050" {
		t.Fatalf("relay state read back %q", v)
	}
	ans = p.ask(q1376.AFNControl, q1376.NewUnit(2, 2, nil))
	if ok, _ := ans[0].IsConfirm(); !ok || m2.RelayOpen() {
		t.Fatalf("close: confirmed %v, relay open %v", ok, m2.RelayOpen())
	}
	// A control of a meter that does not exist is denied.
	ans = p.ask(q1376.AFNControl, q1376.NewUnit(9, 1, []byte{0}))
	if ok, _ := ans[0].IsConfirm(); ok {
		t.Fatal("control of an unknown point confirmed")
	}
	// Transparent forwarding: the station's own 645 read of meter 3.
	req := dlt645.ReadRequest(mustAddr(t, "000000000003"), dlt645.DIStatusWord3)
	wire, _ := dlt645.AppendFrame(nil, &req)
	fwd, _ := q1376.Forward{Port: 1, Control: q1376.Control2400_8E1, FrameTimeout: 2 * time.Second, ByteTimeout: 100 * time.Millisecond, Content: wire}.Append(nil)
	ans = p.ask(q1376.AFNForward, q1376.NewUnit(0, 1, fwd))
	fr, err := q1376.ParseForwardReply(ans[0].Units[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	var inner dlt645.Frame
	if _, err := inner.Decode(fr.Content); err != nil || inner.Address.String() != "000000000003" {
		t.Fatalf("forwarded reply % X: %v", fr.Content, err)
	}
	// A data unit that does not decode (F161 without its day) is denied.
	ans = p.ask(q1376.AFNClass2, q1376.NewUnit(1, 161, nil))
	if ok, isC := ans[0].IsConfirm(); ok || !isC {
		t.Fatal("a truncated request was not denied")
	}
	// Event records (AFN 0E F1): a new collector has counters and pointers
	// and no records yet.
	ans = p.ask(q1376.AFNClass3, q1376.NewUnit(0, 1, []byte{0, 0}))
	if ev, err := q1376.ParseEvents(ans[0].Units[0].Data); ans[0].AFN != q1376.AFNClass3 || err != nil || len(ev.Records) != 0 {
		t.Fatalf("AFN 0E: %+v %v", ans[0], err)
	}
	// An unsupported AFN is denied, and the link stays up.
	ans = p.ask(q1376.AFN(0x0F), q1376.NewUnit(0, 1, nil))
	if ok, isC := ans[0].IsConfirm(); ok || !isC {
		t.Fatal("AFN 0F not denied")
	}
	// The archive pushed by the station takes precedence and is stored.
	arch, _ := q1376.AppendArchive(nil, []q1376.ArchiveEntry{{Seq: 1, Pn: 7, Port: 1, Baud: 2400, Protocol: q1376.ProtoDLT645_2007, Address: mustAddr(t, "000000000001"), Password: [6]byte{2, 0x56, 0x34, 0x12}}})
	ans = p.ask(q1376.AFNSet, q1376.NewUnit(0, 10, arch))
	if ok, _ := ans[0].IsConfirm(); !ok {
		t.Fatal("archive refused")
	}
	if ms := r.c.Meters(); len(ms) != 1 || ms[0].Pn != 7 || ms[0].Auth.Password != 0x123456 {
		t.Fatalf("archive in force %+v", ms)
	}
	ans = p.ask(q1376.AFNQuery, q1376.NewUnit(0, 10, []byte{0, 0}))
	entries, err := q1376.ParseArchive(ans[0].Units[0].Data)
	if err != nil || len(entries) != 1 || entries[0].Address.String() != "000000000001" {
		t.Fatalf("archive query %+v %v", entries, err)
	}
}

func mustAddr(t *testing.T, s string) dlt645.Address {
	t.Helper()
	a, err := dlt645.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A station outage of three simulated days loses no daily reading: when the
// station returns it asks for each missed day and gets every one.
func TestStationOutageOfThreeDays(t *testing.T) {
	dir := certs(t)
	station := freePort(t) // nobody listens yet
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, cst)
	r := startRig(t, start, 40000, 4, station, dir)
	// Three days and two hours of the virtual clock pass (its own timer).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := vclock.SleepUntil(ctx, r.clock, start.Add(3*24*time.Hour+2*time.Hour)); err != nil {
		t.Fatalf("three virtual days did not pass: %v", err)
	}
	p := newPeer(t, dir, station)
	select {
	case <-p.login:
	case <-time.After(10 * time.Second):
		t.Fatal("no login after the outage")
	}
	for d := 1; d <= 3; d++ {
		day := q1376.DayOf(start.AddDate(0, 0, d-1))
		var units []q1376.Unit
		for pn := uint16(1); pn <= 4; pn++ {
			units = append(units, q1376.NewUnit(pn, 161, day.AppendTd(nil)))
		}
		ans := p.ask(q1376.AFNClass2, units...)
		got := 0
		for _, f := range ans {
			for _, u := range f.Units {
				if d2, err := q1376.ParseDay(u.Data); err == nil && d2 == day {
					got++
				}
			}
		}
		if got != 4 {
			t.Errorf("day %s: %d of 4 meters' frozen data", day, got)
		}
	}
}

// The collector reads a bus of meters on a real serial line (a pty pair
// opened at 2400 8E1).
func TestPtyLine(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := vclock.NewVirtual(time.Date(2026, 5, 1, 10, 0, 0, 0, cst), 600)
	fl, err := sim.Start(ctx, sim.Config{Meters: 2, Pty: true, Seed: 2, Clock: clock, Location: cst})
	if err != nil {
		t.Fatal(err)
	}
	dir := certs(t)
	cfg := collector.Config{Terminal: "0171-9", Stations: []string{freePort(t)}, CAFile: filepath.Join(dir, pki.CACert), CertFile: filepath.Join(dir, "collector-0171-2082.crt"), KeyFile: filepath.Join(dir, "collector-0171-2082.key"),
		Ports:   []collector.Port{{Number: 2, Device: fl.PtyPath, Baud: 2400, Parity: "even"}},
		Meters:  []collector.Meter{{Address: "000000000001", Port: 2, Pn: 1}, {Address: "000000000002", Port: 2, Pn: 2}},
		DataDir: t.TempDir(), Clock: clock, Loc: cst, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	c, err := collector.New(cfg, openStore(t, cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	stored := make(chan collector.Reading, 100)
	c.OnStored = func(r collector.Reading) { stored <- r }
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	seen := map[uint16]bool{}
	for len(seen) < 2 {
		select {
		case r := <-stored:
			if r.Kind == collector.KindRealtime && r.Fwd[0] > 0 && len(r.F25) > 0 {
				seen[r.Pn] = true
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("readings over the pty: %v", seen)
		}
	}
	cancel()
	<-done
}

func TestBadConfig(t *testing.T) {
	for _, c := range []collector.Config{
		{Terminal: "xyz", Stations: []string{"a:1"}, PlainTCP: true, DataDir: "d"},
		{Terminal: "0171-0", Stations: []string{"a:1"}, PlainTCP: true, DataDir: "d"},
		{Terminal: "0171-1", PlainTCP: true, DataDir: "d"},
		{Terminal: "0171-1", Stations: []string{"a:1"}, DataDir: "d"},
		{Terminal: "0171-1", Stations: []string{"a:1"}, PlainTCP: true, DataDir: "d", Ports: []collector.Port{{Number: 1, Address: "x:1"}}, Meters: []collector.Meter{{Address: "000000000001", Port: 2, Pn: 1}}},
		{Terminal: "0171-1", Stations: []string{"a:1"}, PlainTCP: true, DataDir: "d", Ports: []collector.Port{{Number: 1, Address: "x:1", Parity: "mark"}}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

func TestEventCountersAreKept(t *testing.T) {
	dir := certs(t)
	r := startRig(t, time.Date(2026, 2, 1, 9, 0, 0, 0, cst), 60, 2, freePort(t), dir)
	m, _ := r.fleet.Bus.Meter(mustAddr(t, "000000000002"))
	m.OpenCover()
	waitFor(t, "event counters", 20*time.Second, func() bool {
		v, _ := r.c.Store().GetState(context.Background(), "events_cover_open_000000000002")
		return v == "1"
	})
}
