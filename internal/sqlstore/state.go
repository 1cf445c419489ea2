package sqlstore

import (
	"context"
	"database/sql"
	"errors"
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
