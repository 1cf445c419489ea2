package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amigo-metering/amigo/internal/printing"
	"github.com/amigo-metering/amigo/internal/printing/cupstest"
)

func runPrint(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"print"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestPrintHelpAndErrors(t *testing.T) {
	if code, out, _ := runPrint(t, "--help"); code != 0 || !strings.Contains(out, "amigo print") {
		t.Errorf("--help: %d %q", code, out)
	}
	if code, _, errs := runPrint(t, "frobnicate"); code != 2 || !strings.Contains(errs, "未知操作") {
		t.Errorf("unknown action: %d %q", code, errs)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "station.json")
	os.WriteFile(conf, []byte(`{"store": "sqlite:`+filepath.Join(dir, "s.db")+`"}`), 0o644)
	if code, _, errs := runPrint(t, "jobs", "--config", conf); code != 1 || !strings.Contains(errs, "printer") {
		t.Errorf("no printer configured: %d %q", code, errs)
	}
	if code, _, errs := runPrint(t, "sample", "--out", dir, "--font", filepath.Join(dir, "none.ttf")); code != 1 || !strings.Contains(errs, "font_file") {
		t.Errorf("missing font: %d %q", code, errs)
	}
}

// TestPrintFile samples a receipt, queues it with `amigo print file --wait`
// on a cups-pdf printer of the test's own, and reads what came out.
func TestPrintFile(t *testing.T) {
	srv := cupstest.Start(t)
	dir := t.TempDir()
	if code, out, errs := runPrint(t, "sample", "--out", dir); code != 0 {
		t.Fatalf("sample: %d %s %s", code, out, errs)
	}
	prefix := "amigo-cli-" + strings.ToLower(rand.Text()[:8])
	cfg, _ := json.Marshal(map[string]string{"store": "sqlite:" + filepath.Join(dir, "s.db"), "printer": srv.URI(), "print_job_prefix": prefix})
	conf := filepath.Join(dir, "station.json")
	if err := os.WriteFile(conf, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runPrint(t, "file", "--config", conf, "--kind", printing.KindReceipt, "--ref", "P20261126-0007", "--wait", "60s", filepath.Join(dir, "receipt.pdf"))
	if code != 0 || !strings.Contains(out, "printed") {
		t.Fatalf("print file: %d\n%s\n%s\n%s", code, out, errs, srv.Log())
	}
	// The job's user is "amigo", which this system does not know: cups-pdf
	// writes it to its anonymous directory, where Output looks.
	text := cupstest.Text(t, cupstest.Output(t, prefix+"-1"))
	// 20000 fen = 200.00 yuan
	for _, w := range []string{"收款收据", "3301-0042-77", "200.00", "人民币贰佰元整"} {
		if !strings.Contains(text, w) {
			t.Errorf("the printed receipt lacks %q:\n%s", w, text)
		}
	}
	// The same receipt again is the same job: nothing more is printed.
	code, out, _ = runPrint(t, "file", "--config", conf, "--kind", printing.KindReceipt, "--ref", "P20261126-0007", filepath.Join(dir, "receipt.pdf"))
	if code != 0 || !strings.Contains(out, "print job 1 ") {
		t.Errorf("again: %d %s", code, out)
	}
	code, out, _ = runPrint(t, "jobs", "--config", conf)
	if code != 0 || !strings.Contains(out, "P20261126-0007") || !strings.Contains(out, "printed") || strings.Count(out, "\n") != 2 {
		t.Errorf("jobs: %d\n%s", code, out)
	}
}
