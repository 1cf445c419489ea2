package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/api"
	"github.com/amigo-metering/amigo/internal/billing"
	"github.com/amigo-metering/amigo/internal/clilog"
	"github.com/amigo-metering/amigo/internal/fep"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/internal/postgres"
	"github.com/amigo-metering/amigo/internal/printing"
	"github.com/amigo-metering/amigo/internal/sqlite"
	"github.com/amigo-metering/amigo/internal/station"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/internal/wallet"
	"github.com/amigo-metering/amigo/internal/web"
)

func init() {
	register(command{name: "station", summary: "run the master station / 运行主站", run: runStation})
}

// StationConfig is the station's configuration file (JSON); see
// docs/station.example.json.
type StationConfig struct {
	// Store is "sqlite:PATH" (the embedded default) or a PostgreSQL URL
	// (postgres://...).
	Store           string `json:"store"`
	HTTP            string `json:"http"`             // API address, e.g. ":8080"
	CollectorsTLS   string `json:"collectors_tls"`   // 1376.1 over TLS 1.3, e.g. ":7001"
	CollectorsPlain string `json:"collectors_plain"` // third-party terminals marked plain_tcp; "" = off
	GPRS            string `json:"gprs"`             // direct GPRS meters (registration line, then DL/T 645); "" = off
	CAFile          string `json:"ca_file"`
	CertFile        string `json:"cert_file"`
	KeyFile         string `json:"key_file"`
	Heartbeat       string `json:"heartbeat"`      // collectors' heartbeat; default 60s
	RealtimeEvery   string `json:"realtime_every"` // default 15m
	DailyAfter      string `json:"daily_after"`    // default 10m
	AdminPassword   string `json:"admin_password"` // creates user "admin" on first start; must match it later (see ensureAdmin)
	SecretFile      string `json:"secret_file"`    // signs API tokens; created when missing

	// GPRSTLS serves direct GPRS meters over TLS (the station's
	// certificate, no client certificate); "" = off.
	GPRSTLS string `json:"gprs_tls"`
	// Connection caps of each listener; 0 takes fep.DefaultMaxConns and
	// fep.DefaultMaxConnsPerSource.
	MaxConns          int `json:"max_conns"`
	MaxConnsPerSource int `json:"max_conns_per_source"`
	// MetricsToken, when set, is required by GET /metrics as
	// "Authorization: Bearer <token>" (at least 16 characters).
	MetricsToken string `json:"metrics_token"`
	// TrustedProxies are reverse proxies (addresses or CIDR prefixes) whose
	// X-Forwarded-For header names the API client; from other peers the
	// header is ignored.
	TrustedProxies []string `json:"trusted_proxies"`
	// DownlinkKeyFile holds the master key commands to collectors are
	// signed with (64 hex digits; created when missing, never replaced);
	// "" sends them unsigned. `amigo collector-key` derives each
	// collector's auth_key from it.
	DownlinkKeyFile string `json:"downlink_key_file"`
	// Node names this station among several on one PostgreSQL store
	// (leases, command claims); default hostname-pid. LeaseTTL is how long
	// its leases last unrenewed (default 30s).
	Node     string `json:"node"`
	LeaseTTL string `json:"lease_ttl"`
	// Payment turns online payments on (docs/payments.md); nil: off.
	Payment *PaymentConfig `json:"payment"`
	// Printer is the IPP URI of the print queue printed bills and
	// receipts go to (docs/printing.md); "" = no print runner. FontFile is
	// the TrueType CJK font the PDFs embed; "" = printing.DefaultFontFile.
	Printer  string `json:"printer"`
	FontFile string `json:"font_file"`
	// PrintJobPrefix starts the IPP job names of this station's print
	// jobs (<prefix>-<id>); stations sharing one CUPS need different ones.
	PrintJobPrefix string `json:"print_job_prefix"`
	// PrintBills queues the bills of every billing run the station's
	// scheduler finishes for printing (needs Printer).
	PrintBills bool `json:"print_bills"`
	// Workers bounds how many collectors and GPRS meters are served at
	// once (0: station.Config's default, 256).
	Workers int `json:"workers"`
	// DebugListen serves Go's profiles (/debug/pprof/) to administrators'
	// tokens on a listener of its own; "" = off.
	DebugListen string `json:"debug_listen"`
	// ProcsPerCPU is how many of Go's schedulers (GOMAXPROCS) the station
	// runs per CPU it may use (0: 2); the environment's GOMAXPROCS, when
	// set, wins. See setProcs.
	ProcsPerCPU int `json:"procs_per_cpu"`

	clock vclock.Clock
	log   *slog.Logger
	ready func(stationAddrs) // called once listening (tests, demo)
}

