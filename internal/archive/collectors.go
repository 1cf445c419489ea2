package archive

import (
	"context"

	"github.com/amigo-metering/amigo"
)

// CollectorInput is a collector as a person writes it: its site by name or
// id, its terminal address A1-A2.
type CollectorInput struct {
	Site      *string `json:"site"`
	Address   *string `json:"address"`
	Name      *string `json:"name"`
	PlainTCP  *bool   `json:"plain_tcp"`
	RegSecret *string `json:"reg_secret"`
}

func collectorFields(c amigo.Collector) []field {
	return []field{{name: "site_id", value: itoa(c.SiteID)}, {name: "address", value: c.Address}, {name: "name", value: c.Name},
		{name: "plain_tcp", value: btoa(c.PlainTCP)}, {name: "reg_secret", value: c.RegSecret, secret: true}}
}

func applyCollector(ctx context.Context, res *resolver, c *amigo.Collector, in CollectorInput) error {
	if in.Site != nil || c.SiteID == 0 {
		ref := ""
		if in.Site != nil {
			ref = *in.Site
		}
		x, err := res.site(ctx, ref)
		if err != nil {
			return err
		}
		c.SiteID = x.ID
	}
	if in.Address != nil {
		a, err := CollectorAddress(*in.Address)
		if err != nil {
			return err
		}
		c.Address = a
	}
	if c.Address == "" {
		return invalid("collector", "a collector needs its terminal address A1-A2, e.g. 0171-2082 / 采集器需要终端地址，如 0171-2082")
	}
	if in.Name != nil {
		c.Name = *in.Name
	}
	if c.Name != "" {
		if err := checkName("collector", "collector", c.Name); err != nil {
			return err
		}
	}
	if in.PlainTCP != nil {
		c.PlainTCP = *in.PlainTCP
	}
	if in.RegSecret != nil {
		c.RegSecret = *in.RegSecret
	}
	return checkSecret("collector", c.RegSecret)
}

func (s *Service) createCollector(ctx context.Context, tx amigo.Store, res *resolver, in CollectorInput) (amigo.Collector, error) {
	var c amigo.Collector
	if err := applyCollector(ctx, res, &c, in); err != nil {
		return c, err
	}
	if old, err := tx.FindCollectorByAddress(ctx, c.Address); err == nil {
		if !old.RetiredAt.IsZero() {
			return c, amigo.Errorf(amigo.ECONFLICT, "collector", "terminal address %s belongs to a retired collector (addresses are not reused) / 终端地址 %s 属于已注销的采集器（地址不可复用）", c.Address, c.Address)
		}
		return c, amigo.Errorf(amigo.ECONFLICT, "collector", "a collector with terminal address %s exists already / 终端地址 %s 的采集器已存在", c.Address, c.Address)
	}
	if err := tx.CreateCollector(ctx, &c); err != nil {
		return c, err
	}
	res.collectors[c.Address] = c
	return c, nil
}

// CreateCollector creates a collector (status unknown until it logs in).
func (s *Service) CreateCollector(ctx context.Context, actor string, in CollectorInput) (amigo.Collector, error) {
	var c amigo.Collector
	err := s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		var err error
		c, err = s.createCollector(ctx, tx, res, in)
		return "collector.create", "collector " + c.Address, describe(collectorFields(c)), err
	})
	return c, err
}

// Collector returns a collector by terminal address, retired or not.
func (s *Service) Collector(ctx context.Context, address string) (amigo.Collector, error) {
	if a, err := CollectorAddress(address); err == nil {
		address = a
	}
	return s.store.FindCollectorByAddress(ctx, address)
}

// UpdateCollector changes the fields in given of an in-service collector.
func (s *Service) UpdateCollector(ctx context.Context, actor, address string, in CollectorInput) (amigo.Collector, error) {
	var c amigo.Collector
	err := s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		var err error
		if c, err = res.collector(ctx, address); err != nil {
			return "", "", "", notFoundRef(err)
		}
		before := collectorFields(c)
		if err := applyCollector(ctx, res, &c, in); err != nil {
			return "", "", "", err
		}
		if err := tx.UpdateCollector(ctx, c); err != nil {
			return "", "", "", conflict(err, "terminal address %s is taken / 终端地址 %s 已被占用", c.Address, c.Address)
		}
		return "collector.update", "collector " + before[1].value, diff(before, collectorFields(c)), nil
	})
	return c, err
}

// RetireCollector retires a collector once no meter in service is behind
// it: the scheduler stops polling it.
func (s *Service) RetireCollector(ctx context.Context, actor, address string) error {
	return s.change(ctx, actor, func(tx amigo.Store, res *resolver) (string, string, string, error) {
		c, err := res.collector(ctx, address)
		if err != nil {
			return "", "", "", notFoundRef(err)
		}
		if _, n, err := tx.ListMeters(ctx, amigo.MeterFilter{CollectorID: c.ID, Limit: 1}); err != nil || n > 0 {
			if err == nil {
				err = amigo.Errorf(amigo.ECONFLICT, "retire collector", "collector %s still has %d meters in service: retire or move them first / 采集器 %s 仍有%d块在用电表，请先注销或迁移", c.Address, n, c.Address, n)
			}
			return "", "", "", err
		}
		return "collector.retire", "collector " + c.Address, "", tx.RetireCollector(ctx, c.ID, s.now())
	})
}
