package collector_test

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/q1376"
)

// master is the station's master key of these tests (00 01 … 1F).
var master = func() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

var stationAddr = q1376.Address{A1: terminal.A1, A2: terminal.A2, MSA: 1}

// signed returns the bytes of a master's command to the test terminal,
// sent at `at` with counter pfc and delay d, signed with key.
func signed(t *testing.T, key []byte, seq, pfc uint8, at time.Time, d time.Duration, afn q1376.AFN, units ...q1376.Unit) []byte {
	t.Helper()
	f := q1376.Request(stationAddr, afn, seq, nil, units...)
	f.Tp = q1376.TpAt(pfc, at, d)
	if err := q1376.Sign(f, key); err != nil {
		t.Fatal(err)
	}
	raw, err := q1376.AppendFrame(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// authEvents returns the collector's ERC 20 records.
func authEvents(t *testing.T, st collector.Store) []q1376.ERC {
	t.Helper()
	evs, err := st.Events(context.Background(), 1, 0, collector.EventsKept)
	if err != nil {
		t.Fatal(err)
	}
	var out []q1376.ERC
	for _, e := range evs {
		if e.ERC != q1376.ERCAuth {
			continue
		}
		r, err := q1376.ParseERC(q1376.EventRecord{ERC: e.ERC, Data: e.Data})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func denied(ans []*q1376.Frame) bool {
	ok, isConfirm := ans[0].IsConfirm()
	return isConfirm && !ok
}

// Over a TLS link, a collector with a key carries out a correctly signed
// trip and refuses — deny, relay untouched, ERC 20 recorded — a replay of
// it, a frame signed with another key, an unsigned one and a stale one; a
// restart keeps the replay mark.
func TestCommandsAreAuthenticated(t *testing.T) {
	dir := certs(t)
	station := freePort(t)
	p := newPeer(t, dir, station)
	key := q1376.TerminalKey(master, terminal)
	// Real speed: the minute windows of the refusal records hold.
	r := startRigWith(t, time.Date(2026, 6, 1, 10, 0, 0, 0, cst), 1, 2, station, dir, func(c *collector.Config) {
		c.AuthKey = hex.EncodeToString(key)
	})
	<-p.login
	m2, _ := r.fleet.Bus.Meter(mustAddr(t, "000000000002"))
	trip := q1376.NewUnit(2, q1376.FnRemoteTrip, []byte{0})
	closeIt := q1376.NewUnit(2, q1376.FnAllowClose, nil)

	// A good trip: carried out.
	tripRaw := signed(t, key, 1, 1, r.clock.Now().In(cst), 5*time.Minute, q1376.AFNControl, trip)
	if ans := p.askRaw(tripRaw); denied(ans) || !m2.RelayOpen() {
		t.Fatalf("signed trip: denied %v, relay open %v", denied(ans), m2.RelayOpen())
	}
	// Close it again (a later PFC), then replay the captured trip: the same
	// bytes are refused and the relay stays closed.
	if ans := p.askRaw(signed(t, key, 2, 2, r.clock.Now().In(cst), 5*time.Minute, q1376.AFNControl, closeIt)); denied(ans) || m2.RelayOpen() {
		t.Fatalf("signed close: denied %v, relay open %v", denied(ans), m2.RelayOpen())
	}
	if ans := p.askRaw(tripRaw); !denied(ans) || m2.RelayOpen() {
		t.Fatalf("replayed trip: denied %v, relay open %v", denied(ans), m2.RelayOpen())
	}
	// Signed with another terminal's key; not signed at all (zero PW, as
	// before this change): bad PW.
	other := q1376.TerminalKey(master, q1376.Address{A1: terminal.A1, A2: terminal.A2 + 1})
	if ans := p.askRaw(signed(t, other, 3, 3, r.clock.Now().In(cst), 5*time.Minute, q1376.AFNControl, trip)); !denied(ans) || m2.RelayOpen() {
		t.Fatalf("another key: denied %v, relay open %v", denied(ans), m2.RelayOpen())
	}
	if ans := p.ask(q1376.AFNControl, trip); !denied(ans) || m2.RelayOpen() {
		t.Fatalf("unsigned: denied %v, relay open %v", denied(ans), m2.RelayOpen())
	}
	// Sent 6 minutes ago with 5 allowed: stale.
	if ans := p.askRaw(signed(t, key, 4, 4, r.clock.Now().In(cst).Add(-6*time.Minute), 5*time.Minute, q1376.AFNControl, trip)); !denied(ans) || m2.RelayOpen() {
		t.Fatalf("stale: denied %v, relay open %v", denied(ans), m2.RelayOpen())
	}
	// The archive push (AFN 04) and transparent forwarding (AFN 10) are
	// commands too.
	arch, _ := q1376.AppendArchive(nil, []q1376.ArchiveEntry{{Seq: 1, Pn: 7, Port: 1, Baud: 2400, Protocol: q1376.ProtoDLT645_2007, Address: mustAddr(t, "000000000001")}})
	if ans := p.ask(q1376.AFNSet, q1376.NewUnit(0, q1376.FnMeterArchive, arch)); !denied(ans) || len(r.c.Meters()) != 2 {
		t.Fatalf("unsigned archive: denied %v, meters %d", denied(ans), len(r.c.Meters()))
	}
	// Reads need no signature.
	if ans := p.ask(q1376.AFNClass1, q1376.NewUnit(0, q1376.FnTerminalClock, nil)); denied(ans) {
		t.Fatal("a clock read was denied")
	}
	// The records: one per reason within the minute; the bad PWs (another
	// key, unsigned, archive) fold into the first record's window: 1
	// recorded, 2 pending.
	recs := authEvents(t, r.c.Store())
	var reasons []uint8
	for _, e := range recs {
		reasons = append(reasons, e.AuthReason)
		if e.MSA != 1 || e.Count != 1 {
			t.Errorf("record %+v: want MSA 1 and count 1", e)
		}
	}
	if string(reasons) != string([]uint8{q1376.AuthReplay, q1376.AuthBadPW, q1376.AuthStale}) {
		t.Fatalf("ERC 20 reasons %v, want [3 1 2]", reasons)
	}
	if got, want := hex.EncodeToString(recs[0].PW[:]), hex.EncodeToString(tripRaw[len(tripRaw)-2-6-16:len(tripRaw)-2-6]); got != want {
		t.Errorf("replay record's PW %s, want the trip's %s", got, want)
	}

	// A restart on the same store: the trip is still a replay.
	c2, err := collector.New(collector.Config{Terminal: terminal.String(), Stations: []string{"127.0.0.1:1"}, PlainTCP: true, DataDir: t.TempDir(),
		Clock: r.clock, Loc: cst, AuthKey: hex.EncodeToString(key)}, r.c.Store())
	if err != nil {
		t.Fatal(err)
	}
	ans, err := c2.NewSession().Handle(context.Background(), tripRaw)
	if len(ans) != 1 || !denied(ans) || err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("replay after a restart: %v %v", ans, err)
	}
}

// The (send time, PFC) rule: within one second the 256 PFCs each pass once,
// so the counter may wrap; a second later all pass again; an earlier
// second never does. Checked through Session.Handle on a plain-TCP
// collector with a key and no ports (the forward is then denied for its
// port, after authentication: the error says which).
func TestReplayRuleSurvivesThePFCWrap(t *testing.T) {
	dir := t.TempDir()
	st, err := colsqlite.Open(filepath.Join(dir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key := q1376.TerminalKey(master, terminal)
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, cst)
	clock := fixedClock{now}
	c, err := collector.New(collector.Config{Terminal: terminal.String(), Stations: []string{"127.0.0.1:1"}, PlainTCP: true, DataDir: dir,
		Clock: clock, Loc: cst, AuthKey: hex.EncodeToString(key)}, st)
	if err != nil {
		t.Fatal(err)
	}
	s := c.NewSession()
	fwd, _ := q1376.Forward{Port: 9, Control: q1376.Control2400_8E1, FrameTimeout: time.Second, ByteTimeout: 100 * time.Millisecond, Content: []byte{0x68}}.Append(nil)
	send := func(pfc uint8, at time.Time) string {
		_, err := s.Handle(context.Background(), signed(t, key, pfc&15, pfc, at, 5*time.Minute, q1376.AFNForward, q1376.NewUnit(0, q1376.FnTransparent, fwd)))
		switch {
		case err == nil:
			t.Fatal("a forward to a missing port was carried out")
		case strings.Contains(err.Error(), "replayed"):
			return "replay"
		case strings.Contains(err.Error(), "port 9"):
			return "passed"
		}
		t.Fatalf("unexpected: %v", err)
		return ""
	}
	sec := now.Add(-10 * time.Second)
	for p := range 256 {
		if got := send(uint8(p), sec); got != "passed" {
			t.Fatalf("PFC %d in the first second: %s", p, got)
		}
	}
	// The counter wrapped: PFC 0 again in the same second is a replay.
	if got := send(0, sec); got != "replay" {
		t.Fatalf("PFC 0 again: %s", got)
	}
	if got := send(0, sec.Add(time.Second)); got != "passed" {
		t.Fatalf("PFC 0 a second later: %s", got)
	}
	if got := send(200, sec); got != "replay" {
		t.Fatalf("the earlier second: %s", got)
	}
	// After a restart the same holds.
	c2, err := collector.New(collector.Config{Terminal: terminal.String(), Stations: []string{"127.0.0.1:1"}, PlainTCP: true, DataDir: dir,
		Clock: clock, Loc: cst, AuthKey: hex.EncodeToString(key)}, st)
	if err != nil {
		t.Fatal(err)
	}
	s = c2.NewSession()
	if got := send(0, sec.Add(time.Second)); got != "replay" {
		t.Fatalf("after a restart, PFC 0 of the newest second: %s", got)
	}
	if got := send(1, sec.Add(time.Second)); got != "passed" {
		t.Fatalf("after a restart, PFC 1 of the newest second: %s", got)
	}
}

// A plain-TCP collector without a key refuses every command: it cannot
// tell the station from anyone else.
func TestPlainWithoutKeyRefusesCommands(t *testing.T) {
	dir := t.TempDir()
	st, err := colsqlite.Open(filepath.Join(dir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := collector.New(collector.Config{Terminal: terminal.String(), Stations: []string{"127.0.0.1:1"}, PlainTCP: true, DataDir: dir,
		Clock: fixedClock{time.Date(2026, 6, 1, 10, 0, 0, 0, cst)}, Loc: cst}, st)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := q1376.AppendFrame(nil, q1376.Request(stationAddr, q1376.AFNControl, 1, nil, q1376.NewUnit(0, q1376.FnTimeSync, q1376.AppendClock(nil, q1376.Clock{DateTime: q1376.DateTime{Year: 2030, Month: 1, Day: 1}}))))
	ans, err := c.NewSession().Handle(context.Background(), raw)
	if len(ans) != 1 || !denied(ans) || err == nil {
		t.Fatalf("unsigned time sync on plain TCP: %v %v", ans, err)
	}
	if c.Now().Year() != 2026 {
		t.Fatalf("the clock moved to %s", c.Now())
	}
	if recs := authEvents(t, st); len(recs) != 1 || recs[0].AuthReason != q1376.AuthBadPW {
		t.Fatalf("records %+v", recs)
	}
}

func TestAuthKeyConfig(t *testing.T) {
	for _, tc := range []struct {
		key, file string
		ok        bool
	}{
		{strings.Repeat("ab", 32), "", true},
		{" " + strings.Repeat("AB", 32) + "\n", "", true},
		{strings.Repeat("ab", 31), "", false}, // 31 bytes
		{strings.Repeat("zz", 32), "", false},
		{strings.Repeat("ab", 32), "x", false}, // both
		{"", filepath.Join(t.TempDir(), "missing"), false},
	} {
		c := collector.Config{Terminal: "0171-1", Stations: []string{"a:1"}, PlainTCP: true, DataDir: "d", AuthKey: tc.key, AuthKeyFile: tc.file}
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("key %q file %q: %v", tc.key, tc.file, err)
		}
		if err != nil && tc.key != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.key)) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
}

// fixedClock stands still.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                                   { return c.t }
func (c fixedClock) Sleep(ctx context.Context, d time.Duration) error { <-ctx.Done(); return ctx.Err() }
func (c fixedClock) Real(d time.Duration) time.Duration               { return d }
