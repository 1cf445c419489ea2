// Package sqlstore implements amigo.Store over database/sql for the SQL
// dialects the station supports. It holds the queries both stores share; the
// sqlite and postgres packages open their databases, run their own
// migrations and pass their dialect here. Times are stored as Unix seconds
// (UTC), energy as integer 0.0001 kWh.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Dialect is what differs between databases.
type Dialect struct {
	Name string
	// Dollar is true when placeholders are $1, $2 (PostgreSQL), false for ?.
	Dollar bool
	// MultiRow writes readings with multi-row statements (a networked
	// server); otherwise one prepared statement per row.
	MultiRow bool
	// BeforeReadings, when set, runs in the transaction before readings
	// are written (PostgreSQL creates the partitions they need).
	BeforeReadings func(ctx context.Context, tx *sql.Tx, rs []amigo.Reading) error
	// CopyReadings, when set, bulk-copies rows into table (columns cols)
	// on conn, inside the transaction open on it (PostgreSQL COPY);
	// WriteReadings then stages the batch and moves it in one statement.
	CopyReadings func(ctx context.Context, conn *sql.Conn, table string, cols []string, rows [][]any) error
}

// DB is the shared store.
type DB struct {
	db *sql.DB
	d  Dialect
}

// New wraps an open, migrated database.
func New(db *sql.DB, d Dialect) *DB { return &DB{db: db, d: d} }

// SQL returns the underlying database.
func (s *DB) SQL() *sql.DB { return s.db }

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

// q rewrites ? placeholders for the dialect.
func (s *DB) q(query string) string {
	if !s.d.Dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}

func notFound(op, what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return amigo.Errorf(amigo.ENOTFOUND, op, "%s not found / 未找到", what)
	}
	return &amigo.Error{Kind: amigo.EINTERNAL, Op: op, Err: err}
}

func internal(op string, err error) error {
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "duplicate key") {
		return &amigo.Error{Kind: amigo.ECONFLICT, Op: op, Message: "already exists / 已存在", Err: err}
	}
	return &amigo.Error{Kind: amigo.EINTERNAL, Op: op, Err: err}
}

func (s *DB) insert(ctx context.Context, op, query string, args ...any) (int64, error) {
	var id int64
	if err := s.db.QueryRowContext(ctx, s.q(query+" RETURNING id"), args...).Scan(&id); err != nil {
		return 0, internal(op, err)
	}
	return id, nil
}

// Sites and areas.

func (s *DB) CreateSite(ctx context.Context, x *amigo.Site) error {
	if strings.TrimSpace(x.Name) == "" {
		return amigo.Errorf(amigo.EINVALID, "create site", "a site needs a name / 站点需要名称")
	}
	if x.TimeZone == "" {
		x.TimeZone = amigo.DefaultTimeZone
	}
	if _, err := time.LoadLocation(x.TimeZone); err != nil {
		return amigo.Errorf(amigo.EINVALID, "create site", "unknown time zone %q / 未知时区", x.TimeZone)
	}
	id, err := s.insert(ctx, "create site", `INSERT INTO sites (name, time_zone) VALUES (?, ?)`, x.Name, x.TimeZone)
	x.ID = id
	return err
}

func (s *DB) GetSite(ctx context.Context, id int64) (amigo.Site, error) {
	var x amigo.Site
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, name, time_zone FROM sites WHERE id = ?`), id).Scan(&x.ID, &x.Name, &x.TimeZone)
	if err != nil {
		return x, notFound("get site", "site", err)
	}
	return x, nil
}

func (s *DB) ListSites(ctx context.Context) ([]amigo.Site, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, time_zone FROM sites ORDER BY id`)
	if err != nil {
		return nil, internal("list sites", err)
	}
	defer rows.Close()
	var out []amigo.Site
	for rows.Next() {
		var x amigo.Site
		if err := rows.Scan(&x.ID, &x.Name, &x.TimeZone); err != nil {
			return nil, internal("list sites", err)
		}
		out = append(out, x)
	}
	return out, internal("list sites", rows.Err())
}

