package collector

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/busmaster"
	"github.com/amigo-metering/amigo/internal/collector/uplink"
	"github.com/amigo-metering/amigo/internal/serialline"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/q1376"
)

// Collector is a running concentrator.
type Collector struct {
	cfg   Config
	store Store
	clock *shiftedClock
	log   *slog.Logger
	lines map[uint8]*busmaster.Line

	mu     sync.RWMutex
	meters []MeterEntry // the archive in force

	auth authGuard // commands' replay mark and refusal counts

	// OnStored, when set, is called after each reading is durably stored
	// (tests and the kill -9 check use it).
	OnStored func(Reading)
}

// New prepares a collector working on st (which the caller opens, e.g.
// with colsqlite.Open, and closes after Run returns); Run starts the work.
func New(cfg Config, st Store) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("collector: no store / 没有存储")
	}
	c := &Collector{cfg: cfg, store: st, log: cfg.Log, lines: map[uint8]*busmaster.Line{}}
	clk, err := loadClock(context.Background(), st, cfg.Clock)
	if err != nil {
		return nil, err
	}
	c.clock = clk
	for _, p := range cfg.Ports {
		lc := p.line()
		open := func() (busmaster.Conn, error) { return serialline.Open(lc) }
		c.lines[p.Number] = busmaster.New(p.Number, open, time.Duration(cfg.Timeout), cfg.Retries)
	}
	arch, fromStation, err := st.LoadArchive(context.Background())
	if err != nil {
		return nil, err
	}
	if fromStation {
		c.meters = arch
	} else {
		for _, m := range cfg.Meters {
			e, _ := m.entry()
			c.meters = append(c.meters, e)
		}
	}
	return c, nil
}

// Store returns the collector's store.
func (c *Collector) Store() Store { return c.store }

// Meters returns the archive in force.
func (c *Collector) Meters() []MeterEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]MeterEntry(nil), c.meters...)
}

func (c *Collector) meter(pn uint16) (MeterEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, m := range c.meters {
		if m.Pn == pn {
			return m, true
		}
	}
	return MeterEntry{}, false
}

// Run reads the meters and serves the station until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	c.poweredUp(ctx)
	c.alive(ctx)
	switch {
	case c.cfg.authKey == nil && c.cfg.PlainTCP:
		c.log.Warn("no auth_key: every command from the station will be refused on plain TCP / 未配置命令认证密钥，明文链路上拒绝一切主站命令")
	case c.cfg.authKey == nil:
		c.log.Warn("no auth_key: commands are authenticated by the TLS link only / 未配置命令认证密钥，仅凭TLS链路认证主站命令")
	}
	var wg sync.WaitGroup
	for _, l := range c.lines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.Close()
			c.acquire(ctx, l)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.housekeep(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		cfg := c.cfg
		uplink.Run(ctx, uplink.Config{Terminal: cfg.addr, Stations: cfg.Stations, CAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile,
			ServerName: cfg.ServerName, PlainTCP: cfg.PlainTCP, Heartbeat: time.Duration(cfg.Heartbeat), ReconnectMax: time.Duration(cfg.ReconnectMax), Log: c.log},
			func() uplink.Handler { return c.NewSession() })
	}()
	wg.Wait()
	return nil
}

// acquire runs the schedules of one line: real-time data every
// RealtimeEvery, the daily freezes after midnight (re-reading missing days),
// the monthly settlement, and the clock check.
func (c *Collector) acquire(ctx context.Context, l *busmaster.Line) {
	every := time.Duration(c.cfg.RealtimeEvery)
	for ctx.Err() == nil {
		c.alive(ctx)
		now := c.clock.Now()
		slot := now.Truncate(every)
		for _, m := range c.Meters() {
			if m.Port != l.Number() || ctx.Err() != nil {
				continue
			}
			c.readRealtime(ctx, l, m, slot)
			c.readDaily(ctx, l, m)
			c.readMonthly(ctx, l, m)
			c.checkClock(ctx, l, m)
			c.checkEvents(ctx, l, m)
			c.alive(ctx)
		}
		if err := vclock.SleepUntil(ctx, c.clock, slot.Add(every)); err != nil {
			return
		}
	}
}

func (c *Collector) put(ctx context.Context, r Reading) {
	inserted, err := c.store.Put(ctx, r)
	if err != nil {
		c.log.Error("store reading", "pn", r.Pn, "kind", r.Kind, "err", err)
		return
	}
	if inserted {
		c.log.Debug("stored", "pn", r.Pn, "kind", r.Kind, "t", r.T)
		if c.OnStored != nil {
			c.OnStored(r)
		}
	}
}

