package fep

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/q1376"
)

type dir struct {
	mu     sync.Mutex
	known  map[string]amigo.Collector
	events []amigo.Event
	status map[int64]string
}

func (d *dir) FindCollectorByAddress(_ context.Context, a string) (amigo.Collector, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.known[a]
	if !ok {
		return c, amigo.Errorf(amigo.ENOTFOUND, "find", "no")
	}
	return c, nil
}

func (d *dir) SetCollectorStatus(_ context.Context, id int64, s, _ string, _ time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status[id] = s
	return nil
}

func (d *dir) AppendEvents(_ context.Context, es ...amigo.Event) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, es...)
	return nil
}

func TestLoginsAreChecked(t *testing.T) {
	ca := t.TempDir()
	pki.InitCA(ca, "t")
	pki.IssueServer(ca, ca, "127.0.0.1")
	pki.IssueCollector(ca, ca, 0x0171, 1)
	pki.IssueCollector(ca, ca, 0x0171, 2)
	srv, err := pki.ServerConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, "station.crt"), filepath.Join(ca, "station.key"))
	if err != nil {
		t.Fatal(err)
	}
	d := &dir{known: map[string]amigo.Collector{"0171-1": {ID: 1, Address: "0171-1"}}, status: map[int64]string{}}
	f := New(Config{TLSAddr: "127.0.0.1:0", TLS: srv, RequestTimeout: 2 * time.Second}, d)
	if err := f.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Serve(ctx)
	dial := func(cert string, a q1376.Address) (*tls.Conn, *q1376.Frame) {
		cli, err := pki.ClientConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, cert+".crt"), filepath.Join(ca, cert+".key"), "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", f.TLSAddr().String(), cli)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := q1376.AppendFrame(nil, q1376.Login(a, 1))
		c.Write(b)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 256)
		n, _ := c.Read(buf)
		if n == 0 {
			return c, nil
		}
		fr, err := q1376.Parse(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		return c, fr
	}
	// A known terminal with its own certificate is confirmed.
	c, fr := dial("collector-0171-1", q1376.Address{A1: 0x0171, A2: 1})
	if fr == nil {
		t.Fatal("known terminal refused")
	}
	if ok, _ := fr.IsConfirm(); !ok {
		t.Fatal("login not confirmed")
	}
	if _, ok := f.Session("0171-1"); !ok {
		t.Fatal("no session")
	}
	// The station's requests reach it and answers come back by sequence.
	go func() {
		buf := make([]byte, 512)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _ := c.Read(buf)
		req, err := q1376.Parse(buf[:n])
		if err != nil {
			return
		}
		b, _ := q1376.AppendFrame(nil, q1376.Deny(req))
		c.Write(b)
	}()
	s, _ := f.Session("0171-1")
	ans, err := s.Request(ctx, q1376.AFNClass1, q1376.NewUnit(1, 129, nil))
	if err != nil || len(ans) != 1 || ans[0].AFN != q1376.AFNConfirm {
		t.Fatalf("request: %v %v", ans, err)
	}
	c.Close()
	// A certificate for another terminal is refused and recorded.
	c2, fr := dial("collector-0171-2", q1376.Address{A1: 0x0171, A2: 1})
	if fr != nil {
		t.Fatal("a terminal logged in with another's certificate")
	}
	io.ReadAll(c2)
	// An unknown terminal is refused and recorded.
	_, fr = dial("collector-0171-2", q1376.Address{A1: 0x0171, A2: 2})
	if fr != nil {
		t.Fatal("unknown terminal confirmed")
	}
	// Both refusals are counted before the connection closes; both came
	// from 127.0.0.1 within one window, so one event is written and the
	// second is folded into the count.
	if n := f.Refused(ListenerTLS, ""); n != 2 {
		t.Fatalf("%d refusals counted, want 2", n)
	}
	if n := f.Refused(ListenerTLS, reasonCertificate); n != 1 {
		t.Fatalf("%d certificate refusals, want 1", n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.events) != 1 || d.events[0].Kind != amigo.EventUnknownTerm {
		t.Fatalf("events %+v", d.events)
	}
}

type meters map[string]amigo.Meter

func (m meters) FindMeterByAddress(_ context.Context, a string) (amigo.Meter, error) {
	x, ok := m[a]
	if !ok {
		return x, amigo.Errorf(amigo.ENOTFOUND, "find", "no")
	}
	return x, nil
}

