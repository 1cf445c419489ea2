package loadtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/q1376"
)

// Run performs a bench run and returns what it measured. An error means
// the run could not go on (set-up failed, the station did not start); a
// phase that runs out of time is recorded in Result.Notes and the run goes
// on with the next.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	began, cpu0 := time.Now(), selfCPU()
	res := &Result{Meters: cfg.Meters, Collectors: cfg.Collectors, GPRS: cfg.GPRS, Store: cfg.StoreName, Speed: cfg.Speed}
	g := &generator{cfg: cfg, loc: shanghai, collectorMeters: cfg.Meters - cfg.GPRS, statusWait: map[string]chan struct{}{}, dialing: make(chan struct{}, maxDialing)}
	pr := newProgress(cfg.Progress, cfg.Live)
	defer pr.stop()
	defer func() {
		res.LoadCPUS = *num((selfCPU() - cpu0).Seconds())
		res.WallS = *num(time.Since(began).Seconds())
	}()

	// The virtual day: noon before the nightly collection; an external
	// station runs on the real clock, so its "night" is yesterday, whose
	// freezes it backfills at once.
	day := benchDay
	seg := Segment{Start: day.Add(12 * time.Hour), Origin: time.Now(), Speed: cfg.Speed}
	if cfg.External {
		now := time.Now().In(shanghai)
		day = amigo.Day(now, shanghai).AddDate(0, 0, -1)
		seg = Segment{Start: now, Origin: now, Speed: 1}
	}
	g.targetDay = q1376.DayOf(day)
	installed := day
	// phase tells the load generator's hook and the station that a phase
	// begins; a station that cannot switch its profile is noted, not fatal.
	phase := func(name string) {
		if cfg.Phase != nil {
			cfg.Phase(name)
		}
		if p, ok := cfg.Station.(PhaseProfiler); ok {
			if err := p.Phase(name); err != nil {
				res.note("profile of phase %s: %v / 阶段剖析失败", name, err)
			}
		}
	}
	phase(PhaseSetup)

	// 1. The store's raw batched write rate, before anything else runs.
	if cfg.Scratch != nil {
		pr.set("raw store write rate / 存储原始写入速率", nil)
		rate, err := func() (float64, error) {
			st, done, err := cfg.Scratch(ctx)
			if err != nil {
				return 0, err
			}
			defer done()
			return rawStoreRate(ctx, st, cfg.StoreKind, cfg.RawRows, 10_000)
		}()
		if err != nil {
			return res, fmt.Errorf("raw store rate / 存储写入测速: %w", err)
		}
		res.RawStoreRowsPerS = num(rate)
	}

	// 2. Certificates, one per collector.
	pr.set("collector certificates / 采集器证书", nil)
	certDir := filepath.Join(cfg.WorkDir, "certs")
	if err := issueCerts(ctx, cfg.CADir, certDir, cfg.Collectors); err != nil {
		return res, err
	}

	// 3. The archive.
	var store amigo.Store
	if cfg.OpenStore != nil {
		st, err := cfg.OpenStore(ctx)
		if err != nil {
			return res, fmt.Errorf("open store / 打开存储: %w", err)
		}
		store = st
		defer func() {
			if store != nil {
				store.Close()
			}
		}()
	}
	clock := NewClock(seg)
	g.clock = clock
	addrs := Addrs{}
	var ids archiveIDs
	if !cfg.External {
		pr.set("archive / 建档", nil)
		var err error
		if ids, err = createArchive(ctx, g, storeArchiver{store}, store, installed, pr); err != nil {
			return res, err
		}
	}

	// 4. The station. Its clock starts just past the middle of a
	// real-time interval, whatever the setup took: every collector's slot
	// (spread over an interval's first half) is then due at its login and
	// none comes due again in the next half interval, so that the first
	// pass asks each meter once, not a second time when its slot passes
	// during a storm stretched over minutes of the fast clock.
	if !cfg.External {
		every := cfg.RealtimeEvery
		seg = Segment{Start: day.Add(12 * time.Hour).Truncate(every).Add(every/2 + time.Second), Origin: time.Now(), Speed: cfg.Speed}
		clock.Set(seg)
	}
	phase(PhaseStart)
	pr.set("starting the station / 启动主站", nil)
	addrs, err := cfg.Station.Start(ctx, seg)
	if err != nil {
		return res, fmt.Errorf("start the station / 启动主站: %w", err)
	}
	defer cfg.Station.Stop(context.Background())
	g.addrs, g.nodes = addrs, addrs.nodes()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	api := &apiClient{base: addrs.API, http: hc}
	if cfg.Token != "" {
		api.token = cfg.Token
	} else if api.token, err = api.login(ctx, cfg.Username, cfg.Password); err != nil {
		return res, err
	}
	// Commands go to every station's API in turn, with the token of the
	// first: the stations share the key that signs it.
	apis := []*apiClient{api}
	for _, n := range g.nodes[1:] {
		apis = append(apis, &apiClient{base: n.API, token: api.token, http: hc})
	}
	if len(g.nodes) > 1 {
		res.Stations = len(g.nodes)
	}
	if cfg.External {
		pr.set("archive through the API / 通过接口建档", nil)
		if ids, err = createArchive(ctx, g, cfg.Archiver(api.token), store, installed, pr); err != nil {
			return res, err
		}
	}
	if err := g.build(certDir, cfg.CADir); err != nil {
		return res, err
	}

	// 5. The connection storm.
	before, local := cfg.Station.Proc()
	gctx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	defer func() { stopLoad(); load.Wait() }()
	phase(PhaseStorm)
	stormAt := time.Now()
	pr.set("connection storm / 连接风暴", func() string {
		return fmt.Sprintf("%d/%d collectors, %d/%d GPRS logged in", g.loggedIn(stormAt), cfg.Collectors, g.registered(stormAt), cfg.GPRS)
	})
	for _, c := range g.cols {
		load.Add(1)
		go func() { defer load.Done(); c.run(gctx) }()
	}
	for _, m := range g.gprs {
		load.Add(1)
		go func() { defer load.Done(); m.run(gctx) }()
	}
	if last, ok := g.waitLogins(ctx, stormAt, cfg.PhaseTimeout); ok {
		res.ConnectS = num(last.Sub(stormAt).Seconds())
	} else {
		res.note("connection storm: %d of %d collectors and %d of %d GPRS meters logged in within %s / 连接风暴超时",
			g.loggedIn(stormAt), cfg.Collectors, g.registered(stormAt), cfg.GPRS, cfg.PhaseTimeout)
	}
	if after, ok := cfg.Station.Proc(); ok && local {
		conns := cfg.Collectors + cfg.GPRS
		res.RSSPerConnectionKB = num(float64(after.RSSKB-before.RSSKB) / float64(max(conns, 1)))
	}

	// 6. The first real-time pass over every meter, which starts with the
	// first logins: how long after a start every meter has a fresh value.
	phase(PhaseFirst)
	if g.collectorMeters > 0 {
		rt := &g.stats.rt[passFirst]
		pr.set("first real-time pass / 首轮实时采集", func() string {
			return fmt.Sprintf("%d/%d meters, %d readings committed", rt.meters.Load(), g.collectorMeters, rt.readings.Load())
		})
		if g.waitFor(ctx, cfg.PhaseTimeout, func() bool { return rt.meters.Load() >= int64(g.collectorMeters) }) {
			f := g.passFigures(passFirst)
			res.FirstPassReadingsPerS, res.FirstPassSpanS, res.FirstPassStartSpreadS = f.perS, f.span, f.spread
			res.FirstPassS = num(time.Unix(0, rt.allAt.Load()).Sub(stormAt).Seconds())
			wait := int64(0)
			for _, c := range g.cols {
				wait = max(wait, c.rtFirst[passFirst].Load()-c.loginAt.Load())
			}
			res.FirstPassLoginWaitS = num(time.Duration(wait).Seconds())
		} else {
			res.note("first real-time pass: %d of %d meters committed within %s / 首轮实时采集超时", rt.meters.Load(), g.collectorMeters, cfg.PhaseTimeout)
		}
	}

	// 6b. Idle: the clock held still, so that no slot comes due and every
	// session idles; what the station holds per connection then.
	if !cfg.External && local {
		phase(PhaseIdle)
		pr.set("idle sessions / 空闲连接", nil)
		if after, ok, err := g.idleRSS(ctx, idleSettle); err != nil {
			return res, err
		} else if ok {
			res.IdleRSSPerConnectionKB = num(float64(after.RSSKB-before.RSSKB) / float64(max(cfg.Collectors+cfg.GPRS, 1)))
		}
	}

	// 6c. Real-time ingest: every collector connected, the clock moved on
	// to just past the middle of the next interval. The station spreads
	// the collectors' slots over the first half of an interval, so every
	// collector's slot is then due at once, and none comes due again for
	// half an interval: the station's ingest at full load, apart from the
	// storm's handshakes.
	if !cfg.External && g.collectorMeters > 0 {
		phase(PhaseIngest)
		rt := &g.stats.rt[passIngest]
		pr.set("real-time ingest / 实时数据入库", func() string {
			return fmt.Sprintf("%d/%d meters, %d readings committed", rt.meters.Load(), g.collectorMeters, rt.readings.Load())
		})
		g.rtPass.Store(passIngest)
		every := cfg.RealtimeEvery
		seg = Segment{Start: clock.Now().Truncate(every).Add(every + every/2 + time.Second), Origin: time.Now(), Speed: cfg.Speed}
		clock.Set(seg)
		if err := cfg.Station.SetClock(seg); err != nil {
			return res, err
		}
		if g.waitFor(ctx, cfg.PhaseTimeout, func() bool { return rt.meters.Load() >= int64(g.collectorMeters) }) {
			f := g.passFigures(passIngest)
			res.IngestReadingsPerS, res.IngestSpanS, res.IngestStartSpreadS = f.perS, f.span, f.spread
			res.IngestStartS = num(time.Duration(rt.firstReq.Load() - seg.Origin.UnixNano()).Seconds())
		} else {
			res.note("real-time ingest: %d of %d meters committed within %s / 实时入库超时", rt.meters.Load(), g.collectorMeters, cfg.PhaseTimeout)
		}
	}

	// 7. The nightly frozen collection.
	phase(PhaseNightly)
	midnight := day.AddDate(0, 0, 1)
	nightAt := stormAt
	if !cfg.External {
		// Just past midnight plus the station's daily_after (1 s), so that
		// its first pass already asks for the day.
		seg = Segment{Start: midnight.Add(2 * time.Second), Origin: time.Now(), Speed: cfg.Speed}
		clock.Set(seg)
		if err := cfg.Station.SetClock(seg); err != nil {
			return res, err
		}
		nightAt = seg.Origin
	}
	gprsDone := func() int {
		if store == nil || len(ids.gprs) == 0 {
			return 0
		}
		have, err := store.ReadingTimes(ctx, ids.gprs, amigo.KindDaily, midnight, midnight.Add(time.Hour))
		if err != nil {
			return 0
		}
		return len(have)
	}
	// gprsN is read by the progress bar's goroutine too.
	var gprsN atomic.Int64
	var gprsAt time.Time
	pr.set("nightly frozen collection / 夜间冻结采集", func() string {
		return fmt.Sprintf("%d/%d meters committed", g.stats.dayMeters.Load()+gprsN.Load(), cfg.Meters)
	})
	lastPoll := time.Time{}
	done := g.waitFor(ctx, cfg.PhaseTimeout, func() bool {
		if cfg.GPRS > 0 && store != nil && gprsN.Load() < int64(cfg.GPRS) && time.Since(lastPoll) > 250*time.Millisecond {
			lastPoll = time.Now()
			n := gprsDone()
			if n >= cfg.GPRS {
				gprsAt = time.Now()
			}
			gprsN.Store(int64(n))
		}
		return g.stats.dayMeters.Load() >= int64(g.collectorMeters) && (store == nil || gprsN.Load() >= int64(cfg.GPRS))
	})
	if at := g.stats.dayAllAt.Load(); at != 0 && g.collectorMeters > 0 {
		res.NightlyCollectorsS = num(time.Unix(0, at).Sub(nightAt).Seconds())
	}
	if done {
		end := gprsAt
		if g.collectorMeters > 0 {
			if t := time.Unix(0, g.stats.dayAllAt.Load()); t.After(end) {
				end = t
			}
		}
		res.NightlyCollectionS = num(end.Sub(nightAt).Seconds())
		if store == nil && cfg.GPRS > 0 {
			res.note("nightly collection: GPRS meters not followed (no store access) / 未跟踪GPRS电表")
		}
	} else {
		res.note("nightly collection: %d of %d meters behind collectors and %d of %d GPRS meters committed within %s / 夜间采集超时",
			g.stats.dayMeters.Load(), g.collectorMeters, gprsN.Load(), cfg.GPRS, cfg.PhaseTimeout)
	}

	// 8. Commands through the API.
	if cfg.Commands > 0 && g.collectorMeters > 0 {
		phase(PhaseCommands)
		pr.set("commands / 远程命令", nil)
		lat, failed, routed := g.commands(ctx, apis, pr)
		res.CommandsOK, res.CommandsFailed = len(lat), failed
		if len(apis) > 1 {
			res.CommandsRouted = &routed
		}
		if len(lat) > 0 {
			res.CommandP50Ms = num(percentile(lat, 0.50))
			res.CommandP99Ms = num(percentile(lat, 0.99))
		}
	}

	// 9. A restart: the reconnect storm.
	if st, ok := cfg.Station.Proc(); ok {
		res.StationRSSMB = num(float64(st.PeakKB) / 1024)
	}
	group, _ := cfg.Station.(*Group)
	if group != nil && len(group.Members) > 1 {
		res.PerStation = make([]StationFigures, len(group.Members))
		for i, st := range group.Procs() {
			res.PerStation[i].Node = i + 1
			if st != nil {
				res.PerStation[i].RSSMB = num(float64(st.PeakKB) / 1024)
			}
		}
	}
	if !cfg.External && local {
		pr.set("station restart / 主站重启", func() string {
			return fmt.Sprintf("%d/%d collectors, %d/%d GPRS back", g.loggedIn(stormAt), cfg.Collectors, g.registered(stormAt), cfg.GPRS)
		})
		phase(PhaseStop)
		sctx, cancel := context.WithTimeout(ctx, cfg.StopGrace)
		err := cfg.Station.Stop(sctx)
		cancel()
		if errors.Is(err, ErrKilled) {
			res.note("restart: the station was killed (SIGKILL): %v / 主站被强制结束", err)
		} else if err != nil {
			return res, fmt.Errorf("stop the station / 停止主站: %w", err)
		}
		phase(PhaseRestart)
		launch := time.Now()
		stCPU0, cpu0 := cfg.Station.CPU(), selfCPU()
		logins0, resumed0 := g.stats.logins.Load(), g.stats.resumed.Load()
		if _, err := cfg.Station.Start(ctx, seg); err != nil {
			return res, fmt.Errorf("restart the station / 重启主站: %w", err)
		}
		res.RestartStartupS = num(time.Since(launch).Seconds())
		last, ok := g.waitLogins(ctx, launch, cfg.PhaseTimeout)
		// What the reconnect storm cost each side (read when the last
		// login is seen, at most one poll after it).
		res.ReconnectCPUS = num((cfg.Station.CPU() - stCPU0).Seconds())
		res.ReconnectLoadCPUS = num((selfCPU() - cpu0).Seconds())
		res.ReconnectLogins = g.stats.logins.Load() - logins0
		res.ReconnectResumed = g.stats.resumed.Load() - resumed0
		if ok {
			res.ReconnectS = num(last.Sub(launch).Seconds())
		} else {
			res.note("restart: %d of %d collectors and %d of %d GPRS meters back within %s / 重连超时", g.loggedIn(launch), cfg.Collectors, g.registered(launch), cfg.GPRS, cfg.PhaseTimeout)
		}
	}

	// 10. The end: stop the load, then the station; count what is stored.
	phase(PhaseEnd)
	pr.set("counting / 统计", nil)
	stopLoad()
	load.Wait()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	if err := cfg.Station.Stop(sctx); err != nil {
		res.note("final stop of the station: %v / 主站结束异常", err)
	}
	cancel()
	if local {
		res.CPUS = num(cfg.Station.CPU().Seconds())
		if res.PerStation != nil {
			for i, s := range group.Members {
				res.PerStation[i].CPUS = num(s.CPU().Seconds())
			}
		}
	}
	if store != nil {
		res.Collected = collected(ctx, store, ids.all(), midnight)
		size, rows, table, err := storeSize(ctx, store, cfg.StoreKind, "")
		if err != nil {
			res.note("store size: %v", err)
		}
		res.ReadingsStored = rows
		store.Close()
		store = nil
		if cfg.StoreKind == "sqlite" {
			size = fileSize(cfg.StorePath)
		}
		if rows > 0 && size > 0 {
			res.BytesPerReading = num(float64(size) / float64(rows))
		}
		if rows > 0 && table > 0 {
			res.TableBytesPerReading = num(float64(table) / float64(rows))
		}
	} else {
		res.Collected = int(g.stats.dayMeters.Load())
	}
	return res, nil
}

