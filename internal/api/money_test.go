package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// Customers and accounts through the API and CSV; desk payments by a
// cashier (an operator may not take money), the same reference twice being
// one payment with the first receipt; the ledger sums to the balance;
// supply follows the meters' relays; the control policy is checked and
// audited.
func TestMoneyRoutes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.st.CreateUser(ctx, &amigo.User{Username: "desk", PasswordHash: testHash("password-desk"), Role: amigo.RoleCashier}); err != nil {
		t.Fatal(err)
	}
	root, op, view, desk := e.login("root", "password-root"), e.login("op", "password-op"), e.login("view", "password-view"), e.login("desk", "password-desk")
	e.want("POST", "/api/v1/sites", op, map[string]string{"name": "Campus"}, 201)
	e.want("POST", "/api/v1/collectors", op, map[string]any{"site": "Campus", "address": "0171-2082"}, 201)
	for i := 1; i <= 3; i++ {
		e.want("POST", "/api/v1/meters", op, map[string]any{"address": fmt.Sprintf("00000000000%d", i), "site": "Campus", "collector": "0171-2082", "port": 1, "pn": i}, 201)
	}
	e.want("POST", "/api/v1/tariffs", root, map[string]any{"name": "flat", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01", "flat_price": "0.5000"}, 201)

	c := e.want("POST", "/api/v1/customers", op, map[string]string{"name": "张三", "phone": "13800000000"}, 201)
	cid := int64(c["id"].(float64))
	e.want("POST", "/api/v1/customers", view, map[string]string{"name": "x"}, 403)
	if out := e.want("POST", "/api/v1/customers", op, map[string]string{"phone": "1"}, 400); !strings.Contains(out["error"].(map[string]any)["message"].(string), "name") {
		t.Fatalf("no name: %v", out)
	}
	acct := map[string]any{"number": "P-001", "customer": cid, "site": "Campus", "mode": "prepaid", "tariff": "flat", "low_balance_fen": 2000,
		"credit_limit_fen": 0, "meters": []map[string]any{{"address": "000000000001", "from": "2026-01-01T00:00:00+08:00"}}, "opening_balance_fen": 1500}
	a := e.want("POST", "/api/v1/accounts", op, acct, 201)
	id := int64(a["id"].(float64))
	if a["balance_fen"].(float64) != 1500 || a["supply"] != "unknown" || a["control"] != "none" || a["meters"].([]any)[0].(map[string]any)["address"] != "000000000001" {
		t.Fatalf("created %v", a)
	}
	for field, bad := range map[string]any{"tariff": "nope", "mode": "both", "billing_day": 31, "number": "has space"} {
		x := map[string]any{"number": "P-bad", "customer": cid, "site": "Campus", "mode": "postpaid", "tariff": "flat"}
		x[field] = bad
		out := e.want("POST", "/api/v1/accounts", op, x, 400)
		if msg := out["error"].(map[string]any)["message"].(string); !strings.Contains(msg, field) || !strings.Contains(msg, " / ") {
			t.Fatalf("bad %s: %q", field, msg)
		}
	}
	e.want("POST", "/api/v1/accounts", op, map[string]any{"number": "Q-001", "customer_name": "李四", "site": "Campus", "mode": "postpaid", "tariff": "flat",
		"meters": []map[string]any{{"address": "000000000002"}}}, 201)
	// The same meter cannot belong to two accounts at once.
	e.want("POST", "/api/v1/accounts", op, map[string]any{"number": "Q-002", "customer": cid, "site": "Campus", "mode": "postpaid", "tariff": "flat",
		"meters": []map[string]any{{"address": "000000000002"}}}, 400)

	if out := e.want("GET", "/api/v1/accounts?mode=postpaid", view, nil, 200); out["total"].(float64) != 1 || out["items"].([]any)[0].(map[string]any)["balance_fen"] != nil {
		t.Fatalf("postpaid list %v", out)
	}
	e.want("GET", "/api/v1/accounts?mode=nope", view, nil, 400)
	if out := e.want("GET", "/api/v1/accounts?number=P-001", desk, nil, 200); out["total"].(float64) != 1 {
		t.Fatalf("by number %v", out)
	}

	// Payments: a cashier yes, an operator no; the same reference is one
	// payment.
	path := fmt.Sprintf("/api/v1/accounts/%d/payments", id)
	pay := map[string]any{"amount_fen": 5000, "method": "cash", "reference": "desk-0001"}
	e.want("POST", path, op, pay, 403)
	rc := e.want("POST", path, desk, pay, 201)
	// 1500 + 5000 = 6500
	if rc["receipt"] != "R0000000001" || rc["account"] != "P-001" || rc["customer"] != "张三" || rc["cashier"] != "desk" || rc["amount_fen"].(float64) != 5000 || rc["balance_fen"].(float64) != 6500 {
		t.Fatalf("receipt %v", rc)
	}
	again := e.want("POST", path, desk, pay, 200)
	if again["receipt"] != rc["receipt"] || again["duplicate"] != true {
		t.Fatalf("again %v", again)
	}
	e.want("POST", path, desk, map[string]any{"amount_fen": 4000, "method": "cash", "reference": "desk-0001"}, 409)
	e.want("POST", path, desk, map[string]any{"amount_fen": 100, "method": "wechat", "reference": "x"}, 400)
	e.want("POST", path, desk, map[string]any{"amount_fen": -5, "method": "card", "reference": "y"}, 400)
	e.want("POST", path, root, map[string]any{"amount_fen": 250, "method": "card", "reference": "desk-0002"}, 201)
	if got := e.want("GET", "/api/v1/payments/1", view, nil, 200); got["receipt"] != "R0000000001" || got["balance_fen"].(float64) != 6500 {
		t.Fatalf("payment 1 %v", got)
	}
	led := e.want("GET", fmt.Sprintf("/api/v1/accounts/%d/ledger", id), view, nil, 200)
	items := led["items"].([]any)
	var sum float64
	for _, it := range items {
		sum += it.(map[string]any)["amount_fen"].(float64)
	}
	// 1500 opening + 5000 + 250 = 6750
	if led["total"].(float64) != 3 || sum != 6750 || led["balance_fen"].(float64) != 6750 {
		t.Fatalf("ledger %v", led)
	}

	// Supply follows the relay read-backs.
	m, _ := e.st.FindMeterByAddress(ctx, "000000000001")
	e.st.SetMeterRelay(ctx, m.ID, amigo.RelayOpen)
	if got := e.want("GET", fmt.Sprintf("/api/v1/accounts/%d", id), view, nil, 200); got["supply"] != "off" {
		t.Fatalf("supply %v", got["supply"])
	}
	e.st.SetMeterRelay(ctx, m.ID, amigo.RelayClosed)
	if got := e.want("GET", fmt.Sprintf("/api/v1/accounts/%d", id), view, nil, 200); got["supply"] != "on" {
		t.Fatalf("supply %v", got["supply"])
	}

	// PATCH: keep-power on, a meter swapped in.
	got := e.want("PATCH", fmt.Sprintf("/api/v1/accounts/%d", id), op, map[string]any{"keep_power": true,
		"end_meter": map[string]any{"address": "000000000001", "at": "2026-01-06T18:00:00+08:00"},
		"add_meter": map[string]any{"address": "000000000003", "from": "2026-01-06T18:00:00+08:00"}}, 200)
	if got["keep_power"] != true || len(got["meters"].([]any)) != 2 {
		t.Fatalf("patched %v", got)
	}

	// Control policy: checked, admin only, audited.
	e.want("PUT", "/api/v1/sites/Campus/control-policy", op, map[string]any{"keep_power_windows": []map[string]string{{"from": "22:00", "to": "06:00"}}}, 403)
	bad := e.want("PUT", "/api/v1/sites/Campus/control-policy", root, map[string]any{"keep_power_windows": []map[string]string{{"from": "22:00", "to": "6:00"}}}, 400)
	if !strings.Contains(bad["error"].(map[string]any)["message"].(string), "keep_power_windows[0]") {
		t.Fatalf("bad window %v", bad)
	}
	e.want("PUT", "/api/v1/sites/Campus/control-policy", root, map[string]any{"keep_power_windows": []map[string]string{{"from": "22:00", "to": "06:00"}},
		"keep_power_weekdays": []string{"sunday"}, "keep_power_dates": []string{"2026-10-01"}, "reconnect": "close"}, 200)
	if pol := e.want("GET", "/api/v1/sites/Campus/control-policy", view, nil, 200); pol["reconnect"] != "close" || pol["updated_by"] != "root" {
		t.Fatalf("policy %v", pol)
	}

	// CSV: all or nothing, the bad line named.
	csv := "number,site,mode,tariff,customer_name,phone,meters,low_balance_fen,opening_balance_fen\n" +
		"C-1,Campus,prepaid,flat,王五,139,,1000,800\n" +
		"C-2,Campus,prepaid,nope,赵六,138,,1000,0\n"
	code, body := raw(t, e.srv, "POST", "/api/v1/import/accounts", op, csv)
	if code != 400 || !strings.Contains(body, "line 3") {
		t.Fatalf("bad import: %d %s", code, body)
	}
	if out := e.want("GET", "/api/v1/accounts?number=C-1", view, nil, 200); out["total"].(float64) != 0 {
		t.Fatalf("a failed import kept C-1: %v", out)
	}
	code, body = raw(t, e.srv, "POST", "/api/v1/import/accounts", op, strings.Replace(csv, "nope", "flat", 1))
	if code != 201 || !strings.Contains(body, `"created":2`) {
		t.Fatalf("import: %d %s", code, body)
	}
	if out := e.want("GET", "/api/v1/accounts?number=C-1", view, nil, 200); out["items"].([]any)[0].(map[string]any)["balance_fen"].(float64) != 800 {
		t.Fatalf("imported C-1: %v", out)
	}
	code, body = raw(t, e.srv, "POST", "/api/v1/import/customers", op, "name,phone\n孙七,137\n")
	if code != 201 {
		t.Fatalf("customers import: %d %s", code, body)
	}

	// Every change is in the audit log.
	au, _ := e.st.ListAudit(ctx, 100)
	actions := map[string]bool{}
	for _, x := range au {
		actions[x.Action] = true
	}
	for _, want := range []string{"customer.create", "account.create", "account.update", "ledger.payment", "ledger.adjustment", "control_policy.set", "import.accounts", "import.accounts.failed"} {
		if !actions[want] {
			t.Errorf("no %s in the audit log", want)
		}
	}
}

// An account's consumption follows its meter periods: a move-out and the
// next tenant's move-in on one meter split its days between the two
// accounts.
func TestAccountConsumptionFollowsMeterPeriods(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	op, root, view := e.login("op", "password-op"), e.login("root", "password-root"), e.login("view", "password-view")
	e.want("POST", "/api/v1/sites", op, map[string]string{"name": "Campus"}, 201)
	e.want("POST", "/api/v1/collectors", op, map[string]any{"site": "Campus", "address": "0171-2082"}, 201)
	e.want("POST", "/api/v1/meters", op, map[string]any{"address": "000000000005", "site": "Campus", "collector": "0171-2082", "port": 1, "pn": 5, "installed_at": "2026-01-01T00:00:00+08:00"}, 201)
	e.want("POST", "/api/v1/tariffs", root, map[string]any{"name": "flat", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01", "flat_price": "0.5000"}, 201)
	a := e.want("POST", "/api/v1/accounts", op, map[string]any{"number": "A", "customer_name": "甲", "site": "Campus", "mode": "postpaid", "tariff": "flat",
		"meters": []map[string]any{{"address": "000000000005", "from": "2026-01-01T00:00:00+08:00"}}}, 201)
	e.want("PATCH", fmt.Sprintf("/api/v1/accounts/%d", int64(a["id"].(float64))), op, map[string]any{"end_meter": map[string]any{"address": "000000000005", "at": "2026-01-03T00:00:00+08:00"}}, 200)
	b := e.want("POST", "/api/v1/accounts", op, map[string]any{"number": "B", "customer_name": "乙", "site": "Campus", "mode": "postpaid", "tariff": "flat",
		"meters": []map[string]any{{"address": "000000000005", "from": "2026-01-03T00:00:00+08:00"}}}, 201)
	m, _ := e.st.FindMeterByAddress(ctx, "000000000005")
	loc := amigo.Site{}.Location()
	for i, kwh := range []int64{10, 20, 35, 55, 80} {
		r := amigo.Reading{MeterID: m.ID, Time: time.Date(2026, 1, 1+i, 0, 0, 0, 0, loc), Kind: amigo.KindDaily, Forward: [5]amigo.Energy{amigo.KWh(kwh)}, HasForward: true,
			Quality: amigo.QualityActual, Source: "test", ReceivedAt: e.now}
		if _, err := e.st.WriteReadings(ctx, []amigo.Reading{r}); err != nil {
			t.Fatal(err)
		}
	}
	days := func(id float64) []any {
		out := e.want("GET", fmt.Sprintf("/api/v1/accounts/%d/consumption?interval=day&from=2026-01-01&to=2026-01-05", int64(id)), view, nil, 200)
		var got []any
		for _, it := range out["items"].([]any) {
			got = append(got, it.(map[string]any)["kwh"])
		}
		return got
	}
	k := func(n int64) string { return amigo.KWh(n).String() }
	// A: 1 Jan 20 - 10, 2 Jan 35 - 20; then B's. B: 3 Jan 55 - 35, 4 Jan 80 - 55.
	if got, want := fmt.Sprint(days(a["id"].(float64))), fmt.Sprint([]any{k(10), k(15), nil, nil}); got != want {
		t.Fatalf("A: %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(days(b["id"].(float64))), fmt.Sprint([]any{nil, nil, k(20), k(25)}); got != want {
		t.Fatalf("B: %s, want %s", got, want)
	}
}
