// Package colsqlite is the collector's durable store on SQLite (the pure-Go
// modernc.org/sqlite driver, so the collector cross-compiles without cgo):
// WAL mode with full synchronous commits, so that a reading reported stored
// survives a kill -9 or a power cut. It implements collector.Store.
package colsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/collector"
)

// Store is the collector's store. It is safe for concurrent use.
type Store struct {
	db *sql.DB
}

var _ collector.Store = (*Store)(nil)

// Open opens (and creates, or brings up to date) the store at path.
func Open(path string) (*Store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("collector store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises anyway
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("collector store: schema: %w", err)
	}
	if err := upgrade(db); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

const schema = `
CREATE TABLE IF NOT EXISTS readings (
	id        INTEGER PRIMARY KEY,
	pn        INTEGER NOT NULL,
	kind      TEXT    NOT NULL,
	t         INTEGER NOT NULL,
	read_at   INTEGER NOT NULL,
	fwd       TEXT    NOT NULL,
	rev       TEXT    NOT NULL DEFAULT '',
	f25       BLOB,
	delivered INTEGER NOT NULL DEFAULT 0,
	UNIQUE (pn, kind, t)
);
CREATE INDEX IF NOT EXISTS readings_undelivered ON readings (delivered, kind);
CREATE TABLE IF NOT EXISTS archive (
	pn       INTEGER PRIMARY KEY,
	port     INTEGER NOT NULL,
	address  TEXT    NOT NULL,
	protocol INTEGER NOT NULL,
	baud     INTEGER NOT NULL,
	password TEXT    NOT NULL,
	operator TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS state (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
	class INTEGER NOT NULL,
	seq   INTEGER NOT NULL,
	erc   INTEGER NOT NULL,
	data  BLOB    NOT NULL,
	at    INTEGER NOT NULL,
	PRIMARY KEY (class, seq)
);
`

// upgrade adds what later versions added to a store made by an earlier one.
func upgrade(db *sql.DB) error {
	rows, err := db.Query(`SELECT name FROM pragma_table_info('readings')`)
	if err != nil {
		return fmt.Errorf("collector store: upgrade: %w", err)
	}
	has := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("collector store: upgrade: %w", err)
		}
		has[n] = true
	}
	rows.Close()
	if !has["from_current"] {
		if _, err := db.Exec(`ALTER TABLE readings ADD COLUMN from_current INTEGER NOT NULL DEFAULT 0`); err != nil {
			return fmt.Errorf("collector store: upgrade: %w", err)
		}
	}
	return nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

func encodeRegs(r [5]int64) string {
	var sb strings.Builder
	for i, v := range r {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprint(&sb, v)
	}
	return sb.String()
}

