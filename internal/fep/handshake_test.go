package fep

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/q1376"
)

// TestHandshakeCapHolds: with MaxHandshakes 2, connections that hold their
// handshake (they send nothing) take the two slots and the others wait —
// a real collector among them too — and once slots come free the waiting
// collector gets one, completes its TLS 1.3 handshake with its certificate
// and logs in. The number in progress never exceeds the cap.
func TestHandshakeCapHolds(t *testing.T) {
	ca := t.TempDir()
	if err := pki.InitCA(ca, "t"); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssueServer(ca, ca, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.IssueCollector(ca, ca, 0x0171, 1); err != nil {
		t.Fatal(err)
	}
	srv, err := pki.ServerConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, "station.crt"), filepath.Join(ca, "station.key"))
	if err != nil {
		t.Fatal(err)
	}
	d := &dir{known: map[string]amigo.Collector{"0171-1": {ID: 1, Address: "0171-1"}}, status: map[int64]string{}}
	logins := make(chan amigo.Collector, 1)
	f := New(Config{TLSAddr: "127.0.0.1:0", TLS: srv, MaxHandshakes: 2, OnLogin: func(c amigo.Collector) { logins <- c }}, d)
	events := make(chan string, 64)
	var mu sync.Mutex
	most := 0
	f.hs.event = func(ev string) {
		if ev == "enter" {
			mu.Lock()
			most = max(most, len(f.hs.slots))
			mu.Unlock()
		}
		events <- ev
	}
	if err := f.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Serve(ctx)
	expect := func(want ...string) {
		t.Helper()
		got := map[string]int{}
		for range want {
			got[<-events]++
		}
		for _, w := range want {
			got[w]--
		}
		for ev, n := range got {
			if n != 0 {
				t.Fatalf("handshake gate events: %q off by %d (want %v)", ev, n, want)
			}
		}
	}
	// Three silent connections: two in their handshake, one waiting.
	var silent []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", f.TLSAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	expect("enter", "enter", "wait")
	if in, w := f.Handshakes(); in != 2 || w != 1 {
		t.Fatalf("handshakes in progress %d, waiting %d; want 2 and 1", in, w)
	}
	// A real collector waits its turn too.
	cli, err := pki.ClientConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, "collector-0171-1.crt"), filepath.Join(ca, "collector-0171-1.key"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	confirmed := make(chan error, 1)
	go func() {
		c, err := tls.Dial("tcp", f.TLSAddr().String(), cli)
		if err != nil {
			confirmed <- err
			return
		}
		defer c.Close()
		b, _ := q1376.AppendFrame(nil, q1376.Login(q1376.Address{A1: 0x0171, A2: 1}, 1))
		if _, err := c.Write(b); err != nil {
			confirmed <- err
			return
		}
		buf := make([]byte, 256)
		n, err := c.Read(buf)
		if err != nil {
			confirmed <- err
			return
		}
		fr, err := q1376.Parse(buf[:n])
		if err != nil {
			confirmed <- err
			return
		}
		if ok, _ := fr.IsConfirm(); !ok {
			confirmed <- errors.New("login denied")
			return
		}
		confirmed <- nil
		<-ctx.Done()
	}()
	expect("wait")
	if in, w := f.Handshakes(); in != 2 || w != 2 {
		t.Fatalf("handshakes in progress %d, waiting %d; want 2 and 2", in, w)
	}
	// The silent ones give up: their slots go to those waiting.
	silent[0].Close()
	silent[1].Close()
	expect("leave", "leave", "enter", "enter")
	silent[2].Close()
	if err := <-confirmed; err != nil {
		t.Fatalf("the waiting collector: %v", err)
	}
	if c := <-logins; c.Address != "0171-1" {
		t.Fatalf("logged in: %q", c.Address)
	}
	mu.Lock()
	defer mu.Unlock()
	if most > 2 {
		t.Fatalf("%d handshakes in progress at once; the cap is 2", most)
	}
	if in, w := f.Handshakes(); w != 0 || in > 1 {
		t.Fatalf("after the storm: %d in progress, %d waiting", in, w)
	}
}