// stationAddrs are the addresses a running station listens on; a nil one is
// switched off.
type stationAddrs struct {
	API, CollectorsTLS, CollectorsPlain, GPRS net.Addr
	PaySandbox                                net.Addr // the WeChat Pay sandbox inside the station, or nil
	Debug                                     net.Addr // debug_listen's profiles, or nil
}

// print writes one line per address, English then Chinese, as `amigo
// station` and `amigo demo` show them on start; who names the program.
func (a stationAddrs) print(w io.Writer, who string) {
	fmt.Fprintf(w, "%s: API http://%s/api/v1 (OpenAPI /api/v1/openapi.json) / 接口\n", who, a.API)
	line := func(what string, addr net.Addr) {
		if addr == nil {
			fmt.Fprintf(w, "%s: %s off / 未启用\n", who, what)
			return
		}
		fmt.Fprintf(w, "%s: %s %s\n", who, what, addr)
	}
	line("collectors, 1376.1 over TLS / 采集器 (TLS)", a.CollectorsTLS)
	line("collectors, plain TCP / 采集器 (明文TCP)", a.CollectorsPlain)
	line("GPRS meters / GPRS电表", a.GPRS)
	if a.PaySandbox != nil {
		fmt.Fprintf(w, "%s: WeChat Pay sandbox http://%s (pay: POST /sandbox/pay {\"code_url\"}) / 微信支付沙箱\n", who, a.PaySandbox)
	}
}

// addrString is a listener's address, or "off" when it has none.
func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

