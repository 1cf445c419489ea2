package archive

import (
	"context"
	"fmt"
	"strconv"

	"github.com/amigo-metering/amigo"
)

// SiteInput is a site as a person writes it; nil fields are not given (a
// PATCH changes only what it names).
type SiteInput struct {
	Name     *string `json:"name"`
	TimeZone *string `json:"time_zone"`
}

func siteFields(x amigo.Site) []field {
	return []field{{name: "name", value: x.Name}, {name: "time_zone", value: x.TimeZone}}
}

func applySite(x *amigo.Site, in SiteInput) error {
	if in.Name != nil {
		x.Name = *in.Name
	}
	if in.TimeZone != nil {
		x.TimeZone = *in.TimeZone
	}
	if x.TimeZone == "" {
		x.TimeZone = amigo.DefaultTimeZone
	}
	if err := checkName("site", "site", x.Name); err != nil {
		return err
	}
	return checkTimeZone("site", x.TimeZone)
}

func (s *Service) createSite(ctx context.Context, tx amigo.Store, res *resolver, in SiteInput) (amigo.Site, error) {
	var x amigo.Site
	if err := applySite(&x, in); err != nil {
		return x, err
	}
	if _, err := tx.FindSiteByName(ctx, x.Name); err == nil {
		return x, amigo.Errorf(amigo.ECONFLICT, "site", "a site named %q exists already / 站点 %q 已存在", x.Name, x.Name)
	}
	if err := tx.CreateSite(ctx, &x); err != nil {
		return x, err
	}
	res.sites[x.Name] = x
	return x, nil
}

// CreateSite creates a site (time zone Asia/Shanghai when none is given).
func (s *Service) CreateSite(ctx context.Context, actor string, in SiteInput) (amigo.Site, error) {
	var x amigo.Site
	err := s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		var err error
		x, err = s.createSite(ctx, tx, res, in)
		return "site.create", "site " + x.Name, describe(siteFields(x)), err
	})
	return x, err
}

// Site returns a site by name or id, retired or not.
func (s *Service) Site(ctx context.Context, ref string) (amigo.Site, error) {
	x, err := s.store.FindSiteByName(ctx, ref)
	if amigo.ErrorKind(err) == amigo.ENOTFOUND {
		if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
			return s.store.GetSite(ctx, id)
		}
	}
	return x, err
}

// UpdateSite changes the fields in given.
func (s *Service) UpdateSite(ctx context.Context, actor, ref string, in SiteInput) (amigo.Site, error) {
	var x amigo.Site
	err := s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		var err error
		if x, err = res.site(ctx, ref); err != nil {
			return "", "", "", notFoundRef(err)
		}
		before := siteFields(x)
		if err := applySite(&x, in); err != nil {
			return "", "", "", err
		}
		if err := tx.UpdateSite(ctx, x); err != nil {
			return "", "", "", conflict(err, "a site named %q exists already / 站点 %q 已存在", x.Name, x.Name)
		}
		return "site.update", fmt.Sprintf("site %d", x.ID), diff(before, siteFields(x)), nil
	})
	return x, err
}

// RetireSite retires a site: it leaves the working lists (its collectors
// and meters stay as they are; retire them first).
func (s *Service) RetireSite(ctx context.Context, actor, ref string) error {
	return s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		x, err := res.site(ctx, ref)
		if err != nil {
			return "", "", "", notFoundRef(err)
		}
		if cs, err := tx.ListCollectors(ctx, x.ID); err != nil || len(cs) > 0 {
			if err == nil {
				err = amigo.Errorf(amigo.ECONFLICT, "retire site", "site %q still has %d collectors in service: retire them first / 站点 %q 仍有%d台在用采集器，请先注销", x.Name, len(cs), x.Name, len(cs))
			}
			return "", "", "", err
		}
		if _, n, err := tx.ListMeters(ctx, amigo.MeterFilter{SiteID: x.ID, Limit: 1}); err != nil || n > 0 {
			if err == nil {
				err = amigo.Errorf(amigo.ECONFLICT, "retire site", "site %q still has %d meters in service: retire them first / 站点 %q 仍有%d块在用电表，请先注销", x.Name, n, x.Name, n)
			}
			return "", "", "", err
		}
		return "site.retire", fmt.Sprintf("site %d", x.ID), "name=" + x.Name, tx.RetireSite(ctx, x.ID, s.now())
	})
}

// AreaInput is an area as a person writes it: its site by name or id, its
// supply meter by address ("" for none), the line-loss band in percent.
type AreaInput struct {
	Site        *string  `json:"site"`
	Name        *string  `json:"name"`
	SupplyMeter *string  `json:"supply_meter"`
	LossLow     *float64 `json:"loss_low_percent"`
	LossHigh    *float64 `json:"loss_high_percent"`
}

func (s *Service) areaFields(ctx context.Context, tx amigo.Store, a amigo.Area) []field {
	supply := ""
	if a.SupplyMeterID != 0 {
		if m, err := tx.GetMeter(ctx, a.SupplyMeterID); err == nil {
			supply = m.Address
		}
	}
	return []field{{name: "site_id", value: itoa(a.SiteID)}, {name: "name", value: a.Name}, {name: "supply_meter", value: supply},
		{name: "loss_low_percent", value: fmt.Sprint(a.LossLow)}, {name: "loss_high_percent", value: fmt.Sprint(a.LossHigh)}}
}

