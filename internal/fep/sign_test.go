package fep

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/q1376"
)

// With a master key, the front end signs commands (AFN 05, 04, 10, 01)
// with the terminal's key and a time tag in the station's time, and leaves
// reads unsigned; the tags of one terminal never repeat, across
// reconnections and past 256 in one second.
func TestCommandsAreSigned(t *testing.T) {
	master := []byte("the station's master key, 32 B!!")
	now := time.Date(2026, 6, 1, 10, 20, 30, 0, time.UTC)
	d := &dir{known: map[string]amigo.Collector{"0171-5": {ID: 5, Address: "0171-5", PlainTCP: true}}, status: map[int64]string{}}
	cst := time.FixedZone("CST", 8*3600)
	f := New(Config{PlainAddr: "127.0.0.1:0", RequestTimeout: 5 * time.Second, DownlinkKey: master, Location: cst,
		Now: func() time.Time { return now }}, d)
	if err := f.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Serve(ctx)
	a := q1376.Address{A1: 0x0171, A2: 5}
	key := q1376.TerminalKey(master, a)
	// connect logs in and answers every request with a confirm, passing
	// the requests on.
	connect := func() (net.Conn, chan *q1376.Frame) {
		c, err := net.Dial("tcp", f.PlainAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := q1376.AppendFrame(nil, q1376.Login(a, 1))
		c.Write(b)
		sc := bufio.NewScanner(c)
		sc.Split(q1376.Split)
		if !sc.Scan() {
			t.Fatal("no login confirmation")
		}
		got := make(chan *q1376.Frame, 1000)
		go func() {
			for sc.Scan() {
				req, err := q1376.Parse(sc.Bytes())
				if err != nil {
					t.Error(err)
					return
				}
				got <- req
				b, _ := q1376.AppendFrame(nil, q1376.Confirm(req))
				c.Write(b)
			}
		}()
		return c, got
	}
	// The session is registered before the login is confirmed: once
	// connect has read the confirmation, it is there.
	session := func() *Session {
		s, ok := f.Session("0171-5")
		if !ok {
			t.Fatal("no session")
		}
		return s
	}
	c, got := connect()
	s := session()
	trip := q1376.NewUnit(1, q1376.FnRemoteTrip, []byte{0})
	if _, err := s.Request(ctx, q1376.AFNControl, trip); err != nil {
		t.Fatal(err)
	}
	req := <-got
	if err := q1376.Verify(req, key); err != nil {
		t.Fatalf("the command does not verify: %v", err)
	}
	// 10:20:30 UTC is 18:20:30 in CST; PFC 0; 5 minutes.
	if tp := *req.Tp; tp != (q1376.Tp{PFC: 0, Second: 30, Minute: 20, Hour: 18, Day: 1, Delay: 5}) {
		t.Fatalf("time tag %+v", tp)
	}
	// A read is not signed.
	if _, err := s.Request(ctx, q1376.AFNClass1, q1376.NewUnit(0, q1376.FnTerminalClock, nil)); err != nil {
		t.Fatal(err)
	}
	if req := <-got; req.Tp != nil || req.PW != nil {
		t.Fatalf("a read carries Tp %v PW %x", req.Tp, req.PW)
	}
	// A clock setting with a wider delay: 40 minutes.
	if _, err := s.RequestWithin(ctx, 40*time.Minute, q1376.AFNControl, q1376.NewUnit(0, q1376.FnTimeSync, q1376.AppendClock(nil, q1376.ClockOf(now)))); err != nil {
		t.Fatal(err)
	}
	if req := <-got; req.Tp.PFC != 1 || req.Tp.Delay != 40 || q1376.Verify(req, key) != nil {
		t.Fatalf("time sync tag %+v", req.Tp)
	}
	// A reconnection goes on from PFC 2 in the same second; the 255th tag
	// of the second is the last; the next is one second ahead.
	c.Close()
	c, got = connect()
	defer c.Close()
	if s2 := session(); s2 == s {
		t.Fatal("the old session is still in place")
	}
	s = session()
	fwd, _ := q1376.Forward{Port: 1, Control: q1376.Control2400_8E1, FrameTimeout: time.Second, ByteTimeout: 100 * time.Millisecond, Content: []byte{0x68}}.Append(nil)
	for i := 2; i < 257; i++ {
		if _, err := s.Request(ctx, q1376.AFNForward, q1376.NewUnit(0, q1376.FnTransparent, fwd)); err != nil {
			t.Fatal(err)
		}
		req := <-got
		// Tags 0..255 are in 18:20:30; tag 256 (PFC 0 again) in 18:20:31.
		wantSec, wantPFC := 30, uint8(i)
		if i == 256 {
			wantSec = 31
		}
		if req.Tp.Second != wantSec || req.Tp.PFC != wantPFC || q1376.Verify(req, key) != nil {
			t.Fatalf("tag %d: %+v", i, req.Tp)
		}
	}
}
