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
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/api"
	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/q1376"
)

func init() {
	register(command{name: "demo", summary: "a whole working system on this machine / 一键演示完整系统", run: runDemo})
}

// DemoConfig is what `amigo demo` starts: a station, one collector and its
// virtual meters, sharing one (possibly fast) clock.
type DemoConfig struct {
	Meters        int
	HTTP          string
	Data          string
	Store         string // default sqlite:DATA/amigo.db
	Speed         float64
	Start         string
	AdminPassword string
	Log           *slog.Logger
	ready         func(api net.Addr)
}

const (
	demoTerminal   = "0171-1"
	demoGPRSFirst  = "900000000001"
	demoGPRSMeters = 2
)

// demoMain runs the demo until ctx ends.
func demoMain(ctx context.Context, c DemoConfig, stdout io.Writer) error {
	if c.Meters <= 0 || c.Meters > 2000 {
		return fmt.Errorf("--meters %d: want 1..2000", c.Meters)
	}
	// The clock starts after the slow set-up (keys, store, archive), so a
	// fast demo starting just before midnight still reaches it with every
	// meter in place.
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
		if _, err := pki.IssueCollector(caDir, caDir, 0x0171, 1); err != nil {
			return err
		}
	}
	if c.Store == "" {
		c.Store = "sqlite:" + filepath.Join(c.Data, "amigo.db")
	}
	if c.AdminPassword == "" {
		b := make([]byte, 10)
		rand.Read(b)
		c.AdminPassword = strings.ToLower(base32.StdEncoding.EncodeToString(b))[:12]
	}
	// The archive: a site, an area, the collector and its meters.
	gprsKey, err := seedDemo(ctx, c, start)
	if err != nil {
		return err
	}
	clock, err := makeClock(c.Start, c.Speed)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fleet, err := sim.Start(ctx, sim.Config{Meters: c.Meters, Listen: "127.0.0.1:0", Seed: 1, Clock: clock, Log: c.Log})
	if err != nil {
		return err
	}
	type addrs struct{ api, fep, gprs net.Addr }
	up := make(chan addrs, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := stationMain(ctx, StationConfig{Store: c.Store, HTTP: c.HTTP, CollectorsTLS: "127.0.0.1:0",
			CAFile: filepath.Join(caDir, pki.CACert), CertFile: filepath.Join(caDir, "station.crt"), KeyFile: filepath.Join(caDir, "station.key"),
			AdminPassword: c.AdminPassword, SecretFile: filepath.Join(c.Data, "api.secret"), Heartbeat: "20s", GPRS: "127.0.0.1:0",
			clock: clock, log: c.Log, DownlinkKeyFile: filepath.Join(c.Data, "downlink.key"), ready: func(h, f, g net.Addr) { up <- addrs{h, f, g} }})
		if err != nil {
			errs <- fmt.Errorf("station: %w", err)
			cancel()
		}
	}()
	var a addrs
	select {
	case a = <-up:
	case err := <-errs:
		return err
	}
	// The collector's command key, derived from the station's master key
	// (which the station created before it listened).
	master, err := downlinkKey(filepath.Join(c.Data, "downlink.key"), false)
	if err != nil {
		return err
	}
	termAddr, _ := q1376.ParseAddress(demoTerminal)
	ccfg := collector.Config{Terminal: demoTerminal, Stations: []string{a.fep.String()}, AuthKey: hex.EncodeToString(q1376.TerminalKey(master, termAddr)),
		CAFile: filepath.Join(caDir, pki.CACert), CertFile: filepath.Join(caDir, "collector-0171-1.crt"), KeyFile: filepath.Join(caDir, "collector-0171-1.key"),
		Heartbeat: collector.Duration(20 * time.Second), ReconnectMax: collector.Duration(5 * time.Second),
		Ports: []collector.Port{{Number: 1, Address: fleet.Addr.String()}}, DataDir: filepath.Join(c.Data, "collector"), Clock: clock, Log: c.Log}
	for i := range c.Meters {
		addr, _ := sim.AddressN("000000000001", i)
		ccfg.Meters = append(ccfg.Meters, collector.Meter{Address: addr.String(), Port: 1, Pn: uint16(i + 1), Password: "02123456"})
	}
	// Two GPRS meters dial the station directly.
	if _, err := sim.Start(ctx, sim.Config{Meters: demoGPRSMeters, FirstAddress: demoGPRSFirst, GPRS: a.gprs.String(), GPRSKey: gprsKey, Heartbeat: 20 * time.Second, Seed: 2, Clock: clock, Log: c.Log, Profile: "home"}); err != nil {
		return err
	}
	if err := os.MkdirAll(ccfg.DataDir, 0o755); err != nil {
		return err
	}
	cst, err := colsqlite.Open(filepath.Join(ccfg.DataDir, "collector.db"))
	if err != nil {
		return err
	}
	col, err := collector.New(ccfg, cst)
	if err != nil {
		cst.Close()
		return err
	}
	wg.Add(1)
	go func() { defer wg.Done(); defer cst.Close(); col.Run(ctx) }()
	fmt.Fprintf(stdout, "amigo demo: API http://%s/api/v1 (OpenAPI: /api/v1/openapi.json), admin / %s\n", a.api, c.AdminPassword)
	fmt.Fprintf(stdout, "amigo 演示: 接口 http://%s/api/v1 ，管理员 admin / %s\n", a.api, c.AdminPassword)
	fmt.Fprintf(stdout, "%d virtual meters behind collector %s and %d GPRS meters from %s, clock %s at %gx, data in %s\n", c.Meters, demoTerminal, demoGPRSMeters, demoGPRSFirst, clock.Now().Format(time.RFC3339), c.Speed, c.Data)
	if c.ready != nil {
		c.ready(a.api)
	}
	<-ctx.Done()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	return nil
}

