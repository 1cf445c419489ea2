package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/api"
	"github.com/amigo-metering/amigo/internal/clilog"
	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/internal/fep"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/internal/printing"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/q1376"
	"golang.org/x/crypto/bcrypt"
)

func init() {
	register(command{name: "demo", summary: "a whole working system on this machine / 一键演示完整系统", run: runDemo})
}

// DemoConfig is what `amigo demo` starts: a station, one collector and its
// virtual meters, two GPRS meters, sharing one (possibly fast) clock.
type DemoConfig struct {
	Meters           int
	Collectors       int    // the meters are spread over this many collectors, one area each; default 1
	HTTP             string // API address
	CollectorsListen string // the collectors' TLS address; default 127.0.0.1:0 (any free port)
	GPRSListen       string // the GPRS meters' address; default 127.0.0.1:0
	Data             string
	Store            string // default sqlite:DATA/amigo.db
	Speed            float64
	Start            string
	AdminPassword    string
	Faults           []string // ADDRESS:KIND[:ARG] on the virtual meters, as amigo sim --fault
	// FontFile is the CJK font of the bills' and receipts' PDFs (the
	// station's font_file); Printer, when set, is the station's printer,
	// and the month-end run's bills are printed (print_bills).
	FontFile string
	Printer  string
	Log      *slog.Logger
	ready    func(stationAddrs)
}

const (
	demoTerminal   = "0171-1"
	demoFirst      = "000000000001" // the area's supply meter; the customers follow
	demoGPRSFirst  = "900000000001"
	demoGPRSMeters = 2
	demoLoss       = 4 // percent of the supply meter's energy lost on the line
	demoLossLow    = 2 // the area's line-loss band, percent
	demoLossHigh   = 6
)

// The demo's bounds: at most demoMaxMeters meters over at most
// demoMaxCollectors collectors, at most demoPerCollector behind each (a
// terminal has at most 2040 measuring points).
const (
	demoMaxMeters     = 100000
	demoMaxCollectors = 1000
	demoPerCollector  = 2000
)

func demoBounds(c DemoConfig) error {
	switch {
	case c.Meters < 2 || c.Meters > demoMaxMeters:
		return fmt.Errorf("--meters %d: want 2..%d (meter 1 is the area's supply meter) / 电表数量应为 2..%d", c.Meters, demoMaxMeters, demoMaxMeters)
	case c.Collectors < 1 || c.Collectors > demoMaxCollectors:
		return fmt.Errorf("--collectors %d: want 1..%d / 采集器数量应为 1..%d", c.Collectors, demoMaxCollectors, demoMaxCollectors)
	case c.Collectors > c.Meters:
		return fmt.Errorf("--collectors %d: more collectors than --meters %d (each collector's first meter is its area's supply meter) / 采集器数量不能多于电表数量", c.Collectors, c.Meters)
	case (c.Meters+c.Collectors-1)/c.Collectors > demoPerCollector:
		return fmt.Errorf("--meters %d over --collectors %d: at most %d meters per collector; add collectors / 每台采集器最多 %d 块电表，请增加采集器", c.Meters, c.Collectors, demoPerCollector, demoPerCollector)
	}
	return nil
}

// demoCollector is one of the demo's collectors: its terminal address, its
// meters (n consecutive addresses from first, the first its area's supply
// meter), where its fleet keeps its registers and where it keeps its data.
type demoCollector struct {
	k              int // terminal number: 0171-k
	terminal, cert string
	index, n       int // its meters are the demo's index..index+n-1
	first, last    string
	state, dataDir string
	faults         []string
}

