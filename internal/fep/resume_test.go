package fep

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/q1376"
)

// TestSessionResumption: a collector resumes its TLS 1.3 session after the
// station's restart (ticket keys derived from the station's key), and the
// login check still runs on a resumed session: a terminal taken out of the
// archive or retired is refused although it resumed. A station with another
// key does not resume the session (full handshake), and a station that no
// longer trusts the collector's CA refuses it, resumed or not.
func TestSessionResumption(t *testing.T) {
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
	other := t.TempDir() // the same CA, another station key
	if err := pki.IssueServer(ca, other, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	ca2 := t.TempDir() // a CA the collector's certificate is not from
	if err := pki.InitCA(ca2, "t2"); err != nil {
		t.Fatal(err)
	}
	cli, err := pki.ClientConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, "collector-0171-1.crt"), filepath.Join(ca, "collector-0171-1.key"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	known := amigo.Collector{ID: 1, Address: "0171-1"}

	// station starts a front end whose directory holds col (if any), with
	// ticket keys from keyDir's station key and collectors' CA clientCA.
	station := func(keyDir, clientCA string, col *amigo.Collector) (*FEP, func()) {
		t.Helper()
		srv, err := pki.ServerConfig(filepath.Join(clientCA, pki.CACert), filepath.Join(keyDir, "station.crt"), filepath.Join(keyDir, "station.key"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if err := pki.KeepTicketKeys(ctx, srv, filepath.Join(keyDir, "station.key"), time.Now, nil); err != nil {
			t.Fatal(err)
		}
		d := &dir{known: map[string]amigo.Collector{}, status: map[int64]string{}}
		if col != nil {
			d.known[col.Address] = *col
		}
		f := New(Config{TLSAddr: "127.0.0.1:0", TLS: srv}, d)
		if err := f.Listen(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); f.Serve(ctx) }()
		return f, func() { cancel(); <-done }
	}
	// login dials f, logs in as 0171-1 and tells whether the session was
	// resumed and the login confirmed (the connection is closed after).
	login := func(f *FEP) (resumed, confirmed bool, err error) {
		t.Helper()
		c, err := tls.Dial("tcp", f.TLSAddr().String(), cli)
		if err != nil {
			return false, false, err
		}
		defer c.Close()
		resumed = c.ConnectionState().DidResume
		b, _ := q1376.AppendFrame(nil, q1376.Login(q1376.Address{A1: 0x0171, A2: 1}, 1))
		if _, err := c.Write(b); err != nil {
			return resumed, false, err
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 256)
		n, err := c.Read(buf) // the station's ticket is taken on the way
		if err != nil {
			return resumed, false, err // refused: closed without an answer
		}
		fr, err := q1376.Parse(buf[:n])
		if err != nil {
			return resumed, false, err
		}
		ok, _ := fr.IsConfirm()
		return resumed, ok, nil
	}

	f, stop := station(ca, ca, &known)
	if resumed, ok, err := login(f); err != nil || !ok || resumed {
		t.Fatalf("first login: resumed %v, confirmed %v, %v; want a full handshake, confirmed", resumed, ok, err)
	}
	stop()

	// The station restarts: the ticket of its first life still opens.
	f, stop = station(ca, ca, &known)
	if resumed, ok, err := login(f); err != nil || !ok || !resumed {
		t.Fatalf("after the restart: resumed %v, confirmed %v, %v; want resumed and confirmed", resumed, ok, err)
	}
	stop()

	// Out of the archive: resumed, and refused.
	f, stop = station(ca, ca, nil)
	resumed, ok, _ := login(f)
	stop()
	if !resumed || ok {
		t.Fatalf("unknown terminal: resumed %v, confirmed %v; want resumed and refused", resumed, ok)
	}
	if n := f.Refused(ListenerTLS, reasonUnknown); n != 1 {
		t.Fatalf("refused as unknown: %d, want 1", n)
	}

	// Retired: resumed, and refused.
	retired := known
	retired.RetiredAt = time.Now()
	f, stop = station(ca, ca, &retired)
	resumed, ok, _ = login(f)
	stop()
	if !resumed || ok {
		t.Fatalf("retired terminal: resumed %v, confirmed %v; want resumed and refused", resumed, ok)
	}
	if n := f.Refused(ListenerTLS, reasonRetired); n != 1 {
		t.Fatalf("refused as retired: %d, want 1", n)
	}

	// The station trusts another collector CA now: the session, although
	// its ticket opens, is not resumed, and the full handshake fails.
	f, stop = station(ca, ca2, &known)
	resumed, ok, _ = login(f)
	stop()
	if resumed || ok {
		t.Fatalf("untrusted collector CA: resumed %v, confirmed %v; want neither", resumed, ok)
	}

	// A fresh ticket from the station, then a station with another key,
	// which cannot open it: a full handshake.
	f, stop = station(ca, ca, &known)
	if _, ok, err := login(f); err != nil || !ok {
		t.Fatalf("login for a fresh ticket: confirmed %v, %v", ok, err)
	}
	stop()
	f, stop = station(other, ca, &known)
	if resumed, ok, err := login(f); err != nil || !ok || resumed {
		t.Fatalf("another station key: resumed %v, confirmed %v, %v; want a full handshake, confirmed", resumed, ok, err)
	}
	stop()
}