func applyArea(ctx context.Context, res *resolver, a *amigo.Area, in AreaInput) error {
	const op = "area"
	site := amigo.Site{ID: a.SiteID}
	if in.Site != nil || a.SiteID == 0 {
		ref := ""
		if in.Site != nil {
			ref = *in.Site
		}
		x, err := res.site(ctx, ref)
		if err != nil {
			return err
		}
		site, a.SiteID = x, x.ID
	}
	if in.Name != nil {
		a.Name = *in.Name
	}
	if err := checkName(op, "area", a.Name); err != nil {
		return err
	}
	if in.SupplyMeter != nil {
		a.SupplyMeterID = 0
		if *in.SupplyMeter != "" {
			m, err := res.meter(ctx, *in.SupplyMeter)
			if err != nil {
				return invalid(op, "supply meter: %s", amigo.ErrorMessage(err))
			}
			if m.SiteID != site.ID {
				return invalid(op, "supply meter %s is in another site / 总表 %s 属于其他站点", m.Address, m.Address)
			}
			a.SupplyMeterID = m.ID
		}
	}
	if in.LossLow != nil {
		a.LossLow = *in.LossLow
	}
	if in.LossHigh != nil {
		a.LossHigh = *in.LossHigh
	}
	if !(a.LossLow >= -MaxLossPct && a.LossHigh <= MaxLossPct && a.LossLow < a.LossHigh) { // also false for NaN
		return invalid(op, "line-loss band %v..%v %%: want low < high, both within -100..100 / 线损范围应满足 下限<上限，且在 -100..100 之间", a.LossLow, a.LossHigh)
	}
	return nil
}

func (s *Service) createArea(ctx context.Context, tx amigo.Store, res *resolver, in AreaInput) (amigo.Area, error) {
	a := amigo.Area{LossLow: -1, LossHigh: 10}
	if err := applyArea(ctx, res, &a, in); err != nil {
		return a, err
	}
	if _, err := tx.FindArea(ctx, a.SiteID, a.Name); err == nil {
		return a, amigo.Errorf(amigo.ECONFLICT, "area", "the site has an area named %q already / 该站点已有台区 %q", a.Name, a.Name)
	}
	if err := tx.CreateArea(ctx, &a); err != nil {
		return a, err
	}
	res.areas[[2]string{strconv.FormatInt(a.SiteID, 10), a.Name}] = a
	return a, nil
}

// CreateArea creates an area (band -1..10 % when none is given).
func (s *Service) CreateArea(ctx context.Context, actor string, in AreaInput) (amigo.Area, error) {
	var a amigo.Area
	err := s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		var err error
		a, err = s.createArea(ctx, tx, res, in)
		return "area.create", fmt.Sprintf("area %d", a.ID), describe(s.areaFields(ctx, tx, a)), err
	})
	return a, err
}

// UpdateArea changes the fields in given of the area with that id.
func (s *Service) UpdateArea(ctx context.Context, actor string, id int64, in AreaInput) (amigo.Area, error) {
	var a amigo.Area
	err := s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		var err error
		if a, err = tx.GetArea(ctx, id); err != nil {
			return "", "", "", err
		}
		if !a.RetiredAt.IsZero() {
			return "", "", "", amigo.Errorf(amigo.ECONFLICT, "area", "area %d is retired / 台区已注销", id)
		}
		before := s.areaFields(ctx, tx, a)
		if err := applyArea(ctx, res, &a, in); err != nil {
			return "", "", "", err
		}
		if err := tx.UpdateArea(ctx, a); err != nil {
			return "", "", "", conflict(err, "the site has an area named %q already / 该站点已有台区 %q", a.Name, a.Name)
		}
		return "area.update", fmt.Sprintf("area %d", a.ID), diff(before, s.areaFields(ctx, tx, a)), nil
	})
	return a, err
}

// RetireArea retires an area once no meter in service is in it.
func (s *Service) RetireArea(ctx context.Context, actor string, id int64) error {
	return s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		a, err := tx.GetArea(ctx, id)
		if err != nil {
			return "", "", "", err
		}
		if _, n, err := tx.ListMeters(ctx, amigo.MeterFilter{AreaID: a.ID, Limit: 1}); err != nil || n > 0 {
			if err == nil {
				err = amigo.Errorf(amigo.ECONFLICT, "retire area", "area %q still has %d meters in service / 台区 %q 仍有%d块在用电表", a.Name, n, a.Name, n)
			}
			return "", "", "", err
		}
		return "area.retire", fmt.Sprintf("area %d", a.ID), "name=" + a.Name, tx.RetireArea(ctx, a.ID, s.now())
	})
}

// notFoundRef turns "unknown X" (EINVALID, right for a field naming
// another row) into ENOTFOUND for the row a request is about.
func notFoundRef(err error) error {
	if amigo.ErrorKind(err) == amigo.EINVALID {
		return amigo.Errorf(amigo.ENOTFOUND, "archive", "%s", amigo.ErrorMessage(err))
	}
	return err
}

// conflict gives a store's ECONFLICT a message naming what collided.
func conflict(err error, format string, args ...any) error {
	if amigo.ErrorKind(err) == amigo.ECONFLICT {
		return &amigo.Error{Kind: amigo.ECONFLICT, Op: "archive", Message: fmt.Sprintf(format, args...), Err: err}
	}
	return err
}
