package fep

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/pki"
)

const (
	testIMEI   = "861234567890123"
	testSecret = "k3Qe9-xV2pL7_wR4"
)

// gprsArchive: meter 42 is a direct meter with credentials, 43 is behind a
// collector, 44 is retired, 45 has no credentials in the archive.
func gprsArchive() meters {
	retired := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return meters{
		"000000000042": {ID: 42, Address: "000000000042", Direct: true, IMEI: testIMEI, RegSecret: testSecret},
		"000000000043": {ID: 43, Address: "000000000043", IMEI: testIMEI, RegSecret: testSecret},
		"000000000044": {ID: 44, Address: "000000000044", Direct: true, IMEI: testIMEI, RegSecret: testSecret, RemovedAt: retired},
		"000000000045": {ID: 45, Address: "000000000045", Direct: true},
	}
}

// startGPRS runs a front end with a plain GPRS listener; cfg may set limits.
func startGPRS(t *testing.T, cfg Config, wrap func(net.Conn) net.Conn) (*FEP, *dir) {
	t.Helper()
	d := &dir{known: map[string]amigo.Collector{}, status: map[int64]string{}}
	f := New(cfg, d)
	f.wrap = wrap
	if err := f.ListenGPRS("127.0.0.1:0", gprsArchive()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return f, d
}

// dtu is a fake DTU in front of a meter: it registers with line, then
// answers every read with a reply made by answer (nil: no reply).
type dtu struct {
	c      net.Conn
	answer func(req dlt645.Frame) []dlt645.Frame
	got    chan dlt645.Frame // requests seen
	closed chan struct{}     // the station closed the connection
}

func dialDTU(t *testing.T, station net.Addr, line string, answer func(req dlt645.Frame) []dlt645.Frame) *dtu {
	t.Helper()
	c, err := net.Dial("tcp", station.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	d := &dtu{c: c, answer: answer, got: make(chan dlt645.Frame, 16), closed: make(chan struct{})}
	if _, err := c.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	go d.serve()
	return d
}

func (d *dtu) serve() {
	defer close(d.closed)
	sc := bufio.NewScanner(d.c)
	sc.Split(dlt645.Split)
	for sc.Scan() {
		var req dlt645.Frame
		if _, err := req.Decode(sc.Bytes()); err != nil {
			continue
		}
		select {
		case d.got <- req:
		default:
		}
		if d.answer == nil {
			continue
		}
		for _, r := range d.answer(req) {
			b, _ := dlt645.AppendFrame(nil, &r)
			d.c.Write(b)
		}
	}
}

// meterAnswers answers like meter a: its address for the address read, a
// fixed value for other reads.
func meterAnswers(a dlt645.Address) func(dlt645.Frame) []dlt645.Frame {
	return func(req dlt645.Frame) []dlt645.Frame {
		di, _ := req.DI()
		if di == dlt645.DIAddress {
			return []dlt645.Frame{dlt645.ReadReply(a, di, a[:], false)}
		}
		return []dlt645.Frame{dlt645.ReadReply(a, di, []byte{0x00, 0x00, 0x01, 0x00}, false)}
	}
}

func mustAddr(s string) dlt645.Address {
	a, err := dlt645.ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

func waitClosed(t *testing.T, d *dtu, within time.Duration) {
	t.Helper()
	select {
	case <-d.closed:
	case <-time.After(within):
		t.Fatalf("the station did not close the connection within %s", within)
	}
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	limit := time.After(within)
	for !cond() {
		select {
		case <-tick.C:
		case <-limit:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestGPRSRegistrationIsBoundToTheArchive(t *testing.T) {
	registered := make(chan amigo.Meter, 10)
	f, d := startGPRS(t, Config{OnRegister: func(m amigo.Meter) { registered <- m }}, nil)
	a42 := mustAddr("000000000042")
	for _, c := range []struct {
		name, line, reason string
	}{
		{"the old anonymous form", "REG 000000000042 -\r\n", reasonNotReg},
		{"unknown address", "REG 000000000099 " + testIMEI + " " + testSecret + "\r\n", reasonUnknown},
		{"meter behind a collector", "REG 000000000043 " + testIMEI + " " + testSecret + "\r\n", reasonUnknown},
		{"retired meter", "REG 000000000044 " + testIMEI + " " + testSecret + "\r\n", reasonRetired},
		{"no credentials in the archive", "REG 000000000045 " + testIMEI + " " + testSecret + "\r\n", reasonNoCredential},
		{"IMEI mismatch", "REG 000000000042 869999999999999 " + testSecret + "\r\n", reasonIMEI},
		{"bad secret", "REG 000000000042 " + testIMEI + " k3Qe9-xV2pL7_wR5\r\n", reasonSecret},
		{"not a registration", "HELLO\r\n", reasonNotReg},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := f.Refused(ListenerGPRS, c.reason)
			// The impostor answers the address read as the real meter would.
			x := dialDTU(t, f.GPRSAddr(), c.line, meterAnswers(a42))
			waitClosed(t, x, 5*time.Second)
			select {
			case req := <-x.got:
				t.Fatalf("the station talked to a refused meter: %v", req)
			default:
			}
			if got := f.Refused(ListenerGPRS, c.reason); got != before+1 {
				t.Fatalf("refusals for %s: %d, want %d", c.reason, got, before+1)
			}
		})
	}
	if _, ok := f.MeterSession("000000000042"); ok {
		t.Fatal("a refused registration has a session")
	}
	// Eight refusals from 127.0.0.1 in one window: one event, not eight.
	d.mu.Lock()
	n := len(d.events)
	d.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d events for 8 refusals from one source, want 1", n)
	}
	select {
	case m := <-registered:
		t.Fatalf("a refused registration was announced: %+v", m)
	default:
	}
	// The real meter registers (announced once its session is installed)
	// and is served.
	m := dialDTU(t, f.GPRSAddr(), "REG 000000000042 "+testIMEI+" "+testSecret+"\r\n", meterAnswers(a42))
	select {
	case got := <-registered:
		if got.Address != "000000000042" {
			t.Fatalf("registered %s", got.Address)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the registration was not announced within 5 s")
	}
	s, ok := f.MeterSession("000000000042")
	if !ok {
		t.Fatal("an announced registration has no session")
	}
	r, err := s.Exchange(context.Background(), dlt645.ReadRequest(a42, dlt645.DIForwardActiveBlock), 2*time.Second)
	if di, _ := r.DI(); err != nil || di != dlt645.DIForwardActiveBlock {
		t.Fatalf("exchange: %v %v", di, err)
	}
	_ = m
}

func TestGPRSDuplicateRegistrationChecksTheIncumbent(t *testing.T) {
	f, d := startGPRS(t, Config{IncumbentCheck: 300 * time.Millisecond}, nil)
	a := mustAddr("000000000042")
	line := "REG 000000000042 " + testIMEI + " " + testSecret + "\r\n"
	var silent atomic.Bool
	real := dialDTU(t, f.GPRSAddr(), line, func(req dlt645.Frame) []dlt645.Frame {
		if silent.Load() {
			return nil
		}
		return meterAnswers(a)(req)
	})
	waitFor(t, "the real meter's session", 5*time.Second, func() bool { _, ok := f.MeterSession("000000000042"); return ok })
	incumbent, _ := f.MeterSession("000000000042")
	// Someone who knows the secret registers twice while the real meter
	// answers: both refused, the real session stays, one alarm.
	for i := range 2 {
		x := dialDTU(t, f.GPRSAddr(), line, meterAnswers(a))
		waitClosed(t, x, 5*time.Second)
		if s, _ := f.MeterSession("000000000042"); s != incumbent {
			t.Fatalf("attempt %d replaced the answering session", i+1)
		}
	}
	if n := f.stats.duplicates.Load(); n != 2 {
		t.Fatalf("%d duplicates counted, want 2", n)
	}
	d.mu.Lock()
	var alarms int
	for _, e := range d.events {
		if e.Kind == amigo.EventDuplicateReg {
			alarms++
		}
	}
	d.mu.Unlock()
	if alarms != 1 {
		t.Fatalf("%d duplicate-registration alarms, want 1", alarms)
	}
	// The real meter goes silent (a dead link the station has not noticed):
	// the next registration takes over and the old connection is closed.
	silent.Store(true)
	dialDTU(t, f.GPRSAddr(), line, meterAnswers(a))
	waitClosed(t, real, 5*time.Second)
	waitFor(t, "the newcomer's session", 5*time.Second, func() bool {
		s, ok := f.MeterSession("000000000042")
		return ok && s != incumbent
	})
}

func TestGPRSRepliesAreChecked(t *testing.T) {
	f, _ := startGPRS(t, Config{}, nil)
	a := mustAddr("000000000042")
	other := mustAddr("000000000099")
	dialDTU(t, f.GPRSAddr(), "REG 000000000042 "+testIMEI+" "+testSecret+"\r\n", func(req dlt645.Frame) []dlt645.Frame {
		di, _ := req.DI()
		if di == dlt645.DIAddress {
			return meterAnswers(a)(req)
		}
		// Three wrong replies before the right one: another meter's, the
		// right meter for another DI, and a request (not a reply).
		return []dlt645.Frame{
			dlt645.ReadReply(other, di, []byte{9, 9, 9, 9}, false),
			dlt645.ReadReply(a, dlt645.DIAddress, a[:], false),
			dlt645.ReadRequest(a, di),
			dlt645.ReadReply(a, di, []byte{0x00, 0x00, 0x01, 0x00}, false),
		}
	})
	waitFor(t, "the session", 5*time.Second, func() bool { _, ok := f.MeterSession("000000000042"); return ok })
	s, _ := f.MeterSession("000000000042")
	r, err := s.Exchange(context.Background(), dlt645.ReadRequest(a, dlt645.DIForwardActiveBlock), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if di, _ := r.DI(); di != dlt645.DIForwardActiveBlock || r.Address != a || r.Data[4] != 0x00 || r.Data[6] != 0x01 {
		t.Fatalf("reply %+v", r)
	}
	// The reply to the request arrives after the wrong ones: by then the
	// three were dropped and counted.
	if n := f.stats.dropped.Load(); n != 3 {
		t.Fatalf("%d replies dropped, want 3", n)
	}
}

// counted wraps accepted connections and counts the bytes the station read.
func counted(n *atomic.Int64) func(net.Conn) net.Conn {
	return func(c net.Conn) net.Conn { return countConn{c, n} }
}

type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// flood writes size bytes of b's pattern until the station closes.
func flood(c net.Conn, prefix string, size int) (written int64, err error) {
	chunk := []byte(strings.Repeat("A", 64<<10))
	n, err := c.Write([]byte(prefix))
	written += int64(n)
	for err == nil && written < int64(size) {
		n, err = c.Write(chunk)
		written += int64(n)
	}
	return written, err
}

func TestGPRSLongLinesAreNotRead(t *testing.T) {
	var read atomic.Int64
	f, _ := startGPRS(t, Config{}, counted(&read))
	// 200 MB on one line before registering: the station reads at most its
	// 1024-byte buffer, then drops the connection.
	c, err := net.Dial("tcp", f.GPRSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := flood(c, "REG ", 200<<20); err == nil {
		t.Fatal("the station accepted 200 MB on one line")
	}
	io.Copy(io.Discard, c) // wait for the close
	if n := read.Load(); n > MaxGPRSBuffer {
		t.Fatalf("the station read %d bytes of the long line, want at most %d", n, MaxGPRSBuffer)
	}
	if n := f.Refused(ListenerGPRS, reasonTooLong); n != 1 {
		t.Fatalf("%d too-long refusals, want 1", n)
	}
	// 300 MB of heartbeat line after registering: the same.
	a := mustAddr("000000000042")
	m := dialDTU(t, f.GPRSAddr(), "REG 000000000042 "+testIMEI+" "+testSecret+"\r\n", meterAnswers(a))
	waitFor(t, "the session", 5*time.Second, func() bool { _, ok := f.MeterSession("000000000042"); return ok })
	before := read.Load()
	if _, err := flood(m.c, "HB ", 300<<20); err == nil {
		t.Fatal("the station accepted a 300 MB heartbeat")
	}
	waitClosed(t, m, 10*time.Second)
	// The registration and the address reply were read before; the
	// heartbeat costs at most one buffer (1024 bytes).
	if n := read.Load() - before; n > MaxGPRSBuffer {
		t.Fatalf("the station read %d bytes of the heartbeat line, want at most %d", n, MaxGPRSBuffer)
	}
	if n := f.Refused(ListenerGPRS, reasonTooLong); n != 2 {
		t.Fatalf("%d too-long refusals, want 2", n)
	}
}

func TestSlowClientsMeetAnAbsoluteDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	f, _ := startGPRS(t, Config{RegisterTimeout: deadline}, nil)
	start := time.Now() // before the dial: the server's deadline starts later
	c, err := net.Dial("tcp", f.GPRSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One byte every 20 ms: each renews a per-read deadline, none
	// completes the line.
	closed := make(chan struct{})
	go func() { io.Copy(io.Discard, c); close(closed) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	line := "REG 000000000042 " + testIMEI + " " + testSecret
loop:
	for i := 0; ; i++ {
		select {
		case <-closed:
			break loop
		case <-tick.C:
			c.Write([]byte{line[i%len(line)]})
		case <-time.After(5 * time.Second):
			t.Fatal("the slow client still holds the connection after 5 s")
		}
	}
	if took := time.Since(start); took < deadline {
		t.Fatalf("closed after %s, before the %s deadline", took, deadline)
	}
	if n := f.Refused(ListenerGPRS, reasonDeadline); n != 1 {
		t.Fatalf("%d deadline refusals, want 1", n)
	}
}

func TestJunkConnectionsWriteBoundedEvents(t *testing.T) {
	f, d := startGPRS(t, Config{}, nil)
	// 500 connections that send junk, one after another (under the
	// per-source cap): each is refused and counted.
	for i := range 500 {
		c, err := net.Dial("tcp", f.GPRSAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _ := io.Copy(io.Discard, c); n != 0 {
			t.Fatalf("connection %d: the station answered junk", i)
		}
		c.Close()
	}
	if n := f.Refused(ListenerGPRS, ""); n != 500 {
		t.Fatalf("%d refusals counted, want 500", n)
	}
	d.mu.Lock()
	n := len(d.events)
	d.mu.Unlock()
	// One event at the first refusal; the other 499 wait for the window's
	// end, when one more event carries their count.
	if n != 1 {
		t.Fatalf("%d events written for 500 junk connections, want 1", n)
	}
	f.flushRefusals(context.Background(), true)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.events) != 2 || !strings.HasPrefix(d.events[1].Message, "499 more connections from 127.0.0.1") {
		t.Fatalf("events %+v", d.events)
	}
}

func TestConnectionCaps(t *testing.T) {
	f, _ := startGPRS(t, Config{MaxConnsPerSource: 3}, nil)
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", f.GPRSAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitFor(t, "three connections open", 5*time.Second, func() bool { return f.listeners[0].lim.open() == 3 })
	// The fourth from the same source is closed before anything is read.
	c, err := net.Dial("tcp", f.GPRSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("fourth connection: %v, want closed", err)
	}
	c.Close()
	if n := f.Refused(ListenerGPRS, reasonCapSource); n != 1 {
		t.Fatalf("%d per-source refusals, want 1", n)
	}
	// One closes: a new one is accepted again.
	held[0].Close()
	waitFor(t, "the slot to be released", 5*time.Second, func() bool { return f.listeners[0].lim.open() == 2 })
	c, err = net.Dial("tcp", f.GPRSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "three connections open again", 5*time.Second, func() bool { return f.listeners[0].lim.open() == 3 })

	// The total cap holds whatever the source.
	g, _ := startGPRS(t, Config{MaxConns: 2}, nil)
	for range 2 {
		c, err := net.Dial("tcp", g.GPRSAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitFor(t, "two connections open", 5*time.Second, func() bool { return g.listeners[0].lim.open() == 2 })
	c, err = net.Dial("tcp", g.GPRSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("third connection: %v, want closed", err)
	}
	if n := g.Refused(ListenerGPRS, reasonCapTotal); n != 1 {
		t.Fatalf("%d total-cap refusals, want 1", n)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestGPRSOverTLS(t *testing.T) {
	ca := t.TempDir()
	if err := pki.InitCA(ca, "t"); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssueServer(ca, ca, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	srv, err := pki.ServerConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, "station.crt"), filepath.Join(ca, "station.key"))
	if err != nil {
		t.Fatal(err)
	}
	d := &dir{known: map[string]amigo.Collector{}, status: map[int64]string{}}
	f := New(Config{}, d)
	if err := f.ListenGPRSTLS("127.0.0.1:0", gprsArchive(), srv); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Serve(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	pem, err := os.ReadFile(filepath.Join(ca, pki.CACert))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	// A DTU with the station's CA and no certificate of its own.
	dial := func(line string) *tls.Conn {
		c, err := tls.Dial("tcp", f.GPRSTLSAddr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(line))
		return c
	}
	a := mustAddr("000000000042")
	bad := dial("REG 000000000042 " + testIMEI + " wrong-secret\r\n")
	bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := io.Copy(io.Discard, bad); n != 0 {
		t.Fatal("the station talked to a bad registration over TLS")
	}
	bad.Close()
	if n := f.Refused(ListenerGPRSTLS, reasonSecret); n != 1 {
		t.Fatalf("%d secret refusals on gprs_tls, want 1", n)
	}
	c := dial("REG 000000000042 " + testIMEI + " " + testSecret + "\r\n")
	defer c.Close()
	x := &dtu{c: c, answer: meterAnswers(a), got: make(chan dlt645.Frame, 16), closed: make(chan struct{})}
	go x.serve()
	waitFor(t, "the TLS session", 5*time.Second, func() bool { _, ok := f.MeterSession("000000000042"); return ok })
}