// stationKeys documents every key of StationConfig for `amigo station
// --help`: name, default, meaning (English / 中文). A test checks that it
// names each JSON field of StationConfig.
var stationKeys = []struct{ key, def, meaning string }{
	{"store", `"sqlite:amigo.db"`, "where data is kept: sqlite:PATH or a PostgreSQL URL postgres://… / 存储：sqlite:路径 或 PostgreSQL 地址"},
	{"http", `":8080"`, "address of the REST API / 接口地址"},
	{"collectors_tls", `":7001"`, "collectors' Q/GDW 1376.1 over TLS 1.3 with client certificates; \"\" = off / 采集器 TLS 端口"},
	{"collectors_plain", `""`, "plain-TCP 1376.1 for third-party terminals marked plain_tcp; \"\" = off / 明文TCP采集器端口，空为关闭"},
	{"gprs", `""`, "direct GPRS meters (registration line, then DL/T 645); \"\" = off / GPRS电表端口，空为关闭"},
	{"ca_file", `"ca/ca.crt"`, "the CA that signs collectors' certificates (amigo ca init) / 证书颁发机构证书"},
	{"cert_file", `"ca/station.crt"`, "the station's TLS certificate (amigo ca issue-server) / 主站证书"},
	{"key_file", `"ca/station.key"`, "the station's TLS key / 主站私钥"},
	{"heartbeat", `"60s"`, "collectors' heartbeat interval; a collector silent for 3 is offline / 采集器心跳周期"},
	{"realtime_every", `"15m"`, "how often real-time registers are collected / 实时数据采集周期"},
	{"daily_after", `"10m"`, "how long after midnight (site time) daily freezes are collected / 日冻结数据在零点后多久采集"},
	{"admin_password", `""`, "creates user \"admin\" with this password on the first start; later it must match the stored admin's password or the station refuses to start (use amigo admin set-password) / 首次启动时创建 admin 用户；之后必须与已存密码一致，否则主站拒绝启动"},
	{"secret_file", `""`, "file with the key that signs API tokens; created when missing; \"\" = a new key each start / 接口令牌签名密钥文件"},
	{"gprs_tls", `""`, "direct GPRS meters over TLS (the station's certificate, no client certificate); \"\" = off / GPRS电表 TLS 端口，空为关闭"},
	{"max_conns", `4096`, "most connections each listener holds at once; 0 = the default / 每个端口的最大连接数"},
	{"max_conns_per_source", `64`, "most connections from one IP address on each listener (raise it for fleets behind a carrier NAT); 0 = the default / 每个来源IP的最大连接数"},
	{"metrics_token", `""`, "when set, GET /metrics needs Authorization: Bearer <this> (at least 16 characters); \"\" = open / 设置后访问指标需携带此令牌（至少16个字符）；空为公开"},
	{"trusted_proxies", `[]`, "reverse proxies (addresses or CIDR) whose X-Forwarded-For names the API client, for counting failed logins per address; others' header is ignored / 可信反向代理（地址或网段），仅信任其 X-Forwarded-For"},
	{"node", `"HOSTNAME-PID"`, "this station's name among several on one PostgreSQL store (each collector and GPRS meter is polled by the node holding its lease; commands are claimed by one node); unused with SQLite / 多主站共用 PostgreSQL 时本节点名称"},
	{"printer", `""`, "IPP URI of the print queue for bills and receipts, e.g. ipp://127.0.0.1:631/printers/amigo-pdf (docs/printing.md); \"\" = no printing / 账单与收据打印队列的 IPP 地址，空为不打印"},
	{"font_file", `"` + printing.DefaultFontFile + `"`, "TrueType CJK font embedded in printed bills and receipts (Debian fonts-lxgw-wenkai) / 打印账单与收据所嵌入的中文 TrueType 字体"},
	{"print_bills", `false`, "true: every billing run the station starts by itself (each site day after 02:00) sends the bills it issued to \"printer\", each once (docs/billing.md); needs printer / 为 true 时主站自动计费后将新出账单送打印（需配置 printer）"},
	{"print_job_prefix", `"amigo-job"`, "IPP job names are <this>-<id>: how a job sent before a crash is found on the printer; stations sharing one CUPS need different prefixes / 打印任务名前缀（共用同一 CUPS 的主站须各不相同）"},
	{"lease_ttl", `"30s"`, "how long a node's lease on a collector or GPRS meter lasts unrenewed (renewed every third of it): a stopped node's collectors are served by the others after at most this long / 节点租约有效期"},
	{"payment", `null`, "online payments (docs/payments.md): {\"provider\": \"wechat-sandbox\"} runs the WeChat Pay sandbox inside the station (keys in key_dir, default \"pay\", made when missing; sandbox_listen, default 127.0.0.1:7090); {\"provider\": \"wechat\", \"base_url\", \"mchid\", \"appid\", \"notify_url\", \"merchant_key_file\", \"merchant_serial\", \"platform_public_key_file\", \"platform_serial\", \"api_v3_key_file\"} speaks WeChat Pay API v3; null = off / 在线支付配置，空为关闭"},
	{"workers", `0`, "how many collectors and GPRS meters are served at once (a bounded pool; a silent one holds one worker); 0 = 256 / 同时服务的采集器与GPRS电表数，0为默认256"},
	{"procs_per_cpu", `0`, "Go schedulers (GOMAXPROCS) per CPU the station may use, at most 8; 0 = 2 (the one goroutine that commits every reading then waits less for a CPU behind the others); the GOMAXPROCS environment variable wins / 每个CPU的Go调度器数（GOMAXPROCS，至多8），0为2；环境变量 GOMAXPROCS 优先"},
	{"debug_listen", `""`, "address of Go's profiles (/debug/pprof/), for administrators' API tokens only (Authorization: Bearer); keep it on loopback, e.g. 127.0.0.1:6060; \"\" = off / 性能剖析端口（仅管理员令牌可用），空为关闭"},
	{"downlink_key_file", `""`, "file with the master key commands to collectors are signed with (64 hex digits; created when missing, never replaced; amigo collector-key derives each collector's auth_key); \"\" = commands unsigned / 下行命令签名主密钥文件，空为不签名"},
}

const stationUsageHead = `usage / 用法: amigo station [--config station.json] [--speed X] [--start TIME] [--clock-origin INSTANT] [log flags]
Runs the master station: the REST API, the collectors' front end (1376.1 over
TLS, optionally plain TCP), the GPRS meter listener, collection and commands.
It prints each address it listens on. Ctrl-C or SIGTERM stops it.
运行主站：接口、采集器前置（TLS 上的 1376.1，可选明文TCP）、GPRS 电表、采集与控制。启动时列出所有监听地址。
`

func dur(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	return time.ParseDuration(s)
}