// demoLayout spreads c.Meters over c.Collectors collectors, the first ones
// one more when they do not divide evenly. One collector keeps the paths of
// the demo before there were several (sim/bus.json, collector/).
func demoLayout(c DemoConfig) []demoCollector {
	m := max(c.Collectors, 1)
	cols := make([]demoCollector, 0, m)
	index := 0
	for k := 1; k <= m; k++ {
		n := c.Meters / m
		if k <= c.Meters%m {
			n++
		}
		first, _ := sim.AddressN(demoFirst, index)
		last, _ := sim.AddressN(demoFirst, index+n-1)
		dc := demoCollector{k: k, terminal: fmt.Sprintf("0171-%d", k), cert: fmt.Sprintf("collector-0171-%d", k), index: index, n: n,
			first: first.String(), last: last.String(),
			state: filepath.Join(c.Data, "sim", fmt.Sprintf("bus-%d.json", k)), dataDir: filepath.Join(c.Data, fmt.Sprintf("collector-%d", k))}
		if m == 1 {
			dc.state, dc.dataDir = filepath.Join(c.Data, "sim", "bus.json"), filepath.Join(c.Data, "collector")
		}
		cols = append(cols, dc)
		index += n
	}
	return cols
}

// demoAdminFile keeps the admin password the demo made, so that a later run
// on the same data directory can print it again.
const demoAdminFile = "admin-password"

