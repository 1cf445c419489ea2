package api

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// A customer reads their own account's bills and credit notes through the
// API, and nothing else: another account's (even the same customer's), a
// bill held for review, and a bill that does not exist all answer the
// same 404.
func TestCustomerBills(t *testing.T) {
	e := newEnv(t)
	e.now = time.Date(2026, 11, 5, 9, 0, 0, 0, amigo.Site{}.Location())
	ctx := context.Background()
	op := e.login("op", "password-op")
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
	// A0001 and A0002 are 王五's, B0003 赵六's. A0002 lacks its Nov 1
	// reading and is held. A0001 and B0003 as in TestBillRoutes: peak 200 +
	// valley 100 in October: 113.60 + 28.80 + tier 2 140 × 0.05 = 7.00 →
	// 149.40 yuan.
	var cust [2]amigo.Customer
	for i, n := range []string{"王五", "赵六"} {
		cust[i] = amigo.Customer{Name: n}
		if err := e.st.CreateCustomer(ctx, &cust[i]); err != nil {
			t.Fatal(err)
		}
	}
	accts := map[string]amigo.Account{}
	var rs []amigo.Reading
	for i, num := range []string{"A0001", "A0002", "B0003"} {
		m := amigo.Meter{SiteID: site.ID, Address: fmt.Sprintf("%012d", 700+i), CTRatio: 1, PTRatio: 1, Direct: true}
		if err := e.st.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		a := amigo.Account{Number: num, CustomerID: cust[i/2].ID, SiteID: site.ID, Mode: amigo.ModePostpaid, Tariff: "zj-residential", BillingDay: 1,
			Meters: []amigo.AccountMeter{{MeterID: m.ID, From: day(1, 1)}}}
		if err := e.st.CreateAccount(ctx, &a); err != nil {
			t.Fatal(err)
		}
		accts[num] = a
		reg := func(t time.Time, f ...int64) amigo.Reading {
			r := amigo.Reading{MeterID: m.ID, Time: t.UTC(), Kind: amigo.KindDaily, HasForward: true, Quality: amigo.QualityActual}
			for j, v := range f {
				r.Forward[j] = amigo.KWh(v)
			}
			return r
		}
		rs = append(rs, reg(day(1, 1), 1000, 100, 400, 300, 200), reg(day(10, 1), 3600, 300, 1400, 900, 1000))
		if num != "A0002" {
			rs = append(rs, reg(day(11, 1), 3900, 320, 1550, 930, 1100))
		}
	}
	if _, err := e.st.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	e.want("POST", "/api/v1/billing-runs", op, map[string]string{"site": "Garden 花园", "cycle": "2026-10"}, 202)
	e.srv.WaitBillingRuns()
	// The runs, newest first, with their percentage: 3 accounts, 2 issued
	// (A0001, B0003), 1 held (A0002).
	for _, q := range []string{"", "?site=Garden 花园", "?limit=1"} {
		l := e.want("GET", "/api/v1/billing-runs"+strings.ReplaceAll(q, " ", "%20"), op, nil, 200)
		items := l["items"].([]any)
		if len(items) != 1 || l["total"] != float64(1) {
			t.Fatalf("runs%s: %v", q, l)
		}
		r := items[0].(map[string]any)
		if r["percent"] != float64(100) || r["status"] != "done" || r["total"] != float64(3) || r["issued"] != float64(2) || r["held"] != float64(1) || r["cycle"] != "2026-10" {
			t.Fatalf("runs%s: %v", q, r)
		}
	}
	if code, _ := call(t, e.srv, "GET", "/api/v1/billing-runs?site=NOPE", op, nil); code != 404 {
		t.Fatalf("runs of an unknown site: %d", code)
	}
	if code, _ := call(t, e.srv, "GET", "/api/v1/billing-runs?limit=0", op, nil); code != 400 {
		t.Fatalf("runs, limit 0: %d", code)
	}
	// Each issued bill corrected: a credit note and a reissue besides it.
	bills := map[string][]int64{} // account → [bill, credit note, reissue]
	for _, num := range []string{"A0001", "B0003"} {
		l := e.want("GET", "/api/v1/bills?account="+num, op, nil, 200)
		bid := int64(l["items"].([]any)[0].(map[string]any)["id"].(float64))
		c := e.want("POST", fmt.Sprintf("/api/v1/bills/%d/correct", bid), op, map[string]string{"reason": "check / 核对"}, 201)
		bills[num] = []int64{bid, int64(c["credit_note"].(map[string]any)["id"].(float64)), int64(c["reissue"].(map[string]any)["id"].(float64))}
	}
	l := e.want("GET", "/api/v1/bills?account=A0002", op, nil, 200)
	heldID := int64(l["items"].([]any)[0].(map[string]any)["id"].(float64))

	// The app's logins (internal/web's CustomerUsername): acct:A0001 and
	// acct:A0002 are 王五's; acct:B0003 names B0003 but its user is 王五's,
	// as if the account had changed hands since.
	for _, u := range []struct {
		num  string
		cust int64
	}{{"A0001", cust[0].ID}, {"A0002", cust[0].ID}, {"B0003", cust[0].ID}} {
		if err := e.st.CreateUser(ctx, &amigo.User{Username: "acct:" + u.num, PasswordHash: testHash("password-" + u.num), Role: amigo.RoleCustomer, CustomerID: u.cust}); err != nil {
			t.Fatal(err)
		}
	}
	a1, a2, b3 := e.login("acct:A0001", "password-A0001"), e.login("acct:A0002", "password-A0002"), e.login("acct:B0003", "password-B0003")

	// Own bill, credit note and reissue: 200 on each route; the PDF route
	// is reached (501 until a renderer is wired), not refused.
	for i, id := range bills["A0001"] {
		b := e.want("GET", fmt.Sprintf("/api/v1/bills/%d", id), a1, nil, 200)
		kind, total := []string{"bill", "credit_note", "bill"}[i], []float64{14940, -14940, 14940}[i]
		if b["account_number"] != "A0001" || b["kind"] != kind || b["total_fen"] != total {
			t.Fatalf("own bill %d: %v", id, b)
		}
		if d := e.want("GET", fmt.Sprintf("/api/v1/bills/%d/document", id), a1, nil, 200); d["account_number"] != "A0001" {
			t.Fatalf("own document %d: %v", id, d)
		}
		if code, body := raw(t, e.srv, "GET", fmt.Sprintf("/api/v1/bills/%d/pdf", id), a1, ""); code != 501 || !strings.Contains(body, "not_implemented") {
			t.Fatalf("own pdf %d: %d %s", id, code, body)
		}
	}
	// The list: their account's three, whether named by number, by id or
	// not at all.
	for _, q := range []string{"", "?account=A0001", "?account=" + strconv.FormatInt(accts["A0001"].ID, 10), "?status=issued", "?cycle=2026-10"} {
		l := e.want("GET", "/api/v1/bills"+q, a1, nil, 200)
		var got []int64
		for _, it := range l["items"].([]any) {
			got = append(got, int64(it.(map[string]any)["id"].(float64)))
		}
		want := bills["A0001"]
		if l["total"] != float64(3) || len(got) != 3 || !sameIDs(got, want) {
			t.Fatalf("list %q: %v, want ids %v", q, l, want)
		}
	}
	if l := e.want("GET", "/api/v1/bills?status=held", a1, nil, 200); l["total"] != float64(0) {
		t.Fatalf("held bills for a customer: %v", l)
	}

	// What a missing bill answers is what every refused one answers.
	_, missing := raw(t, e.srv, "GET", "/api/v1/bills/999999", a1, "")
	_, noAcct := raw(t, e.srv, "GET", "/api/v1/bills?account=NOPE", a1, "")
	refused := func(tok string, ids ...int64) {
		t.Helper()
		for _, id := range ids {
			for _, sfx := range []string{"", "/document", "/pdf"} {
				if code, body := raw(t, e.srv, "GET", fmt.Sprintf("/api/v1/bills/%d%s", id, sfx), tok, ""); code != 404 || body != missing {
					t.Errorf("bill %d%s: %d %s, want 404 %s", id, sfx, code, body, missing)
				}
			}
		}
	}
	refused(a1, append(bills["B0003"], heldID)...) // another customer's; the same customer's other account
	refused(a2, heldID)                            // their own, held for review
	refused(b3, bills["B0003"]...)                 // the account is no longer the login's customer's
	for _, tok := range []string{a1, a2, b3} {
		for _, v := range []string{"B0003", strconv.FormatInt(accts["B0003"].ID, 10), "A0002"} {
			if tok == a2 && v == "A0002" {
				continue
			}
			if code, body := raw(t, e.srv, "GET", "/api/v1/bills?account="+v, tok, ""); code != 404 || body != noAcct {
				t.Errorf("list of %s: %d %s", v, code, body)
			}
		}
	}
	if code, body := raw(t, e.srv, "GET", "/api/v1/bills", b3, ""); code != 404 || body != noAcct {
		t.Errorf("list by a login whose account changed hands: %d %s", code, body)
	}
	if l := e.want("GET", "/api/v1/bills", a2, nil, 200); l["total"] != float64(0) {
		t.Errorf("A0002's only bill is held: %v", l)
	}
	// Staff see every bill as before, the held one included.
	if l := e.want("GET", "/api/v1/bills?cycle=2026-10", op, nil, 200); l["total"] != float64(7) {
		t.Errorf("staff list: %v", l)
	}
	// A customer still neither corrects bills nor runs billing.
	if code, _ := call(t, e.srv, "POST", fmt.Sprintf("/api/v1/bills/%d/correct", bills["A0001"][2]), a1, map[string]string{"reason": "x"}); code != 403 {
		t.Errorf("customer corrects: %d", code)
	}
	if code, _ := call(t, e.srv, "GET", "/api/v1/billing-runs", a1, nil); code != 403 {
		t.Errorf("customer lists runs: %d", code)
	}
	if code, _ := call(t, e.srv, "POST", "/api/v1/billing-runs", a1, map[string]string{"site": "Garden 花园", "cycle": "2026-10"}); code != 403 {
		t.Errorf("customer starts a run: %d", code)
	}
}

func sameIDs(got, want []int64) bool {
	seen := map[int64]bool{}
	for _, id := range want {
		seen[id] = true
	}
	for _, id := range got {
		if !seen[id] {
			return false
		}
		delete(seen, id)
	}
	return len(seen) == 0
}
