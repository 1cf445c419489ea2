package api

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/billing"
)

// Bills through the API: an operator runs a site's cycle, anyone logged in
// reads the bills and what the printed bill shows, an operator corrects one
// (credit note plus reissue); the PDF answers 501 until a renderer exists.
func TestBillRoutes(t *testing.T) {
	e := newEnv(t)
	e.now = time.Date(2026, 11, 5, 9, 0, 0, 0, amigo.Site{}.Location())
	ctx := context.Background()
	op, view := e.login("op", "password-op"), e.login("view", "password-view")
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
	// Two accounts; B0002 lacks its Nov 1 reading and is held. A0001 as in
	// the billing tests: 2600 kWh before, peak 200 + valley 100 in
	// October: 113.60 + 28.80 + tier 2 140 × 0.05 = 7.00 → 149.40 yuan.
	var rs []amigo.Reading
	for i, num := range []string{"A0001", "B0002"} {
		c := amigo.Customer{Name: "王五"}
		if err := e.st.CreateCustomer(ctx, &c); err != nil {
			t.Fatal(err)
		}
		m := amigo.Meter{SiteID: site.ID, Address: fmt.Sprintf("%012d", 500+i), CTRatio: 1, PTRatio: 1, Direct: true}
		if err := e.st.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		a := amigo.Account{Number: num, CustomerID: c.ID, SiteID: site.ID, Mode: amigo.ModePostpaid, Tariff: "zj-residential", BillingDay: 1,
			Meters: []amigo.AccountMeter{{MeterID: m.ID, From: day(1, 1)}}}
		if err := e.st.CreateAccount(ctx, &a); err != nil {
			t.Fatal(err)
		}
		reg := func(t time.Time, f ...int64) amigo.Reading {
			r := amigo.Reading{MeterID: m.ID, Time: t.UTC(), Kind: amigo.KindDaily, HasForward: true, Quality: amigo.QualityActual}
			for j, v := range f {
				r.Forward[j] = amigo.KWh(v)
			}
			return r
		}
		rs = append(rs, reg(day(1, 1), 1000, 100, 400, 300, 200), reg(day(10, 1), 3600, 300, 1400, 900, 1000))
		if i == 0 {
			rs = append(rs, reg(day(11, 1), 3900, 320, 1550, 930, 1100))
		}
	}
	if _, err := e.st.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}

	if code, _ := call(t, e.srv, "POST", "/api/v1/billing-runs", view, map[string]string{"site": "Garden 花园", "cycle": "2026-10"}); code != 403 {
		t.Fatalf("viewer starts a run: %d", code)
	}
	if code, body := raw(t, e.srv, "POST", "/api/v1/billing-runs", op, `{"site": "Garden 花园", "cycle": "2026-13"}`); code != 400 || !strings.Contains(body, "YYYY-MM") {
		t.Fatalf("bad cycle: %d %s", code, body)
	}
	out := e.want("POST", "/api/v1/billing-runs", op, map[string]string{"site": "Garden 花园", "cycle": "2026-10"}, 202)
	id := int64(out["id"].(float64))
	e.srv.WaitBillingRuns()
	run := e.want("GET", fmt.Sprintf("/api/v1/billing-runs/%d", id), view, nil, 200)
	if run["status"] != "done" || run["percent"] != float64(100) || run["issued"] != float64(1) || run["held"] != float64(1) || run["total_fen"] != float64(14940) {
		t.Fatalf("run %v", run)
	}

	list := e.want("GET", "/api/v1/bills?account=A0001", view, nil, 200)
	items := list["items"].([]any)
	if list["total"] != float64(1) || len(items) != 1 {
		t.Fatalf("bills of A0001: %v", list)
	}
	b := items[0].(map[string]any)
	if b["total_fen"] != float64(14940) || b["number"] != fmt.Sprintf("202610-%d-A0001", site.ID) || b["due_date"] != "2026-11-16" || b["status"] != "issued" {
		t.Fatalf("bill %v", b)
	}
	bid := int64(b["id"].(float64))
	held := e.want("GET", "/api/v1/bills?status=held&cycle=2026-10", view, nil, 200)
	if held["total"] != float64(1) || !strings.Contains(fmt.Sprint(held["items"]), "missing_reading") {
		t.Fatalf("held bills %v", held)
	}
	if code, _ := call(t, e.srv, "GET", "/api/v1/bills?account=NOPE", view, nil); code != 404 {
		t.Fatalf("unknown account: %d", code)
	}
	d := e.want("GET", fmt.Sprintf("/api/v1/bills/%d/document", bid), view, nil, 200)
	if d["account_number"] != "A0001" || d["customer_name"] != "王五" || d["period_from"] != "2026-10-01" || d["period_to"] != "2026-10-31" ||
		!strings.Contains(d["pay_url"].(string), "amount_fen=14940") || len(d["history"].([]any)) != 1 {
		t.Fatalf("document %v", d)
	}
	if code, body := raw(t, e.srv, "GET", fmt.Sprintf("/api/v1/bills/%d/pdf", bid), view, ""); code != 501 || !strings.Contains(body, "尚未实现") {
		t.Fatalf("pdf: %d %s", code, body)
	}
	// With a renderer (the printing package's, wired by the station), the
	// PDF is what it makes of the document.
	e.srv.opts.RenderBill = func(d billing.Document) ([]byte, error) {
		return []byte("%PDF-1.7 " + d.Number + " " + d.TotalFen.String()), nil
	}
	if code, body := raw(t, e.srv, "GET", fmt.Sprintf("/api/v1/bills/%d/pdf", bid), view, ""); code != 200 || body != fmt.Sprintf("%%PDF-1.7 202610-%d-A0001 149.40", site.ID) {
		t.Fatalf("pdf with a renderer: %d %q", code, body)
	}
	e.srv.opts.RenderBill = nil
	if code, _ := call(t, e.srv, "GET", "/api/v1/bills/999", view, nil); code != 404 {
		t.Fatalf("missing bill: %d", code)
	}

	// Correct: nothing changed in the readings, so the reissue is the same
	// amount; the account's balance is −149.40 + 149.40 − 149.40.
	if code, _ := call(t, e.srv, "POST", fmt.Sprintf("/api/v1/bills/%d/correct", bid), view, map[string]string{"reason": "x"}); code != 403 {
		t.Fatalf("viewer corrects: %d", code)
	}
	c := e.want("POST", fmt.Sprintf("/api/v1/bills/%d/correct", bid), op, map[string]string{"reason": "customer query / 客户查询"}, 201)
	if c["credit_note"].(map[string]any)["total_fen"] != float64(-14940) || c["reissue"].(map[string]any)["total_fen"] != float64(14940) {
		t.Fatalf("correction %v", c)
	}
	if code, body := raw(t, e.srv, "POST", fmt.Sprintf("/api/v1/bills/%d/correct", bid), op, `{"reason": "again"}`); code != 409 || !strings.Contains(body, "已更正") {
		t.Fatalf("corrected twice: %d %s", code, body)
	}
	a, _ := e.st.FindAccountByNumber(ctx, "A0001")
	if a.BalanceFen != -14940 {
		t.Fatalf("balance %d", a.BalanceFen)
	}
}
