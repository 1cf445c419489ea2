package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// runNodes tests amigo.NodeStore, which both stores implement.
func runNodes(t *testing.T, open func(t *testing.T) amigo.Store) {
	ns := func(t *testing.T) amigo.NodeStore {
		s, ok := open(t).(amigo.NodeStore)
		if !ok {
			t.Fatal("the store is not an amigo.NodeStore")
		}
		return s
	}
	t.Run("AcquireLease", func(t *testing.T) { acquireLease(t, ns(t)) })
	t.Run("AcquireLeases", func(t *testing.T) { acquireLeases(t, ns(t)) })
	t.Run("RenewLeases", func(t *testing.T) { renewLeases(t, ns(t)) })
	t.Run("ReleaseLeases", func(t *testing.T) { releaseLeases(t, ns(t)) })
	t.Run("ClaimCommands", func(t *testing.T) { claimCommands(t, ns(t)) })
}

var leaseT0 = time.UnixMilli(1_800_000_000_000)

// acquireLease: a free lease goes to the first node; another node gets it
// only once it expired; the holder gets it again at any time.
func acquireLease(t *testing.T, s amigo.NodeStore) {
	ctx := context.Background()
	ttl := 10 * time.Second
	for _, c := range []struct {
		name, node string
		at         time.Duration // after leaseT0
		want       bool
	}{
		{"free: a takes it", "a", 0, true},
		{"b while a's lease lives", "b", 9999 * time.Millisecond, false},
		{"a again (renews to 10 s + 5 s)", "a", 5 * time.Second, true},
		{"b at 14.999 s: a's lease lives to 15 s", "b", 14999 * time.Millisecond, false},
		{"b at 15 s: expired", "b", 15 * time.Second, true},
		{"a now that b holds it", "a", 16 * time.Second, false},
	} {
		got, err := s.AcquireLease(ctx, "collector/0171-0001", c.node, ttl, leaseT0.Add(c.at))
		if err != nil || got != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	live, err := s.Leases(ctx, leaseT0.Add(16*time.Second))
	if err != nil || len(live) != 1 || live["collector/0171-0001"] != "b" {
		t.Errorf("live leases at 16 s: %v %v, want b's", live, err)
	}
	// b's lease runs from 15 s to 25 s.
	if live, _ := s.Leases(ctx, leaseT0.Add(25*time.Second)); len(live) != 0 {
		t.Errorf("live leases at 25 s: %v, want none", live)
	}
}

// acquireLeases takes many leases at once as acquireLease takes one: the
// free and expired ones and the node's own, not another node's live one;
// a resource named twice is taken once. GetStates reads many keys at once.
func acquireLeases(t *testing.T, s amigo.NodeStore) {
	ctx := context.Background()
	ttl := 10 * time.Second
	many := func(n int) []string {
		var rs []string
		for i := range n {
			rs = append(rs, fmt.Sprintf("collector/0171-%04d", i))
		}
		return rs
	}
	// More than one statement takes.
	all := many(700)
	got, err := s.AcquireLeases(ctx, append(all, all[5]), "a", ttl, leaseT0)
	if err != nil || len(got) != 700 {
		t.Fatalf("a takes 700 free leases: got %d, %v", len(got), err)
	}
	// b: its own new one, none of a's live ones.
	got, err = s.AcquireLeases(ctx, []string{all[1], "meter/000000000001", all[2]}, "b", ttl, leaseT0.Add(time.Second))
	if err != nil || !slices.Equal(got, []string{"meter/000000000001"}) {
		t.Fatalf("b while a's leases live: %v %v, want only the free one", got, err)
	}
	// a renews one at 5 s (to 15 s); at 10 s b takes the others, expired.
	if got, err := s.AcquireLeases(ctx, []string{all[1]}, "a", ttl, leaseT0.Add(5*time.Second)); err != nil || len(got) != 1 {
		t.Fatalf("a renews its own: %v %v", got, err)
	}
	got, err = s.AcquireLeases(ctx, []string{all[1], all[2], all[3]}, "b", ttl, leaseT0.Add(10*time.Second))
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{all[2], all[3]}) {
		t.Fatalf("b at 10 s: %v %v, want the two expired", got, err)
	}
	live, err := s.Leases(ctx, leaseT0.Add(10*time.Second))
	if err != nil || live[all[1]] != "a" || live[all[2]] != "b" || live["meter/000000000001"] != "b" {
		t.Fatalf("live leases: %v %v", live, err)
	}
	// GetStates: those set, however many are asked.
	st, ok := s.(amigo.Store)
	if !ok {
		t.Fatal("the node store is not an amigo.Store")
	}
	var keys []string
	for i := range 600 {
		k := fmt.Sprintf("slot/%d", i)
		keys = append(keys, k)
		if i%2 == 0 {
			if err := st.PutState(ctx, k, fmt.Sprint(i), leaseT0); err != nil {
				t.Fatal(err)
			}
		}
	}
	vals, err := s.GetStates(ctx, append(keys, "nothing/here"))
	if err != nil || len(vals) != 300 || vals["slot/598"] != "598" || vals["slot/0"] != "0" {
		t.Fatalf("get states: %d values, %v", len(vals), err)
	}
	if _, ok := vals["slot/1"]; ok {
		t.Fatal("get states gives a key never set")
	}
}