// passResult is a real-time pass's figures.
type passResult struct{ perS, span, spread *float64 }

// passFigures returns pass's readings a second: every meter's reading
// (one each, a reading asked again not counted twice) over the pass's
// span, from its first request to the commit that completed every meter;
// and how long after its first request the last collector got its first
// (the station starting its pass late, within the span).
func (g *generator) passFigures(pass int) passResult {
	rt := &g.stats.rt[pass]
	span := time.Duration(rt.allAt.Load() - rt.firstReq.Load())
	last := int64(0)
	for _, c := range g.cols {
		last = max(last, c.rtFirst[pass].Load())
	}
	return passResult{
		perS:   num(float64(g.collectorMeters) / span.Seconds()),
		span:   num(span.Seconds()),
		spread: num(time.Duration(last - rt.firstReq.Load()).Seconds()),
	}
}

// idleSettle is how long the sessions idle before the idle figure is read:
// the passes in flight end, the commits drain and the garbage of the storm
// is collected.
const idleSettle = 15 * time.Second

// idleRSS holds the virtual clock (of the bench and the station) still for
// settle, reads the station's process, and lets the clock run on from where
// it stood.
func (g *generator) idleRSS(ctx context.Context, settle time.Duration) (ProcStats, bool, error) {
	at := g.clock.Now()
	still := Segment{Start: at, Origin: time.Now(), Speed: 1e-3} // 15 virtual minutes take 10 days
	g.clock.Set(still)
	if err := g.cfg.Station.SetClock(still); err != nil {
		return ProcStats{}, false, err
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return ProcStats{}, false, ctx.Err()
	}
	st, ok := g.cfg.Station.Proc()
	run := Segment{Start: g.clock.Now(), Origin: time.Now(), Speed: g.cfg.Speed}
	g.clock.Set(run)
	return st, ok, g.cfg.Station.SetClock(run)
}

