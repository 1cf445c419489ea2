package fep

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/pki"
)

// BenchmarkHandshake measures a collector's TLS 1.3 handshake with the
// station's configuration, both ends in this process over loopback TCP:
// full (certificates signed and verified both ways) and resumed from the
// station's ticket (pki.TicketKeys). CPU per handshake of both ends
// together is what a reconnection storm costs the machine.
//
//	go test -run '^$' -bench Handshake -benchtime 500x -count 3 ./internal/fep
func BenchmarkHandshake(b *testing.B) {
	ca := b.TempDir()
	if err := pki.InitCA(ca, "t"); err != nil {
		b.Fatal(err)
	}
	if err := pki.IssueServer(ca, ca, "127.0.0.1"); err != nil {
		b.Fatal(err)
	}
	if _, err := pki.IssueCollector(ca, ca, 0x0171, 1); err != nil {
		b.Fatal(err)
	}
	srv, err := pki.ServerConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, "station.crt"), filepath.Join(ca, "station.key"))
	if err != nil {
		b.Fatal(err)
	}
	keys, err := pki.TicketKeys(filepath.Join(ca, "station.key"), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	srv.SetSessionTicketKeys(keys)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, srv)
				if tc.Handshake() == nil {
					tc.Write([]byte{1}) // the ticket goes out before it
				}
				tc.Close()
			}()
		}
	}()
	for _, resume := range []bool{false, true} {
		name := "full"
		if resume {
			name = "resumed"
		}
		b.Run(name, func(b *testing.B) {
			cli, err := pki.ClientConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, "collector-0171-1.crt"), filepath.Join(ca, "collector-0171-1.key"), "127.0.0.1")
			if err != nil {
				b.Fatal(err)
			}
			if !resume {
				cli.ClientSessionCache = nil
			}
			dial := func() bool {
				c, err := tls.Dial("tcp", l.Addr().String(), cli)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				var one [1]byte
				if _, err := c.Read(one[:]); err != nil {
					b.Fatal(err)
				}
				return c.ConnectionState().DidResume
			}
			if resume {
				dial() // the first ticket
			}
			b.ResetTimer()
			for b.Loop() {
				if dial() != resume {
					b.Fatalf("resumed %v, want %v", !resume, resume)
				}
			}
		})
	}
}
