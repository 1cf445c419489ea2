package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// SQLite finds each account of a batch's balance update by its primary
// key, for a few accounts and for a full chunk, with and without the
// table's statistics: a scan of every account per chunk is what made the
// balances cost most of a billing run's ledger work.
func TestAddBalancesPlan(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance_fen INTEGER NOT NULL);
	  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) INSERT INTO accounts SELECT x, 0 FROM c`); err != nil {
		t.Fatal(err)
	}
	plan := func(n int) string {
		args := make([]any, 2*n)
		for i := range n {
			args[2*i], args[2*i+1] = int64(3*i+1), int64(i)
		}
		rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+balancesQuery(false, n), args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			b.WriteString(detail + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	check := func(when string) {
		for _, n := range []int{1, 2, 50, ledgerChunk} {
			p := plan(n)
			if !strings.Contains(p, "SEARCH accounts USING INTEGER PRIMARY KEY") || strings.Contains(p, "SCAN accounts") {
				t.Errorf("%s, %d accounts: the update is planned as\n%s", when, n, p)
			}
		}
	}
	check("without statistics")
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	check("after ANALYZE")

	// And it adds each sum to its own account, returning the new balances.
	rows, err := db.QueryContext(ctx, balancesQuery(false, 3), int64(7), int64(-5), int64(2), int64(9), int64(19999), int64(1))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]int64{}
	for rows.Next() {
		var id, bal int64
		if err := rows.Scan(&id, &bal); err != nil {
			t.Fatal(err)
		}
		got[id] = bal
	}
	rows.Close()
	if len(got) != 3 || got[7] != -5 || got[2] != 9 || got[19999] != 1 {
		t.Fatalf("balances returned %v", got)
	}
	var sum int64
	if err := db.QueryRowContext(ctx, `SELECT SUM(balance_fen) FROM accounts`).Scan(&sum); err != nil || sum != 5 {
		t.Fatalf("sum of balances %d, %v; want 5", sum, err)
	}
}
