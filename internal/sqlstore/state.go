package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// GetState returns the value of key in the station's working state.
func (s *DB) GetState(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.x.QueryRowContext(ctx, s.q(`SELECT value FROM station_state WHERE key = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, internal("get state", err)
	}
	return v, true, nil
}

// GetStates returns the values of those of keys that are set, 500 keys a
// query.
func (s *DB) GetStates(ctx context.Context, keys []string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	for start := 0; start < len(keys); start += 500 {
		chunk := keys[start:min(start+500, len(keys))]
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		rows, err := s.x.QueryContext(ctx, s.q(`SELECT key, value FROM station_state WHERE key IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+`)`), args...)
		if err != nil {
			return nil, internal("get states", err)
		}
		kvs, err := collect(rows, "get states", func(r scanner) ([2]string, error) {
			var kv [2]string
			return kv, r.Scan(&kv[0], &kv[1])
		})
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			out[kv[0]] = kv[1]
		}
	}
	return out, nil
}

// PutState sets key to value.
func (s *DB) PutState(ctx context.Context, key, value string, at time.Time) error {
	_, err := s.x.ExecContext(ctx, s.q(`INSERT INTO station_state (key, value, t) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, t = excluded.t`), key, value, unix(at))
	return internal("put state", err)
}

// PutStateOnce sets key only when it is not set and reports whether it did.
func (s *DB) PutStateOnce(ctx context.Context, key, value string, at time.Time) (bool, error) {
	res, err := s.x.ExecContext(ctx, s.q(`INSERT INTO station_state (key, value, t) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`), key, value, unix(at))
	if err != nil {
		return false, internal("put state once", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, internal("put state once", err)
	}
	return n == 1, nil
}

// DeleteState removes key.
func (s *DB) DeleteState(ctx context.Context, key string) error {
	_, err := s.x.ExecContext(ctx, s.q(`DELETE FROM station_state WHERE key = ?`), key)
	return internal("delete state", err)
}
