package pki

import (
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"testing"
)

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	if err := InitCA(dir, "test CA"); err != nil {
		t.Fatal(err)
	}
	if err := InitCA(dir, "again"); err == nil {
		t.Fatal("overwrote an existing CA")
	}
	if err := IssueServer(dir, dir, "127.0.0.1", "localhost"); err != nil {
		t.Fatal(err)
	}
	name, err := IssueCollector(dir, dir, 0x0171, 2082)
	if err != nil || name != "collector-0171-2082" {
		t.Fatal(name, err)
	}
	srv, err := ServerConfig(filepath.Join(dir, CACert), filepath.Join(dir, "station.crt"), filepath.Join(dir, "station.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if err := tc.Handshake(); err != nil {
				got <- "refused"
				c.Close()
				continue
			}
			got <- PeerName(tc.ConnectionState())
			io.WriteString(c, "ok")
			c.Close()
		}
	}()
	cli, err := ClientConfig(filepath.Join(dir, CACert), filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", l.Addr().String(), cli)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(c)
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x", v)
	}
	c.Close()
	if n := <-got; n != "0171-2082" {
		t.Fatalf("peer name %q", n)
	}
	// Without a client certificate the station refuses.
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	noCert := tls.Client(raw, &tls.Config{RootCAs: cli.RootCAs, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13})
	noCert.Handshake()
	noCert.Read(make([]byte, 1))
	noCert.Close()
	if n := <-got; n != "refused" {
		t.Fatalf("a client without certificate got %q", n)
	}
}
