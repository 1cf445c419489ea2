package api

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// Tariffs through the API: an admin loads versions (checked, audited, never
// replaced), and a quote uses the version in force on its day.
func TestTariffRoutes(t *testing.T) {
	e := newEnv(t)
	root, op, view := e.login("root", "password-root"), e.login("op", "password-op"), e.login("view", "password-view")
	doc, err := os.ReadFile("../../docs/tariffs/zj-residential.json")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := raw(t, e.srv, "POST", "/api/v1/tariffs", op, string(doc)); code != 403 {
		t.Fatalf("operator loads a tariff: %d", code)
	}
	code, body := raw(t, e.srv, "POST", "/api/v1/tariffs", root, string(doc))
	if code != 201 || !strings.Contains(body, `"version":"zj-residential@2026-01-01"`) {
		t.Fatalf("load: %d %s", code, body)
	}
	if code, body := raw(t, e.srv, "POST", "/api/v1/tariffs", root, string(doc)); code != 409 || !strings.Contains(body, "已有版本") {
		t.Fatalf("same version again: %d %s", code, body)
	}
	bad := strings.Replace(string(doc), `"0.2880"`, `"0.28801"`, 1)
	if code, body := raw(t, e.srv, "POST", "/api/v1/tariffs", root, bad); code != 400 || !strings.Contains(body, `periods[1].price: \"0.28801\" has more than 4 decimals`) {
		t.Fatalf("invalid: %d %s", code, body)
	}
	// A second version from July: peak 0.6000.
	v2 := strings.NewReplacer(`"2026-01-01"`, `"2026-07-01"`, `"0.5680"`, `"0.6000"`).Replace(string(doc))
	if code, body := raw(t, e.srv, "POST", "/api/v1/tariffs", root, v2); code != 201 {
		t.Fatalf("v2: %d %s", code, body)
	}
	out := e.want("GET", "/api/v1/tariffs?name=zj-residential", view, nil, 200)
	items, _ := out["items"].([]any)
	if out["total"] != float64(2) || len(items) != 2 || items[0].(map[string]any)["valid_from"] != "2026-01-01" || items[1].(map[string]any)["created_by"] != "root" {
		t.Fatalf("list: %v", out)
	}
	if d, _ := items[0].(map[string]any)["document"].(map[string]any); d["name"] != "zj-residential" {
		t.Fatalf("document: %v", items[0])
	}
	audit, _ := e.st.ListAudit(context.Background(), 10)
	found := 0
	for _, a := range audit {
		if a.Action == "tariff.create" && a.Actor == "root" && strings.HasPrefix(a.Object, "tariff zj-residential@") {
			found++
		}
	}
	if found != 2 {
		t.Fatalf("audit: %+v", audit)
	}

	// 30 June: version 1. 2700 kWh before, 2000 peak + 500 valley:
	// 113600 + 14400 + 10200 + 12000 = 150200 fen (see the tariff tests).
	quote := func(body string) (int, map[string]any) {
		code, s := raw(t, e.srv, "POST", "/api/v1/tariffs/zj-residential/quote", view, body)
		var m map[string]any
		json.Unmarshal([]byte(s), &m)
		return code, m
	}
	code, q := quote(`{"date": "2026-06-30", "year_to_date": "2700", "usage": {"peak": "2000", "valley": "500"}}`)
	if code != 200 || q["total_fen"] != float64(150200) || q["valid_from"] != "2026-01-01" || len(q["lines"].([]any)) != 4 {
		t.Fatalf("june: %d %v", code, q)
	}
	// 1 July: version 2: 2000 × 0.6000 = 1200.00 yuan = 120000 fen instead of 113600: 156600.
	code, q = quote(`{"date": "2026-07-01", "year_to_date": "2700", "usage": {"peak": "2000", "valley": "500"}}`)
	if code != 200 || q["total_fen"] != float64(156600) || q["valid_from"] != "2026-07-01" {
		t.Fatalf("july: %d %v", code, q)
	}
	// No date: today (6 January 2026 in the test's clock), version 1; 10 kWh peak = 568 fen.
	code, q = quote(`{"year_to_date": "0", "usage": {"peak": "10"}}`)
	if code != 200 || q["total_fen"] != float64(568) {
		t.Fatalf("today: %d %v", code, q)
	}
	for _, c := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/api/v1/tariffs/zj-residential/quote", `{"date": "2025-12-31", "year_to_date": "0", "usage": {"peak": "1"}}`, 404, "尚未生效"},
		{"/api/v1/tariffs/nope/quote", `{"date": "2026-06-30", "year_to_date": "0", "usage": {"peak": "1"}}`, 404, "无此电价"},
		{"/api/v1/tariffs/zj-residential/quote", `{"date": "2026-06-30", "usage": {"peak": "1"}}`, 400, "year_to_date"},
		{"/api/v1/tariffs/zj-residential/quote", `{"date": "2026-06-30", "year_to_date": "0", "usage": {"sharp": "1"}}`, 400, `no period \"sharp\"`},
		{"/api/v1/tariffs/zj-residential/quote", `{"date": "2026-06-30", "colour": 1}`, 400, "unknown field"},
		{"/api/v1/tariffs/zj-residential/quote", strings.Repeat(" ", 20000), 400, "larger than"},
	} {
		if code, body := raw(t, e.srv, "POST", c.path, view, c.body); code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s %.50s: %d %s, want %d %q", c.path, c.body, code, body, c.code, c.want)
		}
	}
	if code, _ := raw(t, e.srv, "POST", "/api/v1/tariffs/zj-residential/quote", "", `{}`); code != 401 {
		t.Fatalf("no token: %d", code)
	}
}
