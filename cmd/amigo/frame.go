package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/frametool"
)

func init() {
	register(command{name: "frame", summary: "decode and encode protocol frames / 报文解析与组帧", run: runFrame})
}

// frameDecoders maps a protocol name to its decoder: it returns one JSON-ready
// value per frame in b, or an error that says what is wrong and where.
var frameDecoders = map[string]func(b []byte) ([]any, error){
	"dlt645": frametool.DecodeDLT645,
}

// frameDetectors recognise a protocol from a frame's first bytes; the first
// that matches wins. Protocols add theirs in their own files.
var frameDetectors = []struct {
	protocol string
	match    func(b []byte) bool
}{}

func detectProtocol(b []byte) string {
	i := 0
	for i < len(b) && b[i] == dlt645.Preamble {
		i++
	}
	for _, d := range frameDetectors {
		if d.match(b[i:]) {
			return d.protocol
		}
	}
	return "dlt645"
}

const frameUsage = `usage / 用法:
  amigo frame decode [--protocol dlt645|q1376] HEX...    (or hex on stdin / 或从标准输入读十六进制)
  amigo frame encode dlt645 FUNCTION [flags]
functions / 功能: read, read-follow, read-address, write, write-address, freeze, change-baud,
  change-password, demand-clear, meter-clear, event-clear, control, time-sync, read-1997
`

func runFrame(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, frameUsage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, frameUsage)
		return 0
	case "decode":
		return frameDecode(args[1:], os.Stdin, stdout, stderr)
	case "encode":
		return frameEncode(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "amigo frame: unknown action %q / 未知操作 %q\n%s", args[0], args[0], frameUsage)
	return 2
}

func frameDecode(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("frame decode", flag.ContinueOnError)
	setUsage(fs, `usage / 用法: amigo frame decode [--protocol dlt645|q1376] HEX...
Decodes DL/T 645 and Q/GDW 1376.1 frames given as hex (spaces, colons and 0x
allowed; several frames in a row; stdin when no HEX is given) into one JSON line
per frame. Bytes the tool does not interpret are shown as hex fields.
解析十六进制报文（可含空格、冒号、0x；可连续多帧；未给出时读标准输入），每帧输出一行 JSON；
未解释的字节以十六进制字段列出。
`)
	protocol := fs.String("protocol", "", "dlt645 or q1376 (default: recognised from the frame / 默认自动识别)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	text := strings.Join(fs.Args(), " ")
	if fs.NArg() == 0 {
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "amigo frame: reading stdin: %v\n", err)
			return 1
		}
		text = string(b)
	}
	b, err := parseHex(text)
	if err != nil {
		fmt.Fprintf(stderr, "amigo frame: %v\n", err)
		return 1
	}
	p := *protocol
	if p == "" {
		p = detectProtocol(b)
	}
	dec, ok := frameDecoders[p]
	if !ok {
		fmt.Fprintf(stderr, "amigo frame: unknown protocol %q / 未知规约\n", p)
		return 2
	}
	frames, err := dec(b)
	for _, f := range frames {
		line, merr := frametool.MarshalLine(f)
		if merr != nil {
			fmt.Fprintf(stderr, "amigo frame: %v\n", merr)
			return 1
		}
		stdout.Write(line)
	}
	if err != nil {
		fmt.Fprintln(stderr, oneLine(err))
		return 1
	}
	return 0
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// parseHex accepts hex digits with any spaces, newlines, colons or 0x
// prefixes between bytes.
func parseHex(s string) ([]byte, error) {
	s = strings.ReplaceAll(s, "0x", "")
	s = strings.ReplaceAll(s, "0X", "")
	var clean strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '\n' || r == '\r' || r == '\t' || r == ':' || r == ',' || r == '-':
		default:
			clean.WriteRune(r)
		}
	}
	if clean.Len() == 0 {
		return nil, errors.New("no hex input / 没有输入报文")
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		return nil, fmt.Errorf("input is not hex: %w / 输入不是十六进制", err)
	}
	return b, nil
}

