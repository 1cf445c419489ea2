// Command amigo-collector is amigo's concentrator (采集器) daemon: it reads
// the meters on its RS-485 lines and TCP serial servers, keeps what it read
// in a durable local store, and serves the master station over Q/GDW 1376.1
// inside TLS 1.3. Pure Go: it cross-compiles to linux/arm and linux/arm64.
//
//	amigo-collector --config /etc/amigo/collector.json --data /var/lib/amigo-collector
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/amigo-metering/amigo/internal/clilog"
	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/internal/vclock"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal ends the program at once
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs the collector until ctx ends and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("amigo-collector", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage / 用法: amigo-collector [--config collector.json] [--data DIR] [flags]
Reads the meters on its RS-485 lines and TCP serial servers, keeps what it read in
a durable store under --data, and serves the master station over Q/GDW 1376.1 in
TLS 1.3. Logs are JSON lines on stderr. Ctrl-C or SIGTERM stops it.
采集器：抄读 RS-485 线路和 TCP 串口服务器上的电表，数据持久保存在 --data 目录，经 TLS 1.3 上的
Q/GDW 1376.1 向主站提供。日志为 JSON 行，写到标准错误。按 Ctrl-C 或发送 SIGTERM 停止。
flags / 参数:
`)
		fs.PrintDefaults()
	}
	config := fs.String("config", "collector.json", "configuration file / 配置文件")
	data := fs.String("data", "collector-data", "data directory (the durable store) / 数据目录")
	speed := fs.Float64("speed", 1, "virtual clock speed, for demonstrations / 虚拟时钟倍速")
	start := fs.String("start", "", "virtual clock start, RFC 3339, for demonstrations / 虚拟时钟起点")
	origin := fs.String("clock-origin", "", vclock.OriginUsage)
	var lf clilog.Flags
	lf.Register(fs, "info")
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		stdout.Write(buf.Bytes())
		return 0
	case err != nil:
		stderr.Write(buf.Bytes())
		return 2
	}
	log, err := lf.New(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "amigo-collector: %v\n", err)
		return 2
	}
	cfg, err := collector.LoadConfig(*config)
	if err != nil {
		fmt.Fprintf(stderr, "amigo-collector: %v\n", err)
		return 1
	}
	cfg.DataDir, cfg.Log = *data, log
	clock, err := vclock.FromFlags(*start, *origin, *speed)
	if err != nil {
		fmt.Fprintf(stderr, "amigo-collector: %v\n", err)
		return 2
	}
	if _, virtual := clock.(*vclock.Virtual); virtual {
		cfg.Clock = clock
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
	fmt.Fprintf(stdout, "amigo-collector: terminal %s, %d meters, stations %v, data in %s / 采集器已启动\n", cfg.Terminal, len(c.Meters()), cfg.Stations, cfg.DataDir)
	log.Info("collector started / 采集器已启动", "terminal", cfg.Terminal, "stations", cfg.Stations, "meters", len(c.Meters()), "data", cfg.DataDir)
	if err := c.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "amigo-collector: %v\n", err)
		return 1
	}
	return 0
}
