// Package sqlstore implements amigo.Store over database/sql for the SQL
// dialects the station supports. It holds the queries both stores share; the
// sqlite and postgres packages open their databases, run their own
// migrations and pass their dialect here. Times are stored as Unix seconds
// (UTC), energy as integer 0.0001 kWh.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Dialect is what differs between databases.
type Dialect struct {
	Name string
	// Dollar is true when placeholders are $1, $2 (PostgreSQL), false for ?.
	Dollar bool
	// MultiRow writes readings with multi-row statements (a networked
	// server); otherwise one prepared statement per row.
	MultiRow bool
	// BeforeReadings, when set, runs before readings rs are written
	// (PostgreSQL creates the partitions they need). It calls begin only
	// when it has work to do. begin gives the readings' own transaction
	// when they are written row by row or in multi-row statements (which
	// may be a caller's), and for a COPY a short transaction of its own,
	// committed before the readings' begins, so that what it locks is not
	// held for the whole batch.
	BeforeReadings func(ctx context.Context, begin func() (*sql.Tx, error), rs []amigo.Reading) error
	// CopyReadings, when set, bulk-copies rows into table (columns cols)
	// on conn, inside the transaction open on it (PostgreSQL COPY);
	// WriteReadings then stages the batch and moves it in one statement.
	CopyReadings func(ctx context.Context, conn *sql.Conn, table string, cols []string, rows [][]any) error
	// CommandChannel, when set, is notified (PostgreSQL NOTIFY, payload the
	// meter id) of every command created, so that the node holding the
	// meter's line acts at once.
	CommandChannel string
	// TxStatements makes a transaction (WithTx) prepare each distinct
	// query once and reuse it until the end of the transaction: for a
	// driver that parses every statement anew (SQLite), not for one that
	// caches statements per connection itself (pgx).
	TxStatements bool
	// PackedReadings keeps readings in the packed layout (layout.go): the
	// key (meter_id, kind, t) as the table's primary key, flags, and the
	// other fields in one readingblob BLOB, with kind, quality and source
	// interned in reading_names. For a store that writes one row per
	// statement (not MultiRow, no CopyReadings): SQLite.
	PackedReadings bool
}

// querier is what *sql.DB and *sql.Tx share: every query goes through it,
// so that the same methods work inside a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is the shared store. Inside WithTx a DB is bound to the transaction
// (tx set, x the transaction); otherwise x is the database.
type DB struct {
	db *sql.DB
	x  querier
	tx *sql.Tx
	d  Dialect
	nm *names // the packed layout's names (nil: the columns layout)
	// dbst are the read queries prepared on db (nil: none; TxStatements).
	dbst *dbStmts
	// added are the reading names the transaction tx inserted, known to
	// the store once it commits.
	added *added
	// reader is the read-only pool of NewSplit, or nil.
	reader *sql.DB
}

// New wraps an open, migrated database.
func New(db *sql.DB, d Dialect) *DB {
	s := &DB{db: db, x: db, d: d}
	if d.TxStatements {
		s.dbst = &dbStmts{m: map[string]*sql.Stmt{}}
	}
	if d.PackedReadings {
		s.nm = newNames()
	}
	return s
}

// NewSplit wraps an open, migrated database whose plain reads (a SELECT
// outside a transaction) go to reader, a pool of read-only connections,
// and everything else to db: SQLite's one writer connection then never
// holds up a read, nor a read the writer (WAL readers see every commit
// made before they start).
func NewSplit(db, reader *sql.DB, d Dialect) *DB {
	s := New(db, d)
	s.x, s.reader = split{w: db, r: reader, st: s.dbst}, reader
	return s
}

// readDB is where a plain read outside a transaction runs: the reader
// pool when there is one.
func (s *DB) readDB() *sql.DB {
	if s.reader != nil {
		return s.reader
	}
	return s.db
}

// split sends a SELECT to the reader pool, every other statement to the
// writer.
//
// A read is prepared once on the reader pool (st, when the dialect parses
// every statement anew): a login's collector look-up and a collector's
// meter listing were mostly SQLite parsing the same text again.
type split struct {
	w, r *sql.DB
	st   *dbStmts
}

