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
