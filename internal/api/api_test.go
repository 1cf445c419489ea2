package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sqlite"
)

type noCommands struct{}

func (noCommands) Submit(context.Context, int64, string, string) (amigo.Command, error) {
	return amigo.Command{}, amigo.Errorf(amigo.EUNAVAILABLE, "submit", "no engine")
}

func call(t *testing.T, h http.Handler, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// A meter swap keeps the account's consumption continuous through the API:
// the removal and installation readings bridge the swap day.
func TestAccountConsumptionAcrossASwapAndRoles(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	loc := amigo.Site{}.Location()
	now := time.Date(2026, 1, 6, 12, 0, 0, 0, loc)
	site := amigo.Site{Name: "s"}
	st.CreateSite(ctx, &site)
	col := amigo.Collector{SiteID: site.ID, Address: "0171-1"}
	st.CreateCollector(ctx, &col)
	swap := time.Date(2026, 1, 3, 14, 0, 0, 0, loc)
	old := amigo.Meter{SiteID: site.ID, Address: "000000000001", CollectorID: col.ID, Pn: 1, AccountID: 7, InstalledAt: time.Date(2025, 1, 1, 0, 0, 0, 0, loc), RemovedAt: swap}
	repl := amigo.Meter{SiteID: site.ID, Address: "000000000002", CollectorID: col.ID, Pn: 2, AccountID: 7, InstalledAt: swap}
	st.CreateMeter(ctx, &old)
	st.CreateMeter(ctx, &repl)
	daily := func(m int64, day int, kwh int64) amigo.Reading {
		return amigo.Reading{MeterID: m, Kind: amigo.KindDaily, Time: time.Date(2026, 1, day, 0, 0, 0, 0, loc), Forward: [5]amigo.Energy{amigo.KWh(kwh)}, HasForward: true, Source: "t"}
	}
	st.WriteReadings(ctx, []amigo.Reading{daily(old.ID, 2, 500), daily(old.ID, 3, 510), daily(repl.ID, 4, 7), daily(repl.ID, 5, 19)})
	for _, u := range []struct{ name, role string }{{"op", amigo.RoleOperator}, {"view", amigo.RoleViewer}} {
		h := testHash("password-" + u.name)
		st.CreateUser(ctx, &amigo.User{Username: u.name, PasswordHash: h, Role: u.role})
	}
	srv := New(st, noCommands{}, func() time.Time { return now }, nil, nil)
	login := func(name string) string {
		_, out := call(t, srv, "POST", "/api/v1/login", "", map[string]string{"username": name, "password": "password-" + name})
		tok, _ := out["token"].(string)
		if tok == "" {
			t.Fatalf("login %s: %v", name, out)
		}
		return tok
	}
	op, view := login("op"), login("view")
	// A viewer may not record readings.
	if code, out := call(t, srv, "POST", "/api/v1/meters/000000000001/readings", view, map[string]any{"time": swap, "forward_active_kwh": "516", "reason": "removal"}); code != 403 {
		t.Fatalf("viewer wrote a reading: %d %v", code, out)
	}
	for _, x := range []struct{ addr, kwh, why string }{{"000000000001", "516", "final reading at removal"}, {"000000000002", "0", "first reading at installation"}} {
		if code, out := call(t, srv, "POST", "/api/v1/meters/"+x.addr+"/readings", op, map[string]any{"time": swap, "forward_active_kwh": x.kwh, "reason": x.why}); code != 201 {
			t.Fatalf("manual reading: %d %v", code, out)
		}
	}
	if code, _ := call(t, srv, "POST", "/api/v1/meters/000000000001/readings", op, map[string]any{"time": swap, "forward_active_kwh": "abc", "reason": "x"}); code != 400 {
		t.Fatalf("bad energy accepted: %d", code)
	}
	code, out := call(t, srv, "GET", "/api/v1/accounts/7/consumption?interval=day&from=2026-01-02&to=2026-01-05", view, nil)
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	var got []string
	for _, it := range out["items"].([]any) {
		v, _ := it.(map[string]any)["kwh"].(string)
		got = append(got, v)
	}
	if strings.Join(got, ",") != "10.00,13.00,12.00" {
		t.Fatalf("account consumption %v", got)
	}
	if code, out := call(t, srv, "GET", "/api/v1/accounts/99/consumption", view, nil); code != 404 || out["error"].(map[string]any)["code"] != "not_found" {
		t.Fatalf("unknown account: %d %v", code, out)
	}
	if code, _ := call(t, srv, "GET", "/api/v1/nope", view, nil); code != 404 {
		t.Fatalf("unknown route %d", code)
	}
}
