package billing

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/postgres"
)

// openPG opens a fresh PostgreSQL database of its own (skipped without
// AMIGO_TEST_POSTGRES), dropped at the end.
func openPG(t *testing.T) amigo.Store {
	t.Helper()
	dsn := os.Getenv("AMIGO_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AMIGO_TEST_POSTGRES not set: skipping the billing run on PostgreSQL")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("amigo_test_%x", crand.Text()[:10])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	s, err := postgres.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		admin.Close()
	})
	return s
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