func decodeRegs(s string) ([5]int64, bool) {
	var r [5]int64
	if s == "" {
		return r, false
	}
	_, err := fmt.Sscanf(s, "%d,%d,%d,%d,%d", &r[0], &r[1], &r[2], &r[3], &r[4])
	return r, err == nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Put stores r unless a reading of the same point, kind and instant is
// stored already (the first one read wins, so a restart never produces a
// second, different value for a day). It reports whether r was new.
func (s *Store) Put(ctx context.Context, r collector.Reading) (bool, error) {
	rev := ""
	if r.HasRev {
		rev = encodeRegs(r.Rev)
	}
	res, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO readings (pn, kind, t, read_at, fwd, rev, f25, from_current) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Pn, r.Kind, r.T.Unix(), r.ReadAt.Unix(), encodeRegs(r.Fwd), rev, r.F25, b2i(r.FromCurrent))
	if err != nil {
		return false, fmt.Errorf("collector store: put %s p%d %s: %w", r.Kind, r.Pn, r.T.Format(time.RFC3339), err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Commit stores one poll cycle's readings and facts in one transaction:
// one fsync for the whole cycle. It reports which readings were new.
func (s *Store) Commit(ctx context.Context, rs []collector.Reading, state map[string]string) ([]bool, error) {
	if len(rs) == 0 && len(state) == 0 {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("collector store: commit: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO readings (pn, kind, t, read_at, fwd, rev, f25, from_current) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("collector store: commit: %w", err)
	}
	defer ins.Close()
	added := make([]bool, len(rs))
	for i, r := range rs {
		rev := ""
		if r.HasRev {
			rev = encodeRegs(r.Rev)
		}
		res, err := ins.ExecContext(ctx, r.Pn, r.Kind, r.T.Unix(), r.ReadAt.Unix(), encodeRegs(r.Fwd), rev, r.F25, b2i(r.FromCurrent))
		if err != nil {
			return nil, fmt.Errorf("collector store: commit %s p%d %s: %w", r.Kind, r.Pn, r.T.Format(time.RFC3339), err)
		}
		n, _ := res.RowsAffected()
		added[i] = n == 1
	}
	for k, v := range state {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO state (k, v) VALUES (?, ?)`, k, v); err != nil {
			return nil, fmt.Errorf("collector store: commit state %s: %w", k, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("collector store: commit: %w", err)
	}
	return added, nil
}

func scanReading(row interface{ Scan(...any) error }) (collector.Reading, error) {
	var r collector.Reading
	var t, at int64
	var fwd, rev string
	var delivered, cur int
	if err := row.Scan(&r.ID, &r.Pn, &r.Kind, &t, &at, &fwd, &rev, &r.F25, &delivered, &cur); err != nil {
		return r, err
	}
	r.T, r.ReadAt = time.Unix(t, 0).UTC(), time.Unix(at, 0).UTC()
	r.Fwd, _ = decodeRegs(fwd)
	r.Rev, r.HasRev = decodeRegs(rev)
	r.Delivered, r.FromCurrent = delivered != 0, cur != 0
	return r, nil
}

const readingCols = `id, pn, kind, t, read_at, fwd, rev, f25, delivered, from_current`

// Latest returns the newest reading of a kind for a point.
func (s *Store) Latest(ctx context.Context, pn uint16, kind string) (collector.Reading, bool, error) {
	r, err := scanReading(s.db.QueryRowContext(ctx, `SELECT `+readingCols+` FROM readings WHERE pn = ? AND kind = ? ORDER BY t DESC LIMIT 1`, pn, kind))
	if errors.Is(err, sql.ErrNoRows) {
		return collector.Reading{}, false, nil
	}
	if err != nil {
		return collector.Reading{}, false, fmt.Errorf("collector store: latest p%d %s: %w", pn, kind, err)
	}
	return r, true, nil
}

// At returns the reading of a kind for a point at instant t.
func (s *Store) At(ctx context.Context, pn uint16, kind string, t time.Time) (collector.Reading, bool, error) {
	r, err := scanReading(s.db.QueryRowContext(ctx, `SELECT `+readingCols+` FROM readings WHERE pn = ? AND kind = ? AND t = ?`, pn, kind, t.Unix()))
	if errors.Is(err, sql.ErrNoRows) {
		return collector.Reading{}, false, nil
	}
	if err != nil {
		return collector.Reading{}, false, fmt.Errorf("collector store: p%d %s at %s: %w", pn, kind, t, err)
	}
	return r, true, nil
}

// Has reports whether a reading exists.
func (s *Store) Has(ctx context.Context, pn uint16, kind string, t time.Time) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM readings WHERE pn = ? AND kind = ? AND t = ?`, pn, kind, t.Unix()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("collector store: %w", err)
	}
	return n > 0, nil
}

// List returns the readings of a kind, oldest first (all points when pn is 0).
func (s *Store) List(ctx context.Context, pn uint16, kind string) ([]collector.Reading, error) {
	q := `SELECT ` + readingCols + ` FROM readings WHERE kind = ?`
	args := []any{kind}
	if pn != 0 {
		q += ` AND pn = ?`
		args = append(args, pn)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY t, pn`, args...)
	if err != nil {
		return nil, fmt.Errorf("collector store: list: %w", err)
	}
	defer rows.Close()
	var out []collector.Reading
	for rows.Next() {
		r, err := scanReading(rows)
		if err != nil {
			return nil, fmt.Errorf("collector store: list: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkDelivered marks readings delivered: the station confirmed them.
func (s *Store) MarkDelivered(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("collector store: %w", err)
	}
	defer tx.Rollback()
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE readings SET delivered = 1 WHERE id = ?`, id); err != nil {
			return fmt.Errorf("collector store: mark delivered: %w", err)
		}
	}
	return tx.Commit()
}

// Undelivered counts readings of a kind not yet confirmed by the station.
func (s *Store) Undelivered(ctx context.Context, kind string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM readings WHERE kind = ? AND delivered = 0`, kind).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("collector store: %w", err)
	}
	return n, nil
}

// Prune deletes readings older than the retention, delivered or not: the
// meters themselves keep no more either.
func (s *Store) Prune(ctx context.Context, now time.Time, r collector.Retention) error {
	for kind, d := range map[string]time.Duration{collector.KindRealtime: r.Realtime, collector.KindDaily: r.Daily, collector.KindMonthly: r.Monthly} {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM readings WHERE kind = ? AND t < ?`, kind, now.Add(-d).Unix()); err != nil {
			return fmt.Errorf("collector store: prune %s: %w", kind, err)
		}
	}
	return nil
}

// Trim keeps at most maxRows readings (see collector.Store). It runs in one
// transaction.
func (s *Store) Trim(ctx context.Context, maxRows int) ([]collector.Loss, error) {
	if maxRows <= 0 {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("collector store: trim: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM readings`).Scan(&n); err != nil {
		return nil, fmt.Errorf("collector store: trim: %w", err)
	}
	over := n - maxRows
	if over <= 0 {
		return nil, nil
	}
	// Delivered data first: the station has it.
	res, err := tx.ExecContext(ctx, `DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE delivered = 1
		ORDER BY CASE kind WHEN 'realtime' THEN 0 WHEN 'monthly' THEN 1 ELSE 2 END, t LIMIT ?)`, over)
	if err != nil {
		return nil, fmt.Errorf("collector store: trim: %w", err)
	}
	gone, _ := res.RowsAffected()
	over -= int(gone)
	var losses []collector.Loss
	for _, kind := range []string{collector.KindRealtime, collector.KindMonthly, collector.KindDaily} {
		if over <= 0 {
			break
		}
		var cnt int
		var from, to sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT count(*), min(t), max(t) FROM (SELECT t FROM readings WHERE delivered = 0 AND kind = ? ORDER BY t LIMIT ?)`, kind, over).Scan(&cnt, &from, &to)
		if err != nil {
			return nil, fmt.Errorf("collector store: trim: %w", err)
		}
		if cnt == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE delivered = 0 AND kind = ? ORDER BY t LIMIT ?)`, kind, over); err != nil {
			return nil, fmt.Errorf("collector store: trim: %w", err)
		}
		losses = append(losses, collector.Loss{Kind: kind, Count: cnt, From: time.Unix(from.Int64, 0).UTC(), To: time.Unix(to.Int64, 0).UTC()})
		over -= cnt
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("collector store: trim: %w", err)
	}
	return losses, nil
}

// SaveArchive replaces the meter archive (pushed by the station).
func (s *Store) SaveArchive(ctx context.Context, ms []collector.MeterEntry) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("collector store: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM archive`); err != nil {
		return fmt.Errorf("collector store: archive: %w", err)
	}
	for _, m := range ms {
		if _, err := tx.ExecContext(ctx, `INSERT INTO archive (pn, port, address, protocol, baud, password, operator) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			m.Pn, m.Port, m.Address.String(), m.Protocol, m.Baud, fmt.Sprintf("%02X%06X", m.Auth.Level, m.Auth.Password), fmt.Sprintf("%08X", m.Auth.Operator)); err != nil {
			return fmt.Errorf("collector store: archive p%d: %w", m.Pn, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO state (k, v) VALUES ('archive_from_station', '1')`); err != nil {
		return fmt.Errorf("collector store: %w", err)
	}
	return tx.Commit()
}

// LoadArchive returns the archive the station pushed, and whether there is
// one.
func (s *Store) LoadArchive(ctx context.Context) ([]collector.MeterEntry, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT v FROM state WHERE k = 'archive_from_station'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("collector store: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT pn, port, address, protocol, baud, password, operator FROM archive ORDER BY pn`)
	if err != nil {
		return nil, false, fmt.Errorf("collector store: archive: %w", err)
	}
	defer rows.Close()
	var out []collector.MeterEntry
	for rows.Next() {
		var m collector.MeterEntry
		var addr, pw, op string
		if err := rows.Scan(&m.Pn, &m.Port, &addr, &m.Protocol, &m.Baud, &pw, &op); err != nil {
			return nil, false, fmt.Errorf("collector store: archive: %w", err)
		}
		if m.Address, err = dlt645.ParseAddress(addr); err != nil {
			return nil, false, err
		}
		if m.Auth, err = dlt645.ParseAuth(pw, op); err != nil {
			return nil, false, err
		}
		out = append(out, m)
	}
	return out, true, rows.Err()
}

// SetState keeps a small fact (last clock check per meter...).
func (s *Store) SetState(ctx context.Context, k, v string) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO state (k, v) VALUES (?, ?)`, k, v)
	if err != nil {
		return fmt.Errorf("collector store: state %s: %w", k, err)
	}
	return nil
}

// GetState returns a fact, or "".
func (s *Store) GetState(ctx context.Context, k string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT v FROM state WHERE k = ?`, k).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("collector store: state %s: %w", k, err)
	}
	return v, nil
}

