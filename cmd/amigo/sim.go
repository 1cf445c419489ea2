package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/clilog"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/vclock"
)

func init() {
	register(command{name: "sim", summary: "run a fleet of virtual DL/T 645 meters / 运行虚拟电表", run: runSim})
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	setUsage(fs, `usage / 用法: amigo sim [flags]
Runs a fleet of virtual DL/T 645-2007 meters on one RS-485 bus, served as a TCP
serial server (default 127.0.0.1:7645), on a pty pair, on a real serial port, or
as GPRS meters dialing a station. Ctrl-C or SIGTERM stops it.
运行一组虚拟 DL/T 645-2007 电表：TCP 串口服务器（默认 127.0.0.1:7645）、伪终端、真实串口，
或作为 GPRS 电表连接主站。按 Ctrl-C 或发送 SIGTERM 停止。
`)
	var lf clilog.Flags
	lf.Register(fs, "info")
	var c sim.Config
	var faults multiFlag
	fs.IntVar(&c.Meters, "meters", 10, "number of meters / 电表数量")
	fs.StringVar(&c.FirstAddress, "first-address", "000000000001", "address of the first meter; the others follow / 起始表地址")
	seed := fs.Uint64("seed", 1, "randomness seed: same seed, same fleet / 随机种子")
	fs.StringVar(&c.Profile, "profile", "mixed", "home|office|factory|tower|pv|mixed / 用户类型")
	fs.StringVar(&c.Phases, "phases", "mixed", "1|3|mixed / 相数")
	speed := fs.Float64("speed", 1, "virtual seconds per real second (3600 = an hour a second) / 时间倍速")
	start := fs.String("start", "", "virtual start time, RFC 3339 (default now) / 虚拟起始时间")
	origin := fs.String("clock-origin", "", vclock.OriginUsage)
	password := fs.String("password", "02123456", "meters' control password: level then password / 控制密码")
	operator := fs.String("operator", "00000000", "operator code the meters require, 8 hex digits (00000000: any) / 操作者代码")
	fs.StringVar(&c.Listen, "listen", "", "serve the bus as a TCP serial server on ADDR / 作为TCP串口服务器监听")
	fs.BoolVar(&c.Pty, "pty", false, "serve the bus on a pty pair and print the tty to open / 使用伪终端串口")
	fs.StringVar(&c.Serial, "serial", "", "serve the bus on a real serial device / 使用真实串口")
	fs.IntVar(&c.Baud, "baud", 2400, "serial baud rate / 波特率")
	fs.StringVar(&c.Parity, "parity", "even", "serial parity even|odd|none / 校验位")
	fs.StringVar(&c.GPRS, "gprs", "", "every meter dials this station HOST:PORT (GPRS mode) / GPRS模式主站地址")
	fs.StringVar(&c.Control, "control", "", "serve an HTTP control endpoint on ADDR (GET /meters, POST /faults) / 控制接口")
	fs.DurationVar(&c.Heartbeat, "heartbeat", time.Minute, "GPRS heartbeat interval / 心跳间隔")
	fs.StringVar(&c.Supply, "supply", "", "ADDRESS:PERCENT: that meter is the supply meter of all the others, PERCENT of its energy lost on the line, e.g. 000000000001:4 / 台区总表及线损率")
	fs.StringVar(&c.State, "state", "", "file keeping the meters' registers across runs (written every 30 s and on exit) / 电表状态文件")
	fs.Var(&faults, "fault", "ADDRESS:KIND[:ARG], repeatable: no-answer, late:2s, bad-checksum, wrong-address, stuck, theft:50 (percent bypassing the register), jump:1000, backwards:50, drift:10m, outage, cover-open / 故障注入")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	log, err := lf.New(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "amigo sim: %v\n", err)
		return 2
	}
	c.Seed = *seed
	c.Faults = faults
	auth, err := dlt645.ParseAuth(*password, *operator)
	if err != nil {
		fmt.Fprintf(stderr, "amigo sim: %v\n", err)
		return 2
	}
	c.Auth = auth
	if c.Listen == "" && !c.Pty && c.Serial == "" && c.GPRS == "" {
		c.Listen = "127.0.0.1:7645"
	}
	clock, err := vclock.FromFlags(*start, *origin, *speed)
	if err != nil {
		fmt.Fprintf(stderr, "amigo sim: %v\n", err)
		return 2
	}
	c.Clock = clock
	c.Log = log
	fl, err := sim.Start(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "amigo sim: %v\n", err)
		return 1
	}
	last, _ := sim.AddressN(c.FirstAddress, c.Meters-1)
	fmt.Fprintf(stdout, "%d virtual meters %s..%s, clock %s at %gx / %d 块虚拟电表\n", c.Meters, c.FirstAddress, last, clock.Now().Format(time.RFC3339), *speed, c.Meters)
	if fl.Addr != nil {
		fmt.Fprintf(stdout, "TCP serial server / TCP串口服务器: %s\n", fl.Addr)
	}
	if fl.PtyPath != "" {
		fmt.Fprintf(stdout, "serial line (open at %d %s) / 串口: %s\n", c.Baud, c.Parity, fl.PtyPath)
	}
	if fl.Control != nil {
		fmt.Fprintf(stdout, "control / 控制接口: http://%s/meters, POST http://%s/faults\n", fl.Control, fl.Control)
	}
	if c.GPRS != "" {
		fmt.Fprintf(stdout, "dialing station / 连接主站: %s\n", c.GPRS)
	}
	if err := fl.Wait(); err != nil {
		fmt.Fprintf(stderr, "amigo sim: %v\n", err)
		return 1
	}
	return 0
}

// makeClock returns the real clock, or a virtual one when a start or a speed
// other than 1 is asked for.
func makeClock(start string, speed float64) (vclock.Clock, error) {
	return vclock.FromFlags(start, "", speed)
}
