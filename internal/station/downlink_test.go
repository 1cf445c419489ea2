package station_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/q1376"
)

// command submits a command for meter pn and waits until it is finished.
func (s *system) command(pn int, typ string) amigo.Command {
	s.t.Helper()
	ctx := context.Background()
	c, err := s.eng.Submit(ctx, s.meters[pn-1].ID, typ, "test")
	if err != nil {
		s.t.Fatal(err)
	}
	waitFor(s.t, typ+" finished", 60*time.Second, func() bool {
		c, _ = s.store.GetCommand(ctx, c.ID)
		return c.Status == amigo.CmdSucceeded || c.Status == amigo.CmdFailed || c.Status == amigo.CmdExpired
	})
	return c
}

// Signed commands work on both links: a disconnect and a reconnect of a
// meter behind a collector that has its key, over TLS and over plain TCP.
func TestSignedCommandsOnBothLinks(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := "tls"
		if plain {
			name = "plain"
		}
		t.Run(name, func(t *testing.T) {
			s := startSystem(t, systemConfig{start: time.Date(2026, 6, 1, 10, 0, 0, 0, cst), speed: 60, meters: 2, plain: plain})
			a, _ := sim.AddressN("000000000001", 1)
			m, _ := s.fleet.Bus.Meter(a)
			if c := s.command(2, amigo.CmdDisconnect); c.Status != amigo.CmdSucceeded || !m.RelayOpen() {
				t.Fatalf("disconnect: %s %s, relay open %v", c.Status, c.Reason, m.RelayOpen())
			}
			if c := s.command(2, amigo.CmdReconnect); c.Status != amigo.CmdSucceeded || m.RelayOpen() {
				t.Fatalf("reconnect: %s %s, relay open %v", c.Status, c.Reason, m.RelayOpen())
			}
			if es := s.events(amigo.EventCommandRefused); len(es) != 0 {
				t.Fatalf("refusals: %+v", es)
			}
		})
	}
}

// A collector provisioned with a key from another master key refuses the
// station's commands: the disconnect fails, the meter's relay does not
// move, and the collector's ERC 20 records reach the station as
// "collector.command_refused" events (reads, which are not signed, go on).
func TestWrongKeyIsRefusedAndReported(t *testing.T) {
	s := startSystem(t, systemConfig{start: time.Date(2026, 6, 1, 10, 0, 0, 0, cst), speed: 60, meters: 2, plain: true,
		collectorMaster: []byte("another master key, not the one!")})
	a, _ := sim.AddressN("000000000001", 0)
	m, _ := s.fleet.Bus.Meter(a)
	c := s.command(1, amigo.CmdDisconnect)
	if c.Status != amigo.CmdFailed || m.RelayOpen() {
		t.Fatalf("disconnect: %s %q, relay open %v", c.Status, c.Reason, m.RelayOpen())
	}
	if !strings.Contains(c.Reason, "denied") {
		t.Errorf("reason %q, want the collector's deny", c.Reason)
	}
	waitFor(t, "the refusal at the station", 60*time.Second, func() bool { return len(s.events(amigo.EventCommandRefused)) > 0 })
	ev := s.events(amigo.EventCommandRefused)[0]
	if ev.CollectorID != s.collector.ID || ev.Severity != "alarm" || !strings.Contains(ev.Message, "bad authentication code") {
		t.Fatalf("event %+v", ev)
	}
	// Every refusal the collector recorded says "bad PW"; together they
	// stand for at least the three attempts of the disconnect.
	recs, err := s.colStore.Events(context.Background(), 1, 0, 256)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.ERC != q1376.ERCAuth {
			continue
		}
		e, err := q1376.ParseERC(q1376.EventRecord{ERC: r.ERC, Data: r.Data})
		if err != nil || e.AuthReason != q1376.AuthBadPW {
			t.Fatalf("record %+v %v", e, err)
		}
		n += int(e.Count)
	}
	if n < 1 {
		t.Fatalf("%d refusals recorded", n)
	}
}

// A collector whose clock runs two hours ahead is set by the station (AFN
// 05 F31) at its first pass: the setting's time tag allows the offset on
// top of the usual delay (the system's tags allow one hour, so without that
// the collector would refuse it as stale). Afterwards its clock is the
// station's and commands work.
func TestStationSetsACollectorsClock(t *testing.T) {
	s := startSystem(t, systemConfig{start: time.Date(2026, 6, 1, 10, 0, 0, 0, cst), speed: 60, meters: 1, collectorOffset: 2 * time.Hour})
	if off := s.col.Now().Sub(s.clock.Now()); off < time.Hour {
		t.Fatalf("the collector starts %s ahead, want 2h", off)
	}
	waitFor(t, "the collector's clock set", 60*time.Second, func() bool {
		return s.col.Now().Sub(s.clock.Now()).Abs() < time.Minute
	})
	// The day is marked done once the setting is confirmed, a moment after
	// the collector set its clock.
	waitFor(t, "the check marked done", 60*time.Second, func() bool {
		_, ok, _ := s.store.GetState(context.Background(), "tclock/"+strconv.FormatInt(s.collector.ID, 10))
		return ok
	})
	v, ok, err := s.store.GetState(context.Background(), "tclock/"+strconv.FormatInt(s.collector.ID, 10))
	if err != nil || !ok || v != "2026-06-01" {
		t.Fatalf("check marked %q %v %v", v, ok, err)
	}
	a, _ := sim.AddressN("000000000001", 0)
	m, _ := s.fleet.Bus.Meter(a)
	if c := s.command(1, amigo.CmdDisconnect); c.Status != amigo.CmdSucceeded || !m.RelayOpen() {
		t.Fatalf("disconnect after the clock setting: %s %s", c.Status, c.Reason)
	}
}
