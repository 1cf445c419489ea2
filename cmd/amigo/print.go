package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/printing"
)

func init() {
	register(command{name: "print", summary: "the print queue: queue a PDF, list jobs, sample documents / 打印队列", run: printMain})
}

const printUsage = `usage: amigo print <action> [flags]   用法: amigo print <操作> [参数]
The station's print queue (docs/printing.md); the station prints what is queued when its
configuration sets "printer". 主站打印队列；配置了 printer 的主站会打印队列中的任务。
actions / 操作:
  file --config station.json --kind bill|receipt --ref REF [--wait 2m] FILE.pdf
        queue a PDF once per kind and REF; --wait also runs the queue here until it is printed
        将 PDF 加入打印队列（同一类别与编号只打印一次）；--wait 在此运行队列直至打印完成
  jobs --config station.json [--state queued|sent|printed|failed] [--limit 50]
        list print jobs, newest first / 列出打印任务
  sample --out DIR [--font FILE]
        write a sample bill (bill.pdf, A4) and receipt (receipt.pdf, 80 mm) / 生成示例账单与收据
`

func printMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, printUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	action := args[0]
	fs := flag.NewFlagSet("print "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "station.json", "station configuration / 主站配置文件")
	kind := fs.String("kind", "", "bill or receipt / 类别")
	ref := fs.String("ref", "", "the bill's or payment's id / 账单或收款编号")
	wait := fs.Duration("wait", 0, "run the queue here until the job is printed, at most this long / 等待打印完成的最长时间")
	state := fs.String("state", "", "only jobs in this state / 仅列出此状态")
	limit := fs.Int("limit", 50, "at most this many jobs / 最多列出条数")
	out := fs.String("out", "", "directory for the sample PDFs / 示例输出目录")
	font := fs.String("font", "", "TrueType CJK font; default "+printing.DefaultFontFile+" / 字体文件")
	fs.Usage = func() { fmt.Fprint(stdout, printUsage) }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "amigo print %s: %s\n", action, message(err))
		return 1
	}
	switch action {
	case "sample":
		if *out == "" || fs.NArg() != 0 {
			fmt.Fprintln(stderr, "amigo print sample: --out DIR is needed / 需要 --out 目录")
			return 2
		}
		return printSample(*out, *font, stdout, fail)
	case "file", "jobs":
	default:
		fmt.Fprintf(stderr, "amigo print: unknown action %q / 未知操作 %q\n", action, action)
		fmt.Fprint(stderr, printUsage)
		return 2
	}
	cfg, err := loadStationConfig(*config)
	if err != nil {
		return fail(fmt.Errorf("configuration / 配置: %w", err))
	}
	if cfg.Printer == "" {
		return fail(errors.New("配置项 printer 未设置 / config key printer is not set"))
	}
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	pst, ok := store.(printing.Store)
	if !ok {
		return fail(fmt.Errorf("store %T keeps no print jobs / 存储不支持打印队列", store))
	}
	q, err := printing.NewQueue(pst, printing.QueueConfig{Printer: cfg.Printer, JobPrefix: cfg.PrintJobPrefix,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return fail(err)
	}
	if action == "jobs" {
		jobs, err := q.List(ctx, *state, *limit)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%-6s %-8s %-20s %-8s %-8s %-8s %s\n", "id", "kind 类别", "ref 编号", "state 状态", "tries 次数", "ipp_job", "last error 最近错误")
		for _, j := range jobs {
			fmt.Fprintf(stdout, "%-6d %-8s %-20s %-8s %-8d %-8d %s\n", j.ID, j.Kind, j.RefID, j.State, j.Attempts, j.IPPJobID, j.LastError)
		}
		return 0
	}
	if *kind == "" || *ref == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "amigo print file: --kind, --ref and one FILE.pdf are needed / 需要 --kind、--ref 与一个 PDF 文件")
		return 2
	}
	pdf, err := readPDF(fs.Arg(0))
	if err != nil {
		return fail(err)
	}
	id, err := q.Enqueue(ctx, *kind, *ref, pdf)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "print job %d queued for %s / 打印任务 %d 已入队\n", id, cfg.Printer, id)
	if *wait <= 0 {
		return 0
	}
	wctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- q.Run(wctx) }()
	defer func() { cancel(); <-done }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		j, err := q.Job(ctx, id)
		if err != nil {
			return fail(err)
		}
		switch j.State {
		case amigo.PrintPrinted:
			fmt.Fprintf(stdout, "print job %d printed (printer job %d) / 打印任务 %d 已打印\n", id, j.IPPJobID, id)
			return 0
		case amigo.PrintFailed:
			return fail(fmt.Errorf("打印任务 %d 失败 / print job %d failed: %s", id, id, j.LastError))
		}
		select {
		case <-wctx.Done():
			return fail(fmt.Errorf("打印任务 %d 仍为 %s，将由主站继续打印 / print job %d still %s after %s (the station's queue will go on): %s", id, j.State, id, j.State, *wait, j.LastError))
		case <-tick.C:
		}
	}
}

// readPDF reads a PDF file of at most 32 MiB.
func readPDF(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const maxPDF = 32 << 20
	b, err := io.ReadAll(io.LimitReader(f, maxPDF+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPDF {
		return nil, fmt.Errorf("%s 超过 %d 字节 / %s is larger than %d bytes", path, maxPDF, path, maxPDF)
	}
	return b, nil
}

// printSample writes a sample bill and receipt, to see the documents (and
// the font) without any data.
func printSample(dir, font string, stdout io.Writer, fail func(error) int) int {
	r, err := printing.NewRenderer(font)
	if err != nil {
		return fail(err)
	}
	bill, receipt := printing.SampleBill(), printing.SampleReceipt()
	b, err := r.Bill(bill)
	if err != nil {
		return fail(err)
	}
	rc, err := r.Receipt(receipt)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	for _, f := range []struct {
		name string
		pdf  []byte
	}{{"bill.pdf", b}, {"receipt.pdf", rc}} {
		name, pdf := f.name, f.pdf
		if err := os.WriteFile(filepath.Join(dir, name), pdf, 0o644); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s (%d bytes)\n", filepath.Join(dir, name), len(pdf))
	}
	return 0
}
