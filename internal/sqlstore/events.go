package sqlstore

import (
	"context"
	"database/sql"
	"strings"

	"github.com/amigo-metering/amigo"
)

// Events.

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func appendEvents(ctx context.Context, x execer, s *DB, es ...amigo.Event) error {
	for _, e := range es {
		if e.Severity == "" {
			e.Severity = "info"
		}
		if _, err := x.ExecContext(ctx, s.q(`INSERT INTO events (t, kind, severity, site_id, area_id, collector_id, meter_id, message, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			unix(e.Time), e.Kind, e.Severity, e.SiteID, e.AreaID, e.CollectorID, e.MeterID, e.Message, e.Detail); err != nil {
			return internal("append events", err)
		}
	}
	return nil
}

// AppendEvents stores events.
func (s *DB) AppendEvents(ctx context.Context, es ...amigo.Event) error {
	return appendEvents(ctx, s.x, s, es...)
}

// ListEvents returns events newest first and how many match.
func (s *DB) ListEvents(ctx context.Context, f amigo.EventFilter) ([]amigo.Event, int, error) {
	where := []string{"1 = 1"}
	var args []any
	if f.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, f.Kind)
	}
	if f.MeterID != 0 {
		where = append(where, "meter_id = ?")
		args = append(args, f.MeterID)
	}
	if f.CollectorID != 0 {
		where = append(where, "collector_id = ?")
		args = append(args, f.CollectorID)
	}
	if !f.Since.IsZero() {
		where = append(where, "t >= ?")
		args = append(args, unix(f.Since))
	}
	w := strings.Join(where, " AND ")
	var total int
	if err := s.x.QueryRowContext(ctx, s.q(`SELECT count(*) FROM events WHERE `+w), args...).Scan(&total); err != nil {
		return nil, 0, internal("list events", err)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT id, t, kind, severity, site_id, area_id, collector_id, meter_id, message, detail FROM events WHERE `+w+` ORDER BY id DESC LIMIT ? OFFSET ?`), append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, internal("list events", err)
	}
	defer rows.Close()
	var out []amigo.Event
	for rows.Next() {
		var e amigo.Event
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Kind, &e.Severity, &e.SiteID, &e.AreaID, &e.CollectorID, &e.MeterID, &e.Message, &e.Detail); err != nil {
			return nil, 0, internal("list events", err)
		}
		e.Time = fromUnix(t)
		out = append(out, e)
	}
	return out, total, internal("list events", rows.Err())
}
