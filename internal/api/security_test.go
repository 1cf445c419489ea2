package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/amigo-metering/amigo"
)

// testHash is a bcrypt hash at the lowest cost: logins in tests check
// passwords the same way, 2^6 rounds instead of 2^10 (the race detector
// makes the default cost take seconds).
func testHash(pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}

// callFrom is call with the client's address set (RemoteAddr, as net/http
// sets it).
func callFrom(t *testing.T, h http.Handler, remote, method, path, token string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	req.RemoteAddr = remote
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out, rec.Header()
}

// Forty wrong passwords sent at once from one address: the check and the
// count are one step, so at most 5 are checked (401) and the other 35 are
// refused unchecked (429). Before the fix all 40 were checked.
func TestLoginLockoutHoldsUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	var checks atomic.Int32
	e.srv.comparePassword = func(hash, pw []byte) error {
		checks.Add(1)
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	start := make(chan struct{})
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, _, _ := callFrom(t, e.srv, "198.51.100.7:40000", "POST", "/api/v1/login", "", map[string]string{"username": "root", "password": "wrong-password"})
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	// 5 checked and failed, 40 − 5 = 35 refused before any check.
	if codes[401] != 5 || codes[429] != 35 {
		t.Fatalf("401: %d, 429: %d (%v); want 5 and 35", codes[401], codes[429], codes)
	}
	if n := checks.Load(); n != 5 {
		t.Fatalf("%d passwords checked, want 5", n)
	}
}

// An attacker's address is locked out after 5 failures; the account is not:
// its owner logs in from another address. Before the fix the sixth wrong
// try locked the admin out for everyone.
func TestAttackerCannotLockOutTheAdmin(t *testing.T) {
	e := newEnv(t)
	const attacker, owner = "203.0.113.9:5000", "192.0.2.44:6000"
	for i := range 20 {
		code, out, _ := callFrom(t, e.srv, attacker, "POST", "/api/v1/login", "", map[string]string{"username": "root", "password": "guess"})
		want := 401
		if i >= 5 {
			want = 429
		}
		if code != want {
			t.Fatalf("attempt %d: %d %v, want %d", i+1, code, out, want)
		}
	}
	// The attacker's address stays locked even with the right password.
	if code, _, _ := callFrom(t, e.srv, attacker, "POST", "/api/v1/login", "", map[string]string{"username": "root", "password": "password-root"}); code != 429 {
		t.Fatalf("locked source logged in: %d", code)
	}
	code, out, _ := callFrom(t, e.srv, owner, "POST", "/api/v1/login", "", map[string]string{"username": "root", "password": "password-root"})
	if code != 200 || out["token"] == nil {
		t.Fatalf("the admin is locked out: %d %v", code, out)
	}
}

// A body must be exactly one JSON value of known fields: garbage after it,
// a second value or an unknown field is refused and nothing is stored.
// Before the fix the manual reading below was stored (201).
func TestBodiesAreOneJSONValue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	site := amigo.Site{Name: "s"}
	e.st.CreateSite(ctx, &site)
	m := amigo.Meter{SiteID: site.ID, Address: "000000000001", Direct: true, InstalledAt: e.now.AddDate(0, -1, 0)}
	if err := e.st.CreateMeter(ctx, &m); err != nil {
		t.Fatal(err)
	}
	op := e.login("op", "password-op")
	good := `{"time":"2026-01-05T08:00:00+08:00","forward_active_kwh":"12.5","reason":"read by hand"}`
	for _, b := range []string{good + ` garbage`, good + good, good + ` {}`, `{"time":"2026-01-05T08:00:00+08:00","forward_active_kwh":"12.5","reason":"x","extra":1}`} {
		if code, out := raw(t, e.srv, "POST", "/api/v1/meters/000000000001/readings", op, b); code != 400 || !strings.Contains(out, " / ") {
			t.Fatalf("%s: %d %s", b, code, out)
		}
	}
	if rs, _ := e.st.ListReadings(ctx, m.ID, "", time.Time{}, e.now.AddDate(1, 0, 0)); len(rs) != 0 {
		t.Fatalf("stored %d readings from refused bodies", len(rs))
	}
	for _, b := range []string{`{"username":"op","password":"password-op"} x`, `{"username":"op","password":"password-op","x":1}`, `{"username":"op","password":"` + strings.Repeat("a", 70000) + `"}`} {
		if code, out := raw(t, e.srv, "POST", "/api/v1/login", "", b); code != 400 {
			t.Fatalf("login %.60s: %d %s", b, code, out)
		}
	}
	if code, out := raw(t, e.srv, "POST", "/api/v1/meters/000000000001/readings", op, good); code != 201 {
		t.Fatalf("good body: %d %s", code, out)
	}
}

