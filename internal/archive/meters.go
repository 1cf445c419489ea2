package archive

import (
	"context"
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
)

// MeterInput is a meter as a person writes it: its site by name or id, its
// area by name within the site, its collector by terminal address. Supply
// marks the meter as its area's supply meter (总表).
type MeterInput struct {
	Address     *string    `json:"address"`
	Site        *string    `json:"site"`
	Area        *string    `json:"area"`
	Collector   *string    `json:"collector"`
	Port        *int       `json:"port"`
	Pn          *int       `json:"pn"`
	Protocol    *string    `json:"protocol"`
	Phases      *int       `json:"phases"`
	RatedAmps   *int       `json:"rated_amps"`
	CT          *int       `json:"ct"`
	PT          *int       `json:"pt"`
	Password    *string    `json:"password"`
	Direct      *bool      `json:"direct"`
	IMEI        *string    `json:"imei"`
	RegSecret   *string    `json:"reg_secret"`
	Account     *int64     `json:"account"`
	InstalledAt *time.Time `json:"installed_at"`
	Supply      *bool      `json:"supply"`
}

func meterFields(m amigo.Meter) []field {
	return []field{{name: "site_id", value: itoa(m.SiteID)}, {name: "area_id", value: itoa(m.AreaID)}, {name: "collector_id", value: itoa(m.CollectorID)},
		{name: "port", value: itoa(m.Port)}, {name: "pn", value: itoa(m.Pn)}, {name: "protocol", value: m.Protocol}, {name: "phases", value: itoa(m.Phases)},
		{name: "rated_amps", value: itoa(m.RatedAmps)}, {name: "ct", value: itoa(m.CTRatio)}, {name: "pt", value: itoa(m.PTRatio)},
		{name: "password", value: m.Password, secret: true}, {name: "direct", value: btoa(m.Direct)}, {name: "imei", value: m.IMEI},
		{name: "reg_secret", value: m.RegSecret, secret: true}, {name: "account", value: itoa(m.AccountID)}, {name: "installed_at", value: tstr(m.InstalledAt)}}
}

// timeBounds are the instants the archive accepts (installation, swap).
var minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (s *Service) checkTime(op, what string, t time.Time) error {
	if t.Before(minTime) || t.After(s.now().Add(24*time.Hour)) {
		return invalid(op, "%s %s: want a time from 2000 to now / %s 应在2000年至今之间", what, tstr(t), what)
	}
	return nil
}

func (s *Service) applyMeter(ctx context.Context, res *resolver, m *amigo.Meter, in MeterInput) error {
	const op = "meter"
	site := amigo.Site{ID: m.SiteID}
	siteChanged := false
	if in.Site != nil || m.SiteID == 0 {
		ref := ""
		if in.Site != nil {
			ref = *in.Site
		}
		x, err := res.site(ctx, ref)
		if err != nil {
			return err
		}
		siteChanged = x.ID != m.SiteID
		site, m.SiteID = x, x.ID
	}
	if in.Area != nil {
		m.AreaID = 0
		if *in.Area != "" {
			a, err := res.area(ctx, site, *in.Area)
			if err != nil {
				return err
			}
			m.AreaID = a.ID
		}
	} else if siteChanged && m.AreaID != 0 {
		return invalid(op, "meter %s moves to another site: name its area there (\"area\": \"\" for none) / 电表迁往其他站点，请指定新台区", m.Address)
	}
	if in.Direct != nil {
		m.Direct = *in.Direct
	}
	if in.Collector != nil {
		m.CollectorID = 0
		if *in.Collector != "" {
			c, err := res.collector(ctx, *in.Collector)
			if err != nil {
				return err
			}
			m.CollectorID = c.ID
		}
	}
	if m.CollectorID != 0 {
		c, err := res.tx.GetCollector(ctx, m.CollectorID)
		if err != nil {
			return err
		}
		if c.SiteID != m.SiteID {
			return invalid(op, "meter %s: collector %s is in another site / 采集器 %s 属于其他站点", m.Address, c.Address, c.Address)
		}
	}
	setInt := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setInt(&m.Port, in.Port)
	setInt(&m.Pn, in.Pn)
	setInt(&m.Phases, in.Phases)
	setInt(&m.RatedAmps, in.RatedAmps)
	setInt(&m.CTRatio, in.CT)
	setInt(&m.PTRatio, in.PT)
	setStr := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setStr(&m.Protocol, in.Protocol)
	setStr(&m.Password, in.Password)
	setStr(&m.IMEI, in.IMEI)
	setStr(&m.RegSecret, in.RegSecret)
	if in.Account != nil {
		m.AccountID = *in.Account
	}
	if in.InstalledAt != nil {
		m.InstalledAt = *in.InstalledAt
		if err := s.checkTime(op, "installation time", m.InstalledAt); err != nil {
			return err
		}
	}
	if err := checkMeter(m); err != nil {
		return err
	}
	if !m.Direct {
		other, err := res.pnTaken(ctx, m.CollectorID, m.Pn, m.ID)
		if err != nil {
			return err
		}
		if other != 0 {
			return amigo.Errorf(amigo.ECONFLICT, op, "meter %s: measuring point %d of its collector is taken by another meter / 测量点 %d 已被其他电表占用", m.Address, m.Pn, m.Pn)
		}
	}
	return nil
}

