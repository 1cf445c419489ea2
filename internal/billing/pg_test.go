package billing

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/testdb"
)

// openPG opens a fresh PostgreSQL database of its own (skipped without
// AMIGO_TEST_POSTGRES), dropped at the end.
func openPG(t *testing.T) amigo.Store {
	return testdb.Postgres(t)
}

// The run killed at random points and restarted, on PostgreSQL: every
// bill and ledger entry once, the hand-computed amounts.
func TestRunKilledOnPostgreSQL(t *testing.T) {
	const n, heldAt = 30, 7
	s := openPG(t)
	site := fleet(t, s, n, heldAt)
	rng := rand.New(rand.NewPCG(42, 7))
	for attempt := 0; ; attempt++ {
		if attempt > 200 {
			t.Fatal("the run never finished")
		}
		ctx, cancel := context.WithCancel(context.Background())
		var left atomic.Int64
		left.Store(1 + rng.Int64N(20))
		r, err := (&Runner{Store: killer{s, &left, cancel}, Batch: 4}).Run(ctx, site.ID, "2026-10", "op")
		cancel()
		if err == nil {
			if r.Done != n || r.Issued+r.Held+r.Skipped < n-1 {
				t.Fatalf("finished %+v", r)
			}
			break
		}
		if ctx.Err() == nil {
			t.Fatalf("attempt %d failed without a kill: %v", attempt, err)
		}
	}
	checkOnce(t, s, n, heldAt)
}