// Manual readings are dated between the meter's installation and a few
// minutes from now. Before the fix years 1 and 9999 were stored.
func TestManualReadingTimesAreBounded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	site := amigo.Site{Name: "s"}
	e.st.CreateSite(ctx, &site)
	installed := time.Date(2025, 6, 1, 0, 0, 0, 0, e.now.Location())
	m := amigo.Meter{SiteID: site.ID, Address: "000000000001", Direct: true, InstalledAt: installed}
	if err := e.st.CreateMeter(ctx, &m); err != nil {
		t.Fatal(err)
	}
	op := e.login("op", "password-op")
	for _, at := range []string{"0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "2025-05-31T23:59:59+08:00", e.now.Add(time.Hour).Format(time.RFC3339)} {
		code, out := call(t, e.srv, "POST", "/api/v1/meters/000000000001/readings", op, map[string]any{"time": at, "forward_active_kwh": "1", "reason": "x"})
		if code != 400 || !strings.Contains(out["error"].(map[string]any)["message"].(string), " / ") {
			t.Fatalf("%s: %d %v", at, code, out)
		}
	}
	if rs, _ := e.st.ListReadings(ctx, m.ID, "", time.Time{}, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)); len(rs) != 0 {
		t.Fatalf("stored %d readings", len(rs))
	}
	// The installation instant itself and now are fine.
	for _, at := range []time.Time{installed, e.now} {
		if code, out := call(t, e.srv, "POST", "/api/v1/meters/000000000001/readings", op, map[string]any{"time": at, "forward_active_kwh": "1", "reason": "x"}); code != 201 {
			t.Fatalf("%s: %d %v", at, code, out)
		}
	}
}

// Every date and range in a query is bounded before anything is read.
// Before the fix the readings, success rates and areas of year 1 to 9999
// were answered (200).
func TestQueryTimesAreBounded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	site := amigo.Site{Name: "s"}
	e.st.CreateSite(ctx, &site)
	m := amigo.Meter{SiteID: site.ID, Address: "000000000001", Direct: true, AccountID: 3, InstalledAt: e.now.AddDate(0, -1, 0)}
	e.st.CreateMeter(ctx, &m)
	e.st.CreateArea(ctx, &amigo.Area{SiteID: site.ID, Name: "A"})
	view := e.login("view", "password-view")
	for _, q := range []string{
		"/api/v1/meters/000000000001/readings?from=0001-01-01&to=9999-12-31",
		"/api/v1/meters/000000000001/readings?from=2026-01-01&to=2027-01-01",
		"/api/v1/meters/000000000001/readings?from=2026-01-02&to=2026-01-01",
		"/api/v1/meters/000000000001/consumption?from=0001-01-01&to=9999-12-31",
		"/api/v1/meters/000000000001/consumption?interval=month&from=0001-01-01&to=9999-12-31",
		"/api/v1/accounts/3/consumption?from=0001-01-01&to=9999-12-31",
		"/api/v1/accounts/3/consumption?interval=month&from=1990-01-01&to=2026-01-01",
		"/api/v1/success-rates?day=0001-01-01",
		"/api/v1/success-rates?day=9999-12-31",
		"/api/v1/areas?day=0001-01-01",
		"/api/v1/events?since=0001-01-01",
		"/api/v1/events?limit=100000000",
		"/api/v1/events?offset=-5",
		"/api/v1/meters?limit=100000000",
	} {
		code, out := call(t, e.srv, "GET", q, view, nil)
		if code != 400 || !strings.Contains(out["error"].(map[string]any)["message"].(string), " / ") {
			t.Fatalf("%s: %d %v", q, code, out)
		}
	}
	for _, q := range []string{
		"/api/v1/meters/000000000001/readings?from=2026-01-01&to=2026-01-06",
		"/api/v1/accounts/3/consumption?from=2026-01-01&to=2026-01-06",
		"/api/v1/success-rates?day=2026-01-05",
		"/api/v1/areas?day=2026-01-05",
		"/api/v1/events?since=2026-01-01&limit=1000",
		"/api/v1/meters?limit=1000",
	} {
		if code, out := call(t, e.srv, "GET", q, view, nil); code != 200 {
			t.Fatalf("%s: %d %v", q, code, out)
		}
	}
}