func openStore(ctx context.Context, spec string) (amigo.Store, error) {
	switch {
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return postgres.Open(ctx, spec)
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		return sqlite.Open(ctx, path)
	}
	return nil, fmt.Errorf("store %q: want sqlite:PATH or postgres://... / 存储配置错误", spec)
}

// frontAdapter lets the engine reach the front end's sessions.
type frontAdapter struct{ f *fep.FEP }

func (a frontAdapter) Meter(address string) (station.MeterLink, bool) {
	s, ok := a.f.MeterSession(address)
	if !ok {
		return nil, false
	}
	return s, true
}

// Generation lets the scheduler keep its session lookups while no
// collector's session started or ended (station.Generational).
func (a frontAdapter) Generation() uint64 { return a.f.Generation() }

func (a frontAdapter) Terminal(address string) (station.Terminal, bool) {
	s, ok := a.f.Session(address)
	if !ok {
		return nil, false
	}
	return s, true
}

// secret reads the key that signs API tokens from path, or makes one (32
// random bytes, mode 0600) when the file does not exist. An existing file
// is never replaced: one shorter than 32 bytes is refused.
func secret(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(b) >= 32:
		return b, nil
	case err == nil:
		return nil, fmt.Errorf("secret_file %s holds %d bytes, at least 32 are needed; it was left as it is: put a longer key in it, or remove it to have a new one made (every API token then ends) / 密钥文件 %s 只有 %d 字节，至少需要 32 字节；文件未改动：写入更长的密钥，或删除它以生成新密钥（所有接口令牌随之失效）", path, len(b), path, len(b))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("secret_file: %w / 无法读取密钥文件", err)
	}
	b = make([]byte, 32)
	rand.Read(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("secret_file: %w / 无法创建密钥文件", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("secret_file: %w / 无法写入密钥文件", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("secret_file: %w / 无法写入密钥文件", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("secret_file: %w / 无法写入密钥文件", err)
	}
	return b, nil
}

// apiOptions turns the configuration's API settings into api.Options.
func apiOptions(cfg StationConfig) (api.Options, error) {
	o := api.Options{MetricsToken: cfg.MetricsToken}
	for _, p := range cfg.TrustedProxies {
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return o, fmt.Errorf("trusted_proxies: %q is not an address or CIDR prefix / 不是地址或网段", p)
			}
			pre = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		o.TrustedProxies = append(o.TrustedProxies, pre.Masked())
	}
	return o, nil
}

// stationMain runs the station until ctx ends.
func stationMain(ctx context.Context, cfg StationConfig) error {
	log := cfg.log
	if log == nil {
		log = slog.Default()
	}
	clock := cfg.clock
	if clock == nil {
		clock = vclock.Real{}
	}
	hb, err := dur(cfg.Heartbeat, time.Minute)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	every, err := dur(cfg.RealtimeEvery, 15*time.Minute)
	if err != nil {
		return fmt.Errorf("realtime_every: %w", err)
	}
	after, err := dur(cfg.DailyAfter, 10*time.Minute)
	if err != nil {
		return fmt.Errorf("daily_after: %w", err)
	}
	if cfg.Store == "" {
		cfg.Store = "sqlite:amigo.db"
	}
	tlsCfg, err := pki.ServerConfig(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return err
	}
	// Session tickets that outlive a restart (pki/tickets.go): a
	// reconnecting collector resumes instead of a full handshake.
	if err := pki.KeepTicketKeys(ctx, tlsCfg, cfg.KeyFile, time.Now, func(err error) {
		log.Warn("TLS session ticket keys / 会话票据密钥", "err", err)
	}); err != nil {
		return err
	}
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := ensureAdmin(ctx, store, cfg.AdminPassword, clock.Now, log); err != nil {
		return err
	}
	var downKey []byte
	if cfg.DownlinkKeyFile != "" {
		if downKey, err = downlinkKey(cfg.DownlinkKeyFile, true); err != nil {
			return err
		}
	} else {
		log.Warn("no downlink_key_file: commands to collectors are not signed / 未配置下行主密钥，主站命令不签名")
	}
	var eng *station.Engine
	front := fep.New(fep.Config{TLSAddr: cfg.CollectorsTLS, PlainAddr: cfg.CollectorsPlain, TLS: tlsCfg, Heartbeat: hb, Now: clock.Now, Log: log,
		MaxConns: cfg.MaxConns, MaxConnsPerSource: cfg.MaxConnsPerSource, DownlinkKey: downKey,
		OnLogin: func(c amigo.Collector) {
			if err := eng.PushArchive(ctx, c); err != nil {
				log.Warn("archive push", "collector", c.Address, "err", err)
			}
			eng.LoggedIn(c.ID)
		}}, store)
	if cfg.Workers < 0 || cfg.Workers > 100_000 {
		return fmt.Errorf("\"workers\" %d: 0 to 100000 / \"workers\" 须在 0 到 100000 之间", cfg.Workers)
	}
	// After a start, collectors get as long to come back as a silent
	// session lasts (three heartbeats and 10 s) before they are judged
	// offline: a restart raises no alarm per collector.
	ecfg := station.Config{RealtimeEvery: every, DailyAfter: after, Log: log, Workers: cfg.Workers, StartGrace: 3*hb + 10*time.Second}
	if err := nodeConfig(&ecfg, cfg, store); err != nil {
		return err
	}
	eng = station.New(store, frontAdapter{front}, clock, ecfg)
	if err := front.Listen(); err != nil {
		if front.TLSAddr() == nil && cfg.CollectorsTLS != "" {
			return &listenError{"collectors_tls", cfg.CollectorsTLS, err}
		}
		return &listenError{"collectors_plain", cfg.CollectorsPlain, err}
	}
	if cfg.GPRS != "" {
		if err := front.ListenGPRS(cfg.GPRS, store); err != nil {
			return &listenError{"gprs", cfg.GPRS, err}
		}
	}
	if cfg.GPRSTLS != "" {
		if err := front.ListenGPRSTLS(cfg.GPRSTLS, store, tlsCfg); err != nil {
			return err
		}
	}
	key, err := secret(cfg.SecretFile)
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	opts, err := apiOptions(cfg)
	if err != nil {
		return err
	}
	rend, pq, err := stationPrinting(cfg, store, log, &opts)
	if err != nil {
		return err
	}
	apiSrv := api.New(store, eng, clock.Now, key, log)
	if err := apiSrv.SetOptions(opts); err != nil {
		return err
	}
	// The prepaid wallet: daily deductions and supply control, in its own
	// loop (never in the ingest path); payments through the API wake it.
	// The customer app's supply switch is its CustomerSwitch (an arrears
	// trip is not overridden).
	wal := wallet.New(store, eng, clock, wallet.Config{Log: log, OwnsSite: eng.OwnsSite})
	apiSrv.SetWallet(wal)
	pages, err := web.New(web.Config{Store: store, API: apiSrv, Who: apiSrv.Who, Now: clock.Now, Secret: key, Log: log, Switch: wal.CustomerSwitch})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: withFrontMetrics(web.Mount(apiSrv, pages), front), ReadHeaderTimeout: 10 * time.Second}
	hl, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return &listenError{"http", cfg.HTTP, err}
	}
	addrs := stationAddrs{API: hl.Addr(), CollectorsTLS: front.TLSAddr(), CollectorsPlain: front.PlainAddr(), GPRS: front.GPRSAddr()}
	if cfg.DebugListen != "" {
		da, stop, err := serveDebug(ctx, cfg.DebugListen, debugHandler(apiSrv.Who))
		if err != nil {
			hl.Close()
			return err
		}
		defer stop()
		addrs.Debug = da
		log.Info("profiles for administrators / 性能剖析（仅管理员）", "debug", "http://"+da.String()+"/debug/pprof/")
	}
	// An online payment wakes the wallet too (a reconnect at once).
	pay, err := startPayments(ctx, cfg.Payment, store, clock, log, hl.Addr(), wal.Paid)
	if err != nil {
		hl.Close()
		return err
	}
	if pay != nil {
		defer pay.stop()
		apiSrv.SetPayments(pay.svc)
		pages.SetPayments(true, cfg.Payment.Provider == providerWeChatSandbox)
		addrs.PaySandbox = pay.addr
	}
	if cfg.ready != nil {
		cfg.ready(addrs)
	}
	log.Info("station running / 主站运行中", "api", addrString(addrs.API), "collectors_tls", addrString(addrs.CollectorsTLS),
		"collectors_plain", addrString(addrs.CollectorsPlain), "gprs", addrString(addrs.GPRS), "clock", clock.Now())
	// Postpaid bills: each site's previous cycle, every site day after
	// 02:00 (docs/billing.md).
	bills := &billing.Scheduler{Runner: &billing.Runner{Store: store, Now: clock.Now, Log: log}, Now: clock.Now, Sleep: clock.Sleep, Log: log}
	var wg sync.WaitGroup
	if pq != nil {
		log.Info("print queue / 打印队列", "printer", cfg.Printer, "print_bills", cfg.PrintBills)
		wg.Add(1)
		go func() { defer wg.Done(); pq.Run(ctx) }()
		if cfg.PrintBills {
			bp := &printing.BillPrinter{Store: store, Renderer: rend, Queue: pq, PayBase: opts.PayBase}
			bills.Print = func(ctx context.Context, run amigo.BillingRun) error {
				_, err := bp.PrintRun(ctx, run)
				return err
			}
		}
	}
	wg.Add(5)
	go func() { defer wg.Done(); front.Serve(ctx) }()
	go func() { defer wg.Done(); eng.Run(ctx) }()
	go func() { defer wg.Done(); wal.Run(ctx) }()
	go func() { defer wg.Done(); bills.Loop(ctx) }()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		apiSrv.StopBillingRuns()
	}()
	if err := srv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	wg.Wait()
	return nil
}