func isRead(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

// SQLite's statements are local and short: split runs them without the
// caller's cancellation once ctx is found live. With a cancellable context
// the driver starts a goroutine per statement to watch it (and
// database/sql another per result set): thousands a second under load,
// each queued on the scheduler ahead of the work that waits on the store.
func uncancelled(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

func (s split) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, err := uncancelled(ctx)
	if err != nil {
		return nil, err
	}
	return s.w.ExecContext(ctx, query, args...)
}

func (s split) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, err := uncancelled(ctx)
	if err != nil {
		return nil, err
	}
	if isRead(query) {
		if s.st != nil {
			if st := s.st.get(ctx, s.r, query); st != nil {
				return st.QueryContext(ctx, args...)
			}
		}
		return s.r.QueryContext(ctx, query, args...)
	}
	return s.w.QueryContext(ctx, query, args...)
}

func (s split) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if ctx.Err() == nil {
		ctx = context.WithoutCancel(ctx)
	} // else the driver returns ctx's error through the row
	if isRead(query) {
		if s.st != nil {
			if st := s.st.get(ctx, s.r, query); st != nil {
				return st.QueryRowContext(ctx, args...)
			}
		}
		return s.r.QueryRowContext(ctx, query, args...)
	}
	return s.w.QueryRowContext(ctx, query, args...)
}

// SQL returns the underlying database.
func (s *DB) SQL() *sql.DB { return s.db }

// Close closes the database; inside a transaction it does nothing.
func (s *DB) Close() error {
	if s.tx != nil {
		return nil
	}
	if s.reader != nil {
		s.reader.Close()
	}
	return s.db.Close()
}

// WithTx runs fn in one transaction, committed when fn returns nil and
// rolled back when it returns an error, panics or ctx ends first (the
// driver rolls back a transaction whose context is cancelled). Called on a
// DB already in a transaction, fn joins it.
func (s *DB) WithTx(ctx context.Context, fn func(tx amigo.Store) error) (err error) {
	if s.tx != nil {
		return fn(s)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return internal("begin transaction", err)
	}
	done := false
	defer func() {
		if !done {
			tx.Rollback()
		}
	}()
	var x querier = tx
	if s.d.TxStatements {
		x = newTxStmts(tx)
	}
	txs := &DB{db: s.db, x: x, tx: tx, d: s.d, nm: s.nm, dbst: s.dbst, added: newAdded(), reader: s.reader}
	if err := fn(txs); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &amigo.Error{Kind: amigo.EUNAVAILABLE, Op: "commit", Message: "cancelled before the commit: nothing was kept / 提交前已取消，未保存任何数据", Err: err}
	}
	done = true
	if err := tx.Commit(); err != nil {
		return internal("commit", err)
	}
	s.nm.publish(txs.added)
	return nil
}

// begin starts a transaction for one method, or joins the caller's: commit
// commits only a transaction begin started; rollback is always safe to
// defer.
func (s *DB) begin(ctx context.Context) (tx *sql.Tx, commit func() error, rollback func(), err error) {
	if s.tx != nil {
		return s.tx, func() error { return nil }, func() {}, nil
	}
	tx, err = s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	return tx, tx.Commit, func() { tx.Rollback() }, nil
}

// q rewrites ? placeholders for the dialect.
func (s *DB) q(query string) string {
	if !s.d.Dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}

func notFound(op, what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return amigo.Errorf(amigo.ENOTFOUND, op, "%s not found / 未找到", what)
	}
	return &amigo.Error{Kind: amigo.EINTERNAL, Op: op, Err: err}
}

func internal(op string, err error) error {
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "duplicate key") {
		return &amigo.Error{Kind: amigo.ECONFLICT, Op: op, Message: "already exists / 已存在", Err: err}
	}
	return &amigo.Error{Kind: amigo.EINTERNAL, Op: op, Err: err}
}