// renewLeases extends a node's live leases and names them; an expired
// lease another node took is not renewed.
func renewLeases(t *testing.T, s amigo.NodeStore) {
	ctx := context.Background()
	ttl := 10 * time.Second
	for _, r := range []string{"collector/1", "collector/2", "meter/3"} {
		if ok, err := s.AcquireLease(ctx, r, "a", ttl, leaseT0); !ok || err != nil {
			t.Fatalf("acquire %s: %v %v", r, ok, err)
		}
	}
	// At 11 s every lease of a has expired; b takes collector/2.
	if ok, _ := s.AcquireLease(ctx, "collector/2", "b", ttl, leaseT0.Add(11*time.Second)); !ok {
		t.Fatal("b could not take an expired lease")
	}
	// At 5 s a renews all three (to 15 s)...
	got, err := s.RenewLeases(ctx, "a", ttl, leaseT0.Add(5*time.Second))
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"collector/1", "meter/3"}) {
		t.Fatalf("renew: %v %v; want collector/1 and meter/3 (collector/2 is b's)", got, err)
	}
	// ...so at 12 s they still live (until 15 s).
	if ok, _ := s.AcquireLease(ctx, "meter/3", "b", ttl, leaseT0.Add(12*time.Second)); ok {
		t.Error("b took a renewed lease")
	}
	// A renewal after expiry renews nothing.
	if got, _ := s.RenewLeases(ctx, "a", ttl, leaseT0.Add(15*time.Second)); len(got) != 0 {
		t.Errorf("renewed expired leases %v", got)
	}
}

