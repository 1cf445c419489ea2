package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Sites and areas.

const siteCols = `id, name, time_zone, retired_at`

func scanSite(row scanner) (amigo.Site, error) {
	var x amigo.Site
	var retired int64
	err := row.Scan(&x.ID, &x.Name, &x.TimeZone, &retired)
	x.RetiredAt = fromUnix(retired)
	return x, err
}

func validSite(op string, x *amigo.Site) error {
	if strings.TrimSpace(x.Name) == "" {
		return amigo.Errorf(amigo.EINVALID, op, "a site needs a name / 站点需要名称")
	}
	if x.TimeZone == "" {
		x.TimeZone = amigo.DefaultTimeZone
	}
	if _, err := time.LoadLocation(x.TimeZone); err != nil {
		return amigo.Errorf(amigo.EINVALID, op, "unknown time zone %q / 未知时区", x.TimeZone)
	}
	return nil
}

// CreateSite adds a site (time zone Asia/Shanghai when none is named).
// Returns EINVALID for no name or an unknown zone, ECONFLICT for a name in
// service already.
func (s *DB) CreateSite(ctx context.Context, x *amigo.Site) error {
	if err := validSite("create site", x); err != nil {
		return err
	}
	id, err := s.insert(ctx, "create site", `INSERT INTO sites (name, time_zone, retired_at) VALUES (?, ?, ?)`, x.Name, x.TimeZone, unix(x.RetiredAt))
	x.ID = id
	return err
}

// GetSite returns a site, retired or not (ENOTFOUND).
func (s *DB) GetSite(ctx context.Context, id int64) (amigo.Site, error) {
	x, err := scanSite(s.x.QueryRowContext(ctx, s.q(`SELECT `+siteCols+` FROM sites WHERE id = ?`), id))
	if err != nil {
		return x, notFound("get site", "site", err)
	}
	return x, nil
}

// FindSiteByName returns the in-service site named name (ENOTFOUND).
func (s *DB) FindSiteByName(ctx context.Context, name string) (amigo.Site, error) {
	x, err := scanSite(s.x.QueryRowContext(ctx, s.q(`SELECT `+siteCols+` FROM sites WHERE name = ? AND retired_at = 0`), name))
	if err != nil {
		return x, notFound("find site", "site "+name, err)
	}
	return x, nil
}

// ListSites returns the sites in service.
func (s *DB) ListSites(ctx context.Context) ([]amigo.Site, error) {
	return s.ListSitesBy(ctx, amigo.ArchiveFilter{})
}

// ListSitesBy returns sites in id order, retired ones too when asked.
func (s *DB) ListSitesBy(ctx context.Context, f amigo.ArchiveFilter) ([]amigo.Site, error) {
	q := `SELECT ` + siteCols + ` FROM sites`
	if !f.IncludeRetired {
		q += ` WHERE retired_at = 0`
	}
	rows, err := s.x.QueryContext(ctx, q+` ORDER BY id`)
	if err != nil {
		return nil, internal("list sites", err)
	}
	return collect(rows, "list sites", scanSite)
}

// UpdateSite changes a site's name and time zone (ENOTFOUND, EINVALID,
// ECONFLICT).
func (s *DB) UpdateSite(ctx context.Context, x amigo.Site) error {
	if err := validSite("update site", &x); err != nil {
		return err
	}
	return s.exec1(ctx, "update site", "site", `UPDATE sites SET name = ?, time_zone = ? WHERE id = ?`, x.Name, x.TimeZone, x.ID)
}

// RetireSite marks a site retired (ENOTFOUND; ECONFLICT when retired
// already).
func (s *DB) RetireSite(ctx context.Context, id int64, at time.Time) error {
	return s.retire(ctx, "retire site", "site", "sites", "retired_at", id, at, "")
}

const areaCols = `id, site_id, name, supply_meter_id, loss_low, loss_high, retired_at`

func scanArea(row scanner) (amigo.Area, error) {
	var a amigo.Area
	var retired int64
	err := row.Scan(&a.ID, &a.SiteID, &a.Name, &a.SupplyMeterID, &a.LossLow, &a.LossHigh, &retired)
	a.RetiredAt = fromUnix(retired)
	return a, err
}

// CreateArea adds an area; a band of 0..0 becomes the default -1..10 %.
// Returns EINVALID without a name or site, ECONFLICT for a name in service
// in the site already.
func (s *DB) CreateArea(ctx context.Context, a *amigo.Area) error {
	if a.Name == "" || a.SiteID == 0 {
		return amigo.Errorf(amigo.EINVALID, "create area", "an area needs a name and a site / 台区需要名称和站点")
	}
	if a.LossLow == 0 && a.LossHigh == 0 {
		a.LossLow, a.LossHigh = -1, 10
	}
	id, err := s.insert(ctx, "create area", `INSERT INTO areas (site_id, name, supply_meter_id, loss_low, loss_high, retired_at) VALUES (?, ?, ?, ?, ?, ?)`,
		a.SiteID, a.Name, a.SupplyMeterID, a.LossLow, a.LossHigh, unix(a.RetiredAt))
	a.ID = id
	return err
}

// GetArea returns an area, retired or not (ENOTFOUND).
func (s *DB) GetArea(ctx context.Context, id int64) (amigo.Area, error) {
	a, err := scanArea(s.x.QueryRowContext(ctx, s.q(`SELECT `+areaCols+` FROM areas WHERE id = ?`), id))
	if err != nil {
		return a, notFound("get area", "area", err)
	}
	return a, nil
}

// FindArea returns the in-service area named name in a site (ENOTFOUND).
func (s *DB) FindArea(ctx context.Context, siteID int64, name string) (amigo.Area, error) {
	a, err := scanArea(s.x.QueryRowContext(ctx, s.q(`SELECT `+areaCols+` FROM areas WHERE site_id = ? AND name = ? AND retired_at = 0`), siteID, name))
	if err != nil {
		return a, notFound("find area", "area "+name, err)
	}
	return a, nil
}

// ListAreas returns the areas in service of a site (0: every site).
func (s *DB) ListAreas(ctx context.Context, siteID int64) ([]amigo.Area, error) {
	return s.ListAreasBy(ctx, amigo.ArchiveFilter{SiteID: siteID})
}

// ListAreasBy returns areas in id order, retired ones too when asked.
func (s *DB) ListAreasBy(ctx context.Context, f amigo.ArchiveFilter) ([]amigo.Area, error) {
	return listOfSite(ctx, s, "list areas", `SELECT `+areaCols+` FROM areas`, f, scanArea)
}

// UpdateArea changes an area's site, name, supply meter and loss band
// (ENOTFOUND, EINVALID, ECONFLICT).
func (s *DB) UpdateArea(ctx context.Context, a amigo.Area) error {
	if a.Name == "" || a.SiteID == 0 {
		return amigo.Errorf(amigo.EINVALID, "update area", "an area needs a name and a site / 台区需要名称和站点")
	}
	return s.exec1(ctx, "update area", "area", `UPDATE areas SET site_id = ?, name = ?, supply_meter_id = ?, loss_low = ?, loss_high = ? WHERE id = ?`,
		a.SiteID, a.Name, a.SupplyMeterID, a.LossLow, a.LossHigh, a.ID)
}

// RetireArea marks an area retired (ENOTFOUND; ECONFLICT when retired
// already).
func (s *DB) RetireArea(ctx context.Context, id int64, at time.Time) error {
	return s.retire(ctx, "retire area", "area", "areas", "retired_at", id, at, "")
}
