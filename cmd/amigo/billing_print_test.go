package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/printing"
	"github.com/amigo-metering/amigo/internal/printing/cupstest"
	"github.com/amigo-metering/amigo/internal/sqlite"
)

// `amigo billing print` queues a finished run's bills once; the station's
// queue prints them on the real CUPS, and each PDF out of cups-pdf holds
// its account's number and total (149.40 yuan each, see billingFleet).
func TestBillingPrintThroughCUPS(t *testing.T) {
	if _, err := printing.NewRenderer(os.Getenv("AMIGO_FONT_FILE")); err != nil {
		t.Skipf("no CJK font: %v", err)
	}
	srv := cupstest.Start(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	billingFleet(t, db, 3)
	prefix := "amigo-bp-" + strings.ToLower(rand.Text()[:8])
	conf := filepath.Join(dir, "station.json")
	cfg, _ := json.Marshal(map[string]string{"store": "sqlite:" + db, "printer": srv.URI(), "print_job_prefix": prefix})
	if err := os.WriteFile(conf, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	noPrinter := filepath.Join(dir, "noprinter.json")
	os.WriteFile(noPrinter, []byte(`{"store": "sqlite:`+db+`"}`), 0o644)
	cli := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := cli("billing", "run", "--config", conf, "--site", "Estate", "--cycle", "2026-10", "--progress=false")
	var sum billingSummary
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Issued != 3 {
		t.Fatalf("billing run: %d %s %s", code, out, errs)
	}
	runArg := fmt.Sprint(sum.Run)
	if code, _, errs := cli("billing", "print", "--config", noPrinter, "--run", runArg); code != 1 || !strings.Contains(errs, "printer") || !strings.Contains(errs, "打印机") {
		t.Errorf("no printer: %d %q", code, errs)
	}
	if code, _, errs := cli("billing", "print", "--config", conf); code != 2 || !strings.Contains(errs, "--run") {
		t.Errorf("no run: %d %q", code, errs)
	}
	if code, out, _ := cli("billing", "print", "--help"); code != 0 || !strings.Contains(out, "-run") {
		t.Errorf("--help: %d %q", code, out)
	}
	var printed struct {
		Run   int64   `json:"run"`
		Bills int     `json:"bills"`
		Jobs  []int64 `json:"print_jobs"`
	}
	code, out, errs = cli("billing", "print", "--config", conf, "--run", runArg)
	if code != 0 || json.Unmarshal([]byte(out), &printed) != nil || printed.Bills != 3 || len(printed.Jobs) != 3 {
		t.Fatalf("billing print: %d %s %s", code, out, errs)
	}
	first := fmt.Sprint(printed.Jobs)
	code, out, _ = cli("billing", "print", "--config", conf, "--run", runArg)
	if code != 0 || json.Unmarshal([]byte(out), &printed) != nil || fmt.Sprint(printed.Jobs) != first {
		t.Fatalf("billing print again: %d %s, want jobs %s", code, out, first)
	}

	// The station's print queue, as `amigo station` runs it.
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	q, err := printing.NewQueue(st, printing.QueueConfig{Printer: srv.URI(), JobPrefix: prefix, MinBackoff: 100 * time.Millisecond, Poll: 100 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	for i, id := range printed.Jobs {
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		j, err := q.Wait(wctx, id, func(j amigo.PrintJob) bool { return j.State == amigo.PrintPrinted })
		wcancel()
		if err != nil {
			t.Fatalf("job %d not printed: %+v %v\n%s", id, j, err, srv.Log())
		}
		text := cupstest.Text(t, cupstest.Output(t, q.JobName(id)))
		for _, w := range []string{fmt.Sprintf("E%05d", i), "149.40", "电费账单", "户号"} {
			if !strings.Contains(text, w) {
				t.Errorf("printed bill %d lacks %q:\n%s", i, w, text)
			}
		}
	}
}
