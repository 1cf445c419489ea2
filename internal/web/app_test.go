package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/api"
	"github.com/amigo-metering/amigo/internal/printing"
)

// accounts adds a customer with two prepaid accounts: A-001 on meter 2
// (opening balance 12.34 yuan) and B-002 on meter 3.
func (f *fixture) accounts(t *testing.T) (a, b amigo.Account) {
	t.Helper()
	ctx := context.Background()
	c := amigo.Customer{Name: "张三"}
	if err := f.st.CreateCustomer(ctx, &c); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, f.site.Location())
	for i, p := range []*amigo.Account{&a, &b} {
		m, err := f.st.FindMeterByAddress(ctx, []string{"000000000002", "000000000003"}[i])
		if err != nil {
			t.Fatal(err)
		}
		*p = amigo.Account{Number: []string{"A-001", "B-002"}[i], CustomerID: c.ID, SiteID: f.site.ID, Mode: amigo.ModePrepaid, Tariff: "res", BillingDay: 1,
			LowBalanceFen: 2000, CreatedAt: at, Meters: []amigo.AccountMeter{{MeterID: m.ID, From: at}}}
		if err := f.st.CreateAccount(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	e := amigo.LedgerEntry{AccountID: a.ID, Time: time.Now(), Kind: amigo.LedgerAdjustment, AmountFen: 1234, Reference: "opening/A-001", By: "desk"}
	if _, err := f.st.PostLedger(ctx, &e); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	res, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// The customer's journey without money moving: first login with the
// set-up code, a password of their own, their account only, the supply
// switched off (the wallet's switch, audited), a switch-on refused while
// tripped for arrears.
func TestCustomerApp(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, s.open(t), 4)
			a, b := f.accounts(t)
			code, err := EnsureCustomerLogin(ctx, f.st, "A-001", "desk", false, time.Now())
			if err != nil || len(code) != 10 {
				t.Fatalf("set-up code %q: %v", code, err)
			}
			if again, err := EnsureCustomerLogin(ctx, f.st, "A-001", "desk", false, time.Now()); err != nil || again != "" {
				t.Fatalf("a second code without reset: %q %v", again, err)
			}
			c := f.client(t)
			home := "/app/a/" + strconv.FormatInt(a.ID, 10) + "/"

			// A wrong password: 401, in the page's language.
			res, body := postForm(t, c, f.srv.URL+"/app/login", url.Values{"account": {"A-001"}, "password": {"nope-nope"}})
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "户号或密码错误") {
				t.Fatalf("wrong password: %d", res.StatusCode)
			}
			// The set-up code logs in once and asks for a password.
			res, _ = postForm(t, c, f.srv.URL+"/app/login", url.Values{"account": {"A-001"}, "password": {code}})
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("login with the code: %d", res.StatusCode)
			}
			res, _ = c.Get(f.srv.URL + home)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/app/setup" {
				t.Fatalf("home before set-up: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			_, body = get(t, c, f.srv.URL+"/app/setup")
			tok := csrfRe.FindStringSubmatch(body)[1]
			if res, _ := postForm(t, c, f.srv.URL+"/app/setup", url.Values{"csrf": {tok}, "password": {"my-own-pass"}, "password2": {"my-own-pasS"}}); res.StatusCode != http.StatusBadRequest {
				t.Fatalf("different passwords: %d", res.StatusCode)
			}
			if res, body := postForm(t, c, f.srv.URL+"/app/setup", url.Values{"csrf": {tok}, "password": {"short"}, "password2": {"short"}}); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "8") {
				t.Fatalf("short password: %d", res.StatusCode)
			}
			res, _ = postForm(t, c, f.srv.URL+"/app/setup", url.Values{"csrf": {tok}, "password": {"my-own-pass"}, "password2": {"my-own-pass"}})
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != home {
				t.Fatalf("set-up: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			// The code is spent; the new password works.
			if res, _ := postForm(t, f.client(t), f.srv.URL+"/app/login", url.Values{"account": {"A-001"}, "password": {code}}); res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("the set-up code still logs in: %d", res.StatusCode)
			}
			if res, _ := postForm(t, f.client(t), f.srv.URL+"/app/login", url.Values{"account": {"A-001"}, "password": {"my-own-pass"}}); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("the new password: %d", res.StatusCode)
			}

			// Every page, both languages; the balance 1234 fen is 12.34 yuan.
			for _, l := range []string{"en", "zh"} {
				c.Get(f.srv.URL + "/app/lang/" + l + "?next=/app/")
				for _, p := range []string{"", "usage", "usage?range=month", "usage?range=year", "bills", "pay", "history", "supply", "supply?to=off", "notices"} {
					code, body := get(t, c, f.srv.URL+home+p)
					if code != http.StatusOK {
						t.Fatalf("%s %s: %d\n%s", l, p, code, body)
					}
					for _, bad := range untranslated(body) {
						t.Errorf("%s %s shows the key %q", l, p, bad)
					}
				}
				_, body := get(t, c, f.srv.URL+home)
				if !strings.Contains(body, "¥ 12.34") || !strings.Contains(body, map[string]string{"en": "My electricity", "zh": "我的用电"}[l]) {
					t.Errorf("%s home lacks the balance or its title", l)
				}
			}
			for _, p := range []string{"/app/manifest.webmanifest", "/app/sw.js", "/static/icon.svg", "/app/offline"} {
				if code, _ := get(t, c, f.srv.URL+p); code != http.StatusOK {
					t.Errorf("%s: %d", p, code)
				}
			}

			// Another account, even the same customer's: 404, as if absent.
			other := "/app/a/" + strconv.FormatInt(b.ID, 10) + "/"
			for _, p := range []string{other, other + "history", other + "usage", other + "supply", "/app/a/99999/", "/app/a/x/"} {
				if code, body := get(t, c, f.srv.URL+p); code != http.StatusNotFound || strings.Contains(body, "B-002") {
					t.Errorf("%s: %d, want 404", p, code)
				}
			}
			_, body = get(t, c, f.srv.URL+home+"supply")
			tok = csrfRe.FindStringSubmatch(body)[1]
			if res, _ := postForm(t, c, f.srv.URL+other+"supply", url.Values{"csrf": {tok}, "to": {"off"}}); res.StatusCode != http.StatusNotFound {
				t.Errorf("switching another account: %d, want 404", res.StatusCode)
			}
			// The customer's token opens neither the operators' pages nor
			// the staff API.
			var appTok string
			u, _ := url.Parse(f.srv.URL + "/app/")
			for _, ck := range c.Jar.Cookies(u) {
				if ck.Name == appCookie {
					appTok = ck.Value
				}
			}
			req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/meters", nil)
			req.Header.Set("Authorization", "Bearer "+appTok)
			if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
				t.Errorf("customer token on the staff API: %v %v", err, res.StatusCode)
			}
			req, _ = http.NewRequest("GET", f.srv.URL+"/meters", nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: appTok})
			if res, err := f.client(t).Do(req); err != nil || res.StatusCode != http.StatusSeeOther {
				t.Errorf("customer token on the operators' pages: %v %v", err, res.StatusCode)
			}

			// Switch off, confirmed: the wallet's disconnect of the
			// account's meter, requested and audited by the customer.
			res, _ = postForm(t, c, f.srv.URL+home+"supply", url.Values{"csrf": {tok}, "to": {"off"}})
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != home+"supply?sent=off" {
				t.Fatalf("switch off: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			cl := f.st.(commandLister)
			cmds, err := cl.MeterCommands(ctx, a.Meters[0].MeterID, 10)
			if err != nil || len(cmds) != 1 || cmds[0].Type != amigo.CmdDisconnect || cmds[0].RequestedBy != "acct:A-001" {
				t.Fatalf("commands after the switch-off: %+v %v", cmds, err)
			}
			if other, _ := cl.MeterCommands(ctx, b.Meters[0].MeterID, 10); len(other) != 0 {
				t.Fatalf("the other account's meter got commands: %+v", other)
			}
			// Tripped for arrears: switching on is refused (money's rule).
			if err := f.st.SetAccountControl(ctx, a.ID, amigo.ControlTripped, time.Now()); err != nil {
				t.Fatal(err)
			}
			c.Get(f.srv.URL + "/app/lang/en?next=/app/")
			res, body = postForm(t, c, f.srv.URL+home+"supply", url.Values{"csrf": {tok}, "to": {"on"}})
			if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "cut for arrears") {
				t.Fatalf("switch-on when tripped: %d %s", res.StatusCode, body)
			}
			if cmds, _ := cl.MeterCommands(ctx, a.Meters[0].MeterID, 10); len(cmds) != 1 {
				t.Fatalf("a refused switch-on made a command: %+v", cmds)
			}
			// No token, no switch.
			if res, _ := postForm(t, c, f.srv.URL+home+"supply", url.Values{"to": {"off"}}); res.StatusCode != http.StatusForbidden {
				t.Errorf("switch without the form token: %d", res.StatusCode)
			}
		})
	}
}

