package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/api"
	"github.com/amigo-metering/amigo/internal/clilog"
	"github.com/amigo-metering/amigo/internal/payment"
	"github.com/amigo-metering/amigo/internal/payment/wechatpay"
	"github.com/amigo-metering/amigo/internal/payment/wechatsandbox"
	"github.com/amigo-metering/amigo/internal/vclock"
)

func init() {
	register(command{name: "payments", summary: "online payments: the daily reconciliation / 在线支付对账", run: runPayments})
	register(command{name: "paysandbox", summary: "the WeChat Pay sandbox: keys, serve, pay / 微信支付沙箱", run: runPaySandbox})
}

// Payment providers of the configuration.
const (
	providerWeChat        = "wechat"         // WeChat Pay API v3 at base_url (the real one, or a standalone amigo paysandbox)
	providerWeChatSandbox = "wechat-sandbox" // the sandbox runs inside the station
)

// Defaults of the payment configuration.
const (
	defaultWeChatBaseURL = "https://api.mch.weixin.qq.com"
	defaultSandboxListen = "127.0.0.1:7090"
	defaultPayKeyDir     = "pay"
	sandboxMchID         = "1900000109"
	sandboxAppID         = "wxd678efh567hg6787"
)

// PaymentConfig is the station's "payment" key (docs/payments.md).
type PaymentConfig struct {
	// Provider is "wechat-sandbox" (the sandbox inside the station) or
	// "wechat" (WeChat Pay API v3 at BaseURL).
	Provider string `json:"provider"`
	// NotifyURL is the station's notify route as the provider reaches it;
	// default (sandbox only) http://<the API's address>/api/v1/payments/wechat/notify.
	NotifyURL string `json:"notify_url,omitempty"`
	MchID     string `json:"mchid,omitempty"`
	AppID     string `json:"appid,omitempty"`
	// wechat-sandbox: KeyDir holds the sandbox's and the merchant's keys
	// (created when missing, never replaced); SandboxListen is the
	// sandbox's address (default 127.0.0.1:7090).
	KeyDir        string `json:"key_dir,omitempty"`
	SandboxListen string `json:"sandbox_listen,omitempty"`
	// wechat: the provider's address and the key files, never created.
	BaseURL               string `json:"base_url,omitempty"`
	MerchantKeyFile       string `json:"merchant_key_file,omitempty"`
	MerchantSerial        string `json:"merchant_serial,omitempty"`
	PlatformPublicKeyFile string `json:"platform_public_key_file,omitempty"`
	PlatformSerial        string `json:"platform_serial,omitempty"`
	APIv3KeyFile          string `json:"api_v3_key_file,omitempty"`
}

// payments is the station's payment service and, in sandbox mode, the
// sandbox it runs.
type payments struct {
	svc     *payment.Service
	sandbox *wechatsandbox.Server
	addr    net.Addr // the sandbox's, or nil
	stop    func()
}