// stationPrinting sets up the printed documents: the renderer (with
// font_file; without a usable font bills and receipts are not rendered,
// which is an error only when printing or a font was asked for) and, when
// "printer" is set, the print queue; it wires both into the API's options.
func stationPrinting(cfg StationConfig, store amigo.Store, log *slog.Logger, opts *api.Options) (*printing.Renderer, *printing.Queue, error) {
	if cfg.PrintBills && cfg.Printer == "" {
		return nil, nil, errors.New("print_bills 需要配置 printer / print_bills needs \"printer\" set")
	}
	rend, err := printing.NewRenderer(cfg.FontFile)
	if err != nil {
		if cfg.Printer != "" || cfg.FontFile != "" {
			return nil, nil, err
		}
		log.Warn("bills and receipts are not rendered as PDF (GET …/pdf answers 501) / 不生成账单与收据 PDF", "err", err)
		return nil, nil, nil
	}
	opts.RenderBill, opts.RenderReceipt = rend.RenderBill, rend.Receipt
	if cfg.Printer == "" {
		return rend, nil, nil
	}
	pst, ok := store.(printing.Store)
	if !ok {
		return nil, nil, fmt.Errorf("store %T keeps no print jobs / 存储不支持打印队列", store)
	}
	pq, err := printing.NewQueue(pst, printing.QueueConfig{Printer: cfg.Printer, JobPrefix: cfg.PrintJobPrefix, Log: log})
	if err != nil {
		return nil, nil, err
	}
	bp := &printing.BillPrinter{Store: store, Renderer: rend, Queue: pq, PayBase: opts.PayBase}
	opts.PrintRun = bp.PrintRun
	opts.PrintReceipt = func(ctx context.Context, ref string, pdf []byte) (int64, error) {
		return pq.Enqueue(ctx, printing.KindReceipt, ref, pdf)
	}
	return rend, pq, nil
}