func (s *DB) insert(ctx context.Context, op, query string, args ...any) (int64, error) {
	var id int64
	if err := s.x.QueryRowContext(ctx, s.q(query+" RETURNING id"), args...).Scan(&id); err != nil {
		return 0, internal(op, err)
	}
	return id, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// scanner is a row or rows.
type scanner interface{ Scan(...any) error }

// exec runs an UPDATE meant for one row and returns ENOTFOUND when it
// touched none.
func (s *DB) exec1(ctx context.Context, op, what, query string, args ...any) error {
	res, err := s.x.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return internal(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return internal(op, err)
	}
	if n == 0 {
		return amigo.Errorf(amigo.ENOTFOUND, op, "%s not found / 未找到", what)
	}
	return nil
}

// retire sets table's retired_at (column col) for the row id still in
// service: ENOTFOUND when there is no such row, ECONFLICT when it is retired
// already.
func (s *DB) retire(ctx context.Context, op, what, table, col string, id int64, at time.Time, extra string) error {
	if at.IsZero() {
		return amigo.Errorf(amigo.EINVALID, op, "a retirement needs a time / 注销需要时间")
	}
	res, err := s.x.ExecContext(ctx, s.q(`UPDATE `+table+` SET `+col+` = ?`+extra+` WHERE id = ? AND `+col+` = 0`), unix(at), id)
	if err != nil {
		return internal(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return internal(op, err)
	} else if n == 1 {
		return nil
	}
	var one int
	if err := s.x.QueryRowContext(ctx, s.q(`SELECT 1 FROM `+table+` WHERE id = ?`), id).Scan(&one); err != nil {
		return notFound(op, what, err)
	}
	return amigo.Errorf(amigo.ECONFLICT, op, "%s is retired already / %s已注销", what, what)
}

// listOfSite runs query (a SELECT of an archive table with a site_id and
// a retired_at column, without WHERE) for the rows of f's site (0: every
// site), in service unless f includes retired ones, in id order.
func listOfSite[T any](ctx context.Context, s *DB, op, query string, f amigo.ArchiveFilter, scan func(scanner) (T, error)) ([]T, error) {
	query += ` WHERE 1 = 1`
	var args []any
	if f.SiteID != 0 {
		query += ` AND site_id = ?`
		args = append(args, f.SiteID)
	}
	if !f.IncludeRetired {
		query += ` AND retired_at = 0`
	}
	rows, err := s.x.QueryContext(ctx, s.q(query+` ORDER BY id`), args...)
	if err != nil {
		return nil, internal(op, err)
	}
	return collect(rows, op, scan)
}

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, op string, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, internal(op, err)
		}
		out = append(out, x)
	}
	return out, internal(op, rows.Err())
}

// conds builds a listing's WHERE clause from the filter's set fields.
type conds struct {
	sql  string
	args []any
}

// add appends "AND clause" with its argument when set is true.
func (c *conds) add(set bool, clause string, arg any) {
	if set {
		c.sql += ` AND ` + clause
		c.args = append(c.args, arg)
	}
}

// from is "FROM table WHERE …" for the conditions added.
func (c *conds) from(table string) string { return `FROM ` + table + ` WHERE 1 = 1` + c.sql }

// page returns one page of a listing and how many rows match in all: from is
// "FROM table WHERE …" with its args, order the ORDER BY list; limit 0 means
// every row.
func page[T any](ctx context.Context, s *DB, op, cols, from, order string, args []any, limit, offset int, scan func(scanner) (T, error)) ([]T, int, error) {
	var total int
	if err := s.x.QueryRowContext(ctx, s.q(`SELECT COUNT(*) `+from), args...).Scan(&total); err != nil {
		return nil, 0, internal(op, err)
	}
	q := `SELECT ` + cols + ` ` + from + ` ORDER BY ` + order
	if limit > 0 {
		q += ` LIMIT ? OFFSET ?`
		args = append(args[:len(args):len(args)], limit, offset)
	}
	rows, err := s.x.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, 0, internal(op, err)
	}
	out, err := collect(rows, op, scan)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}
