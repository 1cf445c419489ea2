package collector

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver: the collector cross-compiles without cgo

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/q1376"
)

// Kinds of stored readings.
const (
	KindRealtime = "realtime" // current registers, every poll
	KindDaily    = "daily"    // a meter's daily freeze; T is 00:00 of the day it ends (the label day D is T minus one day)
	KindMonthly  = "monthly"  // a meter's settlement; T is 00:00 of the 1st
)

// Reading is one stored reading of one measuring point.
type Reading struct {
	ID        int64
	Pn        uint16
	Kind      string
	T         time.Time // the instant the values belong to (UTC in the store)
	ReadAt    time.Time // when the collector read them
	Fwd       [5]int64  // forward active total and tariffs 1..4, in 0.01 kWh
	Rev       [5]int64  // reverse active
	HasRev    bool
	F25       []byte // AFN 0C F25 data for realtime readings, when read
	Delivered bool
}

// Store is the collector's durable store: SQLite in WAL mode with full
// synchronous commits, so that a reading reported stored survives a kill -9
// or a power cut. It is safe for concurrent use.
type Store struct {
	db *sql.DB
}

// OpenStore opens (and creates) the store at path.
func OpenStore(path string) (*Store, error) {
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
`

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

// Put stores r unless a reading of the same point, kind and instant is
// stored already (the first one read wins, so a restart never produces a
// second, different value for a day). It reports whether r was new.
func (s *Store) Put(ctx context.Context, r Reading) (bool, error) {
	rev := ""
	if r.HasRev {
		rev = encodeRegs(r.Rev)
	}
	res, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO readings (pn, kind, t, read_at, fwd, rev, f25) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Pn, r.Kind, r.T.Unix(), r.ReadAt.Unix(), encodeRegs(r.Fwd), rev, r.F25)
	if err != nil {
		return false, fmt.Errorf("collector store: put %s p%d %s: %w", r.Kind, r.Pn, r.T.Format(time.RFC3339), err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func scanReading(row interface{ Scan(...any) error }) (Reading, error) {
	var r Reading
	var t, at int64
	var fwd, rev string
	var delivered int
	if err := row.Scan(&r.ID, &r.Pn, &r.Kind, &t, &at, &fwd, &rev, &r.F25, &delivered); err != nil {
		return r, err
	}
	r.T, r.ReadAt = time.Unix(t, 0).UTC(), time.Unix(at, 0).UTC()
	r.Fwd, _ = decodeRegs(fwd)
	r.Rev, r.HasRev = decodeRegs(rev)
	r.Delivered = delivered != 0
	return r, nil
}

const readingCols = `id, pn, kind, t, read_at, fwd, rev, f25, delivered`

// Latest returns the newest reading of a kind for a point.
func (s *Store) Latest(ctx context.Context, pn uint16, kind string) (Reading, bool, error) {
	r, err := scanReading(s.db.QueryRowContext(ctx, `SELECT `+readingCols+` FROM readings WHERE pn = ? AND kind = ? ORDER BY t DESC LIMIT 1`, pn, kind))
	if errors.Is(err, sql.ErrNoRows) {
		return Reading{}, false, nil
	}
	if err != nil {
		return Reading{}, false, fmt.Errorf("collector store: latest p%d %s: %w", pn, kind, err)
	}
	return r, true, nil
}

// At returns the reading of a kind for a point at instant t.
func (s *Store) At(ctx context.Context, pn uint16, kind string, t time.Time) (Reading, bool, error) {
	r, err := scanReading(s.db.QueryRowContext(ctx, `SELECT `+readingCols+` FROM readings WHERE pn = ? AND kind = ? AND t = ?`, pn, kind, t.Unix()))
	if errors.Is(err, sql.ErrNoRows) {
		return Reading{}, false, nil
	}
	if err != nil {
		return Reading{}, false, fmt.Errorf("collector store: p%d %s at %s: %w", pn, kind, t, err)
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
func (s *Store) List(ctx context.Context, pn uint16, kind string) ([]Reading, error) {
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
	var out []Reading
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
	return n, err
}

// Retention says how long readings are kept.
type Retention struct {
	Realtime time.Duration // default 7 days
	Daily    time.Duration // default 62 days (at least 31)
	Monthly  time.Duration // default 400 days (at least 12 months)
}

// Prune deletes readings older than the retention, delivered or not: the
// meters themselves keep no more either.
func (s *Store) Prune(ctx context.Context, now time.Time, r Retention) error {
	for kind, d := range map[string]time.Duration{KindRealtime: r.Realtime, KindDaily: r.Daily, KindMonthly: r.Monthly} {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM readings WHERE kind = ? AND t < ?`, kind, now.Add(-d).Unix()); err != nil {
			return fmt.Errorf("collector store: prune %s: %w", kind, err)
		}
	}
	return nil
}

// MeterEntry is one meter of the collector's archive.
type MeterEntry struct {
	Pn       uint16
	Port     uint8
	Address  dlt645.Address
	Protocol uint8 // q1376.ProtoDLT645_2007 or 1997
	Baud     int
	Auth     dlt645.Auth
}

// SaveArchive replaces the meter archive (pushed by the station).
func (s *Store) SaveArchive(ctx context.Context, ms []MeterEntry) error {
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
func (s *Store) LoadArchive(ctx context.Context) ([]MeterEntry, bool, error) {
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
	var out []MeterEntry
	for rows.Next() {
		var m MeterEntry
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

// SetState and GetState keep small facts (last clock sync per meter...).
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

// indication converts stored registers (0.01 kWh) to a 1376.1 indication.
func indication(regs [5]int64, readAt time.Time) q1376.Indication {
	ind := q1376.Indication{ReadAt: dlt645.DateTimeOf(readAt), HasAt: true, Values: make([]q1376.Value, 5)}
	for i, v := range regs {
		ind.Values[i] = q1376.Value{Decimal: dlt645.Decimal{Mant: v, Scale: 2}, Valid: true}
	}
	return ind
}
