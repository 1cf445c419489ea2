package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/internal/postgres"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/q1376"
)

// TestMultiNodeStationHelper is one station process of TestThreeStationsOneKilled
// (the test binary stands in for `amigo station`, its clock shared with the
// test through a common origin); run directly, it skips. Arguments after
// "--": the configuration file, the virtual start (RFC 3339), the real
// origin (Unix ns) and the speed. It prints "ready API TLS" once listening.
func TestMultiNodeStationHelper(t *testing.T) {
	if os.Getenv("AMIGO_MULTINODE_HELPER") != "1" {
		t.Skip("a station process of TestThreeStationsOneKilled")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	if len(args) != 4 {
		fail(fmt.Errorf("want config start origin speed, got %q", args))
	}
	cfg, err := loadStationConfig(args[0])
	if err != nil {
		fail(err)
	}
	start, err := time.Parse(time.RFC3339, args[1])
	if err != nil {
		fail(err)
	}
	origin, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		fail(err)
	}
	speed, err := strconv.ParseFloat(args[3], 64)
	if err != nil {
		fail(err)
	}
	cfg.clock = vclock.NewVirtualAt(start, time.Unix(0, origin), speed)
	cfg.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.ready = func(a stationAddrs) { fmt.Printf("ready %s %s\n", a.API, a.CollectorsTLS) }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	err = stationMain(ctx, cfg)
	stop()
	if err != nil {
		fail(err)
	}
	os.Exit(0)
}

// node is a station process of the test.
type node struct {
	name     string
	cmd      *exec.Cmd
	api, tls string
	log      string // its stderr
	done     chan error
}