// demoMain runs the demo until ctx ends.
func demoMain(ctx context.Context, c DemoConfig, stdout io.Writer) error {
	if c.Collectors == 0 {
		c.Collectors = 1
	}
	if err := demoBounds(c); err != nil {
		return err
	}
	cols := demoLayout(c)
	if _, err := makeClock(c.Start, c.Speed); err != nil {
		return err
	}
	start := time.Now()
	if c.Start != "" {
		start, _ = time.Parse(time.RFC3339, c.Start)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.CollectorsListen == "" {
		c.CollectorsListen = "127.0.0.1:0"
	}
	if c.GPRSListen == "" {
		c.GPRSListen = "127.0.0.1:0"
	}
	if err := os.MkdirAll(c.Data, 0o755); err != nil {
		return err
	}
	caDir := filepath.Join(c.Data, "ca")
	if _, err := os.Stat(filepath.Join(caDir, pki.CAKey)); err != nil {
		if err := pki.InitCA(caDir, "amigo demo CA"); err != nil {
			return err
		}
		if err := pki.IssueServer(caDir, caDir, "127.0.0.1", "localhost"); err != nil {
			return err
		}
	}
	for _, dc := range cols {
		if _, err := os.Stat(filepath.Join(caDir, dc.cert+".crt")); err == nil {
			continue
		}
		if _, err := pki.IssueCollector(caDir, caDir, 0x0171, uint16(dc.k)); err != nil {
			return err
		}
	}
	if c.Store == "" {
		c.Store = "sqlite:" + filepath.Join(c.Data, "amigo.db")
	}
	// The virtual meters keep their registers across runs; the clock goes
	// on from where the last run stopped (at the next quarter hour, so no
	// real-time slot is read twice with different values) when that is
	// later than the start asked for.
	gprsState := filepath.Join(c.Data, "sim", "gprs.json")
	var resumed time.Time
	states := []string{gprsState}
	for _, dc := range cols {
		states = append(states, dc.state)
	}
	for _, p := range states {
		st, err := sim.LoadState(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err == nil && st.SavedAt.After(resumed) {
			resumed = st.SavedAt
		}
	}
	resume := !resumed.IsZero() && resumed.After(start)
	// The archive: a site, an area, the collector and its meters.
	admin, password, gprsKey, err := seedDemo(ctx, c, cols, start)
	if err != nil {
		return err
	}
	customer, err := demoCustomerLogin(ctx, c)
	if err != nil {
		return err
	}
	// The clock starts after the slow set-up (keys, store, archive), so a
	// fast demo starting just before midnight still reaches it with every
	// meter in place.
	clock, err := makeClock(c.Start, c.Speed)
	if err != nil {
		return err
	}
	if resume {
		clock = vclock.NewVirtual(resumed.Truncate(15*time.Minute).Add(15*time.Minute), c.Speed)
	}
	var gprsFaults []string
	for _, f := range c.Faults {
		if strings.HasPrefix(f, demoGPRSFirst[:10]) {
			gprsFaults = append(gprsFaults, f)
			continue
		}
		// A bus meter's fault goes to the fleet its address is in (the
		// addresses are 12 digits, so they compare as strings); one that is
		// in none goes to the first, which names it in its error.
		k := 0
		for i, dc := range cols {
			if len(f) >= 12 && f[:12] >= dc.first && f[:12] <= dc.last {
				k = i
			}
		}
		cols[k].faults = append(cols[k].faults, f)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One virtual fleet per collector, each on its own TCP serial server;
	// each collector's first meter measures the others of its fleet plus
	// the line loss.
	fleets := make([]*sim.Fleet, 0, len(cols))
	waitFleets := func() error {
		var first error
		for _, f := range fleets {
			if err := f.Wait(); first == nil {
				first = err
			}
		}
		return first
	}
	for _, dc := range cols {
		f, err := sim.Start(ctx, sim.Config{Meters: dc.n, FirstAddress: dc.first, Listen: "127.0.0.1:0", Seed: 1, Clock: clock, Log: c.Log,
			Supply: fmt.Sprintf("%s:%d", dc.first, demoLoss), State: dc.state, Faults: dc.faults})
		if err != nil {
			cancel()
			waitFleets()
			return err
		}
		fleets = append(fleets, f)
	}
	// Every collector and GPRS meter of the demo connects from 127.0.0.1:
	// more collectors than the station lets in from one source by default
	// raise that cap to all of them and a few reconnecting.
	perSource := 0
	if len(cols)+demoGPRSMeters > fep.DefaultMaxConnsPerSource/2 {
		perSource = 2 * (len(cols) + demoGPRSMeters)
	}
	up := make(chan stationAddrs, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := stationMain(ctx, StationConfig{Store: c.Store, HTTP: c.HTTP, CollectorsTLS: c.CollectorsListen,
			CAFile: filepath.Join(caDir, pki.CACert), CertFile: filepath.Join(caDir, "station.crt"), KeyFile: filepath.Join(caDir, "station.key"),
			SecretFile: filepath.Join(c.Data, "api.secret"), Heartbeat: "20s", GPRS: c.GPRSListen, MaxConnsPerSource: perSource,
			clock: clock, log: c.Log, DownlinkKeyFile: filepath.Join(c.Data, "downlink.key"), ready: func(a stationAddrs) { up <- a },
			Payment:  &PaymentConfig{Provider: providerWeChatSandbox, KeyDir: filepath.Join(c.Data, "pay"), SandboxListen: "127.0.0.1:0"},
			FontFile: c.FontFile, Printer: c.Printer, PrintBills: c.Printer != "", PrintJobPrefix: "amigo-demo"})
		if err != nil {
			errs <- demoFlagError(err)
			cancel()
		}
	}()
	var a stationAddrs
	select {
	case a = <-up:
	case err := <-errs:
		cancel()
		wg.Wait()
		waitFleets()
		return err
	}
	// The collector's command key, derived from the station's master key
	// (which the station created before it listened).
	master, err := downlinkKey(filepath.Join(c.Data, "downlink.key"), false)
	if err != nil {
		cancel()
		wg.Wait()
		waitFleets()
		return err
	}
	// Two GPRS meters dial the station directly.
	gprs, err := sim.Start(ctx, sim.Config{Meters: demoGPRSMeters, FirstAddress: demoGPRSFirst, GPRS: a.GPRS.String(), GPRSKey: gprsKey, Heartbeat: 20 * time.Second, Seed: 2,
		Clock: clock, Log: c.Log, Profile: "home", State: gprsState, Faults: gprsFaults})
	if err != nil {
		cancel()
		wg.Wait()
		waitFleets()
		return err
	}
	for i, dc := range cols {
		termAddr, _ := q1376.ParseAddress(dc.terminal)
		ccfg := collector.Config{Terminal: dc.terminal, Stations: []string{a.CollectorsTLS.String()}, AuthKey: hex.EncodeToString(q1376.TerminalKey(master, termAddr)),
			CAFile: filepath.Join(caDir, pki.CACert), CertFile: filepath.Join(caDir, dc.cert+".crt"), KeyFile: filepath.Join(caDir, dc.cert+".key"),
			Heartbeat: collector.Duration(20 * time.Second), ReconnectMax: collector.Duration(5 * time.Second),
			Ports: []collector.Port{{Number: 1, Address: fleets[i].Addr.String()}}, DataDir: dc.dataDir, Clock: clock, Log: c.Log}
		for j := range dc.n {
			addr, _ := sim.AddressN(dc.first, j)
			ccfg.Meters = append(ccfg.Meters, collector.Meter{Address: addr.String(), Port: 1, Pn: uint16(j + 1), Password: "02123456"})
		}
		err := os.MkdirAll(ccfg.DataDir, 0o755)
		var cst *colsqlite.Store
		if err == nil {
			cst, err = colsqlite.Open(filepath.Join(ccfg.DataDir, "collector.db"))
		}
		var col *collector.Collector
		if err == nil {
			if col, err = collector.New(ccfg, cst); err != nil {
				cst.Close()
			}
		}
		if err != nil {
			cancel()
			wg.Wait()
			waitFleets()
			gprs.Wait()
			return fmt.Errorf("collector %s: %w", dc.terminal, err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); defer cst.Close(); col.Run(ctx) }()
	}
	a.print(stdout, "amigo demo")
	fmt.Fprintln(stdout, admin)
	if customer != "" {
		fmt.Fprintln(stdout, customer)
	}
	api := fmt.Sprintf("http://%s/api/v1", a.API)
	if password == "" {
		password = "PASSWORD"
	}
	fmt.Fprintf(stdout, "amigo demo: log in, keep the token in T / 登录并把令牌存入 T:\n  T=$(curl -s -XPOST %s/login -d '{\"username\":\"admin\",\"password\":\"%s\"}' | sed -n 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/p')\n  curl -s -H \"Authorization: Bearer $T\" %s/meters\n", api, password, api)
	if len(cols) == 1 {
		fmt.Fprintf(stdout, "amigo demo: %d virtual meters behind collector %s (%s is the area's supply meter, %d %% line loss, band %d–%d %%) and %d GPRS meters from %s / %d 块虚拟电表\n",
			c.Meters, demoTerminal, demoFirst, demoLoss, demoLossLow, demoLossHigh, demoGPRSMeters, demoGPRSFirst, c.Meters+demoGPRSMeters)
	} else {
		last := cols[len(cols)-1]
		fmt.Fprintf(stdout, "amigo demo: %d virtual meters behind %d collectors %s..%s, one area each (each collector's first meter is its area's supply meter, %d %% line loss, band %d–%d %%), and %d GPRS meters from %s / %d 块虚拟电表分布在 %d 台采集器下\n",
			c.Meters, len(cols), demoTerminal, last.terminal, demoLoss, demoLossLow, demoLossHigh, demoGPRSMeters, demoGPRSFirst, c.Meters+demoGPRSMeters, len(cols))
	}
	fmt.Fprintf(stdout, "amigo demo: prepaid account %s (meter %s, a few yuan; the GPRS meters and every fourth meter prepaid, the others postpaid, all on tariff zj-residential) / 预付费账户 %s（电表 %s）:\n  curl -s -H \"Authorization: Bearer $T\" \"%s/accounts?number=%s\"\n",
		demoPrepaid, demoGPRSFirst, demoPrepaid, demoGPRSFirst, api, demoPrepaid)
	if resume {
		fmt.Fprintf(stdout, "amigo demo: meters resumed from %s: clock goes on at %s at %gx (registers as of %s) / 电表从上次运行继续\n",
			filepath.Join(c.Data, "sim"), clock.Now().Format(time.RFC3339), c.Speed, resumed.Format(time.RFC3339))
	} else {
		fmt.Fprintf(stdout, "amigo demo: clock %s at %gx, data in %s / 时钟与数据目录\n", clock.Now().Format(time.RFC3339), c.Speed, c.Data)
	}
	if a.PaySandbox != nil {
		fmt.Fprintf(stdout, "amigo demo: WeChat Pay sandbox http://%s: POST /api/v1/accounts/{id}/orders {\"amount_fen\":5000}, then pay it: amigo paysandbox pay --sandbox http://%s --code-url CODE_URL / 微信支付沙箱：下单后用 code_url 付款\n", a.PaySandbox, a.PaySandbox)
	}
	if c.ready != nil {
		c.ready(a)
	}
	<-ctx.Done()
	wg.Wait()
	fleetErr := waitFleets() // saves the meters' state
	if err := gprs.Wait(); fleetErr == nil {
		fleetErr = err
	}
	select {
	case err := <-errs:
		return err
	default:
	}
	return fleetErr
}

// demoFlagError names the demo's flag for a station key that could not
// listen.
func demoFlagError(err error) error {
	var le *listenError
	if !errors.As(err, &le) {
		return fmt.Errorf("station: %w", err)
	}
	flag := map[string]string{"http": "--http", "collectors_tls": "--collectors-listen", "gprs": "--gprs-listen"}[le.key]
	return fmt.Errorf("%s %s: cannot listen (in use by another program? choose another with %s) / 无法监听（端口被占用？请用 %s 另选）: %w", flag, le.addr, flag, flag, le.err)
}

// demoAdmin makes sure user admin exists and returns the line to print: a
// password that logs in, or why none is shown. The demo never changes an
// existing admin's password: a later run keeps the stored one and says so.
func demoAdmin(ctx context.Context, store amigo.Store, c DemoConfig) (line, password string, err error) {
	file := filepath.Join(c.Data, demoAdminFile)
	u, err := store.FindUserByUsername(ctx, "admin")
	switch {
	case amigo.ErrorKind(err) == amigo.ENOTFOUND:
		pw := c.AdminPassword
		if pw == "" {
			b := make([]byte, 10)
			rand.Read(b)
			pw = strings.ToLower(base32.StdEncoding.EncodeToString(b))[:12]
		}
		h, err := api.HashPassword(pw)
		if err != nil {
			return "", "", fmt.Errorf("--admin-password: %w", err)
		}
		if err := store.CreateUser(ctx, &amigo.User{Username: "admin", PasswordHash: h, Role: amigo.RoleAdmin}); err != nil {
			return "", "", err
		}
		if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
			return "", "", err
		}
		return fmt.Sprintf("amigo demo: admin / %s (new; also in %s) / 管理员 admin / %s（新建）", pw, file, pw), pw, nil
	case err != nil:
		return "", "", err
	}
	works := func(pw string) bool {
		return pw != "" && bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pw)) == nil
	}
	if c.AdminPassword != "" {
		if !works(c.AdminPassword) {
			return "", "", fmt.Errorf("--admin-password: user admin already exists in %s with another password; the demo keeps it (see %s), or start with a new --data / 管理员已存在且密码不同，演示不修改已有密码", c.Data, file)
		}
		return fmt.Sprintf("amigo demo: admin / %s (kept from an earlier run) / 管理员 admin / %s（沿用之前的密码）", c.AdminPassword, c.AdminPassword), c.AdminPassword, nil
	}
	b, _ := os.ReadFile(file)
	if pw := strings.TrimSpace(string(b)); works(pw) {
		return fmt.Sprintf("amigo demo: admin / %s (kept from an earlier run, in %s) / 管理员 admin / %s（沿用之前的密码）", pw, file, pw), pw, nil
	}
	return fmt.Sprintf("amigo demo: admin keeps the password set in an earlier run (not shown: %s no longer matches it) / 管理员沿用之前设置的密码（不显示）", file), "", nil
}