func TestParseYuan(t *testing.T) {
	for in, want := range map[string]amigo.Fen{"50": 5000, "12.5": 1250, "0.01": 1, "100000": 10_000_000, " 7.05 ": 705} {
		if got, err := parseYuan(in); err != nil || got != want {
			t.Errorf("parseYuan(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0.00", "-5", "1.234", "1e3", "100000.01", "abc", ".", "1,5"} {
		if _, err := parseYuan(in); err == nil {
			t.Errorf("parseYuan(%q) accepted", in)
		}
	}
}

// The desk: accounts listed, a payment taken through the API with its
// receipt — the same form sent twice is one payment — and a new app
// set-up code that replaces the customer's password.
func TestDeskAccounts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, openSQLite(t), 4)
	a, _ := f.accounts(t)
	c := f.client(t)
	f.login(t, c, "admin", adminPW)
	for _, p := range []string{"/accounts", "/accounts?mode=prepaid", "/accounts?number=A-001", "/accounts/" + strconv.FormatInt(a.ID, 10)} {
		if code, body := get(t, c, f.srv.URL+p); code != http.StatusOK || !strings.Contains(body, "A-001") {
			t.Fatalf("%s: %d", p, code)
		}
	}
	_, body := get(t, c, f.srv.URL+"/accounts/"+strconv.FormatInt(a.ID, 10))
	tok := csrfRe.FindStringSubmatch(body)[1]
	ref := regexp.MustCompile(`name="reference" value="([^"]+)"`).FindStringSubmatch(body)[1]
	pay := url.Values{"csrf": {tok}, "reference": {ref}, "amount": {"20.5"}, "method": {"cash"}}
	res, body := postForm(t, c, f.srv.URL+"/accounts/"+strconv.FormatInt(a.ID, 10)+"/payments", pay)
	// 12.34 yuan before, 20.50 paid: 32.84.
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "¥ 20.50") || !strings.Contains(body, "¥ 32.84") || !strings.Contains(body, "R0") {
		t.Fatalf("desk payment: %d\n%s", res.StatusCode, body)
	}
	res, body = postForm(t, c, f.srv.URL+"/accounts/"+strconv.FormatInt(a.ID, 10)+"/payments", pay)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "¥ 32.84") {
		t.Fatalf("the same form again: %d\n%s", res.StatusCode, body)
	}
	if got, _ := f.st.GetAccount(ctx, a.ID); got.BalanceFen != 3284 {
		t.Fatalf("balance %d fen after one payment sent twice, want 3284 (1234 + 2050)", got.BalanceFen)
	}
	// The receipt's PDF, the API's, rendered by the printing package.
	pm := regexp.MustCompile(`href="(/payments/\d+/pdf)"`).FindStringSubmatch(body)
	if pm == nil {
		t.Fatalf("the receipt page links no PDF:\n%s", body)
	}
	if code, _ := get(t, c, f.srv.URL+pm[1]); code != http.StatusNotImplemented {
		t.Fatalf("receipt PDF without a renderer: %d, want the API's 501", code)
	}
	rd, err := printing.NewRenderer(printing.DefaultFontFile)
	if err != nil {
		t.Skipf("no CJK font for the receipt's PDF: %v", err)
	}
	if err := f.api.SetOptions(api.Options{RenderReceipt: rd.Receipt}); err != nil {
		t.Fatal(err)
	}
	res, err = c.Get(f.srv.URL + pm[1])
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(string(pdf), "%PDF-") {
		t.Fatalf("receipt PDF: %d %q %.20q", res.StatusCode, res.Header.Get("Content-Type"), pdf)
	}
	if code, _ := get(t, c, f.srv.URL+"/payments/999999/pdf"); code != http.StatusNotFound {
		t.Fatalf("an unknown payment's PDF: %d, want 404", code)
	}
	// A viewer cannot take money (the API's rule).
	v := f.client(t)
	f.login(t, v, "viewer", viewerPW)
	_, body = get(t, v, f.srv.URL+"/accounts/"+strconv.FormatInt(a.ID, 10))
	vt := csrfRe.FindStringSubmatch(body)[1]
	if res, _ := postForm(t, v, f.srv.URL+"/accounts/"+strconv.FormatInt(a.ID, 10)+"/payments", url.Values{"csrf": {vt}, "reference": {"x-1"}, "amount": {"5"}, "method": {"cash"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer's payment: %d", res.StatusCode)
	}
	// A new set-up code: it logs in (then asks for a password).
	res, body = postForm(t, c, f.srv.URL+"/accounts/"+strconv.FormatInt(a.ID, 10)+"/app-login", url.Values{"csrf": {tok}})
	m := regexp.MustCompile(`<b class="big">([a-z0-9]{10})</b>`).FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("set-up code: %d\n%s", res.StatusCode, body)
	}
	if res, _ := postForm(t, f.client(t), f.srv.URL+"/app/login", url.Values{"account": {"A-001"}, "password": {m[1]}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the new code does not log in: %d", res.StatusCode)
	}
}
