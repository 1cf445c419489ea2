package api

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/payment"
	"github.com/amigo-metering/amigo/internal/payment/wechatpay"
	"github.com/amigo-metering/amigo/internal/payment/wechatsandbox"
)

// Online payments through the API, over real TCP: a customer orders for
// their own account (not another's), pays at the sandbox, the sandbox's
// notification reaches the unauthenticated notify route, the order is paid
// and the balance raised; an operator reconciles the day.
func TestPaymentRoutes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.want("POST", "/api/v1/accounts/1/orders", e.login("root", "password-root"), map[string]any{"amount_fen": 100}, 503)
	if code, _ := raw(t, e.srv, "POST", NotifyPath, "", "{}"); code != 503 {
		t.Fatalf("notify without payments: %d", code)
	}

	site := amigo.Site{Name: "Campus", TimeZone: "Asia/Shanghai"}
	if err := e.st.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	var accounts []amigo.Account
	for i, name := range []string{"张三", "李四"} {
		c := amigo.Customer{Name: name}
		if err := e.st.CreateCustomer(ctx, &c); err != nil {
			t.Fatal(err)
		}
		a := amigo.Account{Number: "PP-" + strconv.Itoa(i), CustomerID: c.ID, SiteID: site.ID, Mode: amigo.ModePrepaid, Tariff: "zj", BillingDay: 1}
		if err := e.st.CreateAccount(ctx, &a); err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, a)
	}
	mine, theirs := accounts[0], accounts[1]
	for _, u := range []amigo.User{{Username: "cust", Role: amigo.RoleCustomer, CustomerID: mine.CustomerID}, {Username: "cash", Role: amigo.RoleCashier}} {
		u.PasswordHash = testHash("password-" + u.Username)
		if err := e.st.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
	}

	keys, err := wechatsandbox.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	delivered := make(chan int, 8)
	sb := wechatsandbox.New(wechatsandbox.Config{Keys: keys, MchID: "1900000109", Now: func() time.Time { return e.now },
		OnDelivery: func(_ string, status int, _ error) { delivered <- status }})
	sandSrv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); sandSrv.Close() })
	station := httptest.NewServer(e.srv)
	t.Cleanup(station.Close)
	client, err := wechatpay.New(wechatpay.Config{BaseURL: sandSrv.URL, MchID: "1900000109", MerchantKey: keys.Merchant, MerchantSerial: keys.MerchantSerial,
		PlatformKey: &keys.Platform.PublicKey, PlatformSerial: keys.PlatformSerial, APIv3Key: keys.APIv3Key, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := payment.New(payment.Config{Store: e.st, Provider: client, NotifyURL: station.URL + NotifyPath, Now: func() time.Time { return e.now },
		SandboxPay: func(_ context.Context, no string) error { _, err := sb.Pay(no); return err }})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetPayments(svc)

	cust, cash, view, op := e.login("cust", "password-cust"), e.login("cash", "password-cash"), e.login("view", "password-view"), e.login("op", "password-op")
	ordersOf := func(a amigo.Account) string { return "/api/v1/accounts/" + strconv.FormatInt(a.ID, 10) + "/orders" }
	e.want("POST", ordersOf(theirs), cust, map[string]any{"amount_fen": 100}, 404)
	e.want("POST", ordersOf(mine), view, map[string]any{"amount_fen": 100}, 403)
	e.want("POST", ordersOf(mine), cust, map[string]any{"amount_fen": 0}, 400)
	e.want("POST", ordersOf(mine), cust, map[string]any{"amount_fen": 100, "extra": 1}, 400)
	e.want("POST", "/api/v1/accounts/x/orders", cust, map[string]any{"amount_fen": 100}, 400)
	e.want("POST", ordersOf(theirs), cash, map[string]any{"amount_fen": 100}, 201)
	out := e.want("POST", ordersOf(mine), cust, map[string]any{"amount_fen": 5000}, 201)
	no, code := out["order_no"].(string), out["code_url"].(string)
	if out["state"] != "created" || code == "" || out["amount_fen"] != 5000.0 {
		t.Fatalf("order %v", out)
	}
	e.want("GET", ordersOf(theirs)+"/"+no, cash, nil, 404) // the order is not that account's
	e.want("GET", ordersOf(mine)+"/"+no, cust, nil, 200)

	// The customer's app "pays": the sandbox's pay endpoint with the code.
	resp, err := http.Post(sandSrv.URL+"/sandbox/pay", "application/json", bytes.NewReader([]byte(`{"code_url":"`+code+`"}`)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pay: %v %v", resp, err)
	}
	resp.Body.Close()
	select {
	case st := <-delivered:
		if st != http.StatusNoContent {
			t.Fatalf("notification answered %d, want 204", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10 s")
	}
	got := e.want("GET", ordersOf(mine)+"/"+no, cust, nil, 200)
	if got["state"] != "paid" || got["transaction_id"] == "" {
		t.Fatalf("after paying: %v", got)
	}
	if a, _ := e.st.GetAccount(ctx, mine.ID); a.BalanceFen != 5000 {
		t.Fatalf("balance %d, want 5000", a.BalanceFen)
	}

	day := e.now.In(time.FixedZone("UTC+8", 8*3600)).Format("2006-01-02")
	e.want("GET", "/api/v1/payments/reconciliation?day="+day, cash, nil, 403)
	e.want("GET", "/api/v1/payments/reconciliation", op, nil, 400)
	rep := e.want("GET", "/api/v1/payments/reconciliation?day="+day, op, nil, 200)
	// Two orders asked about (5000 paid, 100 not), one paid, one payment.
	if rep["orders_queried"] != 2.0 || rep["provider_paid"] != 1.0 || rep["provider_fen"] != 5000.0 || rep["ledger_fen"] != 5000.0 || len(rep["differences"].([]any)) != 0 {
		t.Fatalf("reconciliation %v", rep)
	}
	// The demo's pay through the API: an order of 700 fen paid at the
	// sandbox, credited when its notification comes: 5000 + 700 = 5700.
	out = e.want("POST", ordersOf(mine), cust, map[string]any{"amount_fen": 700}, 201)
	second := out["order_no"].(string)
	theirsOut := e.want("POST", ordersOf(theirs), cash, map[string]any{"amount_fen": 200}, 201)
	e.want("POST", "/api/v1/accounts/"+strconv.FormatInt(mine.ID, 10)+"/sandbox-pay", cust, map[string]any{"order_no": theirsOut["order_no"]}, 404)
	e.want("POST", "/api/v1/accounts/"+strconv.FormatInt(theirs.ID, 10)+"/sandbox-pay", cust, map[string]any{"order_no": theirsOut["order_no"]}, 404)
	e.want("POST", "/api/v1/accounts/"+strconv.FormatInt(mine.ID, 10)+"/sandbox-pay", cust, map[string]any{"order_no": second}, 202)
	select {
	case st := <-delivered:
		if st != http.StatusNoContent {
			t.Fatalf("notification answered %d, want 204", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10 s")
	}
	if got := e.want("GET", ordersOf(mine)+"/"+second, cust, nil, 200); got["state"] != "paid" {
		t.Fatalf("second order: %v", got)
	}
	if a, _ := e.st.GetAccount(ctx, mine.ID); a.BalanceFen != 5700 {
		t.Fatalf("balance %d, want 5700", a.BalanceFen)
	}
	// A forged notification through the route: refused, money unchanged.
	if code, body := raw(t, e.srv, "POST", NotifyPath, "", `{"resource_type":"encrypt-resource"}`); code != 401 || !bytes.Contains([]byte(body), []byte(`"FAIL"`)) {
		t.Fatalf("forged: %d %s", code, body)
	}
	// An oversized one reaches the payment service's own bound and is
	// counted there.
	if code, body := raw(t, e.srv, "POST", NotifyPath, "", strings.Repeat("x", 64<<10+1)); code != 413 || !strings.Contains(body, `"FAIL"`) {
		t.Fatalf("oversized: %d %s", code, body)
	}
	if n := svc.Refused()[payment.RefusedTooLarge]; n != 1 {
		t.Fatalf("oversized refusals counted: %d", n)
	}
}
