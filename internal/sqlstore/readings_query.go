package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// ReadingsAround returns a meter's readings of kind in [from, to] with the
// last one before from and the first one after to, oldest first, in one
// query (the readings key index answers each bound).
func (s *DB) ReadingsAround(ctx context.Context, meterID int64, kind string, from, to time.Time) ([]amigo.Reading, error) {
	q := `SELECT ` + readingCols + ` FROM readings WHERE meter_id = ? AND kind = ?
	  AND t >= COALESCE((SELECT MAX(t) FROM readings WHERE meter_id = ? AND kind = ? AND t < ?), ?)
	  AND t <= COALESCE((SELECT MIN(t) FROM readings WHERE meter_id = ? AND kind = ? AND t > ?), ?)
	  ORDER BY t`
	f, t := unix(from), unix(to)
	rows, err := s.x.QueryContext(ctx, s.q(q), meterID, kind, meterID, kind, f, f, meterID, kind, t, t)
	if err != nil {
		return nil, internal("readings around", err)
	}
	defer rows.Close()
	var out []amigo.Reading
	for rows.Next() {
		r, err := scanReading(rows)
		if err != nil {
			return nil, internal("readings around", err)
		}
		out = append(out, r)
	}
	return out, internal("readings around", rows.Err())
}

// ReadingsOfMeters returns the readings of the meters whose kind is one of
// kinds in [from, to), keyed by meter, oldest first; 500 meters a query.
func (s *DB) ReadingsOfMeters(ctx context.Context, meterIDs []int64, kinds []string, from, to time.Time) (map[int64][]amigo.Reading, error) {
	out := map[int64][]amigo.Reading{}
	if len(kinds) == 0 {
		return out, nil
	}
	kmarks := strings.TrimSuffix(strings.Repeat("?, ", len(kinds)), ", ")
	for start := 0; start < len(meterIDs); start += 500 {
		ids := meterIDs[start:min(start+500, len(meterIDs))]
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
		args := []any{unix(from), unix(to)}
		for _, k := range kinds {
			args = append(args, k)
		}
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := s.x.QueryContext(ctx, s.q(`SELECT `+readingCols+` FROM readings WHERE t >= ? AND t < ? AND kind IN (`+kmarks+`) AND meter_id IN (`+marks+`) ORDER BY meter_id, t, kind`), args...)
		if err != nil {
			return nil, internal("readings of meters", err)
		}
		for rows.Next() {
			r, err := scanReading(rows)
			if err != nil {
				rows.Close()
				return nil, internal("readings of meters", err)
			}
			out[r.MeterID] = append(out[r.MeterID], r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, internal("readings of meters", err)
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
		q += ` AND kind = ?`
		args = append(args, kind)
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
// readings key index (the MAX(t) of a (meter, kind) prefix), however long
// its history.
func (s *DB) LatestReadings(ctx context.Context, meterIDs []int64, kind string) (map[int64]amigo.Reading, error) {
	out := make(map[int64]amigo.Reading, len(meterIDs))
	for start := 0; start < len(meterIDs); start += 500 {
		ids := meterIDs[start:min(start+500, len(meterIDs))]
		marks := strings.TrimSuffix(strings.Repeat("(CAST(? AS BIGINT)), ", len(ids)), ", ")
		args := make([]any, 0, len(ids)+2)
		for _, id := range ids {
			args = append(args, id)
		}
		args = append(args, kind, kind)
		q := `SELECT ` + readingCols + ` FROM (VALUES ` + marks + `) AS v JOIN readings ON meter_id = v.column1
		  AND kind = ? AND t = (SELECT MAX(t) FROM readings l WHERE l.meter_id = v.column1 AND l.kind = ?)`
		rows, err := s.x.QueryContext(ctx, s.q(q), args...)
		if err != nil {
			return nil, internal("latest readings", err)
		}
		for rows.Next() {
			r, err := scanReading(rows)
			if err != nil {
				rows.Close()
				return nil, internal("latest readings", err)
			}
			out[r.MeterID] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, internal("latest readings", err)
		}
	}
	return out, nil
}
