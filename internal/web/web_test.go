package web

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/api"
	"github.com/amigo-metering/amigo/internal/testdb"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/internal/wallet"
)

func openSQLite(t testing.TB) amigo.Store {
	return testdb.SQLite(t)
}

func openPostgres(t testing.TB) amigo.Store {
	return testdb.Postgres(t)
}

var stores = []struct {
	name string
	open func(t testing.TB) amigo.Store
}{{"sqlite", openSQLite}, {"postgres", openPostgres}}

// commander stores the command as the engine's Submit does (pending,
// audited) without sending it: the browser test runs the real engine.
type commander struct{ st amigo.Store }

func (c commander) Submit(ctx context.Context, meterID int64, typ, by string) (amigo.Command, error) {
	now := time.Now()
	cmd := amigo.Command{MeterID: meterID, Type: typ, RequestedBy: by, CreatedAt: now, ExpiresAt: now.Add(time.Hour), NextAttemptAt: now, UpdatedAt: now}
	if err := c.st.CreateCommand(ctx, &cmd); err != nil {
		return cmd, err
	}
	c.st.AppendAudit(ctx, amigo.AuditEntry{Time: now, Actor: by, Action: "command." + typ, Object: fmt.Sprintf("meter %d, command %d", meterID, cmd.ID)})
	return cmd, nil
}

// fixture is a station's HTTP side (the API and the pages, mounted as the
// station mounts them) on a real store with a site, an area, a collector,
// n meters and the users admin and viewer.
type fixture struct {
	st   amigo.Store
	srv  *httptest.Server
	site amigo.Site
	col  amigo.Collector
	area amigo.Area
	api  *api.Server
}

const adminPW, viewerPW = "correct-horse-1", "battery-staple-2"

func newFixture(t testing.TB, st amigo.Store, meters int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{st: st, site: amigo.Site{Name: "Campus 校园"}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateSite(ctx, &f.site))
	f.col = amigo.Collector{SiteID: f.site.ID, Name: "c1", Address: "0171-1"}
	must(st.CreateCollector(ctx, &f.col))
	installed := time.Date(2026, 1, 1, 0, 0, 0, 0, f.site.Location())
	must(st.WithTx(ctx, func(tx amigo.Store) error {
		for i := range meters {
			m := amigo.Meter{SiteID: f.site.ID, Address: fmt.Sprintf("%012d", i+1), CollectorID: f.col.ID, Port: 1, Pn: i%2000 + 1, Phases: 1, RatedAmps: 60, InstalledAt: installed}
			if err := tx.CreateMeter(ctx, &m); err != nil {
				return err
			}
		}
		return nil
	}))
	supply, err := st.FindMeterByAddress(ctx, "000000000001")
	must(err)
	f.area = amigo.Area{SiteID: f.site.ID, Name: "Building 1 一号楼", SupplyMeterID: supply.ID, LossLow: 2, LossHigh: 6}
	must(st.CreateArea(ctx, &f.area))
	for _, u := range []struct{ name, pw, role string }{{"admin", adminPW, amigo.RoleAdmin}, {"viewer", viewerPW, amigo.RoleViewer}} {
		h, err := api.HashPassword(u.pw)
		must(err)
		must(st.CreateUser(ctx, &amigo.User{Username: u.name, PasswordHash: h, Role: u.role}))
	}
	log := slog.New(slog.DiscardHandler)
	a := api.New(st, commander{st}, time.Now, []byte("0123456789abcdef0123456789abcdef"), log)
	f.api = a
	t.Cleanup(a.StopBillingRuns)
	w := wallet.New(st, commander{st}, vclock.Real{}, wallet.Config{Log: log})
	pages, err := New(Config{Store: st, API: a, Who: a.Who, Now: time.Now, Secret: []byte("0123456789abcdef0123456789abcdef"), Log: log, Switch: w.CustomerSwitch})
	must(err)
	f.srv = httptest.NewServer(Mount(a, pages))
	t.Cleanup(f.srv.Close)
	return f
}

