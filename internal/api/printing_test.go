package api

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/printing"
	"github.com/amigo-metering/amigo/internal/printing/cupstest"
)

// printEnv is an API on a store with one postpaid account, A0001, billed
// for October by a run through the API (149.40 yuan, as in
// TestBillRoutes: peak 200 kWh × 0.5680 = 113.60, valley 100 × 0.2880 =
// 28.80, tier 2 140 × 0.05 = 7.00), a cashier "desk", the account's
// customer "cust" and another customer "other"; the printing package's
// renderer is wired in as the station wires it.
func printEnv(t *testing.T) (e *env, r *printing.Renderer, accountID, billID, runID int64) {
	t.Helper()
	r, err := printing.NewRenderer(os.Getenv("AMIGO_FONT_FILE"))
	if err != nil {
		t.Skipf("no CJK font (%v): install Debian fonts-lxgw-wenkai (.ci/run installs it)", err)
	}
	e = newEnv(t)
	e.now = time.Date(2026, 11, 5, 9, 0, 0, 0, amigo.Site{}.Location())
	ctx := context.Background()
	sh := amigo.Site{}.Location()
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, sh) }
	site := amigo.Site{Name: "Garden 花园", TimeZone: "Asia/Shanghai"}
	if err := e.st.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	doc, _ := os.ReadFile("../../docs/tariffs/zj-residential.json")
	if err := e.st.PutTariff(ctx, amigo.TariffVersion{Name: "zj-residential", ValidFrom: "2026-01-01", Document: doc, CreatedAt: day(1, 1), CreatedBy: "root"}); err != nil {
		t.Fatal(err)
	}
	c, other := amigo.Customer{Name: "王五"}, amigo.Customer{Name: "赵六"}
	for _, x := range []*amigo.Customer{&c, &other} {
		if err := e.st.CreateCustomer(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	m := amigo.Meter{SiteID: site.ID, Address: "000000000500", CTRatio: 1, PTRatio: 1, Direct: true}
	if err := e.st.CreateMeter(ctx, &m); err != nil {
		t.Fatal(err)
	}
	a := amigo.Account{Number: "A0001", CustomerID: c.ID, SiteID: site.ID, Mode: amigo.ModePostpaid, Tariff: "zj-residential", BillingDay: 1,
		Meters: []amigo.AccountMeter{{MeterID: m.ID, From: day(1, 1)}}}
	if err := e.st.CreateAccount(ctx, &a); err != nil {
		t.Fatal(err)
	}
	reg := func(at time.Time, f ...int64) amigo.Reading {
		x := amigo.Reading{MeterID: m.ID, Time: at.UTC(), Kind: amigo.KindDaily, HasForward: true, Quality: amigo.QualityActual}
		for j, v := range f {
			x.Forward[j] = amigo.KWh(v)
		}
		return x
	}
	if _, err := e.st.WriteReadings(ctx, []amigo.Reading{reg(day(1, 1), 1000, 100, 400, 300, 200), reg(day(10, 1), 3600, 300, 1400, 900, 1000),
		reg(day(11, 1), 3900, 320, 1550, 930, 1100)}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []amigo.User{{Username: "desk", Role: amigo.RoleCashier}, {Username: "cust", Role: amigo.RoleCustomer, CustomerID: c.ID},
		{Username: "other", Role: amigo.RoleCustomer, CustomerID: other.ID}} {
		u.PasswordHash = testHash("password-" + u.Username)
		if err := e.st.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
	}
	op := e.login("op", "password-op")
	run := e.want("POST", "/api/v1/billing-runs", op, map[string]string{"site": "Garden 花园", "cycle": "2026-10"}, 202)
	e.srv.WaitBillingRuns()
	bs, _, err := e.st.ListBills(ctx, amigo.BillFilter{AccountID: a.ID})
	if err != nil || len(bs) != 1 || bs[0].TotalFen != 14940 {
		t.Fatalf("bills %+v %v", bs, err)
	}
	e.srv.opts.RenderBill, e.srv.opts.RenderReceipt = r.RenderBill, r.Receipt
	return e, r, a.ID, bs[0].ID, int64(run["id"].(float64))
}

// The bill and the receipt as PDFs through the API, read back with
// pdftotext; who may fetch a receipt; printing asked of a station without
// a printer is 409 and takes no money.
func TestBillAndReceiptPDFs(t *testing.T) {
	e, _, accountID, billID, runID := printEnv(t)
	view, op, desk, cust, other := e.login("view", "password-view"), e.login("op", "password-op"), e.login("desk", "password-desk"),
		e.login("cust", "password-cust"), e.login("other", "password-other")

	code, body := raw(t, e.srv, "GET", fmt.Sprintf("/api/v1/bills/%d/pdf", billID), view, "")
	if code != 200 || !strings.HasPrefix(body, "%PDF-") {
		t.Fatalf("bill pdf: %d %.200s", code, body)
	}
	text := cupstest.Text(t, []byte(body))
	for _, w := range []string{"A0001", "149.40", "电费账单", "户号", "合计", "缴费截止", "王五", "峰 peak"} {
		if !strings.Contains(text, w) {
			t.Errorf("the bill's PDF lacks %q:\n%s", w, text)
		}
	}

	path := fmt.Sprintf("/api/v1/accounts/%d/payments", accountID)
	// No printer: refused before the money is taken.
	out := e.want("POST", path, desk, map[string]any{"amount_fen": 5000, "method": "cash", "reference": "desk-p", "print": true}, 409)
	if msg := out["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "printer") || !strings.Contains(msg, "打印机") {
		t.Errorf("no printer: %q", msg)
	}
	if ps, _, err := e.st.ListPayments(context.Background(), amigo.PaymentFilter{AccountID: accountID}); err != nil || len(ps) != 0 {
		t.Fatalf("payments after a refused one: %v %v", ps, err)
	}
	e.want("POST", fmt.Sprintf("/api/v1/billing-runs/%d/print", runID), op, nil, 409)

	rc := e.want("POST", path, desk, map[string]any{"amount_fen": 5000, "method": "cash", "reference": "desk-1"}, 201)
	pid := int64(rc["id"].(float64))
	e.want("POST", fmt.Sprintf("/api/v1/payments/%d/print", pid), desk, nil, 409)
	pdf := fmt.Sprintf("/api/v1/payments/%d/pdf", pid)
	for _, who := range []struct {
		name, tok string
		code      int
	}{{"cashier", desk, 200}, {"operator", op, 200}, {"customer", cust, 200}, {"viewer", view, 403}, {"another customer", other, 404}} {
		code, body := raw(t, e.srv, "GET", pdf, who.tok, "")
		if code != who.code {
			t.Errorf("%s: %d %.200s, want %d", who.name, code, body, who.code)
			continue
		}
		if code != 200 {
			continue
		}
		text := cupstest.Text(t, []byte(body))
		// 5000 fen = 50.00 yuan.
		for _, w := range []string{"收款收据", "R0000000001", "A0001", "王五", "50.00", "现金", "desk"} {
			if !strings.Contains(text, w) {
				t.Errorf("%s: the receipt's PDF lacks %q:\n%s", who.name, w, text)
			}
		}
	}
	if code, _ := raw(t, e.srv, "GET", "/api/v1/payments/99/pdf", desk, ""); code != 404 {
		t.Errorf("missing payment: %d", code)
	}
	e.srv.opts.RenderReceipt = nil
	if code, body := raw(t, e.srv, "GET", pdf, desk, ""); code != 501 || !strings.Contains(body, "font_file") {
		t.Errorf("no renderer: %d %s", code, body)
	}
}

// Printing through the API on the real CUPS: a billing run's bills and a
// desk payment's receipt ("print": true) come out of cups-pdf; asked again,
// nothing is queued twice.
func TestPrintThroughAPI(t *testing.T) {
	srv := cupstest.Start(t)
	e, r, accountID, billID, runID := printEnv(t)
	op, desk := e.login("op", "password-op"), e.login("desk", "password-desk")
	ctx, cancel := context.WithCancel(context.Background())
	q, err := printing.NewQueue(e.st.(printing.Store), printing.QueueConfig{Printer: srv.URI(), JobPrefix: fmt.Sprintf("amigo-api-%d", time.Now().UnixNano()),
		Client: &printing.Client{User: cupstest.User}, MinBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, Poll: 100 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	bp := &printing.BillPrinter{Store: e.st, Renderer: r, Queue: q}
	e.srv.opts.PrintRun = bp.PrintRun
	e.srv.opts.PrintReceipt = func(ctx context.Context, ref string, pdf []byte) (int64, error) {
		return q.Enqueue(ctx, printing.KindReceipt, ref, pdf)
	}
	running := make(chan error, 1)
	go func() { running <- q.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-running })
	printed := func(id int64, want ...string) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		j, err := q.Wait(wctx, id, func(j amigo.PrintJob) bool { return j.State == amigo.PrintPrinted })
		wcancel()
		if err != nil {
			t.Fatalf("job %d not printed in 60 s: %+v %v\n%s", id, j, err, srv.Log())
		}
		text := cupstest.Text(t, cupstest.Output(t, q.JobName(id)))
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("printed job %d lacks %q:\n%s", id, w, text)
			}
		}
	}

	e.want("POST", fmt.Sprintf("/api/v1/billing-runs/%d/print", runID), desk, nil, 403)
	out := e.want("POST", fmt.Sprintf("/api/v1/billing-runs/%d/print", runID), op, nil, 202)
	jobs := out["print_jobs"].([]any)
	if out["bills"] != float64(1) || len(jobs) != 1 {
		t.Fatalf("print run: %v", out)
	}
	again := e.want("POST", fmt.Sprintf("/api/v1/billing-runs/%d/print", runID), op, nil, 202)
	if fmt.Sprint(again["print_jobs"]) != fmt.Sprint(jobs) {
		t.Fatalf("printed again: %v, want the same jobs %v", again, jobs)
	}
	b, _ := e.st.GetBill(ctx, billID)
	printed(int64(jobs[0].(float64)), "A0001", "149.40", "电费账单", b.Number)
	e.want("POST", "/api/v1/billing-runs/999/print", op, nil, 404)

	rc := e.want("POST", fmt.Sprintf("/api/v1/accounts/%d/payments", accountID), desk, map[string]any{"amount_fen": 20000, "method": "card", "reference": "desk-2", "print": true}, 201)
	job, ok := rc["print_job"].(float64)
	if !ok || rc["print_error"] != nil {
		t.Fatalf("payment with print: %v", rc)
	}
	// 20000 fen = 200.00 yuan.
	printed(int64(job), "收款收据", rc["receipt"].(string), "A0001", "200.00", "银行卡")
	pr := e.want("POST", fmt.Sprintf("/api/v1/payments/%d/print", int64(rc["id"].(float64))), desk, nil, 202)
	if pr["print_job"] != job {
		t.Fatalf("receipt printed again: %v, want job %v", pr, job)
	}
	if jobs, err := q.List(ctx, "", 10); err != nil || len(jobs) != 2 {
		t.Fatalf("%d jobs (%v), want 2", len(jobs), err)
	}
}
