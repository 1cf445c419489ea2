package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/readingblob"
)

// Migration 00011 moves readings into the packed layout (sqlstore's
// layout.go): one WITHOUT ROWID table keyed (meter_id, kind, t), kind,
// quality and source interned in reading_names, the other fields in a
// readingblob BLOB. It is Go, not SQL, because the blob is. The old rows are
// copied in key order (pages filled as VACUUM would) and the old table and
// its index dropped; the file keeps the pages they freed for new rows
// (VACUUM gives them back to the file system). Down restores the columns
// layout of 00001.
func packMigration() *goose.Migration {
	return goose.NewGoMigration(packVersion, &goose.GoFunc{RunTx: packReadings}, &goose.GoFunc{RunTx: unpackReadings})
}

const packVersion = 11

const (
	columnsTable = `CREATE TABLE readings (meter_id INTEGER NOT NULL, t INTEGER NOT NULL, kind TEXT NOT NULL,
  f0 INTEGER NOT NULL, f1 INTEGER NOT NULL, f2 INTEGER NOT NULL, f3 INTEGER NOT NULL, f4 INTEGER NOT NULL, has_fwd INTEGER NOT NULL,
  r0 INTEGER NOT NULL, r1 INTEGER NOT NULL, r2 INTEGER NOT NULL, r3 INTEGER NOT NULL, r4 INTEGER NOT NULL, has_rev INTEGER NOT NULL,
  power_w INTEGER, voltage_dv INTEGER, quality TEXT NOT NULL, edited_by TEXT NOT NULL, edit_reason TEXT NOT NULL,
  flags INTEGER NOT NULL, source TEXT NOT NULL, received_at INTEGER NOT NULL)`
	columnsIndex = `CREATE UNIQUE INDEX readings_key ON readings (meter_id, kind, t)`
	columnsCols  = `meter_id, t, kind, f0, f1, f2, f3, f4, has_fwd, r0, r1, r2, r3, r4, has_rev, power_w, voltage_dv, quality, edited_by, edit_reason, flags, source, received_at`
	// packedTable is the packed layout. WITHOUT ROWID: the key is the
	// table, no second index.
	packedTable = `CREATE TABLE readings (meter_id INTEGER NOT NULL, kind INTEGER NOT NULL, t INTEGER NOT NULL,
  flags INTEGER NOT NULL, v BLOB NOT NULL, PRIMARY KEY (meter_id, kind, t)) WITHOUT ROWID`
)

