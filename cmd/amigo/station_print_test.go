package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/printing"
	"github.com/amigo-metering/amigo/internal/printing/cupstest"
	"github.com/amigo-metering/amigo/internal/sqlite"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// "From reading to printed bill, nothing needs a person": a station with
// "printer" and "print_bills" whose clock is past 02:00 on the billing day
// bills the cycle by itself and prints every bill it issued, each once,
// through the real CUPS; the API serves the bill's PDF, and a desk payment
// with "print": true prints its receipt.
func TestStationPrintsItsBills(t *testing.T) {
	if _, err := printing.NewRenderer(os.Getenv("AMIGO_FONT_FILE")); err != nil {
		t.Skipf("no CJK font: %v", err)
	}
	srv := cupstest.Start(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "amigo.db")
	billingFleet(t, db, 3)
	prefix := "amigo-st-" + strings.ToLower(rand.Text()[:8])
	base := testStationConfig(t, dir)
	base.FontFile = os.Getenv("AMIGO_FONT_FILE")

	// print_bills without a printer is refused at start.
	bad := base
	bad.PrintBills, bad.clock = true, vclock.Real{}
	if err := stationMain(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "printer") {
		t.Fatalf("print_bills without printer: %v", err)
	}

	cfg := base
	cfg.Printer, cfg.PrintBills, cfg.PrintJobPrefix = srv.URI(), true, prefix
	cfg.clock = vclock.NewVirtual(time.Date(2026, 11, 1, 3, 0, 0, 0, amigo.Site{}.Location()), 1)
	a := startStation(t, cfg)
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var jobs []amigo.PrintJob
	eventually(t, "3 bills printed", 60*time.Second, func() bool {
		jobs, _ = st.ListPrintJobs(context.Background(), amigo.PrintPrinted, 10)
		return len(jobs) == 3
	})
	bills, _, err := st.ListBills(context.Background(), amigo.BillFilter{Cycle: "2026-10"})
	if err != nil || len(bills) != 3 {
		t.Fatalf("bills %v %v", bills, err)
	}
	account := map[string]string{}
	for _, b := range bills {
		account[b.Number] = b.AccountNumber
	}
	for _, j := range jobs {
		if j.Kind != printing.KindBill || account[j.RefID] == "" {
			t.Errorf("job %+v is not one of the bills", j)
			continue
		}
		// 149.40 yuan each (billingFleet).
		text := cupstest.Text(t, cupstest.Output(t, fmt.Sprintf("%s-%d", prefix, j.ID)))
		for _, w := range []string{account[j.RefID], "149.40", "电费账单", "户号"} {
			if !strings.Contains(text, w) {
				t.Errorf("printed bill %s lacks %q:\n%s", j.RefID, w, text)
			}
		}
	}

	api := "http://" + a.API.String()
	do := func(method, path, tok string, body any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, api+path, bytes.NewReader(b))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	var login struct{ Token string }
	_, out := do("POST", "/api/v1/login", "", map[string]string{"username": "admin", "password": "correct-horse-battery"})
	json.Unmarshal(out, &login)
	code, pdf := do("GET", fmt.Sprintf("/api/v1/bills/%d/pdf", bills[0].ID), login.Token, nil)
	if code != 200 || !strings.Contains(cupstest.Text(t, pdf), bills[0].AccountNumber) {
		t.Fatalf("bill pdf: %d %.200s", code, pdf)
	}
	var rc struct {
		ID       int64  `json:"id"`
		Receipt  string `json:"receipt"`
		PrintJob int64  `json:"print_job"`
	}
	code, out = do("POST", fmt.Sprintf("/api/v1/accounts/%d/payments", bills[0].AccountID), login.Token, map[string]any{"amount_fen": 14940, "method": "cash", "reference": "desk-1", "print": true})
	if json.Unmarshal(out, &rc); code != 201 || rc.PrintJob == 0 {
		t.Fatalf("payment: %d %s", code, out)
	}
	eventually(t, "the receipt printed", 60*time.Second, func() bool {
		j, err := st.PrintJob(context.Background(), rc.PrintJob)
		return err == nil && j.State == amigo.PrintPrinted
	})
	// 14940 fen = 149.40 yuan.
	text := cupstest.Text(t, cupstest.Output(t, fmt.Sprintf("%s-%d", prefix, rc.PrintJob)))
	for _, w := range []string{"收款收据", rc.Receipt, bills[0].AccountNumber, "149.40"} {
		if !strings.Contains(text, w) {
			t.Errorf("printed receipt lacks %q:\n%s", w, text)
		}
	}
}
