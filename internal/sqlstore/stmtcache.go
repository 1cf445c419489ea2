package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxTxStatements bounds how many distinct statements one transaction
// keeps prepared; further ones run unprepared.
const maxTxStatements = 64

// txStmts is the querier of a transaction that prepares each distinct
// statement run by ExecContext or QueryRowContext (whose row is closed by
// its Scan) once and reuses it for the rest of the transaction (the SQLite
// driver otherwise parses every statement anew on every call). The
// statements close with the transaction.
type txStmts struct {
	tx *sql.Tx
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newTxStmts(tx *sql.Tx) *txStmts { return &txStmts{tx: tx, m: map[string]*sql.Stmt{}} }

// stmt returns the prepared statement of query, or nil when the cache is
// full (the caller then runs the query directly).
func (c *txStmts) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	if len(c.m) >= maxTxStatements {
		return nil, nil
	}
	st, err := c.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.m[query] = st
	return st, nil
}

func (c *txStmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.tx.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs unprepared: rows left open while the same query runs
// again (a nested loop) must not share one statement.
func (c *txStmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.tx.QueryContext(ctx, query, args...)
}

func (c *txStmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := c.stmt(ctx, query)
	if err != nil || st == nil {
		// A query that cannot be prepared fails the same way unprepared,
		// and *sql.Row carries that error.
		return c.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// dbStmts keeps the hot read queries prepared on the database (outside any
// transaction) for a driver that parses every statement anew
// (Dialect.TxStatements): ReadingsAround runs once per new meter series
// while a batch is validated, and parsing was most of its cost. Only
// queries of a fixed text go through it; database/sql prepares each on the
// connection that runs it, and the statements close with the database.
type dbStmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxReadStmts bounds the prepared read statements: queries whose text
// varies (an IN list's length) would otherwise fill the cache without end;
// past the bound a query runs unprepared, as before.
const maxReadStmts = 512

// get returns query prepared on db, preparing it on first use while there
// is room; nil when it is not cached (then the caller runs it as it is).
func (c *dbStmts) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if len(c.m) >= maxReadStmts {
		return nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil // run unprepared: its error, if any, comes from there
	}
	c.m[query] = st
	return st
}

// queryDB runs query on the database, prepared once when the dialect asks.
func (s *DB) queryDB(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s.dbst != nil {
		if st := s.dbst.get(ctx, s.readDB(), query); st != nil {
			return st.QueryContext(ctx, args...)
		}
	}
	return s.readDB().QueryContext(ctx, query, args...)
}

// queryOnce runs a query whose rows the caller reads to the end and
// closes before it runs the same query again (no nested loop over it):
// in a transaction that prepares its statements (TxStatements) the
// statement is prepared once for the transaction, otherwise it runs as
// QueryContext does. The billing run's multi-row statements of a full
// chunk have one text, parsed once per transaction this way.
func (s *DB) queryOnce(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if c, ok := s.x.(*txStmts); ok {
		st, err := c.stmt(ctx, query)
		if err != nil {
			return nil, err
		}
		if st != nil {
			return st.QueryContext(ctx, args...)
		}
	}
	return s.x.QueryContext(ctx, query, args...)
}
