package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/storetest"
)

// OpenTemp creates a fresh database on the server named by
// AMIGO_TEST_POSTGRES and drops it when the test ends; it skips the test,
// saying so, when the variable is unset.
func openTemp(t *testing.T) amigo.Store { return openTempB(t) }

func openTempB(t testing.TB) amigo.Store {
	t.Helper()
	dsn := os.Getenv("AMIGO_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AMIGO_TEST_POSTGRES not set: skipping the PostgreSQL store (set it to a DSN such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("amigo_test_%x", rand.Text()[:10])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	s, err := Open(context.Background(), u.String())
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

func TestStore(t *testing.T) { storetest.Run(t, openTemp) }

func TestAuditIsAppendOnly(t *testing.T) {
	s := openTemp(t).(*Store)
	s.AppendAudit(context.Background(), amigo.AuditEntry{Actor: "a", Action: "x"})
	if _, err := s.SQL().Exec(`UPDATE audit SET actor = 'b'`); err == nil {
		t.Fatal("audit row updated")
	}
	if _, err := s.SQL().Exec(`DELETE FROM audit`); err == nil {
		t.Fatal("audit row deleted")
	}
}

// An issued bill cannot be changed, nor any bill deleted, even by SQL
// beside the store; a held bill can be replaced.
func TestIssuedBillsAreImmutable(t *testing.T) {
	s := openTemp(t).(*Store)
	ctx := context.Background()
	bs := []amigo.Bill{
		{Number: "a", Kind: amigo.BillKindBill, Status: amigo.BillIssued, AccountID: 1, Cycle: "2026-10"},
		{Number: "b", Kind: amigo.BillKindBill, Status: amigo.BillHeld, AccountID: 2, Cycle: "2026-10"},
	}
	if _, err := s.PutBills(ctx, bs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SQL().Exec(`UPDATE bills SET total_fen = 1 WHERE account_id = 1`); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("issued bill updated: %v", err)
	}
	if _, err := s.SQL().Exec(`UPDATE bills SET total_fen = 1 WHERE account_id = 2`); err != nil {
		t.Fatalf("held bill: %v", err)
	}
	if _, err := s.SQL().Exec(`DELETE FROM bills`); err == nil {
		t.Fatal("bill deleted")
	}
}

// TestOpenAnalyzesStaleArchive: a store opened after most of the meters
// table was written since its last statistics analyzes it; one opened on
// fresh statistics does not.
func TestOpenAnalyzesStaleArchive(t *testing.T) {
	s := openTemp(t).(*Store)
	ctx := context.Background()
	storetest.Fixture(t, s, 1)
	db := s.SQL()
	// Autovacuum kept out: its own analyze in between would leave Open
	// nothing to do.
	if _, err := db.Exec(`ALTER TABLE meters SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`ANALYZE meters`); err != nil {
		t.Fatal(err)
	}
	analyzed := func() (n int64) {
		t.Helper()
		if err := db.QueryRow(`SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'meters'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The server's counters, which Open reads, are flushed by a backend
	// once it is idle: wait until they show the write.
	changed := func(want int64) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var n int64
			if err := db.QueryRowContext(wctx, `SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'meters'`).Scan(&n); err != nil {
				t.Fatalf("waiting for the statistics counters: %v", err)
			}
			if n >= want {
				return
			}
			select {
			case <-tick.C:
			case <-wctx.Done():
				t.Fatalf("the statistics counters show %d changed meters after a minute, want %d", n, want)
			}
		}
	}
	reopen := func() {
		t.Helper()
		s2, err := Open(ctx, s.dsn)
		if err != nil {
			t.Fatal(err)
		}
		s2.Close()
	}
	before := analyzed()
	reopen() // statistics fresh: no analyze
	if got := analyzed(); got != before {
		t.Fatalf("analyze count %d after opening on fresh statistics, want %d", got, before)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `INSERT INTO meters (site_id, address, protocol, phases, ct_ratio, pt_ratio, area_id, collector_id, port, pn,
		direct, password, operator, rated_amps, account_id, installed_at, removed_at, status, since, reason, relay)
		SELECT site_id, '7' || lpad(g::text, 11, '0'), protocol, phases, ct_ratio, pt_ratio, area_id, collector_id, port, pn + g,
		direct, password, operator, rated_amps, account_id, installed_at, removed_at, status, since, reason, relay
		FROM (SELECT * FROM meters ORDER BY id LIMIT 1) AS m, generate_series(1, 2000) AS g`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
		t.Fatal(err)
	}
	changed(2000)
	reopen()
	if got := analyzed(); got != before+1 {
		t.Fatalf("analyze count %d after opening on 2,000 new meters, want %d", got, before+1)
	}
}

// TestPartitionMadeElsewhereTakesNoLock: a node writing a month's readings
// whose partition another node made does not lock readings, so it does not
// wait for a reader's open transaction (nor make every reader wait).
func TestPartitionMadeElsewhereTakesNoLock(t *testing.T) {
	a := openTemp(t).(*Store)
	ctx := context.Background()
	_, _, ms := storetest.Fixture(t, a, 2)
	b, err := Open(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	may := time.Date(2026, 5, 3, 10, 0, 0, 0, time.UTC)
	at := func(m int64, tm time.Time) []amigo.Reading {
		r := amigo.Reading{MeterID: m, Time: tm, Kind: amigo.KindRealtime, HasForward: true, Source: "test", ReceivedAt: tm}
		r.Forward[0] = 100
		return []amigo.Reading{r}
	}
	if _, err := a.WriteReadings(ctx, at(ms[0].ID, may)); err != nil {
		t.Fatal(err)
	}
	var made bool
	if err := a.SQL().QueryRow(`SELECT to_regclass('readings_202605') IS NOT NULL`).Scan(&made); err != nil || !made {
		t.Fatalf("partition readings_202605 made: %v %v", made, err)
	}
	reader, err := a.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback()
	var n int
	if err := reader.QueryRow(`SELECT count(*) FROM readings`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("readings %d %v", n, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := b.WriteReadings(wctx, at(ms[1].ID, may.Add(time.Hour))); err != nil {
		t.Fatalf("node b's write while a reader's transaction is open: %v", err)
	}
}