// TestThreeStationsOneKilled runs three station processes on one
// PostgreSQL database with six collectors spread across them (collector k
// tries station k mod 3 first, then the next ones in turn), kills one with
// SIGKILL in the middle of the nightly collection, and checks that its
// collectors go on at the others (their leases taken once the killed
// node's expired), that every meter's daily reading of the night is stored
// once and no reading conflicts, and that every command — a disconnect
// per meter before the kill, a reconnect per meter after it, each asked of
// a node that does not hold the meter's collector — reaches its meter
// exactly once.
func TestThreeStationsOneKilled(t *testing.T) {
	dsn := os.Getenv("AMIGO_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AMIGO_TEST_POSTGRES not set: skipping the three-station test (set it to a DSN such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)")
	}
	if testing.Short() {
		t.Skip("starts three station processes")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dbURL := tempDatabase(t, dsn)
	dir := t.TempDir()

	// 60 virtual seconds per real second: a real-time slot (15 min) is
	// 15 s. Nothing depends on what comes first, the stations' start and
	// the first commands or midnight.
	const speed = 60
	cst := time.FixedZone("CST", 8*3600)
	start := time.Date(2026, 6, 1, 23, 55, 0, 0, cst)
	origin := time.Now()
	clock := vclock.NewVirtualAt(start, origin, speed)
	midnight := time.Date(2026, 6, 2, 0, 0, 0, 0, cst)

	// One CA, one server certificate, one downlink master key for all.
	if err := pki.InitCA(dir, "test"); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssueServer(dir, dir, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	master := []byte("three stations share one master!")
	keyFile := filepath.Join(dir, "downlink.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(master)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The archive: one site, 6 collectors with 3 meters each on one line.
	store, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const nCol, perCol = 6, 3
	site := amigo.Site{Name: "campus", TimeZone: "Asia/Shanghai"}
	if err := store.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	if err := ensureAdmin(ctx, store, "correct-horse", clock.Now, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	fleet, err := sim.Start(ctx, sim.Config{Meters: nCol * perCol, Listen: "127.0.0.1:0", Seed: 3, Clock: clock, Location: cst, Profile: "office"})
	if err != nil {
		t.Fatal(err)
	}
	// Collector 3's meter line goes through a switch, down until the kill:
	// its night cannot be collected before.
	line := startLineSwitch(t, fleet.Addr.String())
	line.set(false)
	cols := make([]amigo.Collector, nCol)
	meters := make([][]amigo.Meter, nCol)
	ccfgs := make([]collector.Config, nCol)
	for k := range nCol {
		a2 := uint16(k + 1)
		cols[k] = amigo.Collector{SiteID: site.ID, Name: fmt.Sprintf("c%d", k), Address: fmt.Sprintf("%04X-%d", 0x0171, a2)}
		if err := store.CreateCollector(ctx, &cols[k]); err != nil {
			t.Fatal(err)
		}
		if _, err := pki.IssueCollector(dir, dir, 0x0171, a2); err != nil {
			t.Fatal(err)
		}
		ccfgs[k] = collector.Config{Terminal: cols[k].Address, CAFile: filepath.Join(dir, pki.CACert),
			CertFile: filepath.Join(dir, fmt.Sprintf("collector-%04x-%d.crt", 0x0171, a2)), KeyFile: filepath.Join(dir, fmt.Sprintf("collector-%04x-%d.key", 0x0171, a2)),
			AuthKey:   hex.EncodeToString(q1376.TerminalKey(master, q1376.Address{A1: 0x0171, A2: a2})),
			Heartbeat: collector.Duration(time.Second), ReconnectMax: collector.Duration(300 * time.Millisecond), Timeout: collector.Duration(time.Second),
			Ports: []collector.Port{{Number: 1, Address: fleet.Addr.String()}}, DataDir: t.TempDir(), Clock: clock, Loc: cst,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if k == 3 {
			ccfgs[k].Ports[0].Address = line.addr
		}
		for p := range perCol {
			a, _ := sim.AddressN("000000000001", k*perCol+p)
			m := amigo.Meter{SiteID: site.ID, Address: a.String(), CollectorID: cols[k].ID, Port: 1, Pn: p + 1, Password: "02123456",
				Protocol: "dlt645-2007", InstalledAt: start.Add(-72 * time.Hour), Phases: 1, RatedAmps: 60}
			if err := store.CreateMeter(ctx, &m); err != nil {
				t.Fatal(err)
			}
			meters[k] = append(meters[k], m)
			ccfgs[k].Meters = append(ccfgs[k].Meters, collector.Meter{Address: a.String(), Port: 1, Pn: uint16(p + 1), Password: "02123456"})
		}
	}

	// Three station processes, each with its own ports, on the same store.
	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = startNode(t, dir, fmt.Sprintf("node%d", i), map[string]any{
			"store": dbURL, "http": "127.0.0.1:0", "collectors_tls": "127.0.0.1:0",
			"ca_file": filepath.Join(dir, pki.CACert), "cert_file": filepath.Join(dir, "station.crt"), "key_file": filepath.Join(dir, "station.key"),
			"heartbeat": "1s", "daily_after": "2m", "secret_file": filepath.Join(dir, "api.secret"), "downlink_key_file": keyFile,
			"node": fmt.Sprintf("node%d", i), "lease_ttl": "5s",
		}, start, origin, speed)
	}
	defer func() {
		if t.Failed() {
			for _, n := range nodes {
				b, _ := os.ReadFile(n.log)
				t.Logf("%s's log (last 4 KB):\n%s", n.name, lastBytes(b, 4096))
			}
		}
	}()

	// The collectors, collector k trying station k mod 3 first.
	for k := range nCol {
		for i := range 3 {
			ccfgs[k].Stations = append(ccfgs[k].Stations, nodes[(k+i)%3].tls)
		}
		cs, err := colsqlite.Open(filepath.Join(ccfgs[k].DataDir, "collector.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		col, err := collector.New(ccfgs[k], cs)
		if err != nil {
			t.Fatal(err)
		}
		cctx, ccancel := context.WithCancel(ctx)
		cdone := make(chan struct{})
		go func() { col.Run(cctx); close(cdone) }()
		defer func() { ccancel(); <-cdone }()
	}

	holders := func() map[string]string {
		live, err := store.Leases(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return live
	}
	// Each collector is held by the node it dialled first.
	waitUntil(t, "each collector leased by the station it dialled first", 120*time.Second, func() bool {
		live := holders()
		for k := range nCol {
			if live["collector/"+cols[k].Address] != nodes[k%3].name {
				return false
			}
		}
		return true
	})

	// Commands go through the API of a node that does not hold the meter;
	// the nodes share the key that signs tokens: one login serves all.
	login := &client{t: t, base: "http://" + nodes[1].api}
	var tok struct{ Token string }
	if code := login.do("POST", "/api/v1/login", map[string]string{"username": "admin", "password": "correct-horse"}, &tok); code != 200 {
		t.Fatalf("login at %s: %d", nodes[1].name, code)
	}
	api := func(n *node) *client { return &client{t: t, base: "http://" + n.api, token: tok.Token} }
	submit := func(c *client, m amigo.Meter, typ string) int64 {
		var cmd amigo.Command
		if code := c.do("POST", "/api/v1/meters/"+m.Address+"/commands", map[string]string{"type": typ}, &cmd); code != 202 && code != 201 {
			t.Fatalf("%s %s: %d", typ, m.Address, code)
		}
		return cmd.ID
	}
	allDone := func(ids []int64) func() bool {
		return func() bool {
			for _, id := range ids {
				c, err := store.GetCommand(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				switch c.Status {
				case amigo.CmdSucceeded:
				case amigo.CmdFailed, amigo.CmdExpired:
					t.Fatalf("command %d (%s): %s %s", id, c.Type, c.Status, c.Reason)
				default:
					return false
				}
			}
			return true
		}
	}
	// A disconnect for the first meter of every collector but collector 3
	// (its line is down), asked of the next node.
	var before []int64
	for k := range nCol {
		if k != 3 {
			before = append(before, submit(api(nodes[(k+1)%3]), meters[k][0], amigo.CmdDisconnect))
		}
	}
	waitUntil(t, "the disconnects carried out", 120*time.Second, allDone(before))

	// Node 0 holds collectors 0 and 3. Kill it once collector 0's night
	// is stored: collector 3's is not, its line being down.
	victim := nodes[0]
	daily := func(m amigo.Meter) int {
		rs, err := store.ListReadings(ctx, m.ID, amigo.KindDaily, midnight, midnight.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	count := func(ks ...int) (n int) {
		for _, k := range ks {
			for _, m := range meters[k] {
				n += daily(m)
			}
		}
		return n
	}
	waitUntil(t, "collector 0's night", 120*time.Second, func() bool { return count(0) == perCol })
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	killedAt := clock.Now()
	t.Logf("%s killed at %s with %d of its collectors' %d daily readings of the night stored", victim.name, killedAt.Format(time.TimeOnly), count(0, 3), 2*perCol)
	if n := count(3); n != 0 {
		t.Fatalf("collector 3's night stored before the kill (%d readings) with its line down", n)
	}
	line.set(true)

	// A reconnect for the same meters, asked of a surviving node at once.
	var after []int64
	for k := range nCol {
		after = append(after, submit(api(nodes[1+k%2]), meters[k][0], amigo.CmdReconnect))
	}

	// The killed node's collectors are held by the others, their night
	// collected, and their real-time collection goes on.
	waitUntil(t, "every collector leased by a surviving node", 120*time.Second, func() bool {
		live := holders()
		for k := range nCol {
			if h := live["collector/"+cols[k].Address]; h != nodes[1].name && h != nodes[2].name {
				return false
			}
		}
		return true
	})
	waitUntil(t, "every meter's daily reading of the night", 120*time.Second, func() bool { return count(0, 1, 2, 3, 4, 5) == nCol*perCol })
	waitUntil(t, "real-time readings of the killed node's collectors after the kill", 120*time.Second, func() bool {
		for _, k := range []int{0, 3} {
			for _, m := range meters[k] {
				rs, err := store.ListReadings(ctx, m.ID, amigo.KindRealtime, killedAt, killedAt.Add(24*time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				if len(rs) == 0 {
					return false
				}
			}
		}
		return true
	})
	waitUntil(t, "the reconnects carried out", 120*time.Second, allDone(after))

	// Every reading once: one daily reading per meter for the night, and
	// no conflict (a second, different value for a key) anywhere.
	for k := range nCol {
		for _, m := range meters[k] {
			if n := daily(m); n != 1 {
				t.Errorf("meter %s: %d daily readings of the night, want 1", m.Address, n)
			}
		}
	}
	if es, n, err := store.ListEvents(ctx, amigo.EventFilter{Kind: amigo.EventConflict, Limit: 10}); err != nil || n != 0 {
		t.Errorf("conflict events: %d %v %+v", n, err, es)
	}
	// Nobody judged a collector offline: each moved within its lease, and
	// only a node that holds a lease, or could take a lease free for a
	// TTL, judges.
	if es, n, err := store.ListEvents(ctx, amigo.EventFilter{Kind: amigo.EventCollectorDown, Limit: 10}); err != nil || n != 0 {
		t.Errorf("collector offline events: %d %v %+v", n, err, es)
	}
	// Every command once: each commanded meter received two 1CH frames
	// (the disconnect and the reconnect; collector 3's only the
	// reconnect), the others none.
	for k := range nCol {
		for p, m := range meters[k] {
			a, _ := sim.AddressN("000000000001", k*perCol+p)
			sm, _ := fleet.Bus.Meter(a)
			want := uint32(0)
			switch {
			case p == 0 && k == 3:
				want = 1
			case p == 0:
				want = 2
			}
			if got := sm.ControlFrames(); got != want {
				t.Errorf("meter %s received %d control frames, want %d", m.Address, got, want)
			}
			if sm.RelayOpen() {
				t.Errorf("meter %s: relay open after the reconnect", m.Address)
			}
		}
	}
}

// lineSwitch is a TCP relay to a meter line that can be switched off: off,
// it closes the connections it carries and refuses new ones.
type lineSwitch struct {
	addr string
	mu   sync.Mutex
	on   bool
	open map[net.Conn]bool
}

func startLineSwitch(t *testing.T, to string) *lineSwitch {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s := &lineSwitch{addr: l.Addr().String(), on: true, open: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.relay(c, to)
		}
	}()
	return s
}

func (s *lineSwitch) relay(c net.Conn, to string) {
	defer c.Close()
	u, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer u.Close()
	s.mu.Lock()
	if !s.on {
		s.mu.Unlock()
		return
	}
	s.open[c], s.open[u] = true, true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.open, c)
		delete(s.open, u)
		s.mu.Unlock()
	}()
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
}

func (s *lineSwitch) set(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.on = on
	if !on {
		for c := range s.open {
			c.Close()
		}
	}
}

// startNode starts a station process with configuration cfg and waits until
// it listens; it is stopped (SIGTERM) when the test ends.
func startNode(t *testing.T, dir, name string, cfg map[string]any, start, origin time.Time, speed float64) *node {
	t.Helper()
	path := filepath.Join(dir, name+".json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, log: filepath.Join(dir, name+".log"), done: make(chan error, 1)}
	logf, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	n.cmd = exec.Command(os.Args[0], "-test.run=^TestMultiNodeStationHelper$", "--", path, start.Format(time.RFC3339), strconv.FormatInt(origin.UnixNano(), 10), strconv.FormatFloat(speed, 'g', -1, 64))
	n.cmd.Env = append(os.Environ(), "AMIGO_MULTINODE_HELPER=1")
	n.cmd.Stderr = logf
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "ready" {
				ready <- f[1:]
			}
		}
		n.done <- n.cmd.Wait()
	}()
	t.Cleanup(func() {
		if n.cmd.ProcessState != nil {
			return
		}
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(20 * time.Second):
			n.cmd.Process.Kill()
			t.Errorf("%s did not stop on SIGTERM within 20 s", name)
		}
	})
	select {
	case f := <-ready:
		n.api, n.tls = f[0], f[1]
	case err := <-n.done:
		b, _ := os.ReadFile(n.log)
		t.Fatalf("%s exited before listening: %v\n%s", name, err, b)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s not listening within 60 s", name)
	}
	return n
}

// tempDatabase creates a database on the server of dsn, dropped when the
// test ends, and returns its URL.
func tempDatabase(t *testing.T, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("amigo_multinode_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// waitUntil checks ok every 50 ms until it holds, failing the test after d
// of real time.
func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	began := time.Now()
	for !ok() {
		select {
		case <-deadline.C:
			t.Fatalf("not within %s: %s", d, what)
		case <-tick.C:
		}
	}
	t.Logf("%s: after %s", what, time.Since(began).Round(time.Millisecond))
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