// AppendEvent adds a record to a class's log and keeps the newest
// collector.EventsKept, in one transaction.
func (s *Store) AppendEvent(ctx context.Context, class, erc uint8, data []byte, at time.Time) (collector.Event, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return collector.Event{}, fmt.Errorf("collector store: event: %w", err)
	}
	defer tx.Rollback()
	var next int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq) + 1, 0) FROM events WHERE class = ?`, class).Scan(&next); err != nil {
		return collector.Event{}, fmt.Errorf("collector store: event: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (class, seq, erc, data, at) VALUES (?, ?, ?, ?, ?)`, class, next, erc, data, at.Unix()); err != nil {
		return collector.Event{}, fmt.Errorf("collector store: event: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE class = ? AND seq <= ?`, class, next-collector.EventsKept); err != nil {
		return collector.Event{}, fmt.Errorf("collector store: event: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return collector.Event{}, fmt.Errorf("collector store: event: %w", err)
	}
	return collector.Event{Class: class, Seq: uint64(next), ERC: erc, Data: data, At: at.UTC()}, nil
}

// Events returns up to limit records of a class from sequence number from
// on, oldest first.
func (s *Store) Events(ctx context.Context, class uint8, from uint64, limit int) ([]collector.Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, erc, data, at FROM events WHERE class = ? AND seq >= ? ORDER BY seq LIMIT ?`, class, int64(from), limit)
	if err != nil {
		return nil, fmt.Errorf("collector store: events: %w", err)
	}
	defer rows.Close()
	var out []collector.Event
	for rows.Next() {
		e := collector.Event{Class: class}
		var seq, at int64
		if err := rows.Scan(&seq, &e.ERC, &e.Data, &at); err != nil {
			return nil, fmt.Errorf("collector store: events: %w", err)
		}
		e.Seq, e.At = uint64(seq), time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventCount returns the next sequence number of a class.
func (s *Store) EventCount(ctx context.Context, class uint8) (uint64, error) {
	var next int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(seq) + 1, 0) FROM events WHERE class = ?`, class).Scan(&next); err != nil {
		return 0, fmt.Errorf("collector store: events: %w", err)
	}
	return uint64(next), nil
}
