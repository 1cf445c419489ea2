package sqlstore

import (
	"context"
	"strconv"
	"time"

	"github.com/amigo-metering/amigo"
)

// Commands.

const commandCols = `id, meter_id, type, status, reason, result, requested_by, created_at, expires_at, attempts, next_attempt_at, updated_at`

func scanCommand(row scanner) (amigo.Command, error) {
	var c amigo.Command
	var cr, ex, na, up int64
	err := row.Scan(&c.ID, &c.MeterID, &c.Type, &c.Status, &c.Reason, &c.Result, &c.RequestedBy, &cr, &ex, &c.Attempts, &na, &up)
	c.CreatedAt, c.ExpiresAt, c.NextAttemptAt, c.UpdatedAt = fromUnix(cr), fromUnix(ex), fromUnix(na), fromUnix(up)
	return c, err
}

// CreateCommand stores a command (pending); EINVALID for an unknown type.
func (s *DB) CreateCommand(ctx context.Context, c *amigo.Command) error {
	switch c.Type {
	case amigo.CmdDisconnect, amigo.CmdReconnect, amigo.CmdClose, amigo.CmdAlarm, amigo.CmdAlarmOff, amigo.CmdRead, amigo.CmdTimeSync:
	default:
		return amigo.Errorf(amigo.EINVALID, "create command", "unknown command type %q (disconnect, reconnect, close, alarm, alarm-off, read, time-sync) / 未知命令类型", c.Type)
	}
	if c.Status == "" {
		c.Status = amigo.CmdPending
	}
	id, err := s.insert(ctx, "create command", `INSERT INTO commands (meter_id, type, status, reason, result, requested_by, created_at, expires_at, attempts, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.MeterID, c.Type, c.Status, c.Reason, c.Result, c.RequestedBy, unix(c.CreatedAt), unix(c.ExpiresAt), c.Attempts, unix(c.NextAttemptAt), unix(c.UpdatedAt))
	c.ID = id
	if err == nil && s.d.CommandChannel != "" {
		// Inside a transaction the notification goes out at its commit. It
		// is only a wake-up: the nodes look for due commands every pass
		// anyway, so a failed notification loses nothing.
		s.x.ExecContext(ctx, s.q(`SELECT pg_notify(?, ?)`), s.d.CommandChannel, strconv.FormatInt(c.MeterID, 10))
	}
	return err
}

// GetCommand returns a command (ENOTFOUND).
func (s *DB) GetCommand(ctx context.Context, id int64) (amigo.Command, error) {
	c, err := scanCommand(s.x.QueryRowContext(ctx, s.q(`SELECT `+commandCols+` FROM commands WHERE id = ?`), id))
	if err != nil {
		return c, notFound("get command", "command", err)
	}
	return c, nil
}

// UpdateCommand records a command's progress.
func (s *DB) UpdateCommand(ctx context.Context, c amigo.Command) error {
	_, err := s.x.ExecContext(ctx, s.q(`UPDATE commands SET status = ?, reason = ?, result = ?, attempts = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`),
		c.Status, c.Reason, c.Result, c.Attempts, unix(c.NextAttemptAt), unix(c.UpdatedAt), c.ID)
	return internal("update command", err)
}

// DueCommands returns pending and sent commands due at now, oldest first.
func (s *DB) DueCommands(ctx context.Context, now time.Time, limit int) ([]amigo.Command, error) {
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT `+commandCols+` FROM commands WHERE status IN ('pending', 'sent') AND next_attempt_at <= ? ORDER BY id LIMIT ?`), unix(now), limit)
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
