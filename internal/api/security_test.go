package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

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