func (s *DB) CreateArea(ctx context.Context, a *amigo.Area) error {
	if a.Name == "" || a.SiteID == 0 {
		return amigo.Errorf(amigo.EINVALID, "create area", "an area needs a name and a site / 台区需要名称和站点")
	}
	if a.LossLow == 0 && a.LossHigh == 0 {
		a.LossLow, a.LossHigh = -1, 10
	}
	id, err := s.insert(ctx, "create area", `INSERT INTO areas (site_id, name, supply_meter_id, loss_low, loss_high) VALUES (?, ?, ?, ?, ?)`,
		a.SiteID, a.Name, a.SupplyMeterID, a.LossLow, a.LossHigh)
	a.ID = id
	return err
}

func (s *DB) ListAreas(ctx context.Context, siteID int64) ([]amigo.Area, error) {
	q := `SELECT id, site_id, name, supply_meter_id, loss_low, loss_high FROM areas`
	var args []any
	if siteID != 0 {
		q += ` WHERE site_id = ?`
		args = append(args, siteID)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q+` ORDER BY id`), args...)
	if err != nil {
		return nil, internal("list areas", err)
	}
	defer rows.Close()
	var out []amigo.Area
	for rows.Next() {
		var a amigo.Area
		if err := rows.Scan(&a.ID, &a.SiteID, &a.Name, &a.SupplyMeterID, &a.LossLow, &a.LossHigh); err != nil {
			return nil, internal("list areas", err)
		}
		out = append(out, a)
	}
	return out, internal("list areas", rows.Err())
}

// Collectors.

const collectorCols = `id, site_id, name, address, plain_tcp, status, since, reason, last_seen, reg_secret, retired_at`

func scanCollector(row interface{ Scan(...any) error }) (amigo.Collector, error) {
	var c amigo.Collector
	var since, seen, retired int64
	var plain int
	err := row.Scan(&c.ID, &c.SiteID, &c.Name, &c.Address, &plain, &c.Status, &since, &c.Reason, &seen, &c.RegSecret, &retired)
	c.PlainTCP, c.Since, c.LastSeen, c.RetiredAt = plain != 0, fromUnix(since), fromUnix(seen), fromUnix(retired)
	return c, err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *DB) CreateCollector(ctx context.Context, c *amigo.Collector) error {
	if c.Address == "" || c.SiteID == 0 {
		return amigo.Errorf(amigo.EINVALID, "create collector", "a collector needs a terminal address A1-A2 and a site / 采集器需要终端地址和站点")
	}
	if c.Status == "" {
		c.Status = amigo.StatusUnknown
	}
	id, err := s.insert(ctx, "create collector", `INSERT INTO collectors (site_id, name, address, plain_tcp, status, since, reason, last_seen, reg_secret, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.SiteID, c.Name, c.Address, b2i(c.PlainTCP), c.Status, unix(c.Since), c.Reason, unix(c.LastSeen), c.RegSecret, unix(c.RetiredAt))
	c.ID = id
	return err
}

func (s *DB) FindCollectorByAddress(ctx context.Context, address string) (amigo.Collector, error) {
	c, err := scanCollector(s.db.QueryRowContext(ctx, s.q(`SELECT `+collectorCols+` FROM collectors WHERE address = ?`), address))
	if err != nil {
		return c, notFound("find collector", "collector "+address, err)
	}
	return c, nil
}

func (s *DB) GetCollector(ctx context.Context, id int64) (amigo.Collector, error) {
	c, err := scanCollector(s.db.QueryRowContext(ctx, s.q(`SELECT `+collectorCols+` FROM collectors WHERE id = ?`), id))
	if err != nil {
		return c, notFound("get collector", "collector", err)
	}
	return c, nil
}

func (s *DB) ListCollectors(ctx context.Context, siteID int64) ([]amigo.Collector, error) {
	q := `SELECT ` + collectorCols + ` FROM collectors`
	var args []any
	if siteID != 0 {
		q += ` WHERE site_id = ?`
		args = append(args, siteID)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q+` ORDER BY id`), args...)
	if err != nil {
		return nil, internal("list collectors", err)
	}
	defer rows.Close()
	var out []amigo.Collector
	for rows.Next() {
		c, err := scanCollector(rows)
		if err != nil {
			return nil, internal("list collectors", err)
		}
		out = append(out, c)
	}
	return out, internal("list collectors", rows.Err())
}

// SetCollectorStatus records a status; since changes only when the status
// does, last_seen always.
func (s *DB) SetCollectorStatus(ctx context.Context, id int64, status, reason string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE collectors SET since = CASE WHEN status = ? THEN since ELSE ? END, status = ?, reason = ?, last_seen = CASE WHEN ? = 'online' THEN ? ELSE last_seen END WHERE id = ?`),
		status, unix(at), status, reason, status, unix(at), id)
	return internal("set collector status", err)
}