// fakeGuardClock drives the login guard's time: waiting advances it and is
// recorded.
type fakeGuardClock struct {
	mu     sync.Mutex
	now    time.Time
	waited []time.Duration
}

func (c *fakeGuardClock) install(g *loginGuard) {
	g.now = func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
	g.wait = func(_ context.Context, d time.Duration) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if d > 0 {
			c.now = c.now.Add(d)
			c.waited = append(c.waited, d)
		}
		return nil
	}
}

func (c *fakeGuardClock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// An account with failures is slowed, not locked: checks are spaced out
// for everyone; a success clears its failures. A locked source is free
// again when its oldest failure leaves the 15-minute window.
func TestAccountIsSlowedAndSourceUnlocks(t *testing.T) {
	e := newEnv(t)
	t0 := time.Date(2026, 1, 6, 12, 0, 0, 0, time.UTC)
	clk := &fakeGuardClock{now: t0}
	clk.install(e.srv.guard)
	login := func(remote, pw string, want int) map[string]any {
		t.Helper()
		code, out, _ := callFrom(t, e.srv, remote, "POST", "/api/v1/login", "", map[string]string{"username": "root", "password": pw})
		if code != want {
			t.Fatalf("%s %s: %d %v, want %d", remote, pw, code, out, want)
		}
		return out
	}
	for range 5 {
		login("203.0.113.1:1", "guess", 401) // account failures 0..4 before each: no wait
	}
	login("203.0.113.2:1", "guess", 401)       // 5 failures: starts now, the next check not before t0 + 1 s
	login("192.0.2.9:1", "password-root", 200) // 6 failures: waits 1 s, then succeeds
	login("192.0.2.9:1", "password-root", 200) // the success cleared the failures: no wait
	if len(clk.waited) != 1 || clk.waited[0] != time.Second {
		t.Fatalf("waited %v, want [1s]", clk.waited)
	}
	// Spacing doubles: failures 5, 6, 7 → the checks after them wait 1 s, 2 s, 4 s
	// when they come at once (each waits for the one before it).
	clk.waited = nil
	for i := range 8 {
		login("198.51.100."+strconv.Itoa(i)+":1", "guess", 401)
	}
	// Failures before each check: 0..4 free, 5 starts at once (next = +1 s),
	// 6 waits 1 s (next = start + 2 s), 7 waits 2 s (next = start + 4 s).
	if got := fmt.Sprint(clk.waited); got != "[1s 2s]" {
		t.Fatalf("waited %s, want [1s 2s]", got)
	}
	// The first source's failures are at t0; it is locked until t0 + 15 min.
	clk.set(t0.Add(15*time.Minute - time.Second))
	code, out, h := callFrom(t, e.srv, "203.0.113.1:1", "POST", "/api/v1/login", "", map[string]string{"username": "root", "password": "password-root"})
	if code != 429 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "try again in 1 s / ") || h.Get("Retry-After") != "1" {
		t.Fatalf("%d %v %v", code, out, h)
	}
	clk.set(t0.Add(15 * time.Minute))
	login("203.0.113.1:1", "password-root", 200)
}