func releaseLeases(t *testing.T, s amigo.NodeStore) {
	ctx := context.Background()
	ttl := time.Minute
	s.AcquireLease(ctx, "collector/1", "a", ttl, leaseT0)
	s.AcquireLease(ctx, "collector/2", "a", ttl, leaseT0)
	s.AcquireLease(ctx, "collector/3", "b", ttl, leaseT0)
	if err := s.ReleaseLease(ctx, "collector/3", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseLease(ctx, "collector/1", "a"); err != nil {
		t.Fatal(err)
	}
	live, _ := s.Leases(ctx, leaseT0)
	if len(live) != 2 || live["collector/2"] != "a" || live["collector/3"] != "b" {
		t.Fatalf("after releasing collector/1 (a's) and collector/3 (not a's): %v", live)
	}
	if err := s.ReleaseLeases(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if live, _ := s.Leases(ctx, leaseT0); len(live) != 1 || live["collector/3"] != "b" {
		t.Fatalf("after releasing a's leases: %v, want b's only", live)
	}
	if ok, _ := s.AcquireLease(ctx, "collector/1", "c", ttl, leaseT0); !ok {
		t.Fatal("a released lease could not be taken")
	}
}

// claimCommands: a node claims the due commands of the lines it leases or
// nobody leases, and expired ones; a claimed command is nobody else's
// until the claim ends or expires.
func claimCommands(t *testing.T, s amigo.NodeStore) {
	ctx := context.Background()
	st := s.(amigo.Store)
	_, col, ms := Fixture(t, st, 2)
	now := time.Unix(1_800_000_000, 0).UTC()
	direct := amigo.Meter{SiteID: ms[0].SiteID, Address: "000000000099", Direct: true}
	if err := st.CreateMeter(ctx, &direct); err != nil {
		t.Fatal(err)
	}
	mk := func(m int64, expires time.Time) amigo.Command {
		c := amigo.Command{MeterID: m, Type: amigo.CmdRead, CreatedAt: now, ExpiresAt: expires, NextAttemptAt: now}
		if err := st.CreateCommand(ctx, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	behind := mk(ms[0].ID, now.Add(time.Hour))      // behind the collector
	gprs := mk(direct.ID, now.Add(time.Hour))       // the GPRS meter
	expired := mk(direct.ID, now.Add(-time.Second)) // expired: anyone ends it
	ttl := 10 * time.Second
	s.AcquireLease(ctx, "collector/"+col.Address, "a", ttl, leaseT0)
	s.AcquireLease(ctx, "meter/"+direct.Address, "b", ttl, leaseT0)
	ids := func(cs []amigo.Command) []int64 {
		var out []int64
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	// c leases nothing: only the expired command is its to take. (Times:
	// the leases and claims of 10 s from leaseT0 end at leaseT0+10 s.)
	got, err := s.ClaimCommands(ctx, "c", now, leaseT0, ttl, 10)
	if err != nil || !slices.Equal(ids(got), []int64{expired.ID}) {
		t.Fatalf("c claims %v %v, want [%d]", ids(got), err, expired.ID)
	}
	// a leases the collector: its command (the expired one is claimed).
	if got, _ := s.ClaimCommands(ctx, "a", now, leaseT0, ttl, 10); !slices.Equal(ids(got), []int64{behind.ID}) {
		t.Fatalf("a claims %v, want [%d]", ids(got), behind.ID)
	}
	// b leases the GPRS meter.
	if got, _ := s.ClaimCommands(ctx, "b", now, leaseT0, ttl, 10); !slices.Equal(ids(got), []int64{gprs.ID}) {
		t.Fatalf("b claims %v, want [%d]", ids(got), gprs.ID)
	}
	// Claimed: nobody takes them again, not even the claimer.
	if got, _ := s.ClaimCommands(ctx, "a", now, leaseT0.Add(time.Second), ttl, 10); len(got) != 0 {
		t.Fatalf("a claims %v again", ids(got))
	}
	// a ends its claim: a may claim it again, b (another line) may not.
	if err := s.ReleaseCommand(ctx, behind.ID, "a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimCommands(ctx, "b", now, leaseT0.Add(time.Second), ttl, 10); len(got) != 0 {
		t.Fatalf("b claims %v of a's line", ids(got))
	}
	// The leases end at 10 s, the claims at 10 s: at 12 s a line nobody
	// leases is anybody's, and c's claim of the expired one has ended.
	got, _ = s.ClaimCommands(ctx, "c", now, leaseT0.Add(12*time.Second), ttl, 2)
	if !slices.Equal(ids(got), []int64{behind.ID, gprs.ID}) {
		t.Fatalf("c claims %v at 12 s with limit 2, want [%d %d]", ids(got), behind.ID, gprs.ID)
	}
	// A finished command is never claimed.
	for _, c := range got {
		c.Status = amigo.CmdSucceeded
		st.UpdateCommand(ctx, c)
	}
	if got, _ := s.ClaimCommands(ctx, "c", now, leaseT0.Add(time.Hour), ttl, 10); !slices.Equal(ids(got), []int64{expired.ID}) {
		t.Fatalf("after an hour c claims %v, want only the unfinished [%d]", ids(got), expired.ID)
	}
}