// nodeConfig makes the engine one node of several when the store is
// PostgreSQL (shared): leases, command claims, NOTIFY. A SQLite station is
// the only node and holds everything.
func nodeConfig(ecfg *station.Config, cfg StationConfig, store amigo.Store) error {
	ttl, err := dur(cfg.LeaseTTL, 30*time.Second)
	if err != nil || ttl < 300*time.Millisecond {
		return fmt.Errorf("lease_ttl %q: want a duration of at least 300ms like \"30s\" / 租约有效期格式错误", cfg.LeaseTTL)
	}
	pg, ok := store.(*postgres.Store)
	if !ok {
		return nil
	}
	node := cfg.Node
	if node == "" {
		host, _ := os.Hostname()
		node = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	ecfg.Nodes, ecfg.Node, ecfg.LeaseTTL = pg, node, ttl
	ecfg.Notifier, ecfg.CommandChannel = pg, postgres.CommandChannel
	ecfg.Log.Info("station node on a shared store / 多主站节点", "node", node, "lease_ttl", ttl.String())
	return nil
}

// listenError is a listener that could not open: it names the
// configuration key (and the demo's flag for it) so the user knows what to
// change.
type listenError struct {
	key, addr string
	err       error
}

func (e *listenError) Error() string {
	return fmt.Sprintf("%q %s: cannot listen (in use by another program?) / 无法监听（端口被占用？）: %v", e.key, e.addr, e.err)
}

func (e *listenError) Unwrap() error { return e.err }

// loadStationConfig reads a station's configuration file (JSON, no unknown
// keys, at most maxConfigBytes).
func loadStationConfig(path string) (StationConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return StationConfig{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return StationConfig{}, err
	}
	cfg, err := parseStationConfig(b)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// maxConfigBytes bounds a configuration file.
const maxConfigBytes = 1 << 20

// parseStationConfig decodes a configuration: one JSON object of known
// keys and nothing after it (fuzzed).
func parseStationConfig(b []byte) (StationConfig, error) {
	var cfg StationConfig
	if len(b) > maxConfigBytes {
		return cfg, fmt.Errorf("larger than %d bytes / 配置文件超过 %d 字节", maxConfigBytes, maxConfigBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return cfg, errors.New("one JSON object and nothing after it is expected / 配置文件只能包含一个 JSON 对象")
	}
	return cfg, nil
}

func runStation(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("station", flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, stationUsageHead)
		fmt.Fprintln(w, "flags / 参数:")
		fs.PrintDefaults()
		fmt.Fprintln(w, "configuration keys (JSON; see docs/station.example.json) / 配置项:")
		for _, k := range stationKeys {
			fmt.Fprintf(w, "  %-17s default / 默认 %s\n      %s\n", k.key, k.def, k.meaning)
		}
	}
	path := fs.String("config", "station.json", "configuration file / 配置文件")
	speed := fs.Float64("speed", 1, "virtual clock speed: virtual seconds per real second, for trials and tests / 虚拟时钟倍速")
	start := fs.String("start", "", "virtual clock start, RFC 3339, for trials and tests (default now) / 虚拟时钟起点")
	origin := fs.String("clock-origin", "", vclock.OriginUsage)
	var lf clilog.Flags
	lf.Register(fs, "info")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	log, err := lf.New(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "amigo station: %v\n", err)
		return 2
	}
	clock, err := vclock.FromFlags(*start, *origin, *speed)
	if err != nil {
		fmt.Fprintf(stderr, "amigo station: %v\n", err)
		return 2
	}
	cfg, err := loadStationConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "amigo station: %v / 无法读取配置文件 (--config)\n", err)
		return 1
	}
	cfg.log, cfg.clock = log, clock
	setProcs(cfg.ProcsPerCPU, log)
	cfg.ready = func(a stationAddrs) {
		a.print(stdout, "amigo station")
		if _, virtual := clock.(*vclock.Virtual); virtual {
			fmt.Fprintf(stdout, "amigo station: virtual clock %s at %gx / 虚拟时钟\n", clock.Now().Format(time.RFC3339), *speed)
		}
	}
	if err := stationMain(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "amigo station: %v\n", err)
		return 1
	}
	return 0
}

