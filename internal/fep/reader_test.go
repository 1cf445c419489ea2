package fep

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/q1376"
)

// Records a TLS connection already holds (several frames written back to
// back arrive in one segment) are handed on at once: the reader does not
// wait on the socket, which shows none of them, while they are pending.
func TestReaderTakesBufferedTLSRecords(t *testing.T) {
	ca := t.TempDir()
	if err := pki.InitCA(ca, "t"); err != nil {
		t.Fatal(err)
	}
	pki.IssueServer(ca, ca, "127.0.0.1")
	pki.IssueCollector(ca, ca, 0x0171, 1)
	srv, err := pki.ServerConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, "station.crt"), filepath.Join(ca, "station.key"))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := pki.ClientConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, "collector-0171-1.crt"), filepath.Join(ca, "collector-0171-1.key"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := q1376.Address{A1: 0x0171, A2: 1}
	const frames = 3
	go func() {
		c, err := tls.Dial("tcp", l.Addr().String(), cli)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		// Three records back to back, then silence until the server is done.
		for k := range frames {
			b, _ := q1376.AppendFrame(nil, q1376.Heartbeat(addr, uint8(k)))
			c.Write(b)
		}
		c.Read(make([]byte, 1))
	}()
	raw, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Server(raw, srv)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	r := newFrameReader(c, q1376.Split, maxFrame)
	got := make(chan int, frames)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n := 0
		r.serve(time.Minute, func(tok []byte) bool {
			n++
			got <- n
			return n == frames
		}, func() {})
	}()
	for k := 1; k <= frames; k++ {
		select {
		case n := <-got:
			if n != k {
				t.Fatalf("frame %d, want %d", n, k)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("frame %d of %d not handed on: the reader waits on the socket while TLS holds it", k, frames)
		}
	}
	<-done
}
