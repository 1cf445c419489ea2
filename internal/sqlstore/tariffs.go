package sqlstore

import (
	"context"

	"github.com/amigo-metering/amigo"
)

// PutTariff stores a new tariff version (ECONFLICT when the name has a
// version from that day already; versions are never replaced).
func (s *DB) PutTariff(ctx context.Context, v amigo.TariffVersion) error {
	_, err := s.x.ExecContext(ctx, s.q(`INSERT INTO tariffs (name, valid_from, document, created_at, created_by) VALUES (?, ?, ?, ?, ?)`),
		v.Name, v.ValidFrom, string(v.Document), unix(v.CreatedAt), v.CreatedBy)
	if err != nil {
		if e := internal("put tariff", err); amigo.ErrorKind(e) == amigo.ECONFLICT {
			return &amigo.Error{Kind: amigo.ECONFLICT, Op: "put tariff", Message: "tariff " + v.Name + " already has a version from " + v.ValidFrom + " / 该电价在此日期已有版本", Err: err}
		}
		return internal("put tariff", err)
	}
	return nil
}

// ListTariffs returns the versions of name, or of every name for "", by
// name and oldest first.
func (s *DB) ListTariffs(ctx context.Context, name string) ([]amigo.TariffVersion, error) {
	query, args := `SELECT name, valid_from, document, created_at, created_by FROM tariffs`, []any{}
	if name != "" {
		query += ` WHERE name = ?`
		args = append(args, name)
	}
	rows, err := s.x.QueryContext(ctx, s.q(query+` ORDER BY name, valid_from`), args...)
	if err != nil {
		return nil, internal("list tariffs", err)
	}
	return collect(rows, "list tariffs", func(row scanner) (amigo.TariffVersion, error) {
		var v amigo.TariffVersion
		var doc string
		var at int64
		err := row.Scan(&v.Name, &v.ValidFrom, &doc, &at, &v.CreatedBy)
		v.Document, v.CreatedAt = []byte(doc), fromUnix(at)
		return v, err
	})
}
