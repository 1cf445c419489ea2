package station

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// fakeNow is a real-time clock that moves only when told.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// A lease goes to the first node that asks, to another only once it
// expired; a node without the session judges only after the lease was
// free for a TTL, and only while it can take it.
func TestNodeLeases(t *testing.T) {
	s, _ := openStore(t)
	ns := s.(amigo.NodeStore)
	clk := &fakeNow{t: time.Unix(1_800_000_000, 0)}
	const ttl = 3 * time.Second
	mk := func(node string) *nodeLeases {
		l := &nodeLeases{}
		l.init(Config{Nodes: ns, Node: node, LeaseTTL: ttl, RealNow: clk.now, Log: quiet()})
		return l
	}
	a, b, c := mk("a"), mk("b"), mk("c")
	ctx := context.Background()
	const r = "collector/0171-0001"
	if held, fresh := a.hold(ctx, r); !held || !fresh {
		t.Fatalf("a: held %v fresh %v, want a fresh lease", held, fresh)
	}
	if held, _ := a.hold(ctx, r); !held {
		t.Fatal("a lost its lease")
	}
	if held, _ := b.hold(ctx, r); held {
		t.Fatal("b took a live lease")
	}
	// a stops renewing; at 3 s (the TTL) its lease has ended for both.
	clk.add(ttl)
	if a.holds(r) {
		t.Fatal("a still uses a lease it did not renew")
	}
	if held, fresh := b.hold(ctx, r); !held || !fresh {
		t.Fatalf("b at the TTL: held %v fresh %v", held, fresh)
	}
	// c has no session: while b holds the lease (as listed) it never judges.
	c.list(ctx, true)
	for range 3 {
		if ok, _ := c.judge(ctx, r); ok {
			t.Fatal("c judged a collector held by b")
		}
		clk.add(ttl)
		if _, err := ns.RenewLeases(ctx, "b", ttl, clk.now()); err != nil {
			t.Fatal(err)
		}
	}
	// b's session ends: b gives the lease up. c first sees it free, then
	// judges a TTL later, holding the lease while it does.
	b.drop(ctx, r)
	c.list(ctx, true)
	if ok, _ := c.judge(ctx, r); ok {
		t.Fatal("c judged at once")
	}
	clk.add(ttl - time.Millisecond)
	if ok, _ := c.judge(ctx, r); ok {
		t.Fatal("c judged before the lease was free for a TTL")
	}
	clk.add(time.Millisecond)
	ok, release := c.judge(ctx, r)
	if !ok {
		t.Fatal("c did not judge after the lease was free for a TTL")
	}
	if held, _ := b.hold(ctx, r); held {
		t.Fatal("b took the lease while c judged")
	}
	release()
	clk.add(time.Second) // b's refused attempt is retried after retryEvery
	if held, _ := b.hold(ctx, r); !held {
		t.Fatal("b could not take the lease after c's judgement")
	}
}
