package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

// The read statements prepared on the reader pool are bounded, and a
// prepared read sees what was committed after it was prepared.
func TestReadStatementsBoundedAndFresh(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := NewSplit(w, r, Dialect{Name: "sqlite", TxStatements: true})

	for v := range 3 {
		if _, err := s.x.ExecContext(ctx, `INSERT OR REPLACE INTO t (id, v) VALUES (1, ?)`, v); err != nil {
			t.Fatal(err)
		}
		var got int
		if err := s.x.QueryRowContext(ctx, `SELECT v FROM t WHERE id = ?`, 1).Scan(&got); err != nil || got != v {
			t.Fatalf("read after write %d: %d, %v", v, got, err)
		}
	}
	if n := len(s.dbst.m); n != 1 {
		t.Fatalf("%d statements prepared, want 1 (the SELECT; writes go to the writer as they are)", n)
	}
	for i := range maxReadStmts + 10 {
		q := fmt.Sprintf(`SELECT v + %d FROM t WHERE id = ?`, i)
		var got int
		if err := s.x.QueryRowContext(ctx, q, 1).Scan(&got); err != nil || got != 2+i {
			t.Fatalf("%s: %d, %v", q, got, err)
		}
	}
	if n := len(s.dbst.m); n != maxReadStmts {
		t.Fatalf("%d statements prepared, want the bound %d", n, maxReadStmts)
	}
	// A statement that cannot be prepared runs as it is, and fails there.
	if _, err := s.x.QueryContext(ctx, `SELECT nothing FROM nowhere`); err == nil {
		t.Fatal("a read of a missing table succeeded")
	}
}
