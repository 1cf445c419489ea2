package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Meters.

const meterCols = `id, site_id, address, protocol, phases, ct_ratio, pt_ratio, area_id, collector_id, port, pn, direct, password, operator, rated_amps, account_id, installed_at, removed_at, status, since, reason, relay, imei, reg_secret`

func scanMeter(row scanner) (amigo.Meter, error) {
	var m amigo.Meter
	var direct int
	var inst, rem, since int64
	err := row.Scan(&m.ID, &m.SiteID, &m.Address, &m.Protocol, &m.Phases, &m.CTRatio, &m.PTRatio, &m.AreaID, &m.CollectorID, &m.Port, &m.Pn,
		&direct, &m.Password, &m.Operator, &m.RatedAmps, &m.AccountID, &inst, &rem, &m.Status, &since, &m.Reason, &m.Relay, &m.IMEI, &m.RegSecret)
	m.Direct, m.InstalledAt, m.RemovedAt, m.Since = direct != 0, fromUnix(inst), fromUnix(rem), fromUnix(since)
	return m, err
}

func validMeter(m *amigo.Meter) error {
	if len(m.Address) != 12 || strings.Trim(m.Address, "0123456789") != "" {
		return amigo.Errorf(amigo.EINVALID, "meter", "meter address %q: want 12 digits / 表地址应为12位数字", m.Address)
	}
	if m.SiteID == 0 {
		return amigo.Errorf(amigo.EINVALID, "meter", "meter %s has no site / 电表未指定站点", m.Address)
	}
	if !m.Direct && m.CollectorID == 0 {
		return amigo.Errorf(amigo.EINVALID, "meter", "meter %s: a meter is behind a collector or direct (GPRS) / 电表需指定采集器或直连", m.Address)
	}
	if m.Protocol == "" {
		m.Protocol = "dlt645-2007"
	}
	if m.Phases == 0 {
		m.Phases = 1
	}
	if m.CTRatio == 0 {
		m.CTRatio = 1
	}
	if m.PTRatio == 0 {
		m.PTRatio = 1
	}
	if m.RatedAmps == 0 {
		m.RatedAmps = 60
	}
	if m.Status == "" {
		m.Status = amigo.StatusUnknown
	}
	if m.Relay == "" {
		m.Relay = amigo.RelayUnknown
	}
	if m.Password == "" {
		m.Password = "02000000"
	}
	if m.Operator == "" {
		m.Operator = "00000000"
	}
	return nil
}

