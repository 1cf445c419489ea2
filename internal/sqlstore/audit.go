package sqlstore

import (
	"context"

	"github.com/amigo-metering/amigo"
)

// AppendAudit appends one entry to the audit log (append-only: the tables'
// triggers or rules refuse updates and deletes).
func (s *DB) AppendAudit(ctx context.Context, e amigo.AuditEntry) error {
	_, err := s.x.ExecContext(ctx, s.q(`INSERT INTO audit (t, actor, action, object, detail) VALUES (?, ?, ?, ?, ?)`), unix(e.Time), e.Actor, e.Action, e.Object, e.Detail)
	return internal("append audit", err)
}

// ListAudit returns the newest entries first (100 when limit <= 0).
func (s *DB) ListAudit(ctx context.Context, limit int) ([]amigo.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT id, t, actor, action, object, detail FROM audit ORDER BY id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, internal("list audit", err)
	}
	return collect(rows, "list audit", func(row scanner) (amigo.AuditEntry, error) {
		var e amigo.AuditEntry
		var t int64
		err := row.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Object, &e.Detail)
		e.Time = fromUnix(t)
		return e, err
	})
}