// providerFor builds the WeChat client of pc; in sandbox mode it also
// returns the sandbox's keys, made when missing if create is set (the
// station; never a command that only reads).
func providerFor(pc *PaymentConfig, clock vclock.Clock, create bool) (*wechatpay.Client, *wechatsandbox.Keys, error) {
	cfg := wechatpay.Config{MchID: pc.MchID, AppID: pc.AppID, Now: clock.Now}
	switch pc.Provider {
	case providerWeChatSandbox:
		dir := pc.KeyDir
		if dir == "" {
			dir = defaultPayKeyDir
		}
		k, err := wechatsandbox.LoadKeys(dir, create)
		if err != nil {
			return nil, nil, fmt.Errorf("payment.key_dir: %w", err)
		}
		if cfg.MchID == "" {
			cfg.MchID = sandboxMchID
		}
		if cfg.AppID == "" {
			cfg.AppID = sandboxAppID
		}
		listen := pc.SandboxListen
		if listen == "" {
			listen = defaultSandboxListen
		}
		cfg.BaseURL = "http://" + listen
		cfg.MerchantKey, cfg.MerchantSerial = k.Merchant, k.MerchantSerial
		cfg.PlatformKey, cfg.PlatformSerial, cfg.APIv3Key = &k.Platform.PublicKey, k.PlatformSerial, k.APIv3Key
		c, err := wechatpay.New(cfg)
		return c, &k, err
	case providerWeChat:
		cfg.BaseURL = pc.BaseURL
		if cfg.BaseURL == "" {
			cfg.BaseURL = defaultWeChatBaseURL
		}
		b, err := os.ReadFile(pc.MerchantKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("payment.merchant_key_file: %w / 无法读取商户私钥", err)
		}
		if cfg.MerchantKey, err = wechatpay.ParsePrivateKey(b); err != nil {
			return nil, nil, fmt.Errorf("payment.merchant_key_file %s: %w", pc.MerchantKeyFile, err)
		}
		if b, err = os.ReadFile(pc.PlatformPublicKeyFile); err != nil {
			return nil, nil, fmt.Errorf("payment.platform_public_key_file: %w / 无法读取平台公钥", err)
		}
		if cfg.PlatformKey, err = wechatpay.ParsePublicKey(b); err != nil {
			return nil, nil, fmt.Errorf("payment.platform_public_key_file %s: %w", pc.PlatformPublicKeyFile, err)
		}
		if cfg.APIv3Key, err = wechatsandbox.APIv3KeyFromFile(pc.APIv3KeyFile, false); err != nil {
			return nil, nil, fmt.Errorf("payment.api_v3_key_file: %w", err)
		}
		cfg.MerchantSerial, cfg.PlatformSerial = pc.MerchantSerial, pc.PlatformSerial
		c, err := wechatpay.New(cfg)
		return c, nil, err
	}
	return nil, nil, fmt.Errorf("payment.provider %q: want %q or %q / 支付平台应为 %s 或 %s", pc.Provider, providerWeChatSandbox, providerWeChat, providerWeChatSandbox, providerWeChat)
}