// client is a browser-like client: cookies kept, redirects not followed.
func (f *fixture) client(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (f *fixture) login(t testing.TB, c *http.Client, user, pw string) *http.Response {
	t.Helper()
	res, err := c.PostForm(f.srv.URL+"/login", url.Values{"username": {user}, "password": {pw}, "next": {"/meters"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func get(t testing.TB, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestPagesInBothLanguages(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			f := newFixture(t, s.open(t), 120)
			c := f.client(t)
			// Not logged in: every page sends the browser to the login.
			res, err := c.Get(f.srv.URL + "/meters?status=online")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Fmeters%3Fstatus%3Donline" {
				t.Fatalf("anonymous /meters: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			res = f.login(t, c, "admin", adminPW)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/meters" {
				t.Fatalf("login: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			var sess *http.Cookie
			for _, ck := range res.Cookies() {
				if ck.Name == sessionCookie {
					sess = ck
				}
			}
			if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" {
				t.Fatalf("session cookie: %+v", sess)
			}
			pages := []string{"/", "/meters", "/meters?page=3", "/meters?q=00000000010", "/meters/000000000002", "/meters/000000000002/confirm?type=disconnect",
				"/collectors", "/areas", "/archive", "/audit", "/accounts"}
			for _, l := range []string{"zh", "en"} {
				if res, err := c.Get(f.srv.URL + "/lang/" + l + "?next=/audit"); err != nil || res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/audit" {
					t.Fatalf("switch to %s: %v %v", l, err, res)
				}
				for _, p := range pages {
					code, body := get(t, c, f.srv.URL+p)
					if code != http.StatusOK {
						t.Fatalf("%s %s: %d\n%s", l, p, code, body)
					}
					if want := map[string]string{"zh": "电表", "en": "Meters"}[l]; !strings.Contains(body, want) {
						t.Errorf("%s %s lacks %q", l, p, want)
					}
					for _, bad := range untranslated(body) {
						t.Errorf("%s %s shows the key %q", l, p, bad)
					}
				}
			}
			// Page 3 of 120 meters at 50 a page: meters 101..120.
			_, body := get(t, c, f.srv.URL+"/meters?page=3")
			if !strings.Contains(body, ">000000000101<") || !strings.Contains(body, ">000000000120<") || strings.Contains(body, ">000000000100<") {
				t.Errorf("page 3 does not list meters 101..120")
			}
			// A prefix lists its meters (00000000010x: 100..109, 10 meters);
			// a whole address opens the meter.
			_, body = get(t, c, f.srv.URL+"/meters?q=00000000010")
			if n := strings.Count(body, `class="meter-link"`); n != 10 {
				t.Errorf("prefix 00000000010 lists %d meters, want 10 (100..109)", n)
			}
			res, _ = c.Get(f.srv.URL + "/meters?q=000000000007")
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/meters/000000000007" {
				t.Errorf("exact search: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			if code, _ := get(t, c, f.srv.URL+"/meters/999999999999"); code != http.StatusNotFound {
				t.Errorf("unknown meter: %d, want 404", code)
			}
			if code, body := get(t, c, f.srv.URL+"/meters?q=12ab"); code != http.StatusBadRequest || !strings.Contains(body, "digits only") {
				t.Errorf("bad search: %d", code)
			}
		})
	}
}

// untranslated finds message keys shown as such (a key used with no text).
func untranslated(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`>([a-z]+_[a-z_]+)<`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// Every key the templates ask for has both languages.
func TestEveryKeyHasBothLanguages(t *testing.T) {
	re := regexp.MustCompile(`\.T "([^"]+)"`)
	err := fs.WalkDir(files, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(files, p)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if v, ok := messages[m[1]]; !ok || v[0] == "" || v[1] == "" {
				t.Errorf("%s: key %q has no text in both languages", p, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Keys made at run time: statuses, relay states, command types and states.
	for _, k := range []string{"online", "offline", "faulty", "unknown", "relay_open", "relay_closed", "relay_unknown",
		"cmd_read", "cmd_disconnect", "cmd_reconnect", "cmd_time-sync", "cmd_pending", "cmd_sent_state", "cmd_succeeded", "cmd_failed", "cmd_expired"} {
		if _, ok := messages[k]; !ok {
			t.Errorf("key %q missing", k)
		}
	}
}

// A command needs the session's form token and a same-origin request; with
// both it is the API's command, audited under the operator's name; a
// viewer is refused by the API's role rule.
func TestCommandsCSRFAndRoles(t *testing.T) {
	f := newFixture(t, openSQLite(t), 3)
	c := f.client(t)
	f.login(t, c, "admin", adminPW)
	_, body := get(t, c, f.srv.URL+"/meters/000000000002/confirm?type=disconnect")
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no csrf field on the confirm page")
	}
	post := func(c *http.Client, form url.Values, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest("POST", f.srv.URL+"/meters/000000000002/commands", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post(c, url.Values{"type": {"disconnect"}}, nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("no token: %d, want 403", res.StatusCode)
	}
	if res := post(c, url.Values{"type": {"disconnect"}, "csrf": {m[1]}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site: %d, want 403", res.StatusCode)
	}
	if res := post(c, url.Values{"type": {"disconnect"}, "csrf": {m[1]}}, map[string]string{"Origin": "https://evil.example"}); res.StatusCode != http.StatusForbidden {
		t.Errorf("other origin: %d, want 403", res.StatusCode)
	}
	es, _ := f.st.ListAudit(context.Background(), 100)
	for _, e := range es {
		if strings.HasPrefix(e.Action, "command.") {
			t.Fatalf("a refused form made a command: %+v", e)
		}
	}
	res := post(c, url.Values{"type": {"disconnect"}, "csrf": {m[1]}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/meters/000000000002?accepted=") {
		t.Fatalf("command: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	es, _ = f.st.ListAudit(context.Background(), 100)
	found := false
	for _, e := range es {
		found = found || e.Action == "command.disconnect" && e.Actor == "admin"
	}
	if !found {
		t.Errorf("no audit entry command.disconnect by admin: %+v", es)
	}
	_, body = get(t, c, f.srv.URL+"/meters/000000000002")
	if !strings.Contains(body, "cmd-pending") {
		t.Errorf("the meter's page does not list the pending command")
	}

	// A viewer sees the pages but the API refuses the command (403), in
	// the page's language.
	v := f.client(t)
	f.login(t, v, "viewer", viewerPW)
	_, body = get(t, v, f.srv.URL+"/meters/000000000002/confirm?type=disconnect")
	tok := csrfRe.FindStringSubmatch(body)[1]
	res = post(v, url.Values{"type": {"disconnect"}, "csrf": {tok}}, nil)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer's command: %d, want 403", res.StatusCode)
	}
}

// Logging out ends the session at once: the API raises the user's token
// generation, so the old cookie (or a copy of it) no longer opens a page.
func TestLogoutRevokes(t *testing.T) {
	f := newFixture(t, openSQLite(t), 2)
	c := f.client(t)
	f.login(t, c, "admin", adminPW)
	u, _ := url.Parse(f.srv.URL)
	old := c.Jar.Cookies(u)
	_, body := get(t, c, f.srv.URL+"/")
	tok := csrfRe.FindStringSubmatch(body)[1]
	res, err := c.PostForm(f.srv.URL+"/logout", url.Values{"csrf": {tok}})
	if err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %v %v", err, res)
	}
	thief := f.client(t)
	thief.Jar.SetCookies(u, old)
	res, _ = thief.Get(f.srv.URL + "/")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("the old session still opens the dashboard: %d", res.StatusCode)
	}
}

// The pages' login is the API's: failures from one source count against
// the same limit, whichever door they came through.
func TestLoginLimitIsTheAPIs(t *testing.T) {
	f := newFixture(t, openSQLite(t), 2)
	c := f.client(t)
	for i := range 5 {
		res := f.login(t, c, "admin", "wrong")
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, res.StatusCode)
		}
	}
	// The sixth try, right password, through the API: the source is locked.
	res, err := http.Post(f.srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"username":"admin","password":"`+adminPW+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("API login after 5 failed page logins: %d, want 429", res.StatusCode)
	}
	// And the page says so in its language.
	req, _ := http.NewRequest("POST", f.srv.URL+"/login", strings.NewReader("username=admin&password=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: langCookie, Value: "en"})
	res, _ = c.Do(req)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), "too many failed logins") || strings.Contains(string(b), "登录失败次数过多") {
		t.Fatalf("page login when locked: %d %s", res.StatusCode, b)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{"/meters?x=1": "/meters?x=1", "//evil.example/": "/", "/\\evil.example": "/", "https://evil.example": "/", "": "/", "meters": "/"} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