// maxProcsPerCPU caps procs_per_cpu.
const maxProcsPerCPU = 8

// setProcs sets GOMAXPROCS to perCPU (0: 2) times the CPUs the process may
// use, unless the environment sets GOMAXPROCS; once, at a station
// process's start.
//
// Every reading waits for one goroutine, the group committer, and Go's
// scheduler has no priorities: preempted after its 10 ms, the committer
// went to the back of the queue, behind the goroutines with answers to
// decode and confirmations to send (about 90 runnable on average), and
// waited 10-160 ms for a
// CPU each time, half its time in a first pass over 100,000 meters on 2
// CPUs. With twice as many schedulers as CPUs the operating system shares
// the CPUs between their threads, and those waits fell to a third
// (docs/benchmarks.md).
func setProcs(perCPU int, log *slog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if perCPU <= 0 {
		perCPU = 2
	}
	if perCPU > maxProcsPerCPU {
		log.Warn("procs_per_cpu too large, capped / procs_per_cpu 过大，已限制", "procs_per_cpu", perCPU, "cap", maxProcsPerCPU)
		perCPU = maxProcsPerCPU
	}
	cpus := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(perCPU * cpus)
	log.Debug("schedulers / 调度器", "cpus", cpus, "gomaxprocs", perCPU*cpus)
}
