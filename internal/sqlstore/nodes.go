package sqlstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Leases and command claims: what several station nodes on one database
// need (amigo.NodeStore). Lease expiry and claims are real time in Unix
// milliseconds.

// AcquireLeases gives each of resources to node as AcquireLease does, in
// one transaction, leaseChunk a statement, and returns those node holds.
// The resources are taken in order, so that two nodes taking overlapping
// sets lock the rows in the same order (no deadlock).
func (s *DB) AcquireLeases(ctx context.Context, resources []string, node string, ttl time.Duration, now time.Time) ([]string, error) {
	const op = "acquire leases"
	rs := slices.Clone(resources)
	slices.Sort(rs)
	rs = slices.Compact(rs) // one statement may not upsert a row twice
	if len(rs) == 0 {
		return nil, nil
	}
	tx, commit, rollback, err := s.begin(ctx)
	if err != nil {
		return nil, internal(op, err)
	}
	defer rollback()
	const leaseChunk = 300
	var held []string
	for start := 0; start < len(rs); start += leaseChunk {
		chunk := rs[start:min(start+leaseChunk, len(rs))]
		args := make([]any, 0, 3*len(chunk)+1)
		for _, r := range chunk {
			args = append(args, r, node, now.Add(ttl).UnixMilli())
		}
		args = append(args, now.UnixMilli())
		rows, err := tx.QueryContext(ctx, s.q(`INSERT INTO leases (resource, node, expires) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(chunk)), ", ")+`
			ON CONFLICT (resource) DO UPDATE SET node = excluded.node, expires = excluded.expires
			WHERE leases.node = excluded.node OR leases.expires <= ? RETURNING resource`), args...)
		if err != nil {
			return nil, internal(op, err)
		}
		got, err := collect(rows, op, func(r scanner) (string, error) {
			var v string
			return v, r.Scan(&v)
		})
		if err != nil {
			return nil, err
		}
		held = append(held, got...)
	}
	if err := commit(); err != nil {
		return nil, internal(op, err)
	}
	return held, nil
}

// AcquireLease gives resource to node until now+ttl when it is free,
// expired or node's already; it reports whether node holds it.
func (s *DB) AcquireLease(ctx context.Context, resource, node string, ttl time.Duration, now time.Time) (bool, error) {
	res, err := s.x.ExecContext(ctx, s.q(`INSERT INTO leases (resource, node, expires) VALUES (?, ?, ?)
		ON CONFLICT (resource) DO UPDATE SET node = excluded.node, expires = excluded.expires
		WHERE leases.node = excluded.node OR leases.expires <= ?`), resource, node, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, internal("acquire lease", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, internal("acquire lease", err)
	}
	return n == 1, nil
}

// RenewLeases extends node's live leases to now+ttl and returns the
// resources it still holds.
func (s *DB) RenewLeases(ctx context.Context, node string, ttl time.Duration, now time.Time) ([]string, error) {
	rows, err := s.x.QueryContext(ctx, s.q(`UPDATE leases SET expires = ? WHERE node = ? AND expires > ? RETURNING resource`), now.Add(ttl).UnixMilli(), node, now.UnixMilli())
	if err != nil {
		return nil, internal("renew leases", err)
	}
	return collect(rows, "renew leases", func(r scanner) (string, error) {
		var v string
		return v, r.Scan(&v)
	})
}

// ReleaseLease gives resource up if node holds it.
func (s *DB) ReleaseLease(ctx context.Context, resource, node string) error {
	_, err := s.x.ExecContext(ctx, s.q(`DELETE FROM leases WHERE resource = ? AND node = ?`), resource, node)
	return internal("release lease", err)
}

// ReleaseLeases gives up every lease of node.
func (s *DB) ReleaseLeases(ctx context.Context, node string) error {
	_, err := s.x.ExecContext(ctx, s.q(`DELETE FROM leases WHERE node = ?`), node)
	return internal("release leases", err)
}

// Leases returns the live leases at now: resource -> node.
func (s *DB) Leases(ctx context.Context, now time.Time) (map[string]string, error) {
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT resource, node FROM leases WHERE expires > ?`), now.UnixMilli())
	if err != nil {
		return nil, internal("leases", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var r, n string
		if err := rows.Scan(&r, &n); err != nil {
			return nil, internal("leases", err)
		}
		out[r] = n
	}
	return out, internal("leases", rows.Err())
}

// ClaimCommands claims for node at most limit due commands that no other
// node has claimed and whose line node leases, nobody leases, or that
// expired. On PostgreSQL the rows are locked FOR UPDATE SKIP LOCKED, so
// that two nodes claiming at once take different commands; SQLite's
// transactions are exclusive (one writer) and need no lock.
func (s *DB) ClaimCommands(ctx context.Context, node string, now, realNow time.Time, ttl time.Duration, limit int) ([]amigo.Command, error) {
	if limit <= 0 {
		return nil, nil
	}
	tx, commit, rollback, err := s.begin(ctx)
	if err != nil {
		return nil, internal("claim commands", err)
	}
	defer rollback()
	lock := ""
	if s.d.Name == "postgres" {
		lock = ` FOR UPDATE OF cm SKIP LOCKED`
	}
	cols := "cm." + strings.ReplaceAll(commandCols, ", ", ", cm.")
	ms := realNow.UnixMilli()
	rows, err := tx.QueryContext(ctx, s.q(`SELECT `+cols+` FROM commands cm
		JOIN meters m ON m.id = cm.meter_id
		LEFT JOIN collectors co ON co.id = m.collector_id
		LEFT JOIN leases l ON l.resource = (CASE WHEN m.direct <> 0 THEN 'meter/' || m.address ELSE 'collector/' || co.address END) AND l.expires > ?
		WHERE cm.status IN ('pending', 'sent') AND cm.next_attempt_at <= ? AND cm.claim_expires < ?
		  AND (l.node = ? OR l.node IS NULL OR cm.expires_at < ?)
		ORDER BY cm.id LIMIT ?`+lock), ms, unix(now), ms, node, unix(now), limit)
	if err != nil {
		return nil, internal("claim commands", err)
	}
	out, err := collect(rows, "claim commands", scanCommand)
	if err != nil {
		return nil, err
	}
	for _, c := range out {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE commands SET node = ?, claim_expires = ? WHERE id = ?`), node, realNow.Add(ttl).UnixMilli(), c.ID); err != nil {
			return nil, internal("claim commands", err)
		}
	}
	if err := commit(); err != nil {
		return nil, internal("claim commands", err)
	}
	return out, nil
}

// ReleaseCommand ends node's claim on command id.
func (s *DB) ReleaseCommand(ctx context.Context, id int64, node string) error {
	_, err := s.x.ExecContext(ctx, s.q(`UPDATE commands SET claim_expires = 0 WHERE id = ? AND node = ?`), id, node)
	return internal("release command", err)
}

// PruneState deletes the working-state keys starting with prefix written
// before before (keys of days that no rule looks at any more).
func (s *DB) PruneState(ctx context.Context, prefix string, before time.Time) (int, error) {
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix)
	res, err := s.x.ExecContext(ctx, s.q(`DELETE FROM station_state WHERE key LIKE ? ESCAPE '\' AND t < ?`), esc+"%", unix(before))
	if err != nil {
		return 0, internal("prune state", err)
	}
	n, err := res.RowsAffected()
	return int(n), internal("prune state", err)
}
