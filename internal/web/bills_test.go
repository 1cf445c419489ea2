package web

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/api"
	"github.com/amigo-metering/amigo/internal/billing"
	"github.com/amigo-metering/amigo/internal/printing"
)

// postpaid adds two postpaid accounts of two customers on the example
// residential tariff, P-001 on meter 2 and P-002 on meter 3, with the
// frozen registers of January 2026's boundaries.
func (f *fixture) postpaid(t *testing.T) (p1, p2 amigo.Account) {
	t.Helper()
	ctx := context.Background()
	loc := f.site.Location()
	doc, err := os.ReadFile("../../docs/tariffs/zj-residential.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.PutTariff(ctx, amigo.TariffVersion{Name: "zj-residential", ValidFrom: "2026-01-01", Document: doc, CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, loc), CreatedBy: "admin"}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
	var rs []amigo.Reading
	for i, p := range []*amigo.Account{&p1, &p2} {
		c := amigo.Customer{Name: []string{"钱七", "孙八"}[i]}
		if err := f.st.CreateCustomer(ctx, &c); err != nil {
			t.Fatal(err)
		}
		m, err := f.st.FindMeterByAddress(ctx, []string{"000000000002", "000000000003"}[i])
		if err != nil {
			t.Fatal(err)
		}
		*p = amigo.Account{Number: []string{"P-001", "P-002"}[i], CustomerID: c.ID, SiteID: f.site.ID, Mode: amigo.ModePostpaid, Tariff: "zj-residential", BillingDay: 1,
			CreatedAt: at, Meters: []amigo.AccountMeter{{MeterID: m.ID, From: at}}}
		if err := f.st.CreateAccount(ctx, p); err != nil {
			t.Fatal(err)
		}
		reg := func(d time.Time, v ...int64) amigo.Reading {
			r := amigo.Reading{MeterID: m.ID, Time: d.UTC(), Kind: amigo.KindDaily, HasForward: true, Quality: amigo.QualityActual}
			for j, x := range v {
				r.Forward[j] = amigo.KWh(x)
			}
			return r
		}
		rs = append(rs, reg(at, 1000, 100, 400, 300, 200), reg(at.AddDate(0, 1, 0), 1300, 120, 550, 330, 300))
	}
	if _, err := f.st.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	return p1, p2
}

// customerLogin logs a client in to the app as an account's customer (the
// desk's set-up code, then a password of their own).
func (f *fixture) customerLogin(t *testing.T, number string) *http.Client {
	t.Helper()
	code, err := EnsureCustomerLogin(context.Background(), f.st, number, "desk", true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := f.client(t)
	if res, _ := postForm(t, c, f.srv.URL+"/app/login", url.Values{"account": {number}, "password": {code}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("app login %s: %d", number, res.StatusCode)
	}
	_, body := get(t, c, f.srv.URL+"/app/setup")
	tok := csrfRe.FindStringSubmatch(body)[1]
	if res, _ := postForm(t, c, f.srv.URL+"/app/setup", url.Values{"csrf": {tok}, "password": {"pass-" + number}, "password2": {"pass-" + number}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("app set-up %s: %d", number, res.StatusCode)
	}
	return c
}

// Bills in the browser: an operator starts a billing run on its page (the
// API's run, audited), sees it finish and lists its bills; an account's
// page lists its bills; the customer's app lists their own bills with the
// amount due, and each bill links to its PDF (501 from the API until a
// renderer is wired, the PDF itself once one is); another account's bill
// is not found.
func TestBillPages(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, s.open(t), 4)
			p1, p2 := f.postpaid(t)
			c := f.client(t)
			f.login(t, c, "admin", adminPW)

			// The run's form, in both languages.
			for _, l := range []string{"en", "zh"} {
				c.Get(f.srv.URL + "/lang/" + l + "?next=/")
				code, body := get(t, c, f.srv.URL+"/billing-runs")
				if code != http.StatusOK || !strings.Contains(body, `id="start-run"`) || !strings.Contains(body, map[string]string{"en": "Billing runs", "zh": "出账"}[l]) {
					t.Fatalf("%s /billing-runs: %d\n%s", l, code, body)
				}
				for _, bad := range untranslated(body) {
					t.Errorf("%s /billing-runs shows the key %q", l, bad)
				}
			}
			_, body := get(t, c, f.srv.URL+"/billing-runs")
			tok := csrfRe.FindStringSubmatch(body)[1]
			site := strconv.FormatInt(f.site.ID, 10)
			if res, _ := postForm(t, c, f.srv.URL+"/billing-runs", url.Values{"site": {site}, "cycle": {"2026-01"}}); res.StatusCode != http.StatusForbidden {
				t.Fatalf("a run without the form token: %d", res.StatusCode)
			}
			if res, body := postForm(t, c, f.srv.URL+"/billing-runs", url.Values{"csrf": {tok}, "site": {site}, "cycle": {"2026-13"}}); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "YYYY-MM") || !strings.Contains(body, `value="2026-13"`) {
				t.Fatalf("a bad cycle: %d\n%s", res.StatusCode, body)
			}
			// A viewer sees the page without the form; the API refuses the run.
			v := f.client(t)
			f.login(t, v, "viewer", viewerPW)
			_, body = get(t, v, f.srv.URL+"/billing-runs")
			if strings.Contains(body, `id="start-run"`) {
				t.Errorf("a viewer is offered the run")
			}
			if res, _ := postForm(t, v, f.srv.URL+"/billing-runs", url.Values{"csrf": {csrfRe.FindStringSubmatch(body)[1]}, "site": {site}, "cycle": {"2026-01"}}); res.StatusCode != http.StatusForbidden {
				t.Fatalf("a viewer's run: %d", res.StatusCode)
			}

			res, _ := postForm(t, c, f.srv.URL+"/billing-runs", url.Values{"csrf": {tok}, "site": {site}, "cycle": {"2026-01"}})
			loc := res.Header.Get("Location")
			if res.StatusCode != http.StatusSeeOther || !regexp.MustCompile(`^/billing-runs/[0-9]+$`).MatchString(loc) {
				t.Fatalf("start the run: %d %q", res.StatusCode, loc)
			}
			f.api.WaitBillingRuns()
			// January: peak T1+T2+T3 = 20 + 150 + 30 = 200 kWh × 0.5680 =
			// 113.60; valley T4 100 kWh × 0.2880 = 28.80; 300 kWh of the
			// year, below the first threshold (2760): no tier. 142.40 each.
			bills, n, err := f.st.ListBills(ctx, amigo.BillFilter{Cycle: "2026-01", Limit: 10})
			if err != nil || n != 2 {
				t.Fatalf("bills after the run: %d %v", n, err)
			}
			byAcct := map[int64]amigo.Bill{}
			for _, b := range bills {
				if b.TotalFen != 14240 || b.Status != amigo.BillIssued {
					t.Fatalf("bill %+v, want 14240 fen issued", b)
				}
				byAcct[b.AccountID] = b
			}
			b1, b2 := byAcct[p1.ID], byAcct[p2.ID]
			for _, l := range []string{"en", "zh"} {
				c.Get(f.srv.URL + "/lang/" + l + "?next=/")
				code, body := get(t, c, f.srv.URL+loc)
				if code != http.StatusOK || !strings.Contains(body, `<b id="percent">100%</b>`) || !strings.Contains(body, `data-status="done"`) ||
					!strings.Contains(body, b1.Number) || !strings.Contains(body, b2.Number) || !strings.Contains(body, "142.40") ||
					!strings.Contains(body, `href="/bills/`+strconv.FormatInt(b1.ID, 10)+`/pdf"`) {
					t.Fatalf("%s run page: %d\n%s", l, code, body)
				}
				for _, bad := range untranslated(body) {
					t.Errorf("%s run page shows the key %q", l, bad)
				}
				// The runs page lists it, done.
				code, body = get(t, c, f.srv.URL+"/billing-runs")
				if code != http.StatusOK || !strings.Contains(body, `<a href="`+loc+`">`) || !strings.Contains(body, "<td>100%</td>") || !strings.Contains(body, "Campus 校园") {
					t.Fatalf("%s runs page after the run: %d\n%s", l, code, body)
				}
				for _, bad := range untranslated(body) {
					t.Errorf("%s runs page shows the key %q", l, bad)
				}
				// The account's page lists its bills, not the other's.
				code, body = get(t, c, f.srv.URL+"/accounts/"+strconv.FormatInt(p1.ID, 10))
				if code != http.StatusOK || !strings.Contains(body, b1.Number) || strings.Contains(body, b2.Number) || !strings.Contains(body, b1.DueDate) {
					t.Fatalf("%s account page: %d\n%s", l, code, body)
				}
				for _, bad := range untranslated(body) {
					t.Errorf("%s account page shows the key %q", l, bad)
				}
			}
			as, err := f.st.ListAudit(ctx, 50)
			if err != nil {
				t.Fatal(err)
			}
			started := false
			for _, e := range as {
				started = started || e.Action == "billing.run" && e.Actor == "admin" && strings.Contains(e.Detail, "started")
			}
			if !started {
				t.Errorf("the run's start is not in the audit log as admin's: %+v", as)
			}
			// Print all: without a printer the API's refusal, in both
			// languages; with the station's print queue (its runner not
			// started: the jobs stay queued) each bill queued once,
			// however often asked.
			_, body = get(t, c, f.srv.URL+loc)
			if !strings.Contains(body, `id="print-run"`) {
				t.Fatalf("a finished run's page has no print button:\n%s", body)
			}
			tok = csrfRe.FindStringSubmatch(body)[1]
			if res, body := postForm(t, c, f.srv.URL+loc+"/print", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusConflict || !strings.Contains(body, "打印机") {
				t.Fatalf("print without a printer: %d\n%s", res.StatusCode, body)
			}
			if rd, err := printing.NewRenderer(printing.DefaultFontFile); err == nil {
				q, err := printing.NewQueue(f.st.(printing.Store), printing.QueueConfig{Printer: "ipp://127.0.0.1:9/printers/none"})
				if err != nil {
					t.Fatal(err)
				}
				bp := &printing.BillPrinter{Store: f.st, Renderer: rd, Queue: q}
				if err := f.api.SetOptions(api.Options{PrintRun: bp.PrintRun, PrintReceipt: func(ctx context.Context, ref string, pdf []byte) (int64, error) {
					return q.Enqueue(ctx, printing.KindReceipt, ref, pdf)
				}}); err != nil {
					t.Fatal(err)
				}
				for range 2 {
					res, body := postForm(t, c, f.srv.URL+loc+"/print", url.Values{"csrf": {tok}})
					if res.StatusCode != http.StatusOK || !strings.Contains(body, "2 张账单送入打印队列") && !strings.Contains(body, "2 bills sent to the print queue") {
						t.Fatalf("print all: %d\n%s", res.StatusCode, body)
					}
				}
				if jobs, err := q.List(ctx, "", 100); err != nil || len(jobs) != 2 {
					t.Fatalf("print jobs after asking twice: %d %v, want the run's 2 bills once", len(jobs), err)
				}
				if err := f.api.SetOptions(api.Options{}); err != nil {
					t.Fatal(err)
				}
			}
			// The PDF link: the API's answer (501 while no renderer is wired).
			code, body := get(t, c, f.srv.URL+"/bills/"+strconv.FormatInt(b1.ID, 10)+"/pdf")
			if code != http.StatusNotImplemented || !strings.Contains(body, "尚未实现") {
				t.Fatalf("staff pdf without a renderer: %d\n%s", code, body)
			}

			// The customer's app: their bills, with the amount due.
			pc := f.customerLogin(t, "P-001")
			home := appHome(p1.ID)
			// The notices: the account's own bill issued, not the other's.
			if code, body := get(t, pc, f.srv.URL+home+"notices"); code != http.StatusOK || !strings.Contains(body, b1.Number) || !strings.Contains(body, "142.40") || strings.Contains(body, b2.Number) {
				t.Fatalf("the customer's notices: %d\n%s", code, body)
			}
			for _, l := range []string{"en", "zh"} {
				pc.Get(f.srv.URL + "/app/lang/" + l + "?next=/app/")
				code, body := get(t, pc, f.srv.URL+home+"bills")
				pdf := home + "bills/" + strconv.FormatInt(b1.ID, 10) + "/pdf"
				if code != http.StatusOK || !strings.Contains(body, b1.Number) || strings.Contains(body, b2.Number) || !strings.Contains(body, "¥ 142.40") ||
					!strings.Contains(body, "2026-01") || !strings.Contains(body, b1.DueDate) || !strings.Contains(body, `href="`+pdf+`"`) ||
					!strings.Contains(body, map[string]string{"en": "issued", "zh": "已出账"}[l]) {
					t.Fatalf("%s app bills: %d\n%s", l, code, body)
				}
				for _, bad := range untranslated(body) {
					t.Errorf("%s app bills shows the key %q", l, bad)
				}
				code, body = get(t, pc, f.srv.URL+home)
				if code != http.StatusOK || !regexp.MustCompile(`id="due">¥ 142.40<`).MatchString(body) || !strings.Contains(body, `id="due-date"`) || !strings.Contains(body, b1.DueDate) {
					t.Fatalf("%s app home: %d\n%s", l, code, body)
				}
				code, body = get(t, pc, f.srv.URL+pdf)
				if code != http.StatusNotImplemented || !strings.Contains(body, map[string]string{"en": "not rendered yet", "zh": "尚未实现"}[l]) {
					t.Fatalf("%s app pdf without a renderer: %d\n%s", l, code, body)
				}
			}
			// Another account's bill, through their own pages or the other
			// account's: not found.
			for _, p := range []string{home + "bills/" + strconv.FormatInt(b2.ID, 10) + "/pdf", home + "bills/999999/pdf", home + "bills/x/pdf",
				appHome(p2.ID) + "bills", appHome(p2.ID) + "bills/" + strconv.FormatInt(b2.ID, 10) + "/pdf"} {
				if code, body := get(t, pc, f.srv.URL+p); code != http.StatusNotFound || strings.Contains(body, "P-002") {
					t.Errorf("%s: %d, want 404", p, code)
				}
			}

			// With the printing package's renderer wired, the link gives the PDF.
			if err := f.api.SetOptions(api.Options{RenderBill: func(d billing.Document) ([]byte, error) {
				return []byte("%PDF-1.7 " + d.Number), nil
			}}); err != nil {
				t.Fatal(err)
			}
			for _, x := range []struct {
				c *http.Client
				u string
			}{{pc, home + "bills/" + strconv.FormatInt(b1.ID, 10) + "/pdf"}, {c, "/bills/" + strconv.FormatInt(b2.ID, 10) + "/pdf"}} {
				res, err := x.c.Get(f.srv.URL + x.u)
				if err != nil {
					t.Fatal(err)
				}
				b := make([]byte, 64)
				n, _ := res.Body.Read(b)
				res.Body.Close()
				if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(string(b[:n]), "%PDF-1.7 ") {
					t.Errorf("%s with a renderer: %d %q %q", x.u, res.StatusCode, res.Header.Get("Content-Type"), b[:n])
				}
			}
			if code, _ := get(t, pc, f.srv.URL+home+"bills/"+strconv.FormatInt(b2.ID, 10)+"/pdf"); code != http.StatusNotFound {
				t.Errorf("another's pdf with a renderer: %d", code)
			}
		})
	}
}
