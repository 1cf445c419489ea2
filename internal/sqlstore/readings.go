package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

const readingCols = `meter_id, t, kind, f0, f1, f2, f3, f4, has_fwd, r0, r1, r2, r3, r4, has_rev, power_w, voltage_dv, quality, edited_by, edit_reason, flags, source, received_at`

func readingArgs(r amigo.Reading) []any {
	return []any{r.MeterID, unix(r.Time), r.Kind,
		int64(r.Forward[0]), int64(r.Forward[1]), int64(r.Forward[2]), int64(r.Forward[3]), int64(r.Forward[4]), b2i(r.HasForward),
		int64(r.Reverse[0]), int64(r.Reverse[1]), int64(r.Reverse[2]), int64(r.Reverse[3]), int64(r.Reverse[4]), b2i(r.HasReverse),
		r.PowerW, r.VoltageDV, r.Quality, r.EditedBy, r.EditReason, r.Flags, r.Source, unix(r.ReceivedAt)}
}

func scanReading(row scanner) (amigo.Reading, error) {
	var r amigo.Reading
	var t, recv int64
	var hf, hr int
	var f, v [5]int64
	var p, u sql.NullInt64
	err := row.Scan(&r.MeterID, &t, &r.Kind, &f[0], &f[1], &f[2], &f[3], &f[4], &hf, &v[0], &v[1], &v[2], &v[3], &v[4], &hr,
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

// WriteReadings stores the batch in one transaction. A key stored already
// with the same values counts as a duplicate; with other values it stays as
// it was and a conflict event records the newcomer. An estimate never
// replaces a real reading (it is a conflict like any other).
func (s *DB) WriteReadings(ctx context.Context, rs []amigo.Reading) (amigo.WriteResult, error) {
	var res amigo.WriteResult
	if len(rs) == 0 {
		return res, nil
	}
	for _, r := range rs {
		if r.MeterID == 0 || r.Time.IsZero() || r.Kind == "" {
			return res, amigo.Errorf(amigo.EINVALID, "write readings", "a reading needs a meter, a time and a kind / 读数缺少电表、时间或类型")
		}
	}
	// COPY needs a connection of its own: inside a caller's transaction
	// (WithTx) the readings are written with the transaction's statements.
	if s.d.CopyReadings != nil && s.tx == nil {
		return s.writeReadingsCopy(ctx, rs)
	}
	tx, commit, rollback, err := s.begin(ctx)
	if err != nil {
		return res, internal("write readings", err)
	}
	defer rollback()
	// Names this call adds are the caller's transaction's, or its own.
	a := s.added
	if s.tx == nil {
		a = newAdded()
	}
	if s.d.BeforeReadings != nil {
		if err := s.d.BeforeReadings(ctx, func() (*sql.Tx, error) { return tx, nil }, rs); err != nil {
			return res, internal("write readings", err)
		}
	}
	get, err := tx.PrepareContext(ctx, s.q(`SELECT `+s.rcols()+` FROM readings WHERE meter_id = ? AND kind = ? AND t = ?`))
	if err != nil {
		return res, internal("write readings", err)
	}
	defer get.Close()
	var conflicts []amigo.Event
	for i := range rs {
		if rs[i].Quality == "" {
			rs[i].Quality = amigo.QualityActual
		}
	}
	inserted, err := s.insertReadings(ctx, tx, a, rs)
	if err != nil {
		return res, err
	}
	rctx := context.WithoutCancel(ctx) // as in insertReadings
	for i, r := range rs {
		if inserted[i] {
			res.Inserted++
			continue
		}
		if ctx.Err() != nil {
			return res, internal("write readings", ctx.Err())
		}
		kind, _, err := s.kindArg(rctx, tx, a, r.Kind)
		if err != nil {
			return res, internal("write readings", err)
		}
		stored, err := s.readReadings(rctx, tx, a, func() (*sql.Rows, error) { return get.QueryContext(rctx, r.MeterID, kind, unix(r.Time)) })
		if err != nil {
			return res, internal("write readings", err)
		}
		if len(stored) != 1 {
			return res, internal("write readings", fmt.Errorf("reading of meter %d at %s neither inserted nor stored", r.MeterID, r.Time))
		}
		old := stored[0]
		if old.Same(r) {
			res.Duplicates++
			continue
		}
		res.Conflicts++
		conflicts = append(conflicts, conflictEvent(old, r))
	}
	if err := appendEvents(ctx, tx, s, conflicts...); err != nil {
		return res, err
	}
	if err := commit(); err != nil {
		return res, internal("write readings", err)
	}
	if s.tx == nil {
		s.nm.publish(a)
	}
	return res, nil
}

// insertReadings inserts what is new and reports, per reading, whether it
// was. SQLite is fastest with one prepared statement per row (no network);
// over a network, multi-row statements of 200 readings whose RETURNING names
// the new rows save the round trips.
func (s *DB) insertReadings(ctx context.Context, tx *sql.Tx, a *added, rs []amigo.Reading) ([]bool, error) {
	inserted := make([]bool, len(rs))
	if !s.d.MultiRow || s.nm != nil {
		cols := s.rcols()
		ins, err := tx.PrepareContext(ctx, s.q(`INSERT INTO readings (`+cols+`) VALUES (`+marks(strings.Count(cols, ",")+1)+`) ON CONFLICT (meter_id, kind, t) DO NOTHING`))
		if err != nil {
			return nil, internal("write readings", err)
		}
		defer ins.Close()
		w := rowWriter{s: s, q: tx, a: a}
		// The rows' statements run without ctx's cancellation, which is
		// checked between rows instead: the driver starts a goroutine to
		// watch a cancellable context for every statement, and a pass
		// over 100,000 meters queued 100,000 of them on the scheduler
		// ahead of the writer (which then waited more for a CPU than it
		// ran).
		rctx := context.WithoutCancel(ctx)
		for i := range rs {
			if i%256 == 0 && ctx.Err() != nil {
				return nil, internal("write readings", ctx.Err())
			}
			args, err := w.row(rctx, &rs[i])
			if err != nil {
				return nil, internal("write readings", err)
			}
			out, err := ins.ExecContext(rctx, args...)
			if err != nil {
				return nil, internal("write readings", err)
			}
			n, _ := out.RowsAffected()
			inserted[i] = n == 1
		}
		return inserted, nil
	}
	type key struct {
		m    int64
		kind string
		t    int64
	}
	const chunk = 200
	insertSQL := `INSERT INTO readings (` + readingCols + `) VALUES `
	row := "(" + marks(23) + ")"
	for start := 0; start < len(rs); start += chunk {
		part := rs[start:min(start+chunk, len(rs))]
		args := make([]any, 0, len(part)*23)
		for _, r := range part {
			args = append(args, readingArgs(r)...)
		}
		q := insertSQL + strings.TrimSuffix(strings.Repeat(row+", ", len(part)), ", ") + ` ON CONFLICT (meter_id, kind, t) DO NOTHING RETURNING meter_id, kind, t`
		rows, err := tx.QueryContext(ctx, s.q(q), args...)
		if err != nil {
			return nil, internal("write readings", err)
		}
		got := map[key]bool{}
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.m, &k.kind, &k.t); err != nil {
				rows.Close()
				return nil, internal("write readings", err)
			}
			got[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, internal("write readings", err)
		}
		for i, r := range part {
			k := key{r.MeterID, r.Kind, unix(r.Time)}
			if got[k] {
				inserted[start+i] = true
				delete(got, k) // a second copy in the same batch is not new
			}
		}
	}
	return inserted, nil
}

// ListReadings returns a meter's readings in [from, to), of a kind ("" for
// every kind), in time order.
func (s *DB) ListReadings(ctx context.Context, meterID int64, kind string, from, to time.Time) ([]amigo.Reading, error) {
	q := `SELECT ` + s.rcols() + ` FROM readings WHERE meter_id = ? AND t >= ? AND t < ?`
	args := []any{meterID, unix(from), unix(to)}
	if kind != "" {
		k, ok, err := s.kindArg(ctx, s.x, s.added, kind)
		if err != nil || !ok {
			return nil, internal("list readings", err)
		}
		q += ` AND kind = ?`
		args = append(args, k)
	}
	out, err := s.readReadings(ctx, s.x, s.added, func() (*sql.Rows, error) {
		return s.x.QueryContext(ctx, s.q(q+` ORDER BY t, kind`), args...)
	})
	return out, internal("list readings", err)
}

// LastReading returns a meter's latest reading of a kind (ENOTFOUND).
func (s *DB) LastReading(ctx context.Context, meterID int64, kind string) (amigo.Reading, error) {
	k, ok, err := s.kindArg(ctx, s.x, s.added, kind)
	if err != nil {
		return amigo.Reading{}, internal("last reading", err)
	}
	var out []amigo.Reading
	if ok {
		q := s.q(`SELECT ` + s.rcols() + ` FROM readings WHERE meter_id = ? AND kind = ? ORDER BY t DESC LIMIT 1`)
		out, err = s.readReadings(ctx, s.x, s.added, func() (*sql.Rows, error) {
			if s.tx != nil {
				return s.x.QueryContext(ctx, q, meterID, k)
			}
			return s.queryDB(ctx, q, meterID, k)
		})
	}
	if err == nil && len(out) == 0 {
		err = sql.ErrNoRows
	}
	if err != nil {
		return amigo.Reading{}, notFound("last reading", "reading", err)
	}
	return out[0], nil
}

// ReadingTimes returns the instants stored per meter of a kind in [from,
// to).
func (s *DB) ReadingTimes(ctx context.Context, meterIDs []int64, kind string, from, to time.Time) (map[int64][]time.Time, error) {
	out := map[int64][]time.Time{}
	k, ok, err := s.kindArg(ctx, s.x, s.added, kind)
	if err != nil || !ok {
		return out, internal("reading times", err)
	}
	for start := 0; start < len(meterIDs); start += 500 {
		ids := meterIDs[start:min(start+500, len(meterIDs))]
		args := []any{k, unix(from), unix(to)}
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := s.x.QueryContext(ctx, s.q(`SELECT meter_id, t FROM readings WHERE kind = ? AND t >= ? AND t < ? AND meter_id IN (`+marks(len(ids))+`) ORDER BY t`), args...)
		if err != nil {
			return nil, internal("reading times", err)
		}
		for rows.Next() {
			var id, t int64
			if err := rows.Scan(&id, &t); err != nil {
				rows.Close()
				return nil, internal("reading times", err)
			}
			out[id] = append(out[id], fromUnix(t))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, internal("reading times", err)
		}
	}
	return out, nil
}
