package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/q1376"
)

func init() {
	register(command{name: "ca", summary: "the station's certificate authority / 主站证书管理", run: runCA})
}

const caUsage = `usage / 用法:
  amigo ca init [--dir ca]                          make the CA / 创建证书颁发机构
  amigo ca issue-server [--dir ca] HOST...          the station's certificate / 主站证书
  amigo ca issue-collector [--dir ca] [--out DIR] A1 A2   a collector's certificate, e.g. 0171 2082 / 采集器证书
`

func runCA(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, caUsage)
		return 2
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, caUsage)
		return 0
	}
	switch args[0] {
	case "init", "issue-server", "issue-collector":
	default:
		fmt.Fprintf(stderr, "amigo ca: unknown action %q / 未知操作 %q\n%s", args[0], args[0], caUsage)
		return 2
	}
	fs := flag.NewFlagSet("ca "+args[0], flag.ContinueOnError)
	setUsage(fs, caUsage)
	dir := fs.String("dir", "ca", "CA directory / 证书目录")
	out := fs.String("out", "", "output directory (default: the CA directory) / 输出目录")
	if code, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	if *out == "" {
		*out = *dir
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "amigo ca: %v\n", err)
		return 1
	}
	switch args[0] {
	case "init":
		if err := pki.InitCA(*dir, "amigo station CA"); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "CA created in %s / 已创建证书颁发机构\n", *dir)
	case "issue-server":
		hosts := fs.Args()
		if len(hosts) == 0 {
			hosts = []string{"localhost", "127.0.0.1"}
		}
		if err := pki.IssueServer(*dir, *out, hosts...); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s/station.crt and station.key for %v / 已签发主站证书\n", *out, hosts)
	case "issue-collector":
		if fs.NArg() != 2 {
			fmt.Fprint(stderr, caUsage)
			return 2
		}
		a, err := q1376.ParseAddress(fs.Arg(0) + "-" + fs.Arg(1))
		if err != nil {
			return fail(err)
		}
		if _, err := strconv.ParseUint(fs.Arg(1), 10, 16); err != nil || a.A2 == 0 {
			return fail(fmt.Errorf("A2 %q: want a terminal address 1..65535 / 终端地址应为 1..65535", fs.Arg(1)))
		}
		name, err := pki.IssueCollector(*dir, *out, a.A1, a.A2)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s/%s.crt and .key (CommonName %s) / 已签发采集器证书\n", *out, name, a)
	}
	return 0
}
