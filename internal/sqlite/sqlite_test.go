package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/storetest"
)

func open(t *testing.T) amigo.Store {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "amigo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) { storetest.Run(t, open) }

func TestAuditIsAppendOnly(t *testing.T) {
	s := open(t).(*Store)
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
	s := open(t).(*Store)
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
