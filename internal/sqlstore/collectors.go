package sqlstore

import (
	"context"
	"time"

	"github.com/amigo-metering/amigo"
)

// Collectors.

const collectorCols = `id, site_id, name, address, plain_tcp, status, since, reason, last_seen, reg_secret, retired_at, archive_rev`

func scanCollector(row scanner) (amigo.Collector, error) {
	var c amigo.Collector
	var since, seen, retired int64
	var plain int
	err := row.Scan(&c.ID, &c.SiteID, &c.Name, &c.Address, &plain, &c.Status, &since, &c.Reason, &seen, &c.RegSecret, &retired, &c.ArchiveRev)
	c.PlainTCP, c.Since, c.LastSeen, c.RetiredAt = plain != 0, fromUnix(since), fromUnix(seen), fromUnix(retired)
	return c, err
}

// CreateCollector adds a collector (status unknown). Returns EINVALID
// without an address or site, ECONFLICT for an address taken (retired
// collectors keep theirs).
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

// FindCollectorByAddress returns the collector with that terminal address,
// retired or not (ENOTFOUND).
func (s *DB) FindCollectorByAddress(ctx context.Context, address string) (amigo.Collector, error) {
	c, err := scanCollector(s.x.QueryRowContext(ctx, s.q(`SELECT `+collectorCols+` FROM collectors WHERE address = ?`), address))
	if err != nil {
		return c, notFound("find collector", "collector "+address, err)
	}
	return c, nil
}

// GetCollector returns a collector, retired or not (ENOTFOUND).
func (s *DB) GetCollector(ctx context.Context, id int64) (amigo.Collector, error) {
	c, err := scanCollector(s.x.QueryRowContext(ctx, s.q(`SELECT `+collectorCols+` FROM collectors WHERE id = ?`), id))
	if err != nil {
		return c, notFound("get collector", "collector", err)
	}
	return c, nil
}

// ListCollectors returns the collectors in service of a site (0: every
// site): the ones the scheduler polls.
func (s *DB) ListCollectors(ctx context.Context, siteID int64) ([]amigo.Collector, error) {
	return s.ListCollectorsBy(ctx, amigo.ArchiveFilter{SiteID: siteID})
}

// ListCollectorsBy returns collectors in id order, retired ones too when
// asked.
func (s *DB) ListCollectorsBy(ctx context.Context, f amigo.ArchiveFilter) ([]amigo.Collector, error) {
	return listOfSite(ctx, s, "list collectors", `SELECT `+collectorCols+` FROM collectors`, f, scanCollector)
}

// UpdateCollector changes a collector's site, name, address, plain-TCP flag
// and registration secret (ENOTFOUND, EINVALID, ECONFLICT).
func (s *DB) UpdateCollector(ctx context.Context, c amigo.Collector) error {
	if c.Address == "" || c.SiteID == 0 {
		return amigo.Errorf(amigo.EINVALID, "update collector", "a collector needs a terminal address A1-A2 and a site / 采集器需要终端地址和站点")
	}
	return s.exec1(ctx, "update collector", "collector", `UPDATE collectors SET site_id = ?, name = ?, address = ?, plain_tcp = ?, reg_secret = ? WHERE id = ?`,
		c.SiteID, c.Name, c.Address, b2i(c.PlainTCP), c.RegSecret, c.ID)
}

// RetireCollector marks a collector retired: the scheduler stops polling it
// (ENOTFOUND; ECONFLICT when retired already).
func (s *DB) RetireCollector(ctx context.Context, id int64, at time.Time) error {
	return s.retire(ctx, "retire collector", "collector", "collectors", "retired_at", id, at, "")
}

// SetCollectorStatus records a status; since changes only when the status
// does, last_seen always.
func (s *DB) SetCollectorStatus(ctx context.Context, id int64, status, reason string, at time.Time) error {
	_, err := s.x.ExecContext(ctx, s.q(`UPDATE collectors SET since = CASE WHEN status = ? THEN since ELSE ? END, status = ?, reason = ?, last_seen = CASE WHEN ? = 'online' THEN ? ELSE last_seen END WHERE id = ?`),
		status, unix(at), status, reason, status, unix(at), id)
	return internal("set collector status", err)
}