// Meters.

const meterCols = `id, site_id, address, protocol, phases, ct_ratio, pt_ratio, area_id, collector_id, port, pn, direct, password, operator, rated_amps, account_id, installed_at, removed_at, status, since, reason, relay, imei, reg_secret`

func scanMeter(row interface{ Scan(...any) error }) (amigo.Meter, error) {
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

func (s *DB) CreateMeter(ctx context.Context, m *amigo.Meter) error {
	if err := validMeter(m); err != nil {
		return err
	}
	id, err := s.insert(ctx, "create meter", `INSERT INTO meters (site_id, address, protocol, phases, ct_ratio, pt_ratio, area_id, collector_id, port, pn, direct, password, operator, rated_amps, account_id, installed_at, removed_at, status, since, reason, relay, imei, reg_secret) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.SiteID, m.Address, m.Protocol, m.Phases, m.CTRatio, m.PTRatio, m.AreaID, m.CollectorID, m.Port, m.Pn, b2i(m.Direct), m.Password, m.Operator, m.RatedAmps, m.AccountID, unix(m.InstalledAt), unix(m.RemovedAt), m.Status, unix(m.Since), m.Reason, m.Relay, m.IMEI, m.RegSecret)
	m.ID = id
	return err
}

func (s *DB) UpdateMeter(ctx context.Context, m *amigo.Meter) error {
	if err := validMeter(m); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE meters SET site_id = ?, protocol = ?, phases = ?, ct_ratio = ?, pt_ratio = ?, area_id = ?, collector_id = ?, port = ?, pn = ?, direct = ?, password = ?, operator = ?, rated_amps = ?, account_id = ?, installed_at = ?, removed_at = ?, imei = ?, reg_secret = ? WHERE id = ?`),
		m.SiteID, m.Protocol, m.Phases, m.CTRatio, m.PTRatio, m.AreaID, m.CollectorID, m.Port, m.Pn, b2i(m.Direct), m.Password, m.Operator, m.RatedAmps, m.AccountID, unix(m.InstalledAt), unix(m.RemovedAt), m.IMEI, m.RegSecret, m.ID)
	return internal("update meter", err)
}

func (s *DB) FindMeterByAddress(ctx context.Context, address string) (amigo.Meter, error) {
	m, err := scanMeter(s.db.QueryRowContext(ctx, s.q(`SELECT `+meterCols+` FROM meters WHERE address = ? ORDER BY removed_at = 0 DESC, id DESC LIMIT 1`), address))
	if err != nil {
		return m, notFound("find meter", "meter "+address, err)
	}
	return m, nil
}

func (s *DB) GetMeter(ctx context.Context, id int64) (amigo.Meter, error) {
	m, err := scanMeter(s.db.QueryRowContext(ctx, s.q(`SELECT `+meterCols+` FROM meters WHERE id = ?`), id))
	if err != nil {
		return m, notFound("get meter", "meter", err)
	}
	return m, nil
}

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
	w := strings.Join(where, " AND ")
	var total int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM meters WHERE `+w), args...).Scan(&total); err != nil {
		return nil, 0, internal("list meters", err)
	}
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 10000
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+meterCols+` FROM meters WHERE `+w+` ORDER BY id LIMIT ? OFFSET ?`), append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, internal("list meters", err)
	}
	defer rows.Close()
	var out []amigo.Meter
	for rows.Next() {
		m, err := scanMeter(rows)
		if err != nil {
			return nil, 0, internal("list meters", err)
		}
		out = append(out, m)
	}
	return out, total, internal("list meters", rows.Err())
}

func (s *DB) SetMeterStatus(ctx context.Context, id int64, status, reason string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE meters SET since = CASE WHEN status = ? THEN since ELSE ? END, status = ?, reason = ? WHERE id = ?`), status, unix(at), status, reason, id)
	return internal("set meter status", err)
}

func (s *DB) SetMeterRelay(ctx context.Context, id int64, relay string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE meters SET relay = ? WHERE id = ?`), relay, id)
	return internal("set meter relay", err)
}