func TestCollectorPortsMeetTheLoginDeadline(t *testing.T) {
	ca := t.TempDir()
	pki.InitCA(ca, "t")
	pki.IssueServer(ca, ca, "127.0.0.1")
	srv, err := pki.ServerConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, "station.crt"), filepath.Join(ca, "station.key"))
	if err != nil {
		t.Fatal(err)
	}
	const deadline = 300 * time.Millisecond
	start := func(cfg Config) *FEP {
		d := &dir{known: map[string]amigo.Collector{"0171-1": {ID: 1, Address: "0171-1", PlainTCP: true}}, status: map[int64]string{}}
		cfg.TLSAddr, cfg.PlainAddr, cfg.TLS = "127.0.0.1:0", "127.0.0.1:0", srv
		f := New(cfg, d)
		if err := f.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { f.Serve(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return f
	}
	f := start(Config{LoginTimeout: deadline})

	// A plain client trickles a valid login, one byte every 20 ms (the
	// 20-byte frame would take 400 ms): it is closed at the deadline.
	login, _ := q1376.AppendFrame(nil, q1376.Login(q1376.Address{A1: 0x0171, A2: 1}, 1))
	trickle := func(addr string, b []byte) time.Duration {
		start := time.Now() // before the dial: the server's deadline starts later
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		closed := make(chan struct{})
		go func() { io.Copy(io.Discard, c); close(closed) }()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		limit := time.After(5 * time.Second)
		for i := 0; ; i++ {
			select {
			case <-closed:
				return time.Since(start)
			case <-tick.C:
				if len(b) > 0 {
					c.Write(b[i%len(b) : i%len(b)+1])
				}
			case <-limit:
				t.Fatal("the slow client still holds the connection after 5 s")
			}
		}
	}
	if len(login) < 20 {
		t.Fatalf("login frame is %d bytes; the trickle must outlast the deadline", len(login))
	}
	if took := trickle(f.PlainAddr().String(), login); took < deadline {
		t.Fatalf("plain: closed after %s, before the deadline", took)
	}
	// A TLS client that never sends its hello: closed at the deadline too.
	if took := trickle(f.TLSAddr().String(), nil); took < deadline {
		t.Fatalf("tls: closed after %s, before the deadline", took)
	}
	if n := f.Refused(ListenerPlain, reasonDeadline) + f.Refused(ListenerTLS, reasonDeadline); n != 2 {
		t.Fatalf("%d deadline refusals, want 2", n)
	}
	// Junk without a frame in it, sent as fast as the link takes it, costs
	// no memory beyond the scanner's buffer and ends at the same deadline.
	began := time.Now()
	c, err := net.Dial("tcp", f.PlainAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flood(c, "", math.MaxInt); err == nil {
		t.Fatal("the flood ended without the station closing")
	}
	c.Close()
	if took := time.Since(began); took < deadline {
		t.Fatalf("junk: closed after %s, before the deadline", took)
	}
	// The per-source cap on the TLS port: two held, the third closed
	// before its handshake (a front end whose login deadline outlasts the
	// test).
	f = start(Config{MaxConnsPerSource: 2})
	for range 2 {
		c, err := net.Dial("tcp", f.TLSAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitFor(t, "two TLS connections open", 5*time.Second, func() bool { return f.listeners[0].lim.open() == 2 })
	c, err = net.Dial("tcp", f.TLSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("third TLS connection: %v, want closed", err)
	}
	if n := f.Refused(ListenerTLS, reasonCapSource); n != 1 {
		t.Fatalf("%d per-source refusals on the TLS port, want 1", n)
	}
}

// An answer outlives the read buffer it arrived in: the frames a request
// returns keep their data while the collector goes on sending (the reader's
// buffer is read into again, or lent to another connection).
func TestAnswersOutliveTheReadBuffer(t *testing.T) {
	d := &dir{known: map[string]amigo.Collector{"0171-1": {ID: 1, Address: "0171-1", PlainTCP: true}}, status: map[int64]string{}}
	f := New(Config{PlainAddr: "127.0.0.1:0", RequestTimeout: 5 * time.Second}, d)
	if err := f.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { f.Serve(ctx); close(served) }()
	defer func() { cancel(); <-served }()
	c, err := net.Dial("tcp", f.PlainAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := q1376.Address{A1: 0x0171, A2: 1}
	send := func(fr *q1376.Frame) {
		b, _ := q1376.AppendFrame(nil, fr)
		if _, err := c.Write(b); err != nil {
			t.Error(err)
		}
	}
	sc := bufio.NewScanner(c)
	sc.Split(q1376.Split)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	send(q1376.Login(addr, 1))
	if !sc.Scan() {
		t.Fatal("no login confirmation")
	}
	ind := q1376.Indication{ReadAt: dlt645.DateTimeOf(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)), HasAt: true, Values: make([]q1376.Value, 5)}
	for k := range ind.Values {
		ind.Values[k] = q1376.Value{Decimal: dlt645.Decimal{Mant: 123456789 + int64(k), Scale: 4}, Valid: true}
	}
	want, err := ind.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	talked := make(chan struct{})
	go func() {
		defer close(talked)
		if !sc.Scan() {
			return
		}
		req, err := q1376.Parse(sc.Bytes())
		if err != nil {
			t.Error(err)
			return
		}
		send(q1376.Response(req, true, true, false, q1376.NewUnit(1, 129, want)))
		// Heartbeats after the answer, each confirmed: the station read
		// them into its buffer.
		for k := range 20 {
			send(q1376.Heartbeat(addr, uint8(2+k)&0x0F))
			if !sc.Scan() {
				t.Error("heartbeat not confirmed")
				return
			}
		}
	}()
	waitFor(t, "the session", 5*time.Second, func() bool { _, ok := f.Session("0171-1"); return ok })
	s, _ := f.Session("0171-1")
	ans, err := s.Request(ctx, q1376.AFNClass1, q1376.NewUnit(1, 129, nil))
	if err != nil || len(ans) != 1 || len(ans[0].Units) != 1 {
		t.Fatalf("request: %v %v", ans, err)
	}
	<-talked
	if got := ans[0].Units[0].Data; !bytes.Equal(got, want) {
		t.Fatalf("the answer's data changed after more frames were read: % X", got)
	}
}

// TestConfirmAllConfirmsEachFrame: a two-frame answer asking for
// confirmation is confirmed frame by frame (AFN 00 F1 echoing its SEQ), the
// confirmations written together.
func TestConfirmAllConfirmsEachFrame(t *testing.T) {
	d := &dir{known: map[string]amigo.Collector{"0171-1": {ID: 1, Address: "0171-1", PlainTCP: true}}, status: map[int64]string{}}
	f := New(Config{PlainAddr: "127.0.0.1:0", RequestTimeout: 5 * time.Second}, d)
	if err := f.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { f.Serve(ctx); close(served) }()
	defer func() { cancel(); <-served }()
	c, err := net.Dial("tcp", f.PlainAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := q1376.Address{A1: 0x0171, A2: 1}
	send := func(frs ...*q1376.Frame) {
		var b []byte
		for _, fr := range frs {
			b, _ = q1376.AppendFrame(b, fr)
		}
		if _, err := c.Write(b); err != nil {
			t.Error(err)
		}
	}
	sc := bufio.NewScanner(c)
	sc.Split(q1376.Split)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	send(q1376.Login(addr, 1))
	if !sc.Scan() {
		t.Fatal("no login confirmation")
	}
	confirms := make(chan []*q1376.Frame, 1)
	go func() {
		defer close(confirms)
		if !sc.Scan() {
			return
		}
		req, err := q1376.Parse(sc.Bytes())
		if err != nil {
			t.Error(err)
			return
		}
		clock := q1376.AppendClock(nil, q1376.ClockOf(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)))
		send(q1376.Response(req, true, false, true, q1376.NewUnit(0, 2, clock)),
			q1376.Response(req, false, true, true, q1376.NewUnit(0, 2, clock)))
		var got []*q1376.Frame
		for len(got) < 2 && sc.Scan() {
			fr, err := q1376.Parse(sc.Bytes())
			if err != nil {
				t.Error(err)
				return
			}
			got = append(got, fr)
		}
		confirms <- got
	}()
	waitFor(t, "the session", 5*time.Second, func() bool { _, ok := f.Session("0171-1"); return ok })
	s, _ := f.Session("0171-1")
	ans, err := s.Request(ctx, q1376.AFNClass1, q1376.NewUnit(0, 2, nil))
	if err != nil || len(ans) != 2 {
		t.Fatalf("request: %v %v", ans, err)
	}
	if err := s.ConfirmAll(ans); err != nil {
		t.Fatal(err)
	}
	got := <-confirms
	if len(got) != 2 {
		t.Fatalf("%d confirmations, want 2", len(got))
	}
	for _, fr := range got {
		if ok, isConfirm := fr.IsConfirm(); !ok || !isConfirm || fr.Seq.Num != ans[0].Seq.Num || fr.Control.Dir() {
			t.Fatalf("confirmation %+v, want AFN 00 F1 SEQ %d", fr, ans[0].Seq.Num)
		}
	}
}
