package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/api"
	"github.com/amigo-metering/amigo/internal/fep"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/internal/postgres"
	"github.com/amigo-metering/amigo/internal/sqlite"
	"github.com/amigo-metering/amigo/internal/station"
	"github.com/amigo-metering/amigo/internal/vclock"
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
	AdminPassword   string `json:"admin_password"` // creates user "admin" if there are no users
	SecretFile      string `json:"secret_file"`    // signs API tokens; created when missing

	// GPRSTLS serves direct GPRS meters over TLS (the station's
	// certificate, no client certificate); "" = off.
	GPRSTLS string `json:"gprs_tls"`
	// Connection caps of each listener; 0 takes fep.DefaultMaxConns and
	// fep.DefaultMaxConnsPerSource.
	MaxConns          int `json:"max_conns"`
	MaxConnsPerSource int `json:"max_conns_per_source"`
	// DownlinkKeyFile holds the master key commands to collectors are
	// signed with (64 hex digits; created when missing, never replaced);
	// "" sends them unsigned. `amigo collector-key` derives each
	// collector's auth_key from it.
	DownlinkKeyFile string `json:"downlink_key_file"`

	clock vclock.Clock
	log   *slog.Logger
	ready func(http, fepTLS, gprs net.Addr) // called once listening (tests, demo)
}

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

func (a frontAdapter) Terminal(address string) (station.Terminal, bool) {
	s, ok := a.f.Session(address)
	if !ok {
		return nil, false
	}
	return s, true
}

func secret(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	b := make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return b, nil
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
	tlsCfg, err := pki.ServerConfig(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer store.Close()
	if cfg.AdminPassword != "" {
		if _, err := store.FindUserByUsername(ctx, "admin"); amigo.ErrorKind(err) == amigo.ENOTFOUND {
			h, err := api.HashPassword(cfg.AdminPassword)
			if err != nil {
				return err
			}
			if err := store.CreateUser(ctx, &amigo.User{Username: "admin", PasswordHash: h, Role: amigo.RoleAdmin}); err != nil {
				return err
			}
		}
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
			eng.Wake()
		}}, store)
	eng = station.New(store, frontAdapter{front}, clock, station.Config{RealtimeEvery: every, DailyAfter: after, Log: log})
	if err := front.Listen(); err != nil {
		return err
	}
	if cfg.GPRS != "" {
		if err := front.ListenGPRS(cfg.GPRS, store); err != nil {
			return err
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
	srv := &http.Server{Handler: withFrontMetrics(api.New(store, eng, clock.Now, key, log), front), ReadHeaderTimeout: 10 * time.Second}
	hl, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTP, err)
	}
	if cfg.ready != nil {
		cfg.ready(hl.Addr(), front.TLSAddr(), front.GPRSAddr())
	}
	log.Info("station running / 主站运行中", "api", hl.Addr().String(), "collectors", front.TLSAddr())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); front.Serve(ctx) }()
	go func() { defer wg.Done(); eng.Run(ctx) }()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	wg.Wait()
	return nil
}

func runStation(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("station", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "station.json", "configuration file / 配置文件")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b, err := os.ReadFile(*path)
	if err != nil {
		fmt.Fprintf(stderr, "amigo station: %v\n", err)
		return 1
	}
	var cfg StationConfig
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		fmt.Fprintf(stderr, "amigo station: %s: %v\n", *path, err)
		return 1
	}
	cfg.log = slog.New(slog.NewJSONHandler(stdout, nil))
	if err := stationMain(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "amigo station: %v\n", err)
		return 1
	}
	return 0
}