// X-Forwarded-For is ignored unless the peer is a trusted proxy; from a
// trusted proxy, the rightmost untrusted address is the client.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	e := newEnv(t)
	(&fakeGuardClock{now: time.Now()}).install(e.srv.guard) // the account's spacing costs no real time
	try := func(remote, xff, pw string) int {
		req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"username":"op","password":"`+pw+`"}`))
		req.RemoteAddr = remote
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		return rec.Code
	}
	// An attacker rotating the header from one address is still one source.
	for i := range 6 {
		want := 401
		if i == 5 {
			want = 429
		}
		if code := try("10.1.1.1:1", "198.51.100."+strconv.Itoa(i), "bad"); code != want {
			t.Fatalf("try %d: %d, want %d", i, code, want)
		}
	}
	if err := e.srv.SetOptions(Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}); err != nil {
		t.Fatal(err)
	}
	// Through the proxy 10.2.2.2: a client claiming to be others on the left
	// is counted as its real address, 198.51.100.50.
	for i := range 5 {
		if code := try("10.2.2.2:1", "1.1.1."+strconv.Itoa(i)+", 198.51.100.50, 10.3.3.3", "bad"); code != 401 {
			t.Fatalf("through proxy %d: %d", i, code)
		}
	}
	if code := try("10.2.2.2:1", "198.51.100.50", "password-op"); code != 429 {
		t.Fatalf("the client behind the proxy is not locked: %d", code)
	}
	// Another client behind the same proxy is not.
	if code := try("10.2.2.2:1", "198.51.100.51", "password-op"); code != 200 {
		t.Fatalf("another client behind the proxy: %d", code)
	}
}

// The guard's memory is bounded: 20,000 sources leave 10,000 entries; an
// IPv6 /64 is one source.
func TestLoginGuardMemoryIsBounded(t *testing.T) {
	g := newLoginGuard()
	for i := range 20000 {
		src := fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
		if _, err := g.reserveSource(src); err != nil {
			t.Fatal(err)
		}
		g.finishSource(src, true)
	}
	if n := g.sources.len(); n != maxTracked {
		t.Fatalf("%d sources kept, want %d", n, maxTracked)
	}
	// The most recent are kept, the oldest forgotten.
	if _, ok := g.sources.get("10.0.78.31"); !ok { // 19999 = 0x4E1F → 10.0.78.31
		t.Fatal("the newest source was forgotten")
	}
	if _, ok := g.sources.get("10.0.0.0"); ok {
		t.Fatal("the oldest source was kept")
	}
	a := sourceKey(peerIP("[2001:db8:1:2:aaaa::1]:443"), "")
	b := sourceKey(peerIP("[2001:db8:1:2:bbbb::9]:443"), "")
	if a != b || a != "2001:db8:1:2::/64" {
		t.Fatalf("IPv6 keys %q %q", a, b)
	}
	if k := sourceKey(peerIP("[::ffff:192.0.2.1]:80"), ""); k != "192.0.2.1" {
		t.Fatalf("mapped IPv4 key %q", k)
	}
}

// Every answer carries the security headers, errors and 404s included.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	view := e.login("view", "password-view")
	for _, x := range []struct{ method, path, token, body string }{
		{"GET", "/healthz", "", ""},
		{"GET", "/api/v1/openapi.json", "", ""},
		{"POST", "/api/v1/login", "", `{"username":"view","password":"password-view"}`},
		{"GET", "/api/v1/meters", view, ""},
		{"GET", "/api/v1/meters", "", ""},
		{"GET", "/api/v1/nope", view, ""},
		{"PUT", "/api/v1/meters", view, ""},
		{"GET", "/metrics", "", ""},
	} {
		req := httptest.NewRequest(x.method, x.path, strings.NewReader(x.body))
		if x.token != "" {
			req.Header.Set("Authorization", "Bearer "+x.token)
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		h := rec.Header()
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'", "Cache-Control": "no-store"} {
			if h.Get(k) != v {
				t.Errorf("%s %s (%d): %s = %q, want %q", x.method, x.path, rec.Code, k, h.Get(k), v)
			}
		}
	}
}

// /metrics asks for its token when one is set; the token is checked whole.
func TestMetricsToken(t *testing.T) {
	e := newEnv(t)
	get := func(auth string) int {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		if rec.Code == 200 && !strings.Contains(rec.Body.String(), "amigo_meters{") {
			t.Fatalf("metrics body %q", rec.Body.String())
		}
		return rec.Code
	}
	if code := get(""); code != 200 {
		t.Fatalf("open metrics: %d", code)
	}
	if err := e.srv.SetOptions(Options{MetricsToken: "short"}); err == nil || !strings.Contains(err.Error(), " / ") {
		t.Fatalf("a 5-character token was accepted: %v", err)
	}
	const tok = "metrics-token-0123456789"
	if err := e.srv.SetOptions(Options{MetricsToken: tok}); err != nil {
		t.Fatal(err)
	}
	for _, auth := range []string{"", "Bearer ", "Bearer metrics-token-012345678", "Bearer " + tok + "x", "Basic " + tok, tok} {
		if code := get(auth); code != 401 {
			t.Fatalf("%q: %d, want 401", auth, code)
		}
	}
	if code := get("Bearer " + tok); code != 200 {
		t.Fatalf("right token: %d", code)
	}
	// An API token is not the metrics token.
	if code := get("Bearer " + e.login("root", "password-root")); code != 401 {
		t.Fatalf("API token opened metrics: %d", code)
	}
}

// An unknown or retired user costs a check at the default cost, like a
// wrong password, and counts against the source.
func TestUnknownUsersCostAndCount(t *testing.T) {
	if c, err := bcrypt.Cost(dummyHash); err != nil || c != bcrypt.DefaultCost {
		t.Fatalf("dummy hash cost %d %v, want %d", c, err, bcrypt.DefaultCost)
	}
	e := newEnv(t)
	var checks atomic.Int32
	e.srv.comparePassword = func(hash, pw []byte) error {
		checks.Add(1)
		return bcrypt.ErrMismatchedHashAndPassword // the dummy hash's cost is not this test's business
	}
	for i := range 6 {
		code, out, _ := callFrom(t, e.srv, "203.0.113.5:1", "POST", "/api/v1/login", "", map[string]string{"username": "nobody" + strconv.Itoa(i), "password": "x"})
		if want := map[bool]int{true: 429, false: 401}[i == 5]; code != want {
			t.Fatalf("try %d: %d %v, want %d", i, code, out, want)
		}
	}
	if n := checks.Load(); n != 5 {
		t.Fatalf("%d checks, want 5", n)
	}
	if n := e.srv.guard.accounts.len(); n != 0 {
		t.Fatalf("%d unknown accounts tracked", n)
	}
}

// A client that gives up while its check waits is not counted, and does
// not clear the account's failures either.
func TestAbandonedCheckKeepsTheAccountSlowed(t *testing.T) {
	e := newEnv(t)
	clk := &fakeGuardClock{now: time.Date(2026, 1, 6, 12, 0, 0, 0, time.UTC)}
	clk.install(e.srv.guard)
	for i := range 5 {
		callFrom(t, e.srv, "203.0.113."+strconv.Itoa(i)+":1", "POST", "/api/v1/login", "", map[string]string{"username": "root", "password": "guess"})
	}
	callFrom(t, e.srv, "203.0.113.9:1", "POST", "/api/v1/login", "", map[string]string{"username": "root", "password": "guess"}) // 6th: next = +1 s
	// The 7th must wait 1 s; its client goes away.
	e.srv.guard.wait = func(context.Context, time.Duration) error { return context.Canceled }
	callFrom(t, e.srv, "198.51.100.1:1", "POST", "/api/v1/login", "", map[string]string{"username": "root", "password": "password-root"})
	e.srv.guard.mu.Lock()
	a, _ := e.srv.guard.accounts.get("root")
	fails, pending := a.fails, a.pending
	e.srv.guard.mu.Unlock()
	if fails != 6 || pending != 0 {
		t.Fatalf("account fails %d pending %d, want 6 and 0", fails, pending)
	}
}

// A declared body over the route's bound is refused before it is read:
// 64 KiB for JSON; CSV imports (32 MiB) and tariff documents (1 MiB) have
// theirs.
func TestDeclaredBodyOverTheBound(t *testing.T) {
	e := newEnv(t)
	op := e.login("op", "password-op")
	for _, x := range []struct {
		path    string
		size    int64
		refused bool
	}{{"/api/v1/sites", maxBody + 1, true}, {"/api/v1/import/sites", maxBody + 1, false}, {"/api/v1/import/sites", 33 << 20, true},
		{"/api/v1/tariffs", maxBody + 1, false}, {"/api/v1/tariffs", 1<<20 + 1, true}} {
		req := httptest.NewRequest("POST", x.path, strings.NewReader("name,time_zone\nS1,Asia/Shanghai\n"))
		req.ContentLength = x.size // declared, not sent: the bound must not wait for it
		req.Header.Set("Authorization", "Bearer "+op)
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		refused := rec.Code == 400 && strings.Contains(rec.Body.String(), "request body larger than")
		if refused != x.refused {
			t.Fatalf("%s declaring %d bytes: %d %s, refused %v", x.path, x.size, rec.Code, rec.Body, x.refused)
		}
	}
}
