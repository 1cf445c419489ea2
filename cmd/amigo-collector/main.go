// Command amigo-collector is amigo's concentrator (采集器) daemon: it reads
// the meters on its RS-485 lines and TCP serial servers, keeps what it read
// in a durable local store, and serves the master station over Q/GDW 1376.1
// inside TLS 1.3. Pure Go: it cross-compiles to linux/arm and linux/arm64.
//
//	amigo-collector --config /etc/amigo/collector.json --data /var/lib/amigo-collector
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/internal/vclock"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs the collector until ctx ends and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("amigo-collector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "collector.json", "configuration file / 配置文件")
	data := fs.String("data", "collector-data", "data directory (the durable store) / 数据目录")
	level := fs.String("log-level", "info", "debug|info|warn|error")
	speed := fs.Float64("speed", 1, "virtual clock speed, for demonstrations / 虚拟时钟倍速")
	start := fs.String("start", "", "virtual clock start, RFC 3339, for demonstrations / 虚拟时钟起点")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "amigo-collector: --log-level %q: %v\n", *level, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: lv}))
	cfg, err := collector.LoadConfig(*config)
	if err != nil {
		fmt.Fprintf(stderr, "amigo-collector: %v\n", err)
		return 1
	}
	cfg.DataDir, cfg.Log = *data, log
	if *start != "" || *speed != 1 {
		t := time.Now()
		if *start != "" {
			if t, err = time.Parse(time.RFC3339, *start); err != nil {
				fmt.Fprintf(stderr, "amigo-collector: --start: %v\n", err)
				return 2
			}
		}
		cfg.Clock = vclock.NewVirtual(t, *speed)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		fmt.Fprintf(stderr, "amigo-collector: data directory / 数据目录: %v\n", err)
		return 1
	}
	st, err := colsqlite.Open(filepath.Join(cfg.DataDir, "collector.db"))
	if err != nil {
		fmt.Fprintf(stderr, "amigo-collector: %v\n", err)
		return 1
	}
	defer st.Close()
	c, err := collector.New(cfg, st)
	if err != nil {
		fmt.Fprintf(stderr, "amigo-collector: %v\n", err)
		return 1
	}
	log.Info("collector started / 采集器已启动", "terminal", cfg.Terminal, "stations", cfg.Stations, "meters", len(c.Meters()), "data", cfg.DataDir)
	if err := c.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "amigo-collector: %v\n", err)
		return 1
	}
	return 0
}