func (c *Collector) readRealtime(ctx context.Context, l *busmaster.Line, m MeterEntry, slot time.Time) {
	if ok, err := c.store.Has(ctx, m.Pn, KindRealtime, slot); err != nil || ok {
		return
	}
	fwd, rev, hasRev, err := c.current(ctx, l, m)
	if err != nil {
		c.log.Warn("real-time read failed / 实时数据抄读失败", "meter", m.Address.String(), "err", err.Error())
		return
	}
	r := Reading{Pn: m.Pn, Kind: KindRealtime, T: slot, ReadAt: c.clock.Now(), Fwd: fwd, Rev: rev, HasRev: hasRev}
	if is1997(m) {
		c.put(ctx, r) // no instantaneous values over 1997 frames here
		return
	}
	r.F25 = c.readInstant(ctx, l, m)
	c.put(ctx, r)
}

// readInstant reads voltage, current, power and power factor as AFN 0C F25
// data.
func (c *Collector) readInstant(ctx context.Context, l *busmaster.Line, m MeterEntry) []byte {
	in := q1376.Instant{ReadAt: dlt645.DateTimeOf(c.clock.Now().In(c.cfg.Loc))}
	conv := func(v dlt645.FieldValue) q1376.Value {
		if v.Absent || v.Kind != dlt645.KindNumber {
			return q1376.Value{}
		}
		return q1376.Value{Decimal: v.Num, Valid: true}
	}
	if u, err := c.read(ctx, l, m, dlt645.DIVoltageBlock); err == nil && len(u) == 3 {
		for i := range 3 {
			in.U[i] = conv(u[i])
		}
	}
	if cur, err := c.read(ctx, l, m, dlt645.DICurrentBlock); err == nil && len(cur) == 3 {
		for i := range 3 {
			in.I[i] = conv(cur[i])
		}
	}
	if p, err := c.read(ctx, l, m, dlt645.DIActivePowerBlock); err == nil && len(p) == 4 {
		for i := range 4 {
			in.P[i] = conv(p[i])
		}
	}
	if pf, err := c.read(ctx, l, m, dlt645.DIPowerFactorBlock); err == nil && len(pf) == 4 {
		for i := range 4 {
			v := conv(pf[i])
			if v.Valid { // A.5 carries percent with one decimal: 0.955 -> 95.5
				v.Decimal = dlt645.Decimal{Mant: v.Mant, Scale: v.Scale - 2}
			}
			in.PF[i] = v
		}
	}
	b, err := in.Append(nil)
	if err != nil {
		c.log.Warn("instantaneous values", "meter", m.Address, "err", err)
		return nil
	}
	return b
}

// dayStart returns 00:00 of t's day in the collector's zone.
func (c *Collector) dayStart(t time.Time) time.Time {
	t = t.In(c.cfg.Loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.cfg.Loc)
}

// readDaily reads the meter's daily freezes for every day of the last 31
// that the store lacks, newest first, once past DailyAfter.
func (c *Collector) readDaily(ctx context.Context, l *busmaster.Line, m MeterEntry) {
	now := c.clock.Now()
	today := c.dayStart(now)
	if now.Sub(today) < time.Duration(c.cfg.DailyAfter) {
		return
	}
	missing := false
	for d := 0; d < 31; d++ {
		ok, err := c.store.Has(ctx, m.Pn, KindDaily, today.AddDate(0, 0, -d).UTC())
		if err != nil {
			return
		}
		if !ok {
			missing = true
			break
		}
	}
	if !missing {
		return
	}
	if is1997(m) {
		// DL/T 645-1997 meters keep no daily freezes.
		c.dailyFromCurrent(ctx, l, m, today, errors.New("DL/T 645-1997 meter"))
		return
	}
	oldest := today.AddDate(0, 0, -31)
	for n := 1; n <= dlt645.DailyFreezeDays && ctx.Err() == nil; n++ {
		tv, err := c.read(ctx, l, m, dlt645.DailyFreezeTime(n))
		if err != nil {
			if n == 1 && refused(err) {
				c.dailyFromCurrent(ctx, l, m, today, err)
			}
			if !errors.Is(err, dlt645.ErrNoData) {
				c.log.Warn("daily freeze time", "meter", m.Address, "n", n, "err", err)
			}
			return
		}
		at, err := time.ParseInLocation("2006-01-02 15:04", tv[0].Text, c.cfg.Loc)
		if err != nil {
			c.log.Warn("daily freeze time", "meter", m.Address, "text", tv[0].Text, "err", err)
			return
		}
		at = c.dayStart(at)
		if at.Before(oldest) {
			return
		}
		if ok, _ := c.store.Has(ctx, m.Pn, KindDaily, at.UTC()); ok {
			continue
		}
		fv, err := c.read(ctx, l, m, dlt645.DailyFrozenForward(n))
		if err != nil {
			if at.Equal(today) && refused(err) {
				c.dailyFromCurrent(ctx, l, m, today, err)
			}
			c.log.Warn("daily freeze", "meter", m.Address.String(), "n", n, "err", err.Error())
			return
		}
		r := Reading{Pn: m.Pn, Kind: KindDaily, T: at.UTC(), ReadAt: c.clock.Now()}
		if r.Fwd, err = regs(fv); err != nil {
			return
		}
		if rv, err := c.read(ctx, l, m, dlt645.DailyFrozenReverse(n)); err == nil {
			if r.Rev, err = regs(rv); err == nil {
				r.HasRev = true
			}
		}
		c.put(ctx, r)
	}
}

