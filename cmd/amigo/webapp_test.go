package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/browsertest"
)

// chromium starts Debian's chromium headless with a fresh profile and
// returns a tab; it ends with the test. Skipped when no chromium is
// installed (.ci/run installs it).
func chromium(t *testing.T, within time.Duration) context.Context {
	t.Helper()
	return browsertest.Start(t, within)
}

// screenshot saves the page at width px as name.png in the test's
// artefact directory (and in $AMIGO_SCREENSHOTS when set).
func screenshot(t *testing.T, ctx context.Context, width int64, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, width, 800, name)
}

// TestCustomerJourney: the demo's prepaid customer, cut off for arrears,
// opens the app on a 360-px phone, logs in with the account number and
// the set-up code the demo printed, chooses a password, cannot switch the supply back on, pays 50
// yuan through the WeChat Pay sandbox, and sees the supply restored — the
// station's wallet reconnects the meter and reads its relay back; another
// account's page answers 404.
func TestCustomerJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ctx := chromium(t, 5*time.Minute)
	dir := t.TempDir()
	// Two minutes before the site's midnight: the demo's accounts pay for
	// their meters from the next midnight on.
	api, out, _ := startDemo(t, DemoConfig{Meters: 4, HTTP: "127.0.0.1:0", Data: dir, Speed: 60, Start: "2026-03-01T23:58:00+08:00", AdminPassword: "correct-horse"})
	base := strings.TrimSuffix(api.base, "/")
	m := regexp.MustCompile(`customer app /app/ — account (\S+), set-up code (\S+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the demo does not print a customer's app login:\n%s", out)
	}
	number, code := m[1], m[2]

	// The desk's part, on the station's store: the account's balance is
	// corrected to 1 yuan owed (its credit limit is 0: the wallet trips
	// it), and the site closes a paid-up meter directly.
	bg := context.Background()
	st, err := openStore(bg, "sqlite:"+filepath.Join(dir, "amigo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := st.FindAccountByNumber(bg, number)
	if err != nil || a.Mode != amigo.ModePrepaid || len(a.Meters) != 1 {
		t.Fatalf("the demo's prepaid account %s: %+v %v", number, a, err)
	}
	if err := st.PutControlPolicy(bg, amigo.ControlPolicy{SiteID: a.SiteID, Reconnect: amigo.ReconnectClose, UpdatedBy: "desk"}); err != nil {
		t.Fatal(err)
	}
	at := a.Meters[0].From.Add(time.Minute)
	e := amigo.LedgerEntry{AccountID: a.ID, Time: at, Kind: amigo.LedgerAdjustment, AmountFen: -a.BalanceFen - 100, Reference: "correction/" + number, By: "desk", Detail: "test: 1 yuan owed"}
	if _, err := st.PostLedger(bg, &e); err != nil {
		t.Fatal(err)
	}
	others, _, err := st.ListAccounts(bg, amigo.AccountFilter{Limit: 2})
	if err != nil || len(others) < 2 {
		t.Fatalf("the demo's accounts: %v %v", others, err)
	}
	other := others[0]
	if other.ID == a.ID {
		other = others[1]
	}
	// After midnight the wallet's pass (every 5 virtual minutes: 5 s at
	// 60x) trips the account and the station reads the relay open back.
	meter := a.Meters[0].Address
	defer func() { // before the store is closed
		if !t.Failed() {
			return
		}
		// What the wallet and the station did, for a failure's reader.
		x, _ := st.GetAccount(bg, a.ID)
		mm, _ := st.FindMeterByAddress(bg, meter)
		t.Logf("account %+v\nmeter %+v", x, mm)
		for id := int64(1); ; id++ {
			c, err := st.GetCommand(bg, id)
			if err != nil {
				break
			}
			t.Logf("command %+v", c)
		}
		es, _, _ := st.ListEvents(bg, amigo.EventFilter{Limit: 200})
		for _, e := range es {
			t.Logf("event %s %s %s", e.Time, e.Kind, e.Message)
		}
	}()
	eventually(t, "meter "+meter+" tripped for arrears", 2*time.Minute, func() bool {
		m, _ := st.FindMeterByAddress(bg, meter)
		return m.Relay == amigo.RelayOpen
	})

	// The phone: log in, in Chinese.
	home := base + "/app/a/" + strconv.FormatInt(a.ID, 10) + "/"
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 800), chromedp.Navigate(base+"/app/"), chromedp.WaitVisible(chromedp.CSS(`input[name="account"]`)),
		chromedp.Click(chromedp.ID("lang")), chromedp.WaitVisible(chromedp.CSS(`input[name="account"]`))); err != nil {
		t.Fatalf("login page: %v", err)
	}
	screenshot(t, ctx, 360, "app-login-360")
	// The app is installable: its manifest, and its service worker
	// registered for /app/.
	sw, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`navigator.serviceWorker.ready.then(r => r.scope.endsWith("/app/") && !!r.active)`, chromedp.EvalAwaitPromise))
	if err != nil || !sw {
		t.Fatalf("the service worker is not active for /app/: %v %v", sw, err)
	}
	if href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('link[rel="manifest"]').href`)); err != nil || !strings.HasSuffix(href, "/app/manifest.webmanifest") {
		t.Fatalf("manifest link %q %v", href, err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`input[name="account"]`), number), chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), code),
		chromedp.Submit(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("setup"))); err != nil {
		t.Fatalf("first login: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "li-si-2026"), chromedp.SendKeys(chromedp.CSS(`input[name="password2"]`), "li-si-2026"),
		chromedp.Submit(chromedp.ID("setup")), chromedp.WaitVisible(chromedp.CSS(`#supply[data-supply="off"]`))); err != nil {
		t.Fatalf("set-up: %v", err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(txt, "¥ -1.00") || !strings.Contains(txt, "因欠费停电") {
		t.Fatalf("home does not show the debt and the arrears cut: %q", txt)
	}
	screenshot(t, ctx, 360, "app-home-off-360")

	// Switching on is refused while cut for arrears.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("tab-supply")), chromedp.WaitVisible(chromedp.ID("switch-on")),
		chromedp.Click(chromedp.ID("switch-on")), chromedp.WaitVisible(chromedp.ID("confirm-yes")), chromedp.Click(chromedp.ID("confirm-yes")),
		// The refusal's alert: the supply page itself already shows the
		// arrears note (also .error), which would not wait for the answer
		// to the form, and the next navigation would cut that one short.
		chromedp.WaitVisible(chromedp.CSS(`.error[role="alert"]`))); err != nil {
		t.Fatalf("switch on: %v", err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.error[role="alert"]`))); !strings.Contains(txt, "因欠费停电") {
		t.Fatalf("the refusal does not say why: %q", txt)
	}

	// Pay 50 yuan through the sandbox.
	if err := chromedp.Do(ctx, chromedp.Navigate(home+"pay"), chromedp.WaitVisible(chromedp.ID("pay-go")), chromedp.Click(chromedp.ID("pay-go")),
		chromedp.WaitVisible(chromedp.ID("sandbox-pay"))); err != nil {
		t.Fatalf("order: %v", err)
	}
	screenshot(t, ctx, 360, "app-order-360")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("sandbox-pay")), chromedp.WaitVisible(chromedp.ID("paid"))); err != nil {
		st, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		t.Fatalf("payment: %v\n%s", err, st)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("paid"))); !strings.Contains(txt, "49.00") {
		t.Fatalf("after paying 50 yuan on a debt of 1: %q, want a balance of 49.00", txt)
	}
	// The wallet reconnects; the home page shows the relay read back.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := chromedp.Do(ctx, chromedp.Navigate(home), chromedp.WaitVisible(chromedp.ID("supply"))); err != nil {
			t.Fatal(err)
		}
		s, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("supply"), "data-supply"))
		if s.Value == "on" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the supply was not restored within 2 minutes of the payment (supply %q)", s.Value)
		}
		time.Sleep(time.Second) // the customer looks again
	}
	screenshot(t, ctx, 360, "app-home-360")
	screenshot(t, ctx, 1280, "app-home-1280")
	if err := chromedp.Do(ctx, chromedp.Navigate(home+"history"), chromedp.WaitVisible(chromedp.ID("ledger"))); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("ledger"))); !strings.Contains(txt, "50.00") || !strings.Contains(txt, "R0") {
		t.Fatalf("history lacks the payment and its receipt: %q", txt)
	}
	screenshot(t, ctx, 360, "app-history-360")

	// Another account, even the same customer's: 404.
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+"/app/a/"+strconv.FormatInt(other.ID, 10)+"/"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 404 {
		t.Fatalf("another account's page: %d, want 404", res.Status)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main"))); strings.Contains(txt, other.Number) {
		t.Fatalf("another account's page shows its data: %q", txt)
	}
}