// supply makes m its area's supply meter (on true) or stops it being so.
func supply(ctx context.Context, tx amigo.Store, m amigo.Meter, on *bool) error {
	if on == nil {
		return nil
	}
	if *on && m.AreaID == 0 {
		return invalid("meter", "meter %s: a supply meter needs its area / 总表需要指定台区", m.Address)
	}
	if m.AreaID == 0 {
		return nil
	}
	a, err := tx.GetArea(ctx, m.AreaID)
	if err != nil {
		return err
	}
	switch {
	case *on && a.SupplyMeterID != m.ID:
		a.SupplyMeterID = m.ID
	case !*on && a.SupplyMeterID == m.ID:
		a.SupplyMeterID = 0
	default:
		return nil
	}
	return tx.UpdateArea(ctx, a)
}

func (s *Service) createMeter(ctx context.Context, tx amigo.Store, res *resolver, in MeterInput) (amigo.Meter, error) {
	m := amigo.Meter{Protocol: ProtocolDL07, Phases: 1, CTRatio: 1, PTRatio: 1, RatedAmps: 60, Password: defaultMeterP, InstalledAt: s.now().UTC().Truncate(time.Second)}
	if in.Address != nil {
		m.Address = *in.Address
	}
	if err := s.applyMeter(ctx, res, &m, in); err != nil {
		return m, err
	}
	if _, err := res.meter(ctx, m.Address); err == nil {
		return m, amigo.Errorf(amigo.ECONFLICT, "meter", "a meter is in service at %s already / 地址 %s 已有在用电表", m.Address, m.Address)
	}
	if err := tx.CreateMeter(ctx, &m); err != nil {
		return m, err
	}
	res.usePn(m.CollectorID, m.Pn, m.ID)
	return m, supply(ctx, tx, m, in.Supply)
}

// CreateMeter creates a meter: dlt645-2007, 1 phase, 60 A, CT and PT 1 and
// password 02000000 unless given; installed now unless given.
func (s *Service) CreateMeter(ctx context.Context, actor string, in MeterInput) (amigo.Meter, error) {
	var m amigo.Meter
	err := s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		var err error
		m, err = s.createMeter(ctx, tx, res, in)
		return "meter.create", "meter " + m.Address, describe(meterFields(m)), err
	})
	return m, err
}

// UpdateMeter changes the fields in given of the in-service meter at
// address; the address itself changes only by a replacement.
func (s *Service) UpdateMeter(ctx context.Context, actor, address string, in MeterInput) (amigo.Meter, error) {
	var m amigo.Meter
	err := s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		var err error
		if m, err = res.meter(ctx, address); err != nil {
			return "", "", "", err
		}
		if in.Address != nil && *in.Address != m.Address {
			return "", "", "", invalid("meter", "a meter's address does not change: replace the meter (POST /api/v1/meters/%s/replace) / 表地址不可修改，请换表", m.Address)
		}
		before := meterFields(m)
		if err := s.applyMeter(ctx, res, &m, in); err != nil {
			return "", "", "", err
		}
		if err := tx.UpdateMeter(ctx, &m); err != nil {
			return "", "", "", err
		}
		if err := supply(ctx, tx, m, in.Supply); err != nil {
			return "", "", "", err
		}
		return "meter.update", "meter " + m.Address, diff(before, meterFields(m)), nil
	})
	return m, err
}

// RetireMeter takes a meter out of service now (removed_at): the scheduler
// stops reading it; its readings stay.
func (s *Service) RetireMeter(ctx context.Context, actor, address string) error {
	return s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		m, err := res.meter(ctx, address)
		if err != nil {
			return "", "", "", err
		}
		if err := supply(ctx, tx, m, new(false)); err != nil {
			return "", "", "", err
		}
		return "meter.retire", "meter " + m.Address, "", tx.RetireMeter(ctx, m.ID, s.now())
	})
}

// ReplaceInput is a meter swap (换表): the old meter's register when it was
// removed, the new meter's when it was installed, both at At. The new meter
// takes the old one's place (site, area, collector, port, measuring point,
// account, and its other fields unless given here).
type ReplaceInput struct {
	NewAddress      string    `json:"new_address"`
	RemovalKWh      string    `json:"removal_kwh"`
	InstallationKWh string    `json:"installation_kwh"`
	At              time.Time `json:"at"`
	Reason          string    `json:"reason"`
	Protocol        *string   `json:"protocol"`
	Phases          *int      `json:"phases"`
	RatedAmps       *int      `json:"rated_amps"`
	CT              *int      `json:"ct"`
	PT              *int      `json:"pt"`
	Password        *string   `json:"password"`
	IMEI            *string   `json:"imei"`
	RegSecret       *string   `json:"reg_secret"`
}

