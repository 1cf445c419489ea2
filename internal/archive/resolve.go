package archive

import (
	"context"
	"strconv"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/q1376"
)

// resolver turns the names a person writes (a site's name or id, an area's
// name within its site, a collector's address, a meter's address) into
// in-service rows, through the transaction it is given. It caches what it
// found and what the transaction created, so that an import of many rows
// asks the store once per name.
type resolver struct {
	tx         amigo.Store
	sites      map[string]amigo.Site
	areas      map[[2]string]amigo.Area
	collectors map[string]amigo.Collector
	pns        map[int64]map[int]int64 // collector -> pn -> in-service meter
}

func newResolver(tx amigo.Store) *resolver {
	return &resolver{tx: tx, sites: map[string]amigo.Site{}, areas: map[[2]string]amigo.Area{}, collectors: map[string]amigo.Collector{}, pns: map[int64]map[int]int64{}}
}

// site resolves a site by name, else by id; it must be in service.
func (r *resolver) site(ctx context.Context, ref string) (amigo.Site, error) {
	if ref == "" {
		return amigo.Site{}, invalid("site", "a site is needed (name or id) / 需要站点（名称或编号）")
	}
	if x, ok := r.sites[ref]; ok {
		return x, nil
	}
	x, err := r.tx.FindSiteByName(ctx, ref)
	if amigo.ErrorKind(err) == amigo.ENOTFOUND {
		if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil && id > 0 {
			x, err = r.tx.GetSite(ctx, id)
			if err == nil && !x.RetiredAt.IsZero() {
				return x, invalid("site", "site %q is retired / 站点 %q 已注销", ref, ref)
			}
		}
	}
	if amigo.ErrorKind(err) == amigo.ENOTFOUND {
		return x, invalid("site", "unknown site %q / 站点 %q 不存在", ref, ref)
	}
	if err != nil {
		return x, err
	}
	r.sites[ref] = x
	return x, nil
}

// area resolves an area of a site by name, else by id.
func (r *resolver) area(ctx context.Context, site amigo.Site, ref string) (amigo.Area, error) {
	key := [2]string{strconv.FormatInt(site.ID, 10), ref}
	if a, ok := r.areas[key]; ok {
		return a, nil
	}
	a, err := r.tx.FindArea(ctx, site.ID, ref)
	if amigo.ErrorKind(err) == amigo.ENOTFOUND {
		if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil && id > 0 {
			a, err = r.tx.GetArea(ctx, id)
			if err == nil && (a.SiteID != site.ID || !a.RetiredAt.IsZero()) {
				err = amigo.Errorf(amigo.ENOTFOUND, "area", "")
			}
		}
	}
	if amigo.ErrorKind(err) == amigo.ENOTFOUND {
		return a, invalid("area", "unknown area %q in site %q / 站点 %q 中没有台区 %q", ref, site.Name, site.Name, ref)
	}
	if err != nil {
		return a, err
	}
	r.areas[key] = a
	return a, nil
}

// collector resolves an in-service collector by terminal address (any
// spelling q1376 parses), else by id.
func (r *resolver) collector(ctx context.Context, ref string) (amigo.Collector, error) {
	key := ref
	if a, err := q1376.ParseAddress(ref); err == nil {
		key = a.String()
	}
	if c, ok := r.collectors[key]; ok {
		return c, nil
	}
	c, err := r.tx.FindCollectorByAddress(ctx, key)
	if amigo.ErrorKind(err) == amigo.ENOTFOUND {
		if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil && id > 0 {
			c, err = r.tx.GetCollector(ctx, id)
		}
	}
	if amigo.ErrorKind(err) == amigo.ENOTFOUND {
		return c, invalid("collector", "unknown collector %q / 采集器 %q 不存在", ref, ref)
	}
	if err != nil {
		return c, err
	}
	if !c.RetiredAt.IsZero() {
		return c, invalid("collector", "collector %q is retired / 采集器 %q 已注销", ref, ref)
	}
	r.collectors[key] = c
	return c, nil
}

// meter resolves the in-service meter at address.
func (r *resolver) meter(ctx context.Context, address string) (amigo.Meter, error) {
	m, err := r.tx.FindMeterByAddress(ctx, address)
	if err == nil && !m.RemovedAt.IsZero() {
		err = amigo.Errorf(amigo.ENOTFOUND, "meter", "")
	}
	if amigo.ErrorKind(err) == amigo.ENOTFOUND {
		return m, amigo.Errorf(amigo.ENOTFOUND, "meter", "no meter in service at %q / 地址 %q 没有在用电表", address, address)
	}
	return m, err
}

// pnTaken reports the in-service meter (other than except) using pn on a
// collector, 0 when none.
func (r *resolver) pnTaken(ctx context.Context, collectorID int64, pn int, except int64) (int64, error) {
	used, ok := r.pns[collectorID]
	if !ok {
		ms, _, err := r.tx.ListMeters(ctx, amigo.MeterFilter{CollectorID: collectorID, Limit: 10000})
		if err != nil {
			return 0, err
		}
		used = map[int]int64{}
		for _, m := range ms {
			used[m.Pn] = m.ID
		}
		r.pns[collectorID] = used
	}
	if id := used[pn]; id != 0 && id != except {
		return id, nil
	}
	return 0, nil
}

// usePn records that meter id now uses pn on a collector (and no longer its
// previous one).
func (r *resolver) usePn(collectorID int64, pn int, id int64) {
	for _, used := range r.pns {
		for p, m := range used {
			if m == id {
				delete(used, p)
			}
		}
	}
	if used, ok := r.pns[collectorID]; ok && collectorID != 0 {
		used[pn] = id
	}
}
