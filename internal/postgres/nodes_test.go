package postgres

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/storetest"
)

// A created command is notified on CommandChannel with its meter id.
func TestListenHearsCommands(t *testing.T) {
	s := openTemp(t).(*Store)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := s.Listen(ctx, CommandChannel)
	if err != nil {
		t.Fatal(err)
	}
	_, _, ms := storetest.Fixture(t, s, 1)
	now := time.Unix(1_800_000_000, 0)
	if err := s.CreateCommand(ctx, &amigo.Command{MeterID: ms[0].ID, Type: amigo.CmdRead, CreatedAt: now, ExpiresAt: now.Add(time.Hour), NextAttemptAt: now}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-ch:
		if want := strconv.FormatInt(ms[0].ID, 10); p != want {
			t.Fatalf("payload %q, want the meter id %s", p, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no notification within 30 s")
	}
	cancel()
	for range ch { // closed once ctx ends
	}
}

// Nodes claiming at once take disjoint commands (FOR UPDATE SKIP LOCKED):
// 40 commands on a line nobody leases, 4 nodes claiming 5 at a time until
// none is left; every command is claimed exactly once.
func TestClaimCommandsConcurrently(t *testing.T) {
	s := openTemp(t).(*Store)
	ctx := context.Background()
	_, _, ms := storetest.Fixture(t, s, 1)
	now := time.Unix(1_800_000_000, 0)
	for range 40 {
		if err := s.CreateCommand(ctx, &amigo.Command{MeterID: ms[0].ID, Type: amigo.CmdRead, CreatedAt: now, ExpiresAt: now.Add(time.Hour), NextAttemptAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for _, node := range []string{"a", "b", "c", "d"} {
		wg.Go(func() {
			for {
				got, err := s.ClaimCommands(ctx, node, now, time.Now(), time.Hour, 5)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, c := range got {
					claimed[c.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != 40 {
		t.Fatalf("%d commands claimed, want 40", len(claimed))
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("command %d claimed %d times", id, n)
		}
	}
}
