package station_test

import (
	"context"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sim"
)

// Two station nodes on one store: the node with the collector's session
// holds its lease, polls it and runs its commands, whichever node they were
// asked of; the collector moving to the other node takes its lease along
// and nobody judges it offline; a collector gone from both is judged
// offline once, after its lease was free for a TTL.
func TestTwoNodesOneStore(t *testing.T) {
	const ttl = time.Second
	s := startSystem(t, systemConfig{start: time.Date(2026, 6, 1, 10, 0, 0, 0, cst), speed: 60, meters: 2, twoNodes: true, leaseTTL: ttl})
	ctx := context.Background()
	res := "collector/" + s.collector.Address
	holder := func() string {
		live, err := s.store.(interface {
			Leases(context.Context, time.Time) (map[string]string, error)
		}).Leases(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return live[res]
	}
	waitFor(t, "node a holding the collector", 30*time.Second, func() bool { return holder() == "a" })
	waitFor(t, "a real-time reading", 30*time.Second, func() bool {
		r, err := s.store.LastReading(ctx, s.meters[0].ID, amigo.KindRealtime)
		return err == nil && !r.Time.IsZero()
	})

	a, _ := sim.AddressN("000000000001", 0)
	m, _ := s.fleet.Bus.Meter(a)
	run := func(eng interface {
		Submit(context.Context, int64, string, string) (amigo.Command, error)
	}, typ string) amigo.Command {
		c, err := eng.Submit(ctx, s.meters[0].ID, typ, "test")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, typ+" finished", 60*time.Second, func() bool {
			c, _ = s.store.GetCommand(ctx, c.ID)
			return c.Status == amigo.CmdSucceeded || c.Status == amigo.CmdFailed || c.Status == amigo.CmdExpired
		})
		return c
	}
	// Asked of node b, which has no session: node a runs it.
	if c := run(s.engB, amigo.CmdDisconnect); c.Status != amigo.CmdSucceeded || !m.RelayOpen() || m.ControlFrames() != 1 {
		t.Fatalf("disconnect asked of b: %s %q, relay open %v, %d control frames (want 1)", c.Status, c.Reason, m.RelayOpen(), m.ControlFrames())
	}

	// The collector moves to node b: a gives the lease up, b takes it.
	s.stopCol()
	s.stations(s.addrB)
	s.startCol()
	waitFor(t, "node b holding the collector", 30*time.Second, func() bool { return holder() == "b" })
	if c := run(s.eng, amigo.CmdReconnect); c.Status != amigo.CmdSucceeded || m.RelayOpen() || m.ControlFrames() != 2 {
		t.Fatalf("reconnect asked of a: %s %q, relay open %v, %d control frames (want 2)", c.Status, c.Reason, m.RelayOpen(), m.ControlFrames())
	}
	if es := s.events(amigo.EventCollectorDown); len(es) != 0 {
		t.Fatalf("the collector moved between nodes and was judged offline: %+v", es)
	}

	// Gone from both: judged offline once (one event), after a TTL.
	s.stopCol()
	s.startCol = func() {} // the cleanup stops it once more
	s.stopCol = func() {}
	waitFor(t, "the collector judged offline", 30*time.Second, func() bool {
		c, err := s.store.GetCollector(ctx, s.collector.ID)
		return err == nil && c.Status == amigo.StatusOffline
	})
	// Both nodes look at it for a few more passes (200 ms each): still one.
	deadline := time.Now().Add(3 * ttl)
	waitFor(t, "three TTLs more", 30*time.Second, func() bool { return time.Now().After(deadline) })
	if es := s.events(amigo.EventCollectorDown); len(es) != 1 {
		t.Fatalf("%d collector offline events, want 1: %+v", len(es), es)
	}
}