// maxRegister bounds a register written by hand (8 integer digits).
const maxRegister = amigo.Energy(100_000_000*amigo.EnergyScale - 1)

func register(what, s string) (amigo.Energy, error) {
	e, err := amigo.ParseEnergy(s)
	if err != nil || e < 0 || e > maxRegister {
		return 0, invalid("replace meter", "%s %q: want kWh from 0 to 99999999.9999 / %s 应为 0 至 99999999.9999 kWh", what, s, what)
	}
	return e, nil
}

// ReplaceMeter swaps the in-service meter at address for a new one in one
// transaction: the old meter gets removed_at = At and a manual reading of
// its removal register at At; the new one is installed at At with a manual
// reading of its installation register at At. Consumption across the swap
// is then continuous (internal/analysis joins the two at At). An area whose
// supply meter was the old one gets the new one.
func (s *Service) ReplaceMeter(ctx context.Context, actor, address string, in ReplaceInput) (old, repl amigo.Meter, err error) {
	const op = "replace meter"
	removal, err := register("removal_kwh", in.RemovalKWh)
	if err != nil {
		return old, repl, err
	}
	install, err := register("installation_kwh", in.InstallationKWh)
	if err != nil {
		return old, repl, err
	}
	if err := s.checkTime(op, "at", in.At); err != nil {
		return old, repl, err
	}
	at := in.At.UTC()
	if at.Truncate(time.Second) != at {
		return old, repl, invalid(op, "at: whole seconds / 时间精确到秒")
	}
	reason := in.Reason
	if reason == "" {
		reason = "meter replacement / 换表"
	}
	err = s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		var err error
		if old, err = res.meter(ctx, address); err != nil {
			return "", "", "", err
		}
		if !at.After(old.InstalledAt) {
			return "", "", "", invalid(op, "at %s is not after the old meter's installation %s / 换表时间应晚于旧表安装时间", tstr(at), tstr(old.InstalledAt))
		}
		if last, err := tx.LastReading(ctx, old.ID, amigo.KindDaily); err == nil && last.HasForward && last.Forward[0] > removal && last.Time.Before(at) {
			return "", "", "", invalid(op, "removal_kwh %s is below the old meter's last daily reading %s / 拆表读数低于最近日冻结读数", removal, last.Forward[0])
		}
		if err := tx.RetireMeter(ctx, old.ID, at); err != nil {
			return "", "", "", err
		}
		old.RemovedAt = at      // as stored: the answer shows the old meter out of service
		res.usePn(0, 0, old.ID) // its measuring point is free for the new meter
		repl = amigo.Meter{Address: in.NewAddress, SiteID: old.SiteID, AreaID: old.AreaID, CollectorID: old.CollectorID, Port: old.Port, Pn: old.Pn,
			Protocol: old.Protocol, Phases: old.Phases, RatedAmps: old.RatedAmps, CTRatio: old.CTRatio, PTRatio: old.PTRatio, Password: old.Password,
			Operator: old.Operator, Direct: old.Direct, IMEI: old.IMEI, RegSecret: old.RegSecret, AccountID: old.AccountID, InstalledAt: at}
		mi := MeterInput{Protocol: in.Protocol, Phases: in.Phases, RatedAmps: in.RatedAmps, CT: in.CT, PT: in.PT, Password: in.Password, IMEI: in.IMEI, RegSecret: in.RegSecret}
		if err := s.applyMeter(ctx, res, &repl, mi); err != nil {
			return "", "", "", err
		}
		if err := tx.CreateMeter(ctx, &repl); err != nil {
			return "", "", "", conflict(err, "a meter is in service at %s already / 地址 %s 已有在用电表", repl.Address, repl.Address)
		}
		if old.AreaID != 0 {
			if a, err := tx.GetArea(ctx, old.AreaID); err == nil && a.SupplyMeterID == old.ID {
				a.SupplyMeterID = repl.ID
				if err := tx.UpdateArea(ctx, a); err != nil {
					return "", "", "", err
				}
			}
		}
		now := s.now()
		manual := func(m amigo.Meter, e amigo.Energy, why string) amigo.Reading {
			return amigo.Reading{MeterID: m.ID, Time: at, Kind: amigo.KindManual, Forward: [5]amigo.Energy{e}, HasForward: true,
				Quality: amigo.QualityActual, EditedBy: actor, EditReason: why + ": " + reason, Source: "manual", ReceivedAt: now}
		}
		wr, err := tx.WriteReadings(ctx, []amigo.Reading{manual(old, removal, "removal reading / 拆表读数"), manual(repl, install, "installation reading / 装表读数")})
		if err != nil {
			return "", "", "", err
		}
		if wr.Conflicts > 0 {
			return "", "", "", amigo.Errorf(amigo.ECONFLICT, op, "a different reading exists at %s / 该时刻已有不同读数", tstr(at))
		}
		return "meter.replace", "meter " + old.Address, fmt.Sprintf("new meter %s at %s, removal %s kWh, installation %s kWh: %s", repl.Address, tstr(at), removal, install, reason), nil
	})
	return old, repl, err
}
