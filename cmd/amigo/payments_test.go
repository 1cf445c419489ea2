package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/payment/wechatsandbox"
	"github.com/amigo-metering/amigo/internal/sqlite"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// A station with "payment": {"provider": "wechat-sandbox"}: the sandbox
// runs inside it on its own port; an order through the API, `amigo
// paysandbox pay` with its code_url, the notification credits the
// account, and `amigo payments reconcile` finds nothing to report.
func TestStationPaymentsWithTheSandbox(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "amigo.db")
	cfg := testStationConfig(t, dir)
	cfg.Payment = &PaymentConfig{Provider: providerWeChatSandbox, KeyDir: filepath.Join(dir, "pay"), SandboxListen: "127.0.0.1:0"}
	cfg.clock = vclock.Real{}
	ctx := context.Background()
	a := startStation(t, cfg)
	if a.PaySandbox == nil {
		t.Fatal("no sandbox address")
	}
	var out bytes.Buffer
	a.print(&out, "t")
	if !strings.Contains(out.String(), "WeChat Pay sandbox http://"+a.PaySandbox.String()) {
		t.Fatalf("addresses printed: %s", out.String())
	}

	// An account, made in the store (the accounts API is the money core's).
	st, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	site := amigo.Site{Name: "Campus", TimeZone: "Asia/Shanghai"}
	cust := amigo.Customer{Name: "赵六"}
	if err := st.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateCustomer(ctx, &cust); err != nil {
		t.Fatal(err)
	}
	acct := amigo.Account{Number: "PP-9", CustomerID: cust.ID, SiteID: site.ID, Mode: amigo.ModePrepaid, Tariff: "zj", BillingDay: 1}
	if err := st.CreateAccount(ctx, &acct); err != nil {
		t.Fatal(err)
	}

	base := "http://" + a.API.String()
	do := func(method, path, tok string, body any, v any) int {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(v)
		return resp.StatusCode
	}
	var login struct{ Token string }
	if code := do("POST", "/api/v1/login", "", map[string]string{"username": "admin", "password": "correct-horse-battery"}, &login); code != 200 {
		t.Fatalf("login %d", code)
	}
	orders := "/api/v1/accounts/" + strconv.FormatInt(acct.ID, 10) + "/orders"
	var o amigo.PaymentOrder
	if code := do("POST", orders, login.Token, map[string]any{"amount_fen": 3000}, &o); code != 201 || o.CodeURL == "" {
		t.Fatalf("order %d %+v", code, o)
	}
	var so, se bytes.Buffer
	if code := run(ctx, []string{"paysandbox", "pay", "--sandbox", "http://" + a.PaySandbox.String(), "--code-url", o.CodeURL}, &so, &se); code != 0 || !strings.Contains(so.String(), `"trade_state":"SUCCESS"`) {
		t.Fatalf("paysandbox pay: %d %s %s", code, so.String(), se.String())
	}
	eventually(t, "the order paid", 10*time.Second, func() bool {
		var got amigo.PaymentOrder
		do("GET", orders+"/"+o.OrderNo, login.Token, nil, &got)
		return got.State == amigo.OrderPaid
	})
	if got, _ := st.GetAccount(ctx, acct.ID); got.BalanceFen != 3000 {
		t.Fatalf("balance %d, want 3000", got.BalanceFen)
	}

	// The CLI reconciliation of the day, against the station's sandbox.
	cfgFile := filepath.Join(dir, "station.json")
	b, _ := json.Marshal(map[string]any{"store": "sqlite:" + dbPath, "payment": map[string]string{"provider": providerWeChatSandbox,
		"key_dir": filepath.Join(dir, "pay"), "sandbox_listen": a.PaySandbox.String()}})
	os.WriteFile(cfgFile, b, 0o600)
	day := time.Now().In(time.FixedZone("UTC+8", 8*3600)).Format("2006-01-02")
	so.Reset()
	se.Reset()
	code := run(ctx, []string{"payments", "reconcile", "--config", cfgFile, "--day", day}, &so, &se)
	if code != 0 || !strings.Contains(so.String(), "provider paid / 平台已付 1, 3000 fen") || !strings.Contains(so.String(), "differences / 差异 0") {
		t.Fatalf("reconcile: %d\n%s\n%s", code, so.String(), se.String())
	}
	// A payment the provider never had makes it exit 3 and name it.
	p := amigo.Payment{AccountID: acct.ID, AmountFen: 100, Method: amigo.MethodWeChat, Reference: "wechat:4200NOPE", By: "test", Time: time.Now()}
	if _, _, err := st.Credit(ctx, &p); err != nil {
		t.Fatal(err)
	}
	so.Reset()
	if code := run(ctx, []string{"payments", "reconcile", "--config", cfgFile, "--day", day, "--json"}, &so, &se); code != 3 || !strings.Contains(so.String(), `"kind": "credited_not_paid"`) {
		t.Fatalf("reconcile with a difference: %d\n%s", code, so.String())
	}
}

// paysandbox keys makes the key files once and prints a configuration
// that a station can load; a second run keeps them.
func TestPaySandboxKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pay")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"paysandbox", "keys", "--dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("keys: %d %s", code, errb.String())
	}
	before, _ := os.ReadFile(filepath.Join(dir, wechatsandbox.MerchantKeyFile))
	i := strings.Index(out.String(), "{")
	var c struct{ Payment PaymentConfig }
	if err := json.Unmarshal([]byte(out.String()[i:]), &c); err != nil || c.Payment.Provider != providerWeChat || c.Payment.PlatformSerial == "" {
		t.Fatalf("printed configuration: %v %s", err, out.String())
	}
	if _, _, err := providerFor(&c.Payment, vclock.Real{}, false); err != nil {
		t.Fatalf("the printed configuration does not load: %v", err)
	}
	out.Reset()
	if code := run(context.Background(), []string{"paysandbox", "keys", "--dir", dir}, &out, io.Discard); code != 0 {
		t.Fatal("second run")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, wechatsandbox.MerchantKeyFile)); !bytes.Equal(before, after) {
		t.Fatal("the merchant key was replaced")
	}
	for _, args := range [][]string{{"paysandbox", "--help"}, {"payments", "--help"}, {"payments", "reconcile", "--help"}, {"paysandbox", "serve", "-h"}} {
		out.Reset()
		if code := run(context.Background(), args, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "用法") {
			t.Errorf("%v: %d %q", args, code, out.String())
		}
	}
}