func frameEncode(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && isHelp(args[0]) || len(args) > 1 && args[0] == "dlt645" && isHelp(args[1]) {
		fmt.Fprint(stdout, frameUsage)
		return 0
	}
	if len(args) < 2 || args[0] != "dlt645" {
		fmt.Fprint(stderr, frameUsage)
		return 2
	}
	fn := args[1]
	fs := flag.NewFlagSet("frame encode dlt645 "+fn, flag.ContinueOnError)
	setUsage(fs, "usage / 用法: amigo frame encode dlt645 "+fn+" [flags]\n")
	addr := fs.String("address", "", "meter address, 12 digits / 表地址")
	diText := fs.String("di", "", "data identifier, 8 hex digits DI3 first / 数据标识")
	seq := fs.Int("seq", 1, "follow-up sequence (read-follow) / 后续帧序号")
	data := fs.String("data", "", "value to write, hex in wire order before +33H / 写入数据")
	password := fs.String("password", "02000000", "PA then P0P1P2 as 8 hex digits, e.g. 02123456 / 密码")
	operator := fs.String("operator", "00000000", "operator code, 8 hex digits / 操作者代码")
	cmdName := fs.String("command", "", "trip|allow-close|close|alarm|alarm-off|keep-power|keep-power-off")
	until := fs.String("until", "", "validity deadline, 2006-01-02T15:04:05 (default: one day from now) / 有效截止时间")
	at := fs.String("time", "", "time to set, 2006-01-02T15:04:05 (default: now) / 校时时间")
	baud := fs.Int("baud", 2400, "new baud rate / 新波特率")
	newAddr := fs.String("new-address", "", "new address (write-address) / 新地址")
	newPassword := fs.String("new-password", "", "new password PA+P0P1P2, 8 hex digits / 新密码")
	freeze := fs.String("freeze", "99999999", "mmhhDDMM, 99 = every (freeze) / 冻结时间")
	preamble := fs.Bool("preamble", false, "prefix FE FE FE FE / 加前导字节")
	if code, ok := parseFlags(fs, args[2:], stdout, stderr); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "amigo frame encode: %v\n", err)
		return 1
	}
	address := dlt645.Broadcast
	if fn != "time-sync" || *addr != "" {
		a, err := dlt645.ParseAddress(orDefault(*addr, "AAAAAAAAAAAA"))
		if err != nil {
			return fail(err)
		}
		address = a
	}
	auth, err := dlt645.ParseAuth(*password, *operator)
	if err != nil {
		return fail(err)
	}
	needDI := func() (dlt645.DI, error) {
		if *diText == "" {
			return 0, errors.New("--di is required / 需要数据标识")
		}
		return dlt645.ParseDI(*diText)
	}
	var f dlt645.Frame
	switch fn {
	case "read":
		di, err := needDI()
		if err != nil {
			return fail(err)
		}
		f = dlt645.ReadRequest(address, di)
	case "read-1997":
		di, err := needDI()
		if err != nil {
			return fail(err)
		}
		f = dlt645.Read1997Request(address, uint16(di))
	case "read-follow":
		di, err := needDI()
		if err != nil {
			return fail(err)
		}
		f = dlt645.ReadFollowRequest(address, di, byte(*seq))
	case "read-address":
		f = dlt645.ReadAddressRequest()
	case "write":
		di, err := needDI()
		if err != nil {
			return fail(err)
		}
		v, err := hex.DecodeString(*data)
		if err != nil {
			return fail(fmt.Errorf("--data: %w", err))
		}
		f = dlt645.WriteRequest(address, di, auth, v)
	case "write-address":
		a, err := dlt645.ParseAddress(*newAddr)
		if err != nil {
			return fail(fmt.Errorf("--new-address: %w", err))
		}
		f = dlt645.WriteAddressRequest(a)
	case "freeze":
		b, err := hex.DecodeString(*freeze)
		if err != nil || len(b) != 4 {
			return fail(fmt.Errorf("--freeze wants mmhhDDMM as 8 digits / 冻结时间应为8位 mmhhDDMM"))
		}
		f = dlt645.FreezeRequest(address, unhex(b[0]), unhex(b[1]), unhex(b[2]), unhex(b[3]))
	case "change-baud":
		w, err := dlt645.BaudWord(*baud)
		if err != nil {
			return fail(err)
		}
		f = dlt645.ChangeBaudRequest(address, w)
	case "change-password":
		np, err := dlt645.ParseAuth(orDefault(*newPassword, "04000000"), "00000000")
		if err != nil {
			return fail(err)
		}
		f = dlt645.ChangePasswordRequest(address, auth.Level, auth.Password, np.Level, np.Password)
	case "demand-clear":
		f = dlt645.ClearRequest(address, dlt645.FuncDemandClear, auth)
	case "meter-clear":
		f = dlt645.ClearRequest(address, dlt645.FuncMeterClear, auth)
	case "event-clear":
		di := dlt645.DI(0xFFFFFFFF)
		if *diText != "" {
			if di, err = dlt645.ParseDI(*diText); err != nil {
				return fail(err)
			}
		}
		f = dlt645.EventClearRequest(address, auth, di)
	case "control":
		ct, err := dlt645.ParseControlType(*cmdName)
		if err != nil {
			return fail(err)
		}
		u, err := parseLocalTime(*until, time.Now().Add(24*time.Hour))
		if err != nil {
			return fail(fmt.Errorf("--until: %w", err))
		}
		f = dlt645.ControlRequest(address, dlt645.ControlCommand{Type: ct, Auth: auth, Until: dlt645.DateTimeOf(u)})
	case "time-sync":
		t, err := parseLocalTime(*at, time.Now())
		if err != nil {
			return fail(fmt.Errorf("--time: %w", err))
		}
		f = dlt645.BroadcastTimeRequest(address, dlt645.DateTimeOf(t))
	default:
		fmt.Fprintf(stderr, "amigo frame encode: unknown function %q / 未知功能 %q\n%s", fn, fn, frameUsage)
		return 2
	}
	var out []byte
	if *preamble {
		out = dlt645.AppendPreamble(out)
	}
	out, err = dlt645.AppendFrame(out, &f)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout, strings.ToUpper(spaced(out)))
	return 0
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func unhex(b byte) int { return int(b>>4)*10 + int(b&0x0F) }

func spaced(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}

func parseLocalTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time like 2006-01-02T15:04:05 / 时间格式错误", s)
}
