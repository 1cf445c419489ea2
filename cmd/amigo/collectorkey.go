package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/amigo-metering/amigo/q1376"
)

func init() {
	register(command{name: "collector-key", summary: "a collector's command key (auth_key) / 采集器命令认证密钥", run: runCollectorKey})
}

const collectorKeyUsage = `usage / 用法:
  amigo collector-key --key-file FILE [--out FILE] A1-A2

Prints the command key of collector A1-A2 (e.g. 0171-2082): 64 hex digits
derived from the station's downlink master key (the station's
"downlink_key_file"). Put it in the collector's configuration as
"auth_key", or write it with --out to a file (mode 0600) named by
"auth_key_file". The station signs every command to the collector with it.
打印采集器的命令认证密钥（由主站下行主密钥派生），写入采集器配置的 auth_key 或 auth_key_file。
`

func runCollectorKey(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("collector-key", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { fmt.Fprint(stderr, collectorKeyUsage) }
	keyFile := fset.String("key-file", "", "the station's downlink master key file / 主站下行主密钥文件")
	out := fset.String("out", "", "write the key to this file instead / 写入文件")
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(stdout, collectorKeyUsage)
			return 0
		}
	}
	if err := fset.Parse(args); err != nil {
		return 2
	}
	if *keyFile == "" || fset.NArg() != 1 {
		fmt.Fprint(stderr, collectorKeyUsage)
		return 2
	}
	a, err := q1376.ParseAddress(fset.Arg(0))
	if err != nil || a.A2 == 0 {
		fmt.Fprintf(stderr, "amigo collector-key: terminal address %q: want A1-A2 like 0171-2082 / 终端地址应形如 0171-2082\n", fset.Arg(0))
		return 2
	}
	master, err := downlinkKey(*keyFile, false)
	if err != nil {
		fmt.Fprintf(stderr, "amigo collector-key: %v\n", err)
		return 1
	}
	k := hex.EncodeToString(q1376.TerminalKey(master, a))
	if *out == "" {
		fmt.Fprintln(stdout, k)
		return 0
	}
	if err := os.WriteFile(*out, []byte(k+"\n"), 0o600); err != nil {
		fmt.Fprintf(stderr, "amigo collector-key: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "key of %s written to %s / 已写入密钥文件\n", a, *out)
	return 0
}

// downlinkKey reads the station's downlink master key: 64 hex digits in
// path. A missing file is created with a random key when create is set; a
// file that holds anything else is an error — it is never replaced, since
// every collector's key derives from it.
func downlinkKey(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		k := make([]byte, 32)
		rand.Read(k)
		if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("downlink key: %w", err)
		}
		return k, nil
	case err != nil:
		return nil, fmt.Errorf("downlink key: %w", err)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("downlink key %s: want 64 hex digits; the file is left as it is / 下行主密钥文件应为64位十六进制数，文件未改动", path)
	}
	return k, nil
}
