package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/amigo-metering/amigo/internal/sim"
)

func init() {
	register(command{name: "demo", summary: "run a whole working system on this machine / 一键演示", run: runDemo})
}

// runDemo starts the demonstration system on the embedded defaults.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	meters := fs.Int("meters", 20, "virtual meters / 虚拟电表数量")
	listen := fs.String("meters-listen", "127.0.0.1:7645", "TCP serial server of the virtual meters / 虚拟电表TCP串口服务器")
	speed := fs.Float64("speed", 1, "virtual seconds per real second / 时间倍速")
	start := fs.String("start", "", "virtual start time, RFC 3339 / 虚拟起始时间")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	clock, err := makeClock(*start, *speed)
	if err != nil {
		fmt.Fprintf(stderr, "amigo demo: %v\n", err)
		return 2
	}
	fl, err := sim.Start(ctx, sim.Config{Meters: *meters, Listen: *listen, Seed: 1, Clock: clock, Log: slog.New(slog.NewTextHandler(stderr, nil))})
	if err != nil {
		fmt.Fprintf(stderr, "amigo demo: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "amigo demo: %d virtual meters 000000000001.. on TCP serial server %s (clock %s)\n", *meters, fl.Addr, clock.Now().Format(time.RFC3339))
	fmt.Fprintf(stdout, "amigo 演示: %d 块虚拟电表, TCP串口服务器 %s\n", *meters, fl.Addr)
	fmt.Fprintf(stdout, "try / 试试: go run ./cmd/amigo frame encode dlt645 read --address 000000000001 --di 0001FF00\n")
	fmt.Fprintln(stdout, "Ctrl-C stops / 按 Ctrl-C 退出")
	if err := fl.Wait(); err != nil {
		fmt.Fprintf(stderr, "amigo demo: %v\n", err)
		return 1
	}
	return 0
}
