package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/api"
	"github.com/amigo-metering/amigo/internal/archive"
	"github.com/amigo-metering/amigo/internal/billing"
	"github.com/amigo-metering/amigo/internal/printing"
)

func init() {
	register(command{name: "billing", summary: "postpaid billing runs / 后付费计费", run: runBilling})
}

const billingUsage = `usage / 用法:
  amigo billing run --config station.json --site SITE --cycle YYYY-MM [--format json|markdown]
      Bills every postpaid account of the site for the cycle (docs/billing.md), on the
      station's store, whether or not the station runs. A progress bar goes to stderr,
      the summary to stdout. Killed or stopped (Ctrl-C), it resumes where it stopped when
      run again, never issuing a bill twice; run again after it ended, it issues the
      bills still held whose readings have arrived.
      为站点的全部后付费账户出指定账期的账单；进度条输出到标准错误，汇总输出到标准输出。
      中断后再次运行从中断处继续，不会重复出账；完成后再次运行只处理挂起待审的账单。
  amigo billing print --config station.json --run ID
      Queues every bill the finished run issued for the station's "printer", in one
      transaction (500 bills each for a larger run), each once: run again, it prints
      nothing twice. The running station
      prints them (docs/printing.md); prints {"run","bills","print_jobs"} on stdout.
      将已完成计费任务的全部出账账单送入打印队列（一次事务，每份只打印一次）；由运行中的主站打印。
flags / 参数:
`

// runBilling is `amigo billing`.
func runBilling(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, billingUsage)
		return 2
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, billingUsage)
		f := billingFlags(stdout)
		f.fs.PrintDefaults()
		return 0
	}
	if args[0] == "print" {
		return billingPrint(ctx, args[1:], stdout, stderr)
	}
	if args[0] != "run" {
		fmt.Fprintf(stderr, "amigo billing: unknown action %q / 未知操作 %q\n", args[0], args[0])
		fmt.Fprint(stderr, billingUsage)
		return 2
	}
	return billingRun(ctx, args[1:], stdout, stderr)
}

type billingOpts struct {
	fs                  *flag.FlagSet
	config, site, cycle *string
	format              *string
	batch, dueDays      *int
	progress            *bool
}

func billingFlags(out io.Writer) billingOpts {
	fs := flag.NewFlagSet("billing run", flag.ContinueOnError)
	fs.SetOutput(out)
	return billingOpts{fs: fs,
		config:   fs.String("config", "station.json", "station configuration (its store) / 主站配置文件"),
		site:     fs.String("site", "", "the site, by name or id / 站点名称或编号"),
		cycle:    fs.String("cycle", "", "the cycle YYYY-MM: with billing day D, day D of that month to day D of the next / 账期"),
		format:   fs.String("format", "json", "summary on stdout: json or markdown / 汇总格式"),
		batch:    fs.Int("batch", billing.DefaultBatch, "accounts per transaction / 每个事务的账户数"),
		dueDays:  fs.Int("due-days", billing.DefaultDueDays, "days after the cycle's end a bill is due / 缴费期限（天）"),
		progress: fs.Bool("progress", true, "show a progress bar on stderr / 显示进度条"),
	}
}

// billingSummary is what a run prints on stdout.
type billingSummary struct {
	Run       int64         `json:"run"`
	Site      string        `json:"site"`
	Cycle     string        `json:"cycle"`
	Status    string        `json:"status"`
	Accounts  int           `json:"accounts"`
	Issued    int           `json:"issued"`
	Held      int           `json:"held"`
	Skipped   int           `json:"skipped"`
	NotDue    int           `json:"not_due"`
	TotalFen  amigo.Fen     `json:"total_fen"`
	Seconds   float64       `json:"seconds"`
	HeldBills []heldSummary `json:"held_bills"`
}

type heldSummary struct {
	Number  string `json:"number"`
	Account string `json:"account"`
	Reason  string `json:"reason"`
}

// maxHeldListed bounds the held bills a summary lists.
const maxHeldListed = 100

func billingRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := billingFlags(stderr)
	if code, ok := parseFlags(o.fs, args, stdout, stderr); !ok {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "amigo billing run: "+format+"\n", a...)
		return code
	}
	switch {
	case *o.site == "":
		return fail(2, "--site: required (name or id) / 必须指定站点")
	case *o.format != "json" && *o.format != "markdown":
		return fail(2, "--format %q: want json or markdown / 格式应为 json 或 markdown", *o.format)
	case *o.batch < 1 || *o.batch > 10000:
		return fail(2, "--batch %d: want 1–10000 / 批量应为 1–10000", *o.batch)
	case *o.dueDays < 1 || *o.dueDays > 365:
		return fail(2, "--due-days %d: want 1–365 / 缴费期限应为 1–365 天", *o.dueDays)
	}
	if _, _, err := billing.ParseCycle(*o.cycle); err != nil {
		return fail(2, "--cycle: %s", amigo.ErrorMessage(err))
	}
	cfg, err := loadStationConfig(*o.config)
	if err != nil {
		return fail(1, "configuration / 配置: %v", err)
	}
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer store.Close()
	site, err := archive.New(store, time.Now).Site(ctx, *o.site)
	if err != nil {
		return fail(1, "--site %q: %s", *o.site, message(err))
	}
	by := "amigo-billing"
	if u := os.Getenv("USER"); u != "" {
		by += ":" + u
	}
	start := time.Now()
	rn := &billing.Runner{Store: store, Batch: *o.batch, DueDays: *o.dueDays}
	if strings.HasPrefix(cfg.Store, "sqlite:") {
		// A second connection reads the next batch while the store's
		// one writes this one.
		reader, err := openStore(ctx, cfg.Store)
		if err != nil {
			return fail(1, "%v", err)
		}
		defer reader.Close()
		rn.Reader = reader
	}
	run, err := rn.Start(ctx, site.ID, *o.cycle, by)
	if err != nil {
		return fail(1, "%s", message(err))
	}
	var bar *progressbar.ProgressBar
	if *o.progress {
		opts := []progressbar.Option{progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription(fmt.Sprintf("billing / 计费 %s %s", site.Name, *o.cycle)),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }), progressbar.OptionSetPredictTime(run.Done == 0)}
		if run.Done == 0 { // a resumed run's rate would count the accounts done before
			opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("accounts"))
		}
		bar = progressbar.NewOptions64(int64(max(run.Total, 1)), opts...)
		bar.Set(run.Done)
		rn.Progress = func(r amigo.BillingRun) {
			if r.Total > run.Total {
				bar.ChangeMax(r.Total)
			}
			bar.Set(r.Done)
		}
	}
	run, err = rn.Continue(ctx, run)
	if bar != nil && err == nil {
		bar.Finish()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fail(1, "stopped after %d of %d accounts; run the same command again to resume / 已在 %d/%d 个账户处停止，再次运行同一命令即可继续", run.Done, run.Total, run.Done, run.Total)
		}
		return fail(1, "%s", message(err))
	}
	sum := billingSummary{Run: run.ID, Site: site.Name, Cycle: run.Cycle, Status: run.Status, Accounts: run.Total, Issued: run.Issued, Held: run.Held,
		Skipped: run.Skipped, NotDue: run.NotDue, TotalFen: run.TotalFen, Seconds: time.Since(start).Round(time.Millisecond).Seconds(), HeldBills: []heldSummary{}}
	if run.Held > 0 {
		held, _, err := store.ListBills(ctx, amigo.BillFilter{SiteID: site.ID, Cycle: run.Cycle, Status: amigo.BillHeld, Limit: maxHeldListed})
		if err != nil {
			return fail(1, "%s", message(err))
		}
		for _, b := range held {
			h := heldSummary{Number: b.Number, Account: b.AccountNumber}
			if len(b.Flags) > 0 {
				h.Reason = b.Flags[0].Message
			}
			sum.HeldBills = append(sum.HeldBills, h)
		}
	}
	if *o.format == "markdown" {
		fmt.Fprintf(stdout, "| run 任务 | site 站点 | cycle 账期 | accounts 账户 | issued 出账 | held 挂起 | billed before 已出账 | not due 未到期 | total 合计 (yuan 元) | seconds 秒 |\n|---|---|---|---|---|---|---|---|---|---|\n")
		fmt.Fprintf(stdout, "| %d | %s | %s | %d | %d | %d | %d | %d | %s | %.3f |\n", sum.Run, sum.Site, sum.Cycle, sum.Accounts, sum.Issued, sum.Held, sum.Skipped, sum.NotDue, sum.TotalFen, sum.Seconds)
		if len(sum.HeldBills) > 0 {
			fmt.Fprintf(stdout, "\n| held bill 挂起账单 | account 账户 | reason 原因 |\n|---|---|---|\n")
			for _, h := range sum.HeldBills {
				fmt.Fprintf(stdout, "| %s | %s | %s |\n", h.Number, h.Account, h.Reason)
			}
		}
		return 0
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.Encode(sum)
	return 0
}

// billingPrint is `amigo billing print`: a finished run's bills queued for
// the station's printer.
func billingPrint(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("billing print", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "station.json", "station configuration (its store, printer, font_file) / 主站配置文件")
	runID := fs.Int64("run", 0, "the billing run's id (amigo billing run prints it) / 计费任务编号")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "amigo billing print: "+format+"\n", a...)
		return code
	}
	if *runID <= 0 {
		return fail(2, "--run: required, a run id / 必须指定计费任务编号")
	}
	cfg, err := loadStationConfig(*config)
	if err != nil {
		return fail(1, "configuration / 配置: %v", err)
	}
	if cfg.Printer == "" {
		return fail(1, "%s", message(printing.ErrNoPrinter))
	}
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer store.Close()
	var opts api.Options
	_, _, err = stationPrinting(cfg, store, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), &opts)
	if err != nil {
		return fail(1, "%s", message(err))
	}
	run, err := store.GetBillingRun(ctx, *runID)
	if err != nil {
		return fail(1, "--run %d: %s", *runID, message(err))
	}
	if run.Status != amigo.RunDone {
		return fail(1, "run %d is still running: print it when it is done / 计费任务 %d 尚未完成", run.ID, run.ID)
	}
	jobs, err := opts.PrintRun(ctx, run)
	if err != nil {
		return fail(1, "%s", message(err))
	}
	if err := store.AppendAudit(ctx, amigo.AuditEntry{Time: time.Now(), Actor: "amigo-billing", Action: "billing.print", Object: fmt.Sprintf("run %d", run.ID),
		Detail: fmt.Sprintf("%d bills queued for printing on %s", len(jobs), cfg.Printer)}); err != nil {
		return fail(1, "%s", message(err))
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.Encode(map[string]any{"run": run.ID, "bills": len(jobs), "print_jobs": jobs})
	return 0
}