// seedDemo creates the demo's site, area, collector and meters once, and
// its admin; it returns the admin line to print, and the key the virtual
// GPRS meters derive their IMEI and registration secret from (random, kept
// in the store's state).
func seedDemo(ctx context.Context, c DemoConfig, cols []demoCollector, start time.Time) (admin, password, gprsKey string, err error) {
	store, err := openStore(ctx, c.Store)
	if err != nil {
		return "", "", "", err
	}
	defer store.Close()
	admin, password, err = demoAdmin(ctx, store, c)
	if err != nil {
		return "", "", "", err
	}
	key := make([]byte, 16)
	rand.Read(key)
	if _, err := store.PutStateOnce(ctx, "demo/gprs_key", hex.EncodeToString(key), time.Now()); err != nil {
		return "", "", "", err
	}
	if gprsKey, _, err = store.GetState(ctx, "demo/gprs_key"); err != nil {
		return "", "", "", err
	}
	if _, err := store.FindCollectorByAddress(ctx, demoTerminal); amigo.ErrorKind(err) == amigo.ENOTFOUND {
		if err := store.WithTx(ctx, func(tx amigo.Store) error { return seedArchive(ctx, tx, cols, start, gprsKey) }); err != nil {
			return "", "", "", err
		}
	} else if err != nil {
		return "", "", "", err
	} else if err := demoSameCollectors(ctx, store, c, cols); err != nil {
		return "", "", "", err
	}
	// Accounts once (a data directory from before money had none).
	if err := seedMoney(ctx, store, start); err != nil {
		return "", "", "", err
	}
	return admin, password, gprsKey, nil
}