func fileSize(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// collected counts the meters with the freeze at midnight in the store.
func collected(ctx context.Context, st amigo.Store, ids []int64, midnight time.Time) int {
	n := 0
	for k := 0; k < len(ids); k += 5000 {
		have, err := st.ReadingTimes(ctx, ids[k:min(k+5000, len(ids))], amigo.KindDaily, midnight, midnight.Add(time.Second))
		if err != nil {
			return n
		}
		n += len(have)
	}
	return n
}

func percentile(ms []float64, p float64) float64 {
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	i := int(float64(len(s))*p+0.999999) - 1 // nearest rank
	return s[max(0, min(i, len(s)-1))]
}

// issueCerts writes a client certificate for each collector.
func issueCerts(ctx context.Context, caDir, dir string, n int) error {
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(4)
	for j := range n {
		eg.Go(func() error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			_, err := pki.IssueCollector(caDir, dir, benchA1, uint16(j+1))
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return fmt.Errorf("collector certificates / 采集器证书: %w", err)
	}
	return nil
}

// build makes the virtual collectors and GPRS meters.
func (g *generator) build(certDir, caDir string) error {
	host, _, err := net.SplitHostPort(g.addrs.TLS)
	if err != nil {
		return fmt.Errorf("station TLS address %q: %w", g.addrs.TLS, err)
	}
	g.sources = sourceAddrs(host)
	per, extra := 0, 0
	if g.cfg.Collectors > 0 {
		per, extra = g.collectorMeters/g.cfg.Collectors, g.collectorMeters%g.cfg.Collectors
	}
	first := 0
	var base *tls.Config // one CA pool for all of them
	for j := range g.cfg.Collectors {
		n := per
		if j < extra {
			n++
		}
		name := "collector-" + pki.CollectorName(benchA1, uint16(j+1))
		crt, key := filepath.Join(certDir, name+".crt"), filepath.Join(certDir, name+".key")
		var tc *tls.Config
		if base == nil {
			if base, err = pki.ClientConfig(filepath.Join(caDir, pki.CACert), crt, key, host); err != nil {
				return err
			}
			tc = base
		} else {
			cert, err := tls.LoadX509KeyPair(crt, key)
			if err != nil {
				return fmt.Errorf("collector certificate %s: %w", name, err)
			}
			tc = base.Clone()
			tc.Certificates = []tls.Certificate{cert}
			// Its own session cache: a ticket is the session of its own
			// certificate.
			tc.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		}
		g.cols = append(g.cols, &vcollector{g: g, addr: q1376.Address{A1: benchA1, A2: uint16(j + 1)}, tls: tc, first: first, n: n,
			pending: map[uint8]pendingData{}, rtSeen: [rtPasses][]bool{make([]bool, n), make([]bool, n)}, daySeen: make([]bool, n), cmdMeter: map[dlt645.Address]*sim.Bus{}})
		first += n
	}
	for k := range g.cfg.GPRS {
		a := gprsAddress(k)
		m := sim.NewMeter(sim.MeterConfig{Address: a, Profile: sim.Home, Phases: 1, Seed: 2, Auth: sim.DefaultAuth}, g.clock.Now())
		g.gprs = append(g.gprs, &vgprs{g: g, meter: m, bus: sim.NewBus(g.clock, m), addr: a, k: k})
	}
	return nil
}

func (g *generator) loggedIn(since time.Time) int {
	n := 0
	for _, c := range g.cols {
		if c.loginAt.Load() >= since.UnixNano() {
			n++
		}
	}
	return n
}

func (g *generator) registered(since time.Time) int {
	n := 0
	for _, m := range g.gprs {
		if m.regAt.Load() >= since.UnixNano() {
			n++
		}
	}
	return n
}

// waitLogins waits until every collector logged in and every GPRS meter
// registered after since, and returns the last of those instants.
func (g *generator) waitLogins(ctx context.Context, since time.Time, limit time.Duration) (time.Time, bool) {
	ok := g.waitFor(ctx, limit, func() bool {
		return g.loggedIn(since) == len(g.cols) && g.registered(since) == len(g.gprs)
	})
	last := since
	for _, c := range g.cols {
		if t := time.Unix(0, c.loginAt.Load()); t.After(last) {
			last = t
		}
	}
	for _, m := range g.gprs {
		if t := time.Unix(0, m.regAt.Load()); t.After(last) {
			last = t
		}
	}
	return last, ok
}

// waitFor polls cond every 10 ms until it holds, ctx ends or limit passes.
func (g *generator) waitFor(ctx context.Context, limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

type archiveIDs struct{ meters, gprs []int64 }

func (a archiveIDs) all() []int64 { return append(append([]int64(nil), a.meters...), a.gprs...) }

type storeArchiver struct{ amigo.Store }

// createArchive creates one site, an area and a collector per collector,
// and the meters (installed on the virtual day's morning, so the station
// asks for no earlier freeze).
func createArchive(ctx context.Context, g *generator, a Archiver, store amigo.Store, installed time.Time, pr *progress) (archiveIDs, error) {
	var ids archiveIDs
	if store != nil && !g.cfg.External {
		if _, err := store.FindCollectorByAddress(ctx, pki.CollectorName(benchA1, 1)); err == nil {
			return ids, fmt.Errorf("the store already holds a bench archive: use a fresh store / 存储中已有压测档案，请使用新的存储")
		}
		defer fastSetup(ctx, store, g.cfg.StoreKind)()
	}
	site := amigo.Site{Name: "Bench 压测", TimeZone: amigo.DefaultTimeZone}
	if err := a.CreateSite(ctx, &site); err != nil {
		return ids, fmt.Errorf("archive / 建档: %w", err)
	}
	cols := make([]amigo.Collector, g.cfg.Collectors)
	areas := make([]int64, g.cfg.Collectors)
	for j := range cols {
		area := amigo.Area{SiteID: site.ID, Name: fmt.Sprintf("Area %d 台区", j+1), LossLow: -1, LossHigh: 10}
		if err := a.CreateArea(ctx, &area); err != nil {
			return ids, fmt.Errorf("archive / 建档: %w", err)
		}
		areas[j] = area.ID
		cols[j] = amigo.Collector{SiteID: site.ID, Name: fmt.Sprintf("Bench collector %d 压测采集器", j+1), Address: pki.CollectorName(benchA1, uint16(j+1))}
		if err := a.CreateCollector(ctx, &cols[j]); err != nil {
			return ids, fmt.Errorf("archive / 建档: %w", err)
		}
	}
	ids.meters = make([]int64, g.collectorMeters)
	ids.gprs = make([]int64, g.cfg.GPRS)
	per, extra := 0, 0
	if g.cfg.Collectors > 0 {
		per, extra = g.collectorMeters/g.cfg.Collectors, g.collectorMeters%g.cfg.Collectors
	}
	type job struct {
		m   amigo.Meter
		dst *int64
	}
	jobs := make(chan job)
	eg, ectx := errgroup.WithContext(ctx)
	var made int64
	var mu sync.Mutex
	pr.set("archive / 建档", func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("%d/%d meters", made, g.cfg.Meters)
	})
	for range 4 {
		eg.Go(func() error {
			for j := range jobs {
				if err := a.CreateMeter(ectx, &j.m); err != nil {
					return fmt.Errorf("archive: meter %s / 建档: %w", j.m.Address, err)
				}
				*j.dst = j.m.ID
				mu.Lock()
				made++
				mu.Unlock()
			}
			return nil
		})
	}
	eg.Go(func() error {
		defer close(jobs)
		i := 0
		for j := range g.cfg.Collectors {
			n := per
			if j < extra {
				n++
			}
			for pn := 1; pn <= n; pn++ {
				m := amigo.Meter{SiteID: site.ID, Address: g.meterAddress(i).String(), Protocol: "dlt645-2007", Phases: 1, RatedAmps: 60,
					AreaID: areas[j], CollectorID: cols[j].ID, Port: 1, Pn: pn, Password: "02123456", InstalledAt: installed}
				select {
				case jobs <- job{m, &ids.meters[i]}:
				case <-ectx.Done():
					return ectx.Err()
				}
				i++
			}
		}
		for k := range g.cfg.GPRS {
			m := amigo.Meter{SiteID: site.ID, Address: gprsAddress(k).String(), Protocol: "dlt645-2007", Phases: 1, RatedAmps: 60,
				Direct: true, Password: "02123456", InstalledAt: installed, IMEI: gprsIMEI(k), RegSecret: gprsSecret(k)}
			if len(areas) > 0 {
				m.AreaID = areas[0]
			}
			select {
			case jobs <- job{m, &ids.gprs[k]}:
			case <-ectx.Done():
				return ectx.Err()
			}
		}
		return nil
	})
	if err := eg.Wait(); err != nil {
		return ids, err
	}
	return ids, nil
}

// apiClient speaks to the station's API.
type apiClient struct {
	base, token string
	http        *http.Client
}

func (c *apiClient) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

func (c *apiClient) login(ctx context.Context, user, password string) (string, error) {
	var out struct{ Token string }
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/login", map[string]string{"username": user, "password": password}, &out); err != nil {
		return "", fmt.Errorf("log in to the API / 登录接口: %w", err)
	}
	return out.Token, nil
}

// commands sends cfg.Commands disconnect commands at cfg.CommandsPerS to
// distinct meters behind the collectors, to each station's API in turn,
// and returns the latencies (ms, from the POST until GET shows it
// succeeded), how many did not succeed and how many were posted to a
// station other than the one the meter's collector was connected to.
//
// With several stations each round of N commands goes to every station
// once, the round's order turned by one each round: with meters spread
// evenly, plain turns would follow the collectors' own spread across the
// stations and post every command to the station holding its collector,
// so that no command had to be routed to another node.
func (g *generator) commands(ctx context.Context, apis []*apiClient, pr *progress) ([]float64, int, int) {
	n := g.cfg.Commands
	interval := time.Duration(float64(time.Second) / g.cfg.CommandsPerS)
	var mu sync.Mutex
	var lat []float64
	failed, sent, routed := 0, 0, 0
	pr.set("commands / 远程命令", func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("%d sent, %d succeeded, %d failed of %d", sent, len(lat), failed, n)
	})
	var wg sync.WaitGroup
	start := time.Now()
	for k := range n {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				wg.Wait()
				return lat, failed + n - k, routed
			}
		}
		i := int(int64(k) * int64(g.collectorMeters) / int64(n)) // distinct meters while n <= meters
		addr := g.meterAddress(i).String()
		node := commandStation(k, len(apis))
		api := apis[node]
		if int(g.collectorOf(i).node.Load()) != node {
			routed++
		}
		mu.Lock()
		sent++
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms, err := g.command(ctx, api, addr)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				g.debug("command", "meter", addr, "err", err)
				return
			}
			lat = append(lat, ms)
		}()
	}
	wg.Wait()
	return lat, failed, routed
}

