package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/amigo-metering/amigo/internal/vclock"
)

// The station's profiles answer on debug_listen to an administrator's API
// token only: no token 401, a forged one 401, a cashier's 403, the admin's
// 200 with the profile index, and a CPU profile of one second can be taken.
func TestDebugListenIsForAdministratorsOnly(t *testing.T) {
	cfg := testStationConfig(t, t.TempDir())
	cfg.DebugListen, cfg.clock = "127.0.0.1:0", vclock.Real{}
	a := startStation(t, cfg)
	if a.Debug == nil || a.Debug.String() == a.API.String() {
		t.Fatalf("debug address %v (API %v)", a.Debug, a.API)
	}
	api := "http://" + a.API.String() + "/api/v1"
	post := func(path, tok string, body any, v any) int {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", api+path, bytes.NewReader(b))
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
	var admin, cashier struct{ Token string }
	if code := post("/login", "", map[string]string{"username": "admin", "password": "correct-horse-battery"}, &admin); code != 200 {
		t.Fatalf("admin login %d", code)
	}
	if code := post("/users", admin.Token, map[string]string{"username": "desk1", "password": "a-long-cashier-pass", "role": "cashier"}, nil); code != 201 {
		t.Fatalf("create cashier %d", code)
	}
	if code := post("/login", "", map[string]string{"username": "desk1", "password": "a-long-cashier-pass"}, &cashier); code != 200 {
		t.Fatalf("cashier login %d", code)
	}
	get := func(path, tok string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+a.Debug.String()+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, c := range []struct {
		tok  string
		want int
	}{{"", 401}, {admin.Token + "x", 401}, {cashier.Token, 403}} {
		if code, body := get("/debug/pprof/", c.tok); code != c.want {
			t.Fatalf("token %q: %d %s, want %d", c.tok, code, body, c.want)
		}
	}
	if code, body := get("/debug/pprof/", admin.Token); code != 200 || !bytes.Contains(body, []byte("goroutine")) {
		t.Fatalf("admin: %d %.200s", code, body)
	}
	for _, q := range []string{"seconds=100000", "seconds=0", "seconds=x"} {
		if code, _ := get("/debug/pprof/profile?"+q, admin.Token); code != 400 {
			t.Fatalf("%s: %d, want 400", q, code)
		}
	}
	if code, body := get("/debug/pprof/profile?seconds=1", admin.Token); code != 200 || len(body) == 0 {
		t.Fatalf("CPU profile: %d, %d bytes", code, len(body))
	}
	// The API's listener does not serve them.
	resp, err := http.Get("http://" + a.API.String() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatal("the API listener serves the profiles")
	}
}