// demoSameCollectors refuses a --collectors other than the one the data
// directory's archive was made with.
func demoSameCollectors(ctx context.Context, store amigo.Store, c DemoConfig, cols []demoCollector) error {
	_, errLast := store.FindCollectorByAddress(ctx, cols[len(cols)-1].terminal)
	_, errNext := store.FindCollectorByAddress(ctx, fmt.Sprintf("0171-%d", len(cols)+1))
	if errLast == nil && amigo.ErrorKind(errNext) == amigo.ENOTFOUND {
		return nil
	}
	if errLast != nil && amigo.ErrorKind(errLast) != amigo.ENOTFOUND {
		return errLast
	}
	return fmt.Errorf("--collectors %d: %s was made with another number of collectors; give that one or a new --data / 数据目录中的采集器数量与 --collectors 不同", len(cols), c.Data)
}

// seedArchive creates the demo's site, its collectors and their meters,
// and an area per collector whose supply meter is the collector's first
// (in one transaction: tx).
func seedArchive(ctx context.Context, tx amigo.Store, cols []demoCollector, start time.Time, gprsKey string) error {
	site := amigo.Site{Name: "Demo Campus 演示校园"}
	if err := tx.CreateSite(ctx, &site); err != nil {
		return err
	}
	for _, dc := range cols {
		col := amigo.Collector{SiteID: site.ID, Name: fmt.Sprintf("Building %d concentrator %d号楼集中器", dc.k, dc.k), Address: dc.terminal}
		if dc.k == 1 {
			col.Name = "Building 1 concentrator 一号楼集中器"
		}
		if err := tx.CreateCollector(ctx, &col); err != nil {
			return err
		}
		ms := make([]amigo.Meter, 0, dc.n)
		for j := range dc.n {
			addr, _ := sim.AddressN(dc.first, j)
			m := amigo.Meter{SiteID: site.ID, Address: addr.String(), CollectorID: col.ID, Port: 1, Pn: j + 1, Password: "02123456", InstalledAt: start, Phases: 1, RatedAmps: 60}
			switch {
			case j == 0: // the supply meter of the building's transformer
				m.Phases, m.RatedAmps = 3, 1500
			case sim.MixedProfile(1, j) == sim.Factory:
				m.Phases, m.RatedAmps = 3, 250
			case sim.MixedProfile(1, j) == sim.Office:
				m.Phases, m.RatedAmps = 3, 60
			}
			if err := tx.CreateMeter(ctx, &m); err != nil {
				return err
			}
			ms = append(ms, m)
		}
		// The collector's first meter is its area's supply meter: the
		// virtual fleet makes it measure the other meters plus demoLoss %
		// lost on the line.
		area := amigo.Area{SiteID: site.ID, Name: fmt.Sprintf("Building %d %d号楼", dc.k, dc.k), SupplyMeterID: ms[0].ID, LossLow: demoLossLow, LossHigh: demoLossHigh}
		if dc.k == 1 {
			area.Name = "Building 1 一号楼"
		}
		if err := tx.CreateArea(ctx, &area); err != nil {
			return err
		}
		for _, m := range ms {
			m.AreaID = area.ID
			if err := tx.UpdateMeter(ctx, &m); err != nil {
				return err
			}
		}
	}
	for i := range demoGPRSMeters {
		addr, _ := sim.AddressN(demoGPRSFirst, i)
		m := amigo.Meter{SiteID: site.ID, Address: addr.String(), Direct: true, Password: "02123456", InstalledAt: start, Phases: 1, RatedAmps: 60}
		m.IMEI, m.RegSecret = sim.GPRSIdentity(gprsKey, m.Address)
		if err := tx.CreateMeter(ctx, &m); err != nil {
			return err
		}
	}
	return nil
}