// CreateMeter adds a meter with defaults filled in (dlt645-2007, 1 phase,
// CT and PT 1, 60 A, password 02000000). Returns EINVALID for a bad
// address, no site, or neither a collector nor direct; ECONFLICT for an
// address in service already.
func (s *DB) CreateMeter(ctx context.Context, m *amigo.Meter) error {
	if err := validMeter(m); err != nil {
		return err
	}
	id, err := s.insert(ctx, "create meter", `INSERT INTO meters (site_id, address, protocol, phases, ct_ratio, pt_ratio, area_id, collector_id, port, pn, direct, password, operator, rated_amps, account_id, installed_at, removed_at, status, since, reason, relay, imei, reg_secret) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.SiteID, m.Address, m.Protocol, m.Phases, m.CTRatio, m.PTRatio, m.AreaID, m.CollectorID, m.Port, m.Pn, b2i(m.Direct), m.Password, m.Operator, m.RatedAmps, m.AccountID, unix(m.InstalledAt), unix(m.RemovedAt), m.Status, unix(m.Since), m.Reason, m.Relay, m.IMEI, m.RegSecret)
	m.ID = id
	return err
}

// UpdateMeter changes every archive field of a meter but its address
// (ENOTFOUND, EINVALID, ECONFLICT).
func (s *DB) UpdateMeter(ctx context.Context, m *amigo.Meter) error {
	if err := validMeter(m); err != nil {
		return err
	}
	return s.exec1(ctx, "update meter", "meter", `UPDATE meters SET site_id = ?, protocol = ?, phases = ?, ct_ratio = ?, pt_ratio = ?, area_id = ?, collector_id = ?, port = ?, pn = ?, direct = ?, password = ?, operator = ?, rated_amps = ?, account_id = ?, installed_at = ?, removed_at = ?, imei = ?, reg_secret = ? WHERE id = ?`,
		m.SiteID, m.Protocol, m.Phases, m.CTRatio, m.PTRatio, m.AreaID, m.CollectorID, m.Port, m.Pn, b2i(m.Direct), m.Password, m.Operator, m.RatedAmps, m.AccountID, unix(m.InstalledAt), unix(m.RemovedAt), m.IMEI, m.RegSecret, m.ID)
}

// RetireMeter sets a meter's removed_at: it leaves the working lists and
// its address may be used by a new meter (ENOTFOUND; ECONFLICT when
// removed already).
func (s *DB) RetireMeter(ctx context.Context, id int64, at time.Time) error {
	return s.retire(ctx, "retire meter", "meter", "meters", "removed_at", id, at, "")
}

// FindMeterByAddress returns the in-service meter at address, else the
// last one removed (ENOTFOUND).
func (s *DB) FindMeterByAddress(ctx context.Context, address string) (amigo.Meter, error) {
	m, err := scanMeter(s.x.QueryRowContext(ctx, s.q(`SELECT `+meterCols+` FROM meters WHERE address = ? ORDER BY removed_at = 0 DESC, id DESC LIMIT 1`), address))
	if err != nil {
		return m, notFound("find meter", "meter "+address, err)
	}
	return m, nil
}

// GetMeter returns a meter, removed or not (ENOTFOUND).
func (s *DB) GetMeter(ctx context.Context, id int64) (amigo.Meter, error) {
	m, err := scanMeter(s.x.QueryRowContext(ctx, s.q(`SELECT `+meterCols+` FROM meters WHERE id = ?`), id))
	if err != nil {
		return m, notFound("get meter", "meter", err)
	}
	return m, nil
}

// ListMeters returns meters in id order and how many match; removed ones
// only with IncludeRetired.
func (s *DB) ListMeters(ctx context.Context, f amigo.MeterFilter) ([]amigo.Meter, int, error) {
	where := []string{"1 = 1"}
	var args []any
	for _, c := range []struct {
		col string
		v   int64
	}{{"site_id", f.SiteID}, {"area_id", f.AreaID}, {"collector_id", f.CollectorID}} {
		if c.v != 0 {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if !f.IncludeRetired {
		where = append(where, "removed_at = 0")
	}
	if f.DirectOnly {
		where = append(where, "direct = ?")
		args = append(args, b2i(true))
	}
	if f.AfterID != 0 {
		where = append(where, "id > ?")
		args = append(args, f.AfterID)
	}
	w := strings.Join(where, " AND ")
	total := -1
	if f.NoTotal {
		// not counted
	} else if err := s.x.QueryRowContext(ctx, s.q(`SELECT count(*) FROM meters WHERE `+w), args...).Scan(&total); err != nil {
		return nil, 0, internal("list meters", err)
	}
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 10000
	}
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT `+meterCols+` FROM meters WHERE `+w+` ORDER BY id LIMIT ? OFFSET ?`), append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, internal("list meters", err)
	}
	defer rows.Close()
	// Sized for the page when its size is known; an uncounted one (a
	// collector's meters, or a page of a listing of every meter) starts
	// at a collector's worth and grows.
	var out []amigo.Meter
	if total >= 0 {
		out = make([]amigo.Meter, 0, max(0, min(f.Limit, total-f.Offset)))
	} else {
		out = make([]amigo.Meter, 0, min(f.Limit, 256))
	}
	for rows.Next() {
		m, err := scanMeter(rows)
		if err != nil {
			return nil, 0, internal("list meters", err)
		}
		out = append(out, m)
	}
	return out, total, internal("list meters", rows.Err())
}

// SetMeterStatus records a meter's status; since changes only when the
// status does.
func (s *DB) SetMeterStatus(ctx context.Context, id int64, status, reason string, at time.Time) error {
	_, err := s.x.ExecContext(ctx, s.q(`UPDATE meters SET since = CASE WHEN status = ? THEN since ELSE ? END, status = ?, reason = ? WHERE id = ?`), status, unix(at), status, reason, id)
	return internal("set meter status", err)
}

// SetMetersStatus records the status of many meters in one transaction.
func (s *DB) SetMetersStatus(ctx context.Context, ids []int64, status, reason string, at time.Time) error {
	const op = "set meters status"
	if len(ids) == 0 {
		return nil
	}
	tx, commit, rollback, err := s.begin(ctx)
	if err != nil {
		return internal(op, err)
	}
	defer rollback()
	// statusChunk meters a statement: one round trip for a collector's
	// meters (a statement per meter made the first pass over 100,000
	// meters 100,000 round trips to PostgreSQL, in the group committer's
	// transaction, ahead of the next readings).
	const statusChunk = 500
	for start := 0; start < len(ids); start += statusChunk {
		chunk := ids[start:min(start+statusChunk, len(ids))]
		args := make([]any, 0, 4+len(chunk))
		args = append(args, status, unix(at), status, reason)
		for _, id := range chunk {
			args = append(args, id)
		}
		q := `UPDATE meters SET since = CASE WHEN status = ? THEN since ELSE ? END, status = ?, reason = ? WHERE id IN (` +
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + `)`
		if _, err := tx.ExecContext(ctx, s.q(q), args...); err != nil {
			return internal(op, err)
		}
	}
	return internal(op, commit())
}

// SetMeterRelay records the relay state read back from the meter.
func (s *DB) SetMeterRelay(ctx context.Context, id int64, relay string) error {
	_, err := s.x.ExecContext(ctx, s.q(`UPDATE meters SET relay = ? WHERE id = ?`), relay, id)
	return internal("set meter relay", err)
}
