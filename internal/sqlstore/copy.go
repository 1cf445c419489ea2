package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// readingColumns is readingCols as a list (COPY names its columns).
var readingColumns = strings.Split(strings.ReplaceAll(readingCols, " ", ""), ",")

// writeReadingsCopy is WriteReadings for a dialect with CopyReadings
// (PostgreSQL): on one connection, in one transaction, the batch is copied
// into the session's staging table (temporary, emptied at each commit),
// moved into readings by one INSERT … SELECT … ON CONFLICT DO NOTHING that
// returns the keys it inserted, and the stored rows of the keys it did not
// insert are read in one query to tell duplicates from conflicts. The
// semantics are WriteReadings': a duplicate is stored once, a different
// value for a stored key stays out and becomes a conflict event.
func (s *DB) writeReadingsCopy(ctx context.Context, rs []amigo.Reading) (amigo.WriteResult, error) {
	var res amigo.WriteResult
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return res, internal("write readings", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS readings_stage (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`); err != nil {
		return res, internal("write readings: staging table", err)
	}
	if s.d.BeforeReadings != nil {
		if err := s.beforeReadingsAlone(ctx, conn, rs); err != nil {
			return res, internal("write readings", err)
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, internal("write readings", err)
	}
	defer tx.Rollback()
	rows := make([][]any, len(rs))
	for i := range rs {
		if rs[i].Quality == "" {
			rs[i].Quality = amigo.QualityActual
		}
		rows[i] = readingArgs(rs[i])
	}
	if err := s.d.CopyReadings(ctx, conn, "readings_stage", readingColumns, rows); err != nil {
		return res, internal("write readings: copy", err)
	}
	type key struct {
		m    int64
		kind string
		t    int64
	}
	got := map[key]int{}
	out, err := tx.QueryContext(ctx, `INSERT INTO readings (`+readingCols+`) SELECT `+readingCols+` FROM readings_stage ON CONFLICT (meter_id, kind, t) DO NOTHING RETURNING meter_id, kind, t`)
	if err != nil {
		return res, internal("write readings", err)
	}
	for out.Next() {
		var k key
		if err := out.Scan(&k.m, &k.kind, &k.t); err != nil {
			out.Close()
			return res, internal("write readings", err)
		}
		got[k]++
	}
	out.Close()
	if err := out.Err(); err != nil {
		return res, internal("write readings", err)
	}
	var rest []int
	var ids, ts []int64
	var kinds []string
	for i, r := range rs {
		k := key{r.MeterID, r.Kind, unix(r.Time)}
		if got[k] > 0 {
			got[k]-- // a second copy in the same batch is not new
			res.Inserted++
			continue
		}
		rest = append(rest, i)
		ids, kinds, ts = append(ids, k.m), append(kinds, k.kind), append(ts, k.t)
	}
	var conflicts []amigo.Event
	if len(rest) > 0 {
		stored := map[key]amigo.Reading{}
		q, err := tx.QueryContext(ctx, `SELECT `+readingCols+` FROM readings WHERE (meter_id, kind, t) IN (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[]))`, ids, kinds, ts)
		if err != nil {
			return res, internal("write readings", err)
		}
		for q.Next() {
			old, err := scanReading(q)
			if err != nil {
				q.Close()
				return res, internal("write readings", err)
			}
			stored[key{old.MeterID, old.Kind, unix(old.Time)}] = old
		}
		q.Close()
		if err := q.Err(); err != nil {
			return res, internal("write readings", err)
		}
		for _, i := range rest {
			r := rs[i]
			old, ok := stored[key{r.MeterID, r.Kind, unix(r.Time)}]
			if !ok {
				return res, internal("write readings", fmt.Errorf("reading of meter %d at %s neither inserted nor stored", r.MeterID, r.Time))
			}
			if old.Same(r) {
				res.Duplicates++
				continue
			}
			res.Conflicts++
			conflicts = append(conflicts, conflictEvent(old, r))
		}
	}
	if err := appendEvents(ctx, tx, s, conflicts...); err != nil {
		return res, err
	}
	if err := tx.Commit(); err != nil {
		return res, internal("write readings", err)
	}
	return res, nil
}

// conflictEvent records a newcomer that differs from the stored reading of
// its key.
func conflictEvent(old, r amigo.Reading) amigo.Event {
	return amigo.Event{Time: r.ReceivedAt, Kind: amigo.EventConflict, Severity: "warning", MeterID: r.MeterID,
		Message: fmt.Sprintf("a second, different %s reading for %s was kept aside / 同一时刻收到不同读数", r.Kind, r.Time.Format(time.RFC3339)),
		Detail:  fmt.Sprintf("stored forward %s, received forward %s (source %s)", old.Forward[0], r.Forward[0], r.Source)}
}

// beforeReadingsAlone runs BeforeReadings in a transaction of its own on
// conn, begun only if it asks for one and committed before the readings'
// own begins: a month's partition is created under an exclusive lock of
// readings, which in the batch's transaction was held until the whole
// batch committed, stopping every node's readers and writers meanwhile.
func (s *DB) beforeReadingsAlone(ctx context.Context, conn *sql.Conn, rs []amigo.Reading) error {
	var tx *sql.Tx
	err := s.d.BeforeReadings(ctx, func() (*sql.Tx, error) {
		if tx == nil {
			var err error
			if tx, err = conn.BeginTx(ctx, nil); err != nil {
				return nil, err
			}
		}
		return tx, nil
	}, rs)
	if tx == nil {
		return err
	}
	if err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
