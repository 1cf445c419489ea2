package sqlstore

import (
	"context"

	"github.com/amigo-metering/amigo"
)

// Queries of the web pages (internal/web), beyond amigo.Store.

// MeterCommands returns a meter's latest commands, newest first (at most
// limit, 1..1000).
func (s *DB) MeterCommands(ctx context.Context, meterID int64, limit int) ([]amigo.Command, error) {
	limit = min(max(limit, 1), 1000)
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT `+commandCols+` FROM commands WHERE meter_id = ? ORDER BY id DESC LIMIT ?`), meterID, limit)
	if err != nil {
		return nil, internal("meter commands", err)
	}
	defer rows.Close()
	var out []amigo.Command
	for rows.Next() {
		c, err := scanCommand(rows)
		if err != nil {
			return nil, internal("meter commands", err)
		}
		out = append(out, c)
	}
	return out, internal("meter commands", rows.Err())
}

// MetersByAddressPrefix returns the in-service meters whose address starts
// with prefix (digits only, at most 12), in address order, at most limit
// (1..1000): a range on the address index.
func (s *DB) MetersByAddressPrefix(ctx context.Context, prefix string, limit int) ([]amigo.Meter, error) {
	if len(prefix) > 12 {
		return nil, amigo.Errorf(amigo.EINVALID, "meter search", "address has at most 12 digits / 表地址最多12位")
	}
	for _, c := range prefix {
		if c < '0' || c > '9' {
			return nil, amigo.Errorf(amigo.EINVALID, "meter search", "address is digits only / 表地址只含数字")
		}
	}
	limit = min(max(limit, 1), 1000)
	// Every address of the prefix lies in [prefix, prefix + ":"), ':'
	// being the character after '9'.
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT `+meterCols+` FROM meters WHERE address >= ? AND address < ? AND removed_at = 0 ORDER BY address LIMIT ?`), prefix, prefix+":", limit)
	if err != nil {
		return nil, internal("meter search", err)
	}
	defer rows.Close()
	var out []amigo.Meter
	for rows.Next() {
		m, err := scanMeter(rows)
		if err != nil {
			return nil, internal("meter search", err)
		}
		out = append(out, m)
	}
	return out, internal("meter search", rows.Err())
}

// StatusCounts counts the in-service meters and collectors by status.
func (s *DB) StatusCounts(ctx context.Context) (meters, collectors map[string]int, err error) {
	count := func(q string) (map[string]int, error) {
		rows, err := s.x.QueryContext(ctx, s.q(q))
		if err != nil {
			return nil, internal("status counts", err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var st string
			var n int
			if err := rows.Scan(&st, &n); err != nil {
				return nil, internal("status counts", err)
			}
			out[st] = n
		}
		return out, internal("status counts", rows.Err())
	}
	if meters, err = count(`SELECT status, count(*) FROM meters WHERE removed_at = 0 GROUP BY status`); err != nil {
		return nil, nil, err
	}
	collectors, err = count(`SELECT status, count(*) FROM collectors WHERE retired_at = 0 GROUP BY status`)
	return meters, collectors, err
}
