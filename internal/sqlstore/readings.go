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

func scanReading(row interface{ Scan(...any) error }) (amigo.Reading, error) {
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
	if s.d.CopyReadings != nil {
		return s.writeReadingsCopy(ctx, rs)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, internal("write readings", err)
	}
	defer tx.Rollback()
	if s.d.BeforeReadings != nil {
		if err := s.d.BeforeReadings(ctx, tx, rs); err != nil {
			return res, internal("write readings", err)
		}
	}
	get, err := tx.PrepareContext(ctx, s.q(`SELECT `+readingCols+` FROM readings WHERE meter_id = ? AND kind = ? AND t = ?`))
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
	inserted, err := s.insertReadings(ctx, tx, rs)
	if err != nil {
		return res, err
	}
	for i, r := range rs {
		if inserted[i] {
			res.Inserted++
			continue
		}
		old, err := scanReading(get.QueryRowContext(ctx, r.MeterID, r.Kind, unix(r.Time)))
		if err != nil {
			return res, internal("write readings", err)
		}
		if old.Same(r) {
			res.Duplicates++
			continue
		}
		res.Conflicts++
		conflicts = append(conflicts, amigo.Event{Time: r.ReceivedAt, Kind: amigo.EventConflict, Severity: "warning", MeterID: r.MeterID,
			Message: fmt.Sprintf("a second, different %s reading for %s was kept aside / 同一时刻收到不同读数", r.Kind, r.Time.Format(time.RFC3339)),
			Detail:  fmt.Sprintf("stored forward %s, received forward %s (source %s)", old.Forward[0], r.Forward[0], r.Source)})
	}
	if err := appendEvents(ctx, tx, s, conflicts...); err != nil {
		return res, err
	}
	if err := tx.Commit(); err != nil {
		return res, internal("write readings", err)
	}
	return res, nil
}

