package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// ReadingsAround returns a meter's readings of kind in [from, to] with the
// last one before from and the first one after to, oldest first, in one
// query (the readings key index answers each bound).
func (s *DB) ReadingsAround(ctx context.Context, meterID int64, kind string, from, to time.Time) ([]amigo.Reading, error) {
	k, ok, err := s.kindArg(ctx, s.db, nil, kind)
	if err != nil || !ok {
		return nil, internal("readings around", err)
	}
	q := `SELECT ` + s.rcols() + ` FROM readings WHERE meter_id = ? AND kind = ?
	  AND t >= COALESCE((SELECT MAX(t) FROM readings WHERE meter_id = ? AND kind = ? AND t < ?), ?)
	  AND t <= COALESCE((SELECT MIN(t) FROM readings WHERE meter_id = ? AND kind = ? AND t > ?), ?)
	  ORDER BY t`
	f, t := unix(from), unix(to)
	out, err := s.readReadings(ctx, s.db, nil, func() (*sql.Rows, error) {
		return s.queryDB(ctx, s.q(q), meterID, k, meterID, k, f, f, meterID, k, t, t)
	})
	return out, internal("readings around", err)
}

// ReadingsOfMeters returns the readings of the meters whose kind is one of
// kinds in [from, to), keyed by meter, oldest first; 500 meters a query.
func (s *DB) ReadingsOfMeters(ctx context.Context, meterIDs []int64, kinds []string, from, to time.Time) (map[int64][]amigo.Reading, error) {
	out := map[int64][]amigo.Reading{}
	ks := make([]any, 0, len(kinds))
	for _, kind := range kinds {
		k, ok, err := s.kindArg(ctx, s.db, nil, kind)
		if err != nil {
			return nil, internal("readings of meters", err)
		}
		if ok {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		return out, nil
	}
	for start := 0; start < len(meterIDs); start += 500 {
		ids := meterIDs[start:min(start+500, len(meterIDs))]
		args := append([]any{unix(from), unix(to)}, ks...)
		for _, id := range ids {
			args = append(args, id)
		}
		rs, err := s.readReadings(ctx, s.db, nil, func() (*sql.Rows, error) {
			return s.x.QueryContext(ctx, s.q(`SELECT `+s.rcols()+` FROM readings WHERE t >= ? AND t < ? AND kind IN (`+marks(len(ks))+`) AND meter_id IN (`+marks(len(ids))+`) ORDER BY meter_id, t, kind`), args...)
		})
		if err != nil {
			return nil, internal("readings of meters", err)
		}
		for _, r := range rs {
			out[r.MeterID] = append(out[r.MeterID], r)
		}
	}
	return out, nil
}

// UpdateReadingFlags clears then sets flag bits on a meter's readings of
// kind ("" for all) in [from, to) and returns how many it changed.
func (s *DB) UpdateReadingFlags(ctx context.Context, meterID int64, kind string, from, to time.Time, set, clear int) (int, error) {
	q := `UPDATE readings SET flags = (flags & ~CAST(? AS INTEGER)) | CAST(? AS INTEGER) WHERE meter_id = ? AND t >= ? AND t < ? AND flags <> ((flags & ~CAST(? AS INTEGER)) | CAST(? AS INTEGER))`
	args := []any{clear, set, meterID, unix(from), unix(to), clear, set}
	if kind != "" {
		k, ok, err := s.kindArg(ctx, s.db, nil, kind)
		if err != nil || !ok {
			return 0, internal("update reading flags", err)
		}
		q += ` AND kind = ?`
		args = append(args, k)
	}
	res, err := s.x.ExecContext(ctx, s.q(q), args...)
	if err != nil {
		return 0, internal("update reading flags", err)
	}
	n, err := res.RowsAffected()
	return int(n), internal("update reading flags", err)
}

// LatestReadings returns the newest stored reading of kind of each meter,
// keyed by meter (a meter with none is absent); 500 meters a query. The
// meters are a VALUES list driving the join, so each costs one seek of the
// readings key (the MAX(t) of a (meter, kind) prefix), however long its
// history.
func (s *DB) LatestReadings(ctx context.Context, meterIDs []int64, kind string) (map[int64]amigo.Reading, error) {
	out := make(map[int64]amigo.Reading, len(meterIDs))
	if len(meterIDs) == 0 {
		return out, nil
	}
	k, ok, err := s.kindArg(ctx, s.db, nil, kind)
	if err != nil || !ok {
		return out, internal("latest readings", err)
	}
	if s.d.Name == "postgres" {
		// Each meter its own backward seek of the key, whatever the
		// planner believes of the table. The join below, planned on a
		// month's new partition before autovacuum had analyzed it (an
		// unknown kind matches 0.5 % of the rows, it guesses), hashed the
		// whole partition for every 100 meters: 50 ms a query while a
		// restart's first pass filled it.
		for start := 0; start < len(meterIDs); start += 5000 {
			ids := meterIDs[start:min(start+5000, len(meterIDs))]
			q := `SELECT r.* FROM unnest($1::bigint[]) AS v(id) CROSS JOIN LATERAL
			  (SELECT ` + readingCols + ` FROM readings WHERE meter_id = v.id AND kind = $2 ORDER BY t DESC LIMIT 1) AS r`
			rs, err := s.readReadings(ctx, s.db, nil, func() (*sql.Rows, error) { return s.x.QueryContext(ctx, q, ids, k) })
			if err != nil {
				return nil, internal("latest readings", err)
			}
			for _, r := range rs {
				out[r.MeterID] = r
			}
		}
		return out, nil
	}
	for start := 0; start < len(meterIDs); start += 500 {
		ids := meterIDs[start:min(start+500, len(meterIDs))]
		args := make([]any, 0, len(ids)+2)
		for _, id := range ids {
			args = append(args, id)
		}
		args = append(args, k, k)
		q := `SELECT ` + s.rcols() + ` FROM (VALUES ` + strings.TrimSuffix(strings.Repeat("(CAST(? AS BIGINT)), ", len(ids)), ", ") + `) AS v
		  JOIN readings ON meter_id = v.column1
		  AND kind = ? AND t = (SELECT MAX(t) FROM readings l WHERE l.meter_id = v.column1 AND l.kind = ?)`
		rs, err := s.readReadings(ctx, s.db, nil, func() (*sql.Rows, error) { return s.x.QueryContext(ctx, s.q(q), args...) })
		if err != nil {
			return nil, internal("latest readings", err)
		}
		for _, r := range rs {
			out[r.MeterID] = r
		}
	}
	return out, nil
}
