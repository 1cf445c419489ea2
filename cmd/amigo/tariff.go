package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/tariff"
)

func init() {
	register(command{name: "tariff", summary: "check a tariff file, price usage with it / 校验电价文件、计算电费", run: runTariff})
}

const tariffUsage = `usage / 用法:
  amigo tariff check FILE
      Checks a tariff document (docs/tariffs.md); prints OK and a summary, or
      every problem by field on stderr and exits 1.
      校验电价文件：通过则打印 OK 与摘要；否则在标准错误逐条列出问题字段，退出码 1。
  amigo tariff quote --tariff FILE --usage peak=KWH,valley=KWH --year-to-date KWH [flags]
      Prices usage with the tariff and prints one JSON object:
      {"total_fen": N, "lines": [{"kind": "energy"|"tier"|"standing", "name", "kwh", "price", "amount_fen"}, ...]}.
      Every line is rounded half-up to the fen; the total is the sum of the lines.
      按电价计算电费，输出一个 JSON 对象；每行四舍五入到分，合计为各行之和。
      Usage is one of / 用电量三选一:
        --usage NAME=KWH,...   by period name / 按时段
        --registers KWH,...    the meter's registers T1,T2,T3,T4 / 按电能表费率计度器
        --total KWH            the total, for a meter without tariff registers / 按总电量
      The ladder position is --year-to-date (a yearly ladder) or --month-to-date
      (a monthly ladder): the cycle's usage before this one.
      阶梯位置：年阶梯用 --year-to-date，月阶梯用 --month-to-date（本周期此前用电量）。
`

func runTariff(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, tariffUsage)
		return 2
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, tariffUsage)
		return 0
	}
	switch args[0] {
	case "check":
		return tariffCheck(args[1:], stdout, stderr)
	case "quote":
		return tariffQuote(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "amigo tariff: unknown action %q / 未知操作 %q\n", args[0], args[0])
	fmt.Fprint(stderr, tariffUsage)
	return 2
}

// readTariffFile reads and checks a tariff document; the problems are
// printed to stderr one per line.
func readTariffFile(path string, stderr io.Writer) (*tariff.Tariff, bool) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "amigo tariff: %v / 无法读取文件\n", err)
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, tariff.MaxDocument+1))
	if err != nil {
		fmt.Fprintf(stderr, "amigo tariff: %s: %v / 无法读取文件\n", path, err)
		return nil, false
	}
	t, problems := tariff.Check(b)
	if t == nil {
		fmt.Fprintf(stderr, "amigo tariff: %s is not a valid tariff / 电价文件无效:\n", path)
		for _, p := range problems {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
		return nil, false
	}
	return t, true
}

func tariffCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tariff check", flag.ContinueOnError)
	setUsage(fs, "usage: amigo tariff check FILE   用法: amigo tariff check 文件\n")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "amigo tariff check: give one FILE / 请给出一个电价文件")
		return 2
	}
	t, ok := readTariffFile(fs.Arg(0), stderr)
	if !ok {
		return 1
	}
	fmt.Fprintf(stdout, "OK / 有效: %s\n", t.Summary())
	return 0
}

func tariffQuote(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tariff quote", flag.ContinueOnError)
	setUsage(fs, tariffUsage)
	file := fs.String("tariff", "", "the tariff document (JSON) / 电价文件")
	usage := fs.String("usage", "", "usage by period, NAME=KWH,... / 分时段用电量")
	registers := fs.String("registers", "", "the meter's registers T1,T2,T3,T4 in kWh / 费率计度器电量")
	fs.String("total", "", "total kWh of a meter without tariff registers / 总电量（无费率计度器）")
	fs.String("year-to-date", "", "kWh used earlier this year (yearly ladder) / 本年此前用电量")
	fs.String("month-to-date", "", "kWh used earlier this month (monthly ladder) / 本月此前用电量")
	date := fs.String("date", "", "the site-local day of the usage, YYYY-MM-DD (default today) / 用电日期")
	inService := fs.Int("in-service", 0, "days in service of the ladder cycle (move-in/out); not given: the whole cycle / 本周期在用天数（不给则为整个周期）")
	standingDays := fs.Int("standing-days", 0, "days of the month of standing charges; not given: the whole month / 基本费计费天数（不给则为整月）")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "amigo tariff quote: "+format+"\n", a...)
		return 2
	}
	if *file == "" || fs.NArg() != 0 {
		return bad("give --tariff FILE and no other arguments / 请用 --tariff 指定电价文件")
	}
	t, ok := readTariffFile(*file, stderr)
	if !ok {
		return 1
	}
	req := tariff.Request{Date: tariff.DateOf(time.Now(), t.Location).String()}
	if *date != "" {
		req.Date = *date
	}
	if *usage != "" {
		req.Usage = map[string]string{}
		for _, kv := range strings.Split(*usage, ",") {
			name, v, found := strings.Cut(kv, "=")
			if !found {
				return bad("--usage %q: want NAME=KWH, e.g. peak=12.34 / 应为 时段=电量", kv)
			}
			if _, dup := req.Usage[name]; dup {
				return bad("--usage: %q given twice / 时段重复", name)
			}
			req.Usage[name] = v
		}
	}
	if *registers != "" {
		req.Registers = strings.Split(*registers, ",")
	}
	fs.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "total":
			req.Total = &v
		case "year-to-date":
			req.YearToDate = &v
		case "month-to-date":
			req.MonthToDate = &v
		case "in-service":
			req.InServiceDays = inService
		case "standing-days":
			req.StandingDays = standingDays
		}
	})
	q, err := t.QuoteRequest(req)
	if err != nil {
		fmt.Fprintf(stderr, "amigo tariff quote: %s\n", amigo.ErrorMessage(err))
		return 1
	}
	b, err := json.Marshal(q)
	if err != nil {
		fmt.Fprintf(stderr, "amigo tariff quote: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return 0
}