// commandStation is the station of n the k-th command is posted to: each
// round of n commands goes to every station once, the round's order turned
// by one each round.
func commandStation(k, n int) int { return (k + k/n) % n }

func (g *generator) command(ctx context.Context, api *apiClient, addr string) (float64, error) {
	read := g.expectStatus(addr)
	t0 := time.Now()
	var c struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	if _, err := api.do(ctx, http.MethodPost, "/api/v1/meters/"+addr+"/commands", map[string]string{"type": amigo.CmdDisconnect}, &c); err != nil {
		return 0, err
	}
	// Poll slowly until the meter has answered the read-back, then fast.
	wait := 250 * time.Millisecond
	deadline := t0.Add(g.cfg.PhaseTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-read:
			read, wait = nil, 5*time.Millisecond
		case <-time.After(wait):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if _, err := api.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/commands/%d", c.ID), nil, &c); err != nil {
			return 0, err
		}
		switch c.Status {
		case amigo.CmdSucceeded:
			return float64(time.Since(t0).Microseconds()) / 1000, nil
		case amigo.CmdFailed, amigo.CmdExpired:
			return 0, fmt.Errorf("command %d %s: %s", c.ID, c.Status, c.Reason)
		}
	}
	return 0, fmt.Errorf("command %d still %s after %s", c.ID, c.Status, g.cfg.PhaseTimeout)
}