// seedDemo creates the demo's site, area, collector and meters once. It
// returns the key the virtual GPRS meters derive their IMEI and
// registration secret from (random, kept in the store's state).
func seedDemo(ctx context.Context, c DemoConfig, start time.Time) (gprsKey string, err error) {
	store, err := openStore(ctx, c.Store)
	if err != nil {
		return "", err
	}
	defer store.Close()
	key := make([]byte, 16)
	rand.Read(key)
	if _, err := store.PutStateOnce(ctx, "demo/gprs_key", hex.EncodeToString(key), time.Now()); err != nil {
		return "", err
	}
	gprsKey, _, err = store.GetState(ctx, "demo/gprs_key")
	if err != nil {
		return "", err
	}
	if err := seedArchive(ctx, store, c, start, gprsKey); err != nil {
		return "", err
	}
	// A demo seeded before GPRS registrations carried credentials gets them.
	for i := range demoGPRSMeters {
		addr, _ := sim.AddressN(demoGPRSFirst, i)
		m, err := store.FindMeterByAddress(ctx, addr.String())
		if err != nil || m.RegSecret != "" {
			continue
		}
		m.IMEI, m.RegSecret = sim.GPRSIdentity(gprsKey, m.Address)
		if err := store.UpdateMeter(ctx, &m); err != nil {
			return "", err
		}
	}
	return gprsKey, nil
}

func seedArchive(ctx context.Context, store amigo.Store, c DemoConfig, start time.Time, gprsKey string) error {
	if _, err := store.FindUserByUsername(ctx, "admin"); amigo.ErrorKind(err) == amigo.ENOTFOUND {
		h, err := api.HashPassword(c.AdminPassword)
		if err != nil {
			return err
		}
		if err := store.CreateUser(ctx, &amigo.User{Username: "admin", PasswordHash: h, Role: amigo.RoleAdmin}); err != nil {
			return err
		}
	}
	if _, err := store.FindCollectorByAddress(ctx, demoTerminal); err == nil {
		return nil // seeded before: keep the data
	} else if amigo.ErrorKind(err) != amigo.ENOTFOUND {
		return err
	}
	site := amigo.Site{Name: "Demo Campus 演示校园"}
	if err := store.CreateSite(ctx, &site); err != nil {
		return err
	}
	col := amigo.Collector{SiteID: site.ID, Name: "Building 1 concentrator 一号楼集中器", Address: demoTerminal}
	if err := store.CreateCollector(ctx, &col); err != nil {
		return err
	}
	var ms []amigo.Meter
	for i := range c.Meters {
		addr, _ := sim.AddressN("000000000001", i)
		m := amigo.Meter{SiteID: site.ID, Address: addr.String(), CollectorID: col.ID, Port: 1, Pn: i + 1, Password: "02123456", InstalledAt: start, Phases: 1, RatedAmps: 60}
		switch sim.MixedProfile(1, i) {
		case sim.Factory:
			m.Phases, m.RatedAmps = 3, 250
		case sim.Office:
			m.Phases, m.RatedAmps = 3, 60
		}
		if err := store.CreateMeter(ctx, &m); err != nil {
			return err
		}
		ms = append(ms, m)
	}
	for i := range demoGPRSMeters {
		addr, _ := sim.AddressN(demoGPRSFirst, i)
		m := amigo.Meter{SiteID: site.ID, Address: addr.String(), Direct: true, Password: "02123456", InstalledAt: start, Phases: 1, RatedAmps: 60}
		m.IMEI, m.RegSecret = sim.GPRSIdentity(gprsKey, m.Address)
		if err := store.CreateMeter(ctx, &m); err != nil {
			return err
		}
	}
	// Meter 1 plays the area's supply meter, for line loss.
	area := amigo.Area{SiteID: site.ID, Name: "Building 1 一号楼", SupplyMeterID: ms[0].ID, LossLow: -1, LossHigh: 10}
	if err := store.CreateArea(ctx, &area); err != nil {
		return err
	}
	for _, m := range ms {
		m.AreaID = area.ID
		if err := store.UpdateMeter(ctx, &m); err != nil {
			return err
		}
	}
	return nil
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c DemoConfig
	fs.IntVar(&c.Meters, "meters", 20, "virtual meters / 虚拟电表数量")
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "API address / 接口地址")
	fs.StringVar(&c.Data, "data", "amigo-data", "data directory / 数据目录")
	fs.StringVar(&c.Store, "store", "", "store: sqlite:PATH (default DATA/amigo.db) or postgres://... / 存储")
	fs.Float64Var(&c.Speed, "speed", 1, "virtual seconds per real second / 时间倍速")
	fs.StringVar(&c.Start, "start", "", "virtual start time, RFC 3339 / 虚拟起始时间")
	fs.StringVar(&c.AdminPassword, "admin-password", "", "admin password (default: random, printed) / 管理员密码")
	verbose := fs.Bool("v", false, "log to stderr / 输出日志")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *verbose {
		c.Log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	if err := demoMain(ctx, c, stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "amigo demo: %v\n", err)
		return 1
	}
	return 0
}
