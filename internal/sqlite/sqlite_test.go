package sqlite

import (
	"context"
	"path/filepath"
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