const demoUsageHead = `usage / 用法: amigo demo [flags]
Starts a whole system on this machine: the station (API, collectors' TLS front
end, GPRS listener), one collector with --meters virtual meters on its RS-485
line (meter 000000000001 is the area's supply meter: its customers plus 4 %
line loss) and two GPRS meters, all on one clock. --collectors M spreads the
meters over M collectors (0171-1..0171-M), each with its own line, store
(DATA/collector-K/) and area whose supply meter is the collector's first.
It prints every address it listens on and the admin's password. A later run on the same --data keeps the
archive, the admin's password and the meters' registers (the clock goes on
from where the last run stopped). Ctrl-C stops it.
在本机启动完整系统：主站（接口、采集器 TLS 前置、GPRS）、一台采集器及其虚拟电表（000000000001 为台区总表，
等于其下用户用电加 4% 线损）和两块 GPRS 电表。--collectors M 把电表分布到 M 台采集器，每台一个台区、以其第一块表为总表。启动时列出所有监听地址和管理员密码；同一 --data 再次运行时保留档案、
管理员密码和电表读数（时钟从上次停止处继续）。按 Ctrl-C 停止。
`

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	setUsage(fs, demoUsageHead)
	var c DemoConfig
	var faults multiFlag
	fs.IntVar(&c.Meters, "meters", 20, "virtual meters (up to 100000, at most 2000 per collector), each collector's supply meter included / 虚拟电表数量（最多 100000，每台采集器最多 2000，含总表）")
	fs.IntVar(&c.Collectors, "collectors", 1, "collectors (up to 1000) the meters are spread over, one area and one TCP serial line each / 采集器数量（最多 1000），电表平均分布，每台一个台区")
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "API address / 接口地址")
	fs.StringVar(&c.CollectorsListen, "collectors-listen", "127.0.0.1:0", "collectors' 1376.1-over-TLS address (:0 = any free port) / 采集器 TLS 地址")
	fs.StringVar(&c.GPRSListen, "gprs-listen", "127.0.0.1:0", "GPRS meters' address (:0 = any free port) / GPRS 电表地址")
	fs.StringVar(&c.Data, "data", "amigo-data", "data directory / 数据目录")
	fs.StringVar(&c.Store, "store", "", "store: sqlite:PATH (default DATA/amigo.db) or postgres://... / 存储")
	fs.Float64Var(&c.Speed, "speed", 1, "virtual seconds per real second / 时间倍速")
	fs.StringVar(&c.Start, "start", "", "virtual start time, RFC 3339 / 虚拟起始时间")
	fs.StringVar(&c.AdminPassword, "admin-password", "", "admin password for a new data directory (default: random, printed) / 新数据目录的管理员密码")
	fs.StringVar(&c.FontFile, "font-file", "", "CJK TrueType font of the bills' and receipts' PDFs (default "+printing.DefaultFontFile+") / 账单与收据 PDF 的中文字体")
	fs.StringVar(&c.Printer, "printer", "", "IPP URI of a print queue: the month-end bills and receipts asked for are printed there / 打印队列 IPP 地址：月末账单与收据在此打印")
	fs.Var(&faults, "fault", "ADDRESS:KIND[:ARG], repeatable, as amigo sim --fault; e.g. 000000000007:theft:60 or 000000000007:stuck / 故障注入")
	var lf clilog.Flags
	lf.Register(fs, "warn")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	log, err := lf.New(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "amigo demo: %v\n", err)
		return 2
	}
	c.Log, c.Faults = log, faults
	if err := demoMain(ctx, c, stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "amigo demo: %v\n", err)
		return 1
	}
	return 0
}