// startPayments makes the payment service of pc (nil: none) for a station
// whose API listens on apiAddr, starts the sandbox when it runs inside the
// station, and the writing of refusal summaries until ctx ends. onCredit,
// when set, is told of each account an online payment credited (the
// prepaid wallet's Paid).
func startPayments(ctx context.Context, pc *PaymentConfig, store amigo.Store, clock vclock.Clock, log *slog.Logger, apiAddr net.Addr, onCredit func(accountID int64)) (*payments, error) {
	if pc == nil || pc.Provider == "" {
		return nil, nil
	}
	client, keys, err := providerFor(pc, clock, true)
	if err != nil {
		return nil, err
	}
	p := &payments{stop: func() {}}
	notify := pc.NotifyURL
	if keys != nil {
		if notify == "" {
			notify = "http://" + apiAddr.String() + api.NotifyPath
		}
		listen := pc.SandboxListen
		if listen == "" {
			listen = defaultSandboxListen
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, &listenError{"payment.sandbox_listen", listen, err}
		}
		mch := pc.MchID
		if mch == "" {
			mch = sandboxMchID
		}
		p.sandbox = wechatsandbox.New(wechatsandbox.Config{Keys: *keys, MchID: mch, AppID: pc.AppID, Now: clock.Now, Log: log})
		p.addr = ln.Addr()
		srv := &http.Server{Handler: p.sandbox, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		p.stop = func() {
			srv.Close()
			p.sandbox.Close()
		}
		// The client was made for the configured address; with port 0 it
		// must follow the one given.
		if strings.HasSuffix(listen, ":0") {
			pc2 := *pc
			pc2.SandboxListen = ln.Addr().String()
			if client, _, err = providerFor(&pc2, clock, false); err != nil {
				p.stop()
				return nil, err
			}
		}
	}
	pcfg := payment.Config{Store: store, Provider: client, NotifyURL: notify, Now: clock.Now, Log: log, OnCredit: onCredit}
	if p.sandbox != nil {
		sb := p.sandbox
		pcfg.SandboxPay = func(_ context.Context, no string) error {
			_, err := sb.Pay(no)
			return err
		}
	}
	p.svc, err = payment.New(pcfg)
	if err != nil {
		p.stop()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { p.svc.Run(runCtx); close(done) }()
	stopSandbox := p.stop
	p.stop = func() {
		cancel()
		<-done // the last refusal summaries are written before the store closes
		stopSandbox()
	}
	log.Info("online payments on / 在线支付已启用", "provider", pc.Provider, "notify_url", notify, "sandbox", addrString(p.addr))
	return p, nil
}

const paymentsUsage = `usage / 用法:
  amigo payments reconcile --config station.json --day YYYY-MM-DD [--json]

The day's reconciliation (对账): every online order of the day (and of the
day before) is asked of the provider and its paid ones compared with the
ledger's payments of the provider's method. Prints the totals and each
difference: paid_not_credited, credited_not_paid, amount_differs. The day
is in UTC+8, the provider's. With "wechat-sandbox", the station (which runs
the sandbox) must be running. Exit status 0 with no difference, 3 with
differences or orders unanswered.
按日对账：向支付平台查询当日订单，与账本收款比对，列出差异。
`

func runPayments(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) == 0 {
			fmt.Fprint(stderr, paymentsUsage)
			return 2
		}
		fmt.Fprint(stdout, paymentsUsage)
		return 0
	}
	if args[0] != "reconcile" {
		fmt.Fprintf(stderr, "amigo payments: unknown subcommand %q / 未知子命令\n%s", args[0], paymentsUsage)
		return 2
	}
	fs := flag.NewFlagSet("payments reconcile", flag.ContinueOnError)
	setUsage(fs, paymentsUsage)
	path := fs.String("config", "station.json", "the station's configuration / 主站配置文件")
	day := fs.String("day", "", "the day, YYYY-MM-DD / 日期")
	asJSON := fs.Bool("json", false, "print the report as JSON / 以 JSON 输出")
	var lf clilog.Flags
	lf.Register(fs, "warn")
	if code, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	log, err := lf.New(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "amigo payments: %v\n", err)
		return 2
	}
	if *day == "" {
		fmt.Fprintf(stderr, "amigo payments reconcile: --day YYYY-MM-DD is required / 需要 --day\n")
		return 2
	}
	cfg, err := loadStationConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "amigo payments: %v / 无法读取配置文件 (--config)\n", err)
		return 1
	}
	if cfg.Payment == nil || cfg.Payment.Provider == "" {
		fmt.Fprintf(stderr, "amigo payments: %s has no \"payment\" / 配置中没有在线支付 (payment)\n", *path)
		return 1
	}
	client, _, err := providerFor(cfg.Payment, vclock.Real{}, false)
	if err != nil {
		fmt.Fprintf(stderr, "amigo payments: %v\n", err)
		return 1
	}
	if cfg.Store == "" {
		cfg.Store = "sqlite:amigo.db"
	}
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		fmt.Fprintf(stderr, "amigo payments: %v\n", err)
		return 1
	}
	defer store.Close()
	notify := cfg.Payment.NotifyURL
	if notify == "" {
		notify = "http://127.0.0.1" + api.NotifyPath // not used: reconciliation notifies nothing
	}
	svc, err := payment.New(payment.Config{Store: store, Provider: client, NotifyURL: notify, Log: log})
	if err != nil {
		fmt.Fprintf(stderr, "amigo payments: %v\n", err)
		return 1
	}
	rep, err := svc.Reconcile(ctx, *day)
	if err != nil {
		fmt.Fprintf(stderr, "amigo payments reconcile: %v\n", amigo.ErrorMessage(err))
		return 1
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprint(stdout, rep.String())
	}
	if len(rep.Differences) > 0 || len(rep.Unanswered) > 0 {
		return 3
	}
	return 0
}

const paySandboxUsage = `usage / 用法:
  amigo paysandbox keys  --dir DIR
  amigo paysandbox serve --dir DIR [--listen 127.0.0.1:7090] [--mchid 1900000109] [--speed X --start T --clock-origin I]
  amigo paysandbox pay   [--sandbox http://127.0.0.1:7090] (--order ORDER_NO | --code-url URL)

A stand-in for WeChat Pay API v3 (微信支付沙箱) for trials without a merchant
account. "keys" makes the key files in DIR (the merchant's and the
platform's RSA keys, the platform's public key, the API v3 key; an existing
file is never replaced) and prints the station's "payment" configuration.
"serve" runs the sandbox: it takes signed native orders, answers queries,
and POSTs the signed, encrypted notification of each paid order to its
notify_url until accepted. "pay" is the customer paying an order (what
the QR code would do in the WeChat app). A station with provider
"wechat-sandbox" runs the same sandbox inside itself.
微信支付沙箱：生成密钥、运行沙箱、模拟用户付款。
`

func runPaySandbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) == 0 {
			fmt.Fprint(stderr, paySandboxUsage)
			return 2
		}
		fmt.Fprint(stdout, paySandboxUsage)
		return 0
	}
	fs := flag.NewFlagSet("paysandbox "+args[0], flag.ContinueOnError)
	setUsage(fs, paySandboxUsage)
	dir := fs.String("dir", defaultPayKeyDir, "the key directory / 密钥目录")
	listen := fs.String("listen", defaultSandboxListen, "the sandbox's address / 沙箱地址")
	mch := fs.String("mchid", sandboxMchID, "the merchant id it serves / 商户号")
	sandbox := fs.String("sandbox", "http://"+defaultSandboxListen, "the sandbox's URL / 沙箱地址")
	order := fs.String("order", "", "the order number (out_trade_no) to pay / 订单号")
	code := fs.String("code-url", "", "the code_url to pay / 二维码链接")
	speed := fs.Float64("speed", 1, "virtual clock speed, as the station's / 虚拟时钟倍速")
	start := fs.String("start", "", "virtual clock start, as the station's / 虚拟时钟起点")
	origin := fs.String("clock-origin", "", vclock.OriginUsage)
	var lf clilog.Flags
	lf.Register(fs, "info")
	if code, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	log, err := lf.New(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "amigo paysandbox: %v\n", err)
		return 2
	}
	switch args[0] {
	case "keys":
		k, err := wechatsandbox.LoadKeys(*dir, true)
		if err != nil {
			fmt.Fprintf(stderr, "amigo paysandbox keys: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "keys in %s / 密钥目录; the station's \"payment\" for a standalone sandbox / 主站配置:\n", *dir)
		b, _ := json.MarshalIndent(map[string]any{"payment": PaymentConfig{Provider: providerWeChat, BaseURL: "http://" + defaultSandboxListen,
			MchID: sandboxMchID, AppID: sandboxAppID, NotifyURL: "http://127.0.0.1:8080" + api.NotifyPath,
			MerchantKeyFile: *dir + "/" + wechatsandbox.MerchantKeyFile, MerchantSerial: k.MerchantSerial,
			PlatformPublicKeyFile: *dir + "/" + wechatsandbox.PlatformPublicKeyFile, PlatformSerial: k.PlatformSerial,
			APIv3KeyFile: *dir + "/" + wechatsandbox.APIv3KeyFile}}, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return 0
	case "serve":
		clock, err := vclock.FromFlags(*start, *origin, *speed)
		if err != nil {
			fmt.Fprintf(stderr, "amigo paysandbox: %v\n", err)
			return 2
		}
		k, err := wechatsandbox.LoadKeys(*dir, false)
		if err != nil {
			fmt.Fprintf(stderr, "amigo paysandbox serve: %v (make them with amigo paysandbox keys --dir %s / 请先生成密钥)\n", err, *dir)
			return 1
		}
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			fmt.Fprintf(stderr, "amigo paysandbox serve: --listen %s: %v / 无法监听\n", *listen, err)
			return 1
		}
		sb := wechatsandbox.New(wechatsandbox.Config{Keys: k, MchID: *mch, Now: clock.Now, Log: log})
		srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
		fmt.Fprintf(stdout, "amigo paysandbox: http://%s (merchant %s, platform serial %s) / 沙箱运行中\n", ln.Addr(), *mch, k.PlatformSerial)
		go func() {
			<-ctx.Done()
			srv.Close()
		}()
		err = srv.Serve(ln)
		sb.Close()
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "amigo paysandbox serve: %v\n", err)
			return 1
		}
		return 0
	case "pay":
		if (*order == "") == (*code == "") {
			fmt.Fprintf(stderr, "amigo paysandbox pay: give one of --order or --code-url / 需要 --order 或 --code-url 之一\n")
			return 2
		}
		b, _ := json.Marshal(wechatsandbox.PayRequest{OutTradeNo: *order, CodeURL: *code})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*sandbox, "/")+"/sandbox/pay", strings.NewReader(string(b)))
		if err != nil {
			fmt.Fprintf(stderr, "amigo paysandbox pay: --sandbox: %v\n", err)
			return 2
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintf(stderr, "amigo paysandbox pay: %v / 无法连接沙箱\n", err)
			return 1
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintf(stderr, "amigo paysandbox pay: HTTP %d %s\n", resp.StatusCode, out)
			return 1
		}
		fmt.Fprintln(stdout, strings.TrimSpace(string(out)))
		return 0
	}
	fmt.Fprintf(stderr, "amigo paysandbox: unknown subcommand %q / 未知子命令\n%s", args[0], paySandboxUsage)
	return 2
}