func packReadings(ctx context.Context, tx *sql.Tx) error {
	exec := func(q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("pack readings: %w", err)
		}
		return nil
	}
	if err := exec(`CREATE TABLE reading_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`); err != nil {
		return err
	}
	for id, name := range readingblob.Fixed {
		if err := exec(`INSERT INTO reading_names (id, name) VALUES (?, ?)`, id, name); err != nil {
			return err
		}
	}
	if err := exec(`INSERT OR IGNORE INTO reading_names (name) SELECT kind FROM readings UNION SELECT quality FROM readings UNION SELECT source FROM readings`); err != nil {
		return err
	}
	ids := map[string]int64{}
	rows, err := tx.QueryContext(ctx, `SELECT id, name FROM reading_names`)
	if err != nil {
		return fmt.Errorf("pack readings: %w", err)
	}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return fmt.Errorf("pack readings: %w", err)
		}
		ids[name] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pack readings: %w", err)
	}
	if err := exec(`ALTER TABLE readings RENAME TO readings_columns`); err != nil {
		return err
	}
	if err := exec(`DROP INDEX readings_key`); err != nil {
		return err
	}
	if err := exec(packedTable); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO readings (meter_id, kind, t, flags, v) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("pack readings: %w", err)
	}
	defer ins.Close()
	rows, err = tx.QueryContext(ctx, `SELECT `+columnsCols+` FROM readings_columns r ORDER BY meter_id, (SELECT id FROM reading_names n WHERE n.name = r.kind), t`)
	if err != nil {
		return fmt.Errorf("pack readings: %w", err)
	}
	defer rows.Close()
	var blob []byte
	for rows.Next() {
		r, err := scanColumns(rows)
		if err != nil {
			return fmt.Errorf("pack readings: %w", err)
		}
		blob = readingblob.Append(blob[:0], &r, readingblob.Names{Quality: ids[r.Quality], Source: ids[r.Source]})
		if _, err := ins.ExecContext(ctx, r.MeterID, ids[r.Kind], unix(r), r.Flags, blob); err != nil {
			return fmt.Errorf("pack readings: meter %d at %s: %w", r.MeterID, r.Time, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pack readings: %w", err)
	}
	rows.Close()
	return exec(`DROP TABLE readings_columns`)
}

// unpackReadings is packReadings undone.
func unpackReadings(ctx context.Context, tx *sql.Tx) error {
	exec := func(q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("unpack readings: %w", err)
		}
		return nil
	}
	names := map[int64]string{}
	rows, err := tx.QueryContext(ctx, `SELECT id, name FROM reading_names`)
	if err != nil {
		return fmt.Errorf("unpack readings: %w", err)
	}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return fmt.Errorf("unpack readings: %w", err)
		}
		names[id] = name
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("unpack readings: %w", err)
	}
	if err := exec(`ALTER TABLE readings RENAME TO readings_packed`); err != nil {
		return err
	}
	if err := exec(columnsTable); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO readings (`+columnsCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("unpack readings: %w", err)
	}
	defer ins.Close()
	rows, err = tx.QueryContext(ctx, `SELECT meter_id, kind, t, flags, v FROM readings_packed`)
	if err != nil {
		return fmt.Errorf("unpack readings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r amigo.Reading
		var kind, t int64
		var v []byte
		if err := rows.Scan(&r.MeterID, &kind, &t, &r.Flags, &v); err != nil {
			return fmt.Errorf("unpack readings: %w", err)
		}
		r.Time = fromUnix(t)
		n, err := readingblob.Parse(v, &r)
		if err != nil {
			return fmt.Errorf("unpack readings: meter %d at %d: %w", r.MeterID, t, err)
		}
		var ok [3]bool
		r.Kind, ok[0] = names[kind]
		r.Quality, ok[1] = names[n.Quality]
		r.Source, ok[2] = names[n.Source]
		if ok != [3]bool{true, true, true} {
			return fmt.Errorf("unpack readings: meter %d at %d: a name id is not in reading_names", r.MeterID, t)
		}
		f, v2 := r.Forward, r.Reverse
		if _, err := ins.ExecContext(ctx, r.MeterID, t, r.Kind, f[0], f[1], f[2], f[3], f[4], b2i(r.HasForward),
			v2[0], v2[1], v2[2], v2[3], v2[4], b2i(r.HasReverse), r.PowerW, r.VoltageDV, r.Quality, r.EditedBy, r.EditReason,
			r.Flags, r.Source, unixOf(r.ReceivedAt)); err != nil {
			return fmt.Errorf("unpack readings: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("unpack readings: %w", err)
	}
	rows.Close()
	if err := exec(`DROP TABLE readings_packed`); err != nil {
		return err
	}
	if err := exec(columnsIndex); err != nil {
		return err
	}
	return exec(`DROP TABLE reading_names`)
}

// scanColumns reads a row of columnsCols.
func scanColumns(rows *sql.Rows) (amigo.Reading, error) {
	var r amigo.Reading
	var t, recv int64
	var hf, hr int
	var f, v [5]int64
	var p, u sql.NullInt64
	err := rows.Scan(&r.MeterID, &t, &r.Kind, &f[0], &f[1], &f[2], &f[3], &f[4], &hf, &v[0], &v[1], &v[2], &v[3], &v[4], &hr,
		&p, &u, &r.Quality, &r.EditedBy, &r.EditReason, &r.Flags, &r.Source, &recv)
	for i := range 5 {
		r.Forward[i], r.Reverse[i] = amigo.Energy(f[i]), amigo.Energy(v[i])
	}
	r.Time, r.ReceivedAt, r.HasForward, r.HasReverse = fromUnix(t), fromUnix(recv), hf != 0, hr != 0
	if p.Valid {
		r.PowerW = &p.Int64
	}
	if u.Valid {
		r.VoltageDV = &u.Int64
	}
	return r, err
}

func unix(r amigo.Reading) int64 { return unixOf(r.Time) }

// unixOf and fromUnix are the store's: the zero time is 0.
func unixOf(t time.Time) int64 {
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

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
