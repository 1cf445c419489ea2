package loadtest

import (
	"net"
	"runtime"
	"testing"
)

// Towards a loopback station the virtual devices dial from addresses of
// their own, spread, and a connection from one of them reaches the
// station; towards another host the system chooses.
func TestSourceAddrs(t *testing.T) {
	if got := sourceAddrs("192.0.2.1"); got != nil {
		t.Fatalf("towards a remote host: %v, want none", got)
	}
	got := sourceAddrs("127.0.0.1")
	if runtime.GOOS != "linux" {
		if got != nil {
			t.Fatalf("on %s: %v, want none", runtime.GOOS, got)
		}
		return
	}
	if len(got) != sourceSpread {
		t.Fatalf("%d source addresses, want %d", len(got), sourceSpread)
	}
	g := &generator{sources: got}
	seen := map[string]bool{}
	for k := range 2 * sourceSpread {
		seen[g.source(k).String()] = true
	}
	if len(seen) != sourceSpread {
		t.Fatalf("%d addresses used by %d dialers, want %d", len(seen), 2*sourceSpread, sourceSpread)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := net.Dialer{LocalAddr: g.source(5)}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if host, _, _ := net.SplitHostPort(s.RemoteAddr().String()); host != "127.0.1.6" {
		t.Fatalf("the station sees the dialer at %s, want 127.0.1.6", host)
	}
}