// insertReadings inserts what is new and reports, per reading, whether it
// was. SQLite is fastest with one prepared statement per row (no network);
// over a network, multi-row statements of 200 readings whose RETURNING names
// the new rows save the round trips.
func (s *DB) insertReadings(ctx context.Context, tx *sql.Tx, rs []amigo.Reading) ([]bool, error) {
	inserted := make([]bool, len(rs))
	insertSQL := `INSERT INTO readings (` + readingCols + `) VALUES `
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", 23), ", ") + ")"
	if !s.d.MultiRow {
		ins, err := tx.PrepareContext(ctx, s.q(insertSQL+row+` ON CONFLICT (meter_id, kind, t) DO NOTHING`))
		if err != nil {
			return nil, internal("write readings", err)
		}
		defer ins.Close()
		for i, r := range rs {
			out, err := ins.ExecContext(ctx, readingArgs(r)...)
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

func (s *DB) ListReadings(ctx context.Context, meterID int64, kind string, from, to time.Time) ([]amigo.Reading, error) {
	q := `SELECT ` + readingCols + ` FROM readings WHERE meter_id = ? AND t >= ? AND t < ?`
	args := []any{meterID, unix(from), unix(to)}
	if kind != "" {
		q += ` AND kind = ?`
		args = append(args, kind)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q+` ORDER BY t, kind`), args...)
	if err != nil {
		return nil, internal("list readings", err)
	}
	defer rows.Close()
	var out []amigo.Reading
	for rows.Next() {
		r, err := scanReading(rows)
		if err != nil {
			return nil, internal("list readings", err)
		}
		out = append(out, r)
	}
	return out, internal("list readings", rows.Err())
}

func (s *DB) LastReading(ctx context.Context, meterID int64, kind string) (amigo.Reading, error) {
	r, err := scanReading(s.db.QueryRowContext(ctx, s.q(`SELECT `+readingCols+` FROM readings WHERE meter_id = ? AND kind = ? ORDER BY t DESC LIMIT 1`), meterID, kind))
	if err != nil {
		return r, notFound("last reading", "reading", err)
	}
	return r, nil
}

func (s *DB) ReadingTimes(ctx context.Context, meterIDs []int64, kind string, from, to time.Time) (map[int64][]time.Time, error) {
	out := map[int64][]time.Time{}
	for start := 0; start < len(meterIDs); start += 500 {
		ids := meterIDs[start:min(start+500, len(meterIDs))]
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
		args := []any{kind, unix(from), unix(to)}
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT meter_id, t FROM readings WHERE kind = ? AND t >= ? AND t < ? AND meter_id IN (`+marks+`) ORDER BY t`), args...)
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

func (s *DB) AppendEvents(ctx context.Context, es ...amigo.Event) error {
	return appendEvents(ctx, s.db, s, es...)
}

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
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM events WHERE `+w), args...).Scan(&total); err != nil {
		return nil, 0, internal("list events", err)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, t, kind, severity, site_id, area_id, collector_id, meter_id, message, detail FROM events WHERE `+w+` ORDER BY id DESC LIMIT ? OFFSET ?`), append(args, f.Limit, f.Offset)...)
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

// Commands.

const commandCols = `id, meter_id, type, status, reason, result, requested_by, created_at, expires_at, attempts, next_attempt_at, updated_at`

func scanCommand(row interface{ Scan(...any) error }) (amigo.Command, error) {
	var c amigo.Command
	var cr, ex, na, up int64
	err := row.Scan(&c.ID, &c.MeterID, &c.Type, &c.Status, &c.Reason, &c.Result, &c.RequestedBy, &cr, &ex, &c.Attempts, &na, &up)
	c.CreatedAt, c.ExpiresAt, c.NextAttemptAt, c.UpdatedAt = fromUnix(cr), fromUnix(ex), fromUnix(na), fromUnix(up)
	return c, err
}

func (s *DB) CreateCommand(ctx context.Context, c *amigo.Command) error {
	switch c.Type {
	case amigo.CmdDisconnect, amigo.CmdReconnect, amigo.CmdRead, amigo.CmdTimeSync:
	default:
		return amigo.Errorf(amigo.EINVALID, "create command", "unknown command type %q (disconnect, reconnect, read, time-sync) / 未知命令类型", c.Type)
	}
	if c.Status == "" {
		c.Status = amigo.CmdPending
	}
	id, err := s.insert(ctx, "create command", `INSERT INTO commands (meter_id, type, status, reason, result, requested_by, created_at, expires_at, attempts, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.MeterID, c.Type, c.Status, c.Reason, c.Result, c.RequestedBy, unix(c.CreatedAt), unix(c.ExpiresAt), c.Attempts, unix(c.NextAttemptAt), unix(c.UpdatedAt))
	c.ID = id
	return err
}

func (s *DB) GetCommand(ctx context.Context, id int64) (amigo.Command, error) {
	c, err := scanCommand(s.db.QueryRowContext(ctx, s.q(`SELECT `+commandCols+` FROM commands WHERE id = ?`), id))
	if err != nil {
		return c, notFound("get command", "command", err)
	}
	return c, nil
}

func (s *DB) UpdateCommand(ctx context.Context, c amigo.Command) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE commands SET status = ?, reason = ?, result = ?, attempts = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`),
		c.Status, c.Reason, c.Result, c.Attempts, unix(c.NextAttemptAt), unix(c.UpdatedAt), c.ID)
	return internal("update command", err)
}

func (s *DB) DueCommands(ctx context.Context, now time.Time, limit int) ([]amigo.Command, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+commandCols+` FROM commands WHERE status IN ('pending', 'sent') AND next_attempt_at <= ? ORDER BY id LIMIT ?`), unix(now), limit)
	if err != nil {
		return nil, internal("due commands", err)
	}
	defer rows.Close()
	var out []amigo.Command
	for rows.Next() {
		c, err := scanCommand(rows)
		if err != nil {
			return nil, internal("due commands", err)
		}
		out = append(out, c)
	}
	return out, internal("due commands", rows.Err())
}

// Users, customers, audit.

func (s *DB) CreateUser(ctx context.Context, u *amigo.User) error {
	if u.Username == "" || u.PasswordHash == "" {
		return amigo.Errorf(amigo.EINVALID, "create user", "a user needs a name and a password / 用户需要用户名和密码")
	}
	id, err := s.insert(ctx, "create user", `INSERT INTO users (username, password_hash, role, customer_id) VALUES (?, ?, ?, ?)`, u.Username, u.PasswordHash, u.Role, u.CustomerID)
	u.ID = id
	return err
}

func (s *DB) FindUserByUsername(ctx context.Context, username string) (amigo.User, error) {
	var u amigo.User
	var retired int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, username, password_hash, role, customer_id, retired_at, token_gen FROM users WHERE username = ?`), username).Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &u.CustomerID, &retired, &u.TokenGen)
	if err != nil {
		return u, notFound("find user", "user", err)
	}
	u.RetiredAt = fromUnix(retired)
	return u, nil
}

func (s *DB) CreateCustomer(ctx context.Context, c *amigo.Customer) error {
	id, err := s.insert(ctx, "create customer", `INSERT INTO customers (name, phone) VALUES (?, ?)`, c.Name, c.Phone)
	c.ID = id
	return err
}

func (s *DB) CreateAccount(ctx context.Context, a *amigo.Account) error {
	id, err := s.insert(ctx, "create account", `INSERT INTO accounts (customer_id, prepaid, balance_fen) VALUES (?, ?, ?)`, a.CustomerID, b2i(a.Prepaid), int64(a.BalanceFen))
	a.ID = id
	return err
}

func (s *DB) AppendAudit(ctx context.Context, e amigo.AuditEntry) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO audit (t, actor, action, object, detail) VALUES (?, ?, ?, ?, ?)`), unix(e.Time), e.Actor, e.Action, e.Object, e.Detail)
	return internal("append audit", err)
}

func (s *DB) ListAudit(ctx context.Context, limit int) ([]amigo.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, t, actor, action, object, detail FROM audit ORDER BY id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, internal("list audit", err)
	}
	defer rows.Close()
	var out []amigo.AuditEntry
	for rows.Next() {
		var e amigo.AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Object, &e.Detail); err != nil {
			return nil, internal("list audit", err)
		}
		e.Time = fromUnix(t)
		out = append(out, e)
	}
	return out, internal("list audit", rows.Err())
}