// readMonthly reads the last settlement (DI0 = 01) once a month.
func (c *Collector) readMonthly(ctx context.Context, l *busmaster.Line, m MeterEntry) {
	if is1997(m) {
		return // settlements are read of DL/T 645-2007 meters only
	}
	now := c.clock.Now().In(c.cfg.Loc)
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, c.cfg.Loc)
	if now.Sub(first) < time.Duration(c.cfg.DailyAfter) {
		return
	}
	if ok, err := c.store.Has(ctx, m.Pn, KindMonthly, first.UTC()); err != nil || ok {
		return
	}
	fv, err := c.read(ctx, l, m, dlt645.Settlement(dlt645.DIForwardActiveBlock, 1))
	if err != nil {
		return // a meter younger than a month has no settlement yet
	}
	r := Reading{Pn: m.Pn, Kind: KindMonthly, T: first.UTC(), ReadAt: c.clock.Now()}
	if r.Fwd, err = regs(fv); err != nil {
		return
	}
	if rv, err := c.read(ctx, l, m, dlt645.Settlement(dlt645.DIReverseActiveBlock, 1)); err == nil {
		if r.Rev, err = regs(rv); err == nil {
			r.HasRev = true
		}
	}
	c.put(ctx, r)
}

// checkClock compares the meter's clock with the collector's once a day and
// sets it by an addressed time sync when it is off by more than the
// threshold — never within 5 minutes of midnight, at most once a day.
func (c *Collector) checkClock(ctx context.Context, l *busmaster.Line, m MeterEntry) {
	now := c.clock.Now().In(c.cfg.Loc)
	day := now.Format("2006-01-02")
	key := "clock_checked_" + m.Address.String()
	if v, _ := c.store.GetState(ctx, key); v == day {
		return
	}
	midnight := c.dayStart(now)
	if now.Sub(midnight) < 5*time.Minute || midnight.Add(24*time.Hour).Sub(now) < 5*time.Minute {
		return
	}
	meterTime, err := c.meterClock(ctx, l, m)
	if err != nil {
		return
	}
	now = c.clock.Now().In(c.cfg.Loc)
	off := meterTime.Sub(now)
	if off < 0 {
		off = -off
	}
	if off > clockAlarm {
		c.record(ctx, q1376.ERC{Code: q1376.ERCMeterClock, At: dlt645.DateTimeOf(now), Pn: m.Pn, Began: true,
			MeterClock: dlt645.DateTimeOf(meterTime), TerminalClock: dlt645.DateTimeOf(now), HasClocks: true})
	}
	if off > time.Duration(c.cfg.ClockThreshold) {
		if _, err := l.Do(ctx, dlt645.BroadcastTimeRequest(m.Address, dlt645.DateTimeOf(now))); err != nil && !errors.Is(err, busmaster.ErrNoAnswer) {
			c.log.Warn("time sync", "meter", m.Address, "err", err)
			return
		}
		c.log.Info("meter clock set", "meter", m.Address, "was_off", off.Round(time.Second))
	}
	c.store.SetState(ctx, key, day)
}

// housekeep keeps the store within its retention and its cap, once per
// real-time interval.
func (c *Collector) housekeep(ctx context.Context) {
	every := time.Duration(c.cfg.RealtimeEvery)
	for ctx.Err() == nil {
		now := c.clock.Now()
		if err := c.store.Prune(ctx, now, Retention{Realtime: time.Duration(c.cfg.RealtimeKeep), Daily: 62 * 24 * time.Hour, Monthly: 400 * 24 * time.Hour}); err != nil && ctx.Err() == nil {
			c.log.Error("prune", "err", err)
		}
		c.flushRefusals(ctx)
		if losses, err := c.store.Trim(ctx, c.cfg.StoreCap); err != nil && ctx.Err() == nil {
			c.log.Error("store cap / 存储上限", "err", err.Error())
		} else if len(losses) > 0 {
			c.reportLoss(ctx, losses)
		}
		if err := vclock.SleepUntil(ctx, c.clock, now.Truncate(every).Add(every)); err != nil {
			return
		}
	}
}
