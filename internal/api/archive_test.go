package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sqlite"
)

type env struct {
	t   *testing.T
	st  amigo.Store
	srv *Server
	now time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, now: time.Date(2026, 1, 6, 12, 0, 0, 0, amigo.Site{}.Location())}
	e.srv = New(st, noCommands{}, func() time.Time { return e.now }, nil, nil)
	for _, u := range []struct{ name, role string }{{"root", amigo.RoleAdmin}, {"op", amigo.RoleOperator}, {"view", amigo.RoleViewer}} {
		h := testHash("password-" + u.name)
		if err := st.CreateUser(context.Background(), &amigo.User{Username: u.name, PasswordHash: h, Role: u.role}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) login(name, pw string) string {
	e.t.Helper()
	code, out := call(e.t, e.srv, "POST", "/api/v1/login", "", map[string]string{"username": name, "password": pw})
	tok, _ := out["token"].(string)
	if code != 200 || tok == "" {
		e.t.Fatalf("login %s: %d %v", name, code, out)
	}
	return tok
}

// raw sends a body as it is.
func raw(t *testing.T, h http.Handler, method, path, token, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func (e *env) want(method, path, token string, body any, code int) map[string]any {
	e.t.Helper()
	got, out := call(e.t, e.srv, method, path, token, body)
	if got != code {
		e.t.Fatalf("%s %s: %d %v, want %d", method, path, got, out, code)
	}
	return out
}

// The OpenAPI document lists every route the mux answers, and no other.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	e := newEnv(t)
	var d struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapi, &d); err != nil {
		t.Fatal(err)
	}
	var inDoc, inMux []string
	for p, ms := range d.Paths {
		for m := range ms {
			inDoc = append(inDoc, strings.ToUpper(m)+" "+p)
		}
	}
	inMux = e.srv.Routes()
	sort.Strings(inDoc)
	sort.Strings(inMux)
	if strings.Join(inDoc, "\n") != strings.Join(inMux, "\n") {
		t.Fatalf("the OpenAPI document and the routes differ:\ndocument:\n%s\nmux:\n%s", strings.Join(inDoc, "\n"), strings.Join(inMux, "\n"))
	}
	if len(inMux) < 40 {
		t.Fatalf("only %d routes", len(inMux))
	}
}

// A token dies with its user: unknown user, retirement, logout, password
// change; a role change applies to the next request.
func TestTokensOutliveNoUser(t *testing.T) {
	e := newEnv(t)
	ghost := e.srv.sign(amigo.User{ID: 999, Username: "ghost", Role: amigo.RoleAdmin}, time.Now().Add(time.Hour))
	e.want("GET", "/api/v1/meters", ghost, nil, 401)
	root := e.login("root", "password-root")
	e.want("POST", "/api/v1/users", root, map[string]string{"username": "temp", "password": "temp-password", "role": "operator"}, 201)
	temp := e.login("temp", "temp-password")
	e.want("GET", "/api/v1/meters", temp, nil, 200)
	// Role change: operator -> viewer; the same token is now a viewer's.
	e.want("PATCH", "/api/v1/users/temp", root, map[string]string{"role": "viewer"}, 200)
	e.want("POST", "/api/v1/sites", temp, map[string]string{"name": "x"}, 403)
	// Password change ends the token.
	e.want("PATCH", "/api/v1/users/temp", root, map[string]string{"password": "new-password"}, 200)
	e.want("GET", "/api/v1/meters", temp, nil, 401)
	temp = e.login("temp", "new-password")
	// Logout ends it.
	e.want("POST", "/api/v1/logout", temp, nil, 200)
	e.want("GET", "/api/v1/meters", temp, nil, 401)
	temp = e.login("temp", "new-password")
	// Retirement ends it, and the retired user cannot log in.
	e.want("DELETE", "/api/v1/users/temp", root, nil, 200)
	out := e.want("GET", "/api/v1/meters", temp, nil, 401)
	if out["error"].(map[string]any)["code"] != "unauthorized" {
		t.Fatalf("%v", out)
	}
	e.want("POST", "/api/v1/login", "", map[string]string{"username": "temp", "password": "new-password"}, 401)
	log, _ := e.st.ListAudit(context.Background(), 20)
	var actions []string
	for _, a := range log {
		actions = append(actions, a.Actor+":"+a.Action)
	}
	if !strings.Contains(strings.Join(actions, ","), "root:user.retire") || !strings.Contains(strings.Join(actions, ","), "temp:logout") {
		t.Fatalf("audit %v", actions)
	}
}

// Every archive route through HTTP, with the roles.
func TestArchiveRoutes(t *testing.T) {
	e := newEnv(t)
	root, op, view := e.login("root", "password-root"), e.login("op", "password-op"), e.login("view", "password-view")
	e.want("POST", "/api/v1/sites", view, map[string]string{"name": "Campus"}, 403)
	site := e.want("POST", "/api/v1/sites", op, map[string]string{"name": "Campus", "time_zone": "Asia/Shanghai"}, 201)
	if site["name"] != "Campus" || site["id"] != 1.0 {
		t.Fatalf("site %v", site)
	}
	e.want("POST", "/api/v1/sites", op, map[string]string{"name": "Campus"}, 409)
	e.want("POST", "/api/v1/sites", op, map[string]any{"name": "x", "colour": "red"}, 400)
	if code, b := raw(t, e.srv, "POST", "/api/v1/sites", op, `{"name":"y"} {"name":"z"}`); code != 400 || !strings.Contains(b, "one JSON value") {
		t.Fatalf("trailing data: %d %s", code, b)
	}
	if code, _ := raw(t, e.srv, "POST", "/api/v1/sites", op, `{"name":"`+strings.Repeat("a", 70000)+`"}`); code != 400 {
		t.Fatalf("huge body: %d", code)
	}
	e.want("GET", "/api/v1/sites/Campus", view, nil, 200)
	e.want("GET", "/api/v1/sites/1", view, nil, 200)
	e.want("GET", "/api/v1/sites/Nowhere", view, nil, 404)
	e.want("PATCH", "/api/v1/sites/Campus", op, map[string]string{"time_zone": "Asia/Urumqi"}, 200)
	if s := e.want("GET", "/api/v1/sites/Campus", view, nil, 200); s["time_zone"] != "Asia/Urumqi" {
		t.Fatalf("patched site %v", s)
	}
	col := e.want("POST", "/api/v1/collectors", op, map[string]any{"site": "Campus", "address": "0171-2082", "name": "c1", "plain_tcp": true, "reg_secret": "k"}, 201)
	if col["address"] != "0171-2082" || col["plain_tcp"] != true || col["reg_secret"] != nil {
		t.Fatalf("collector %v (the secret must not show)", col)
	}
	e.want("POST", "/api/v1/collectors", op, map[string]any{"site": "Campus", "address": "banana"}, 400)
	e.want("PATCH", "/api/v1/collectors/0171-2082", op, map[string]any{"name": "c1 renamed"}, 200)
	if c := e.want("GET", "/api/v1/collectors/0171-2082", view, nil, 200); c["name"] != "c1 renamed" {
		t.Fatalf("%v", c)
	}
	area := e.want("POST", "/api/v1/areas", op, map[string]any{"site": "Campus", "name": "A1", "loss_low_percent": 1, "loss_high_percent": 6}, 201)
	aid := fmt.Sprint(area["id"])
	e.want("GET", "/api/v1/areas/"+aid, view, nil, 200)
	e.want("GET", "/api/v1/areas/x", view, nil, 400)
	m := e.want("POST", "/api/v1/meters", op, map[string]any{"address": "000000000001", "site": "Campus", "area": "A1", "collector": "0171-2082", "port": 1, "pn": 1,
		"phases": 3, "rated_amps": 100, "ct": 50, "pt": 1, "password": "02123456", "protocol": "dlt645-2007"}, 201)
	if m["ct_ratio"] != 50.0 || m["phases"] != 3.0 || m["password"] != nil {
		t.Fatalf("meter %v", m)
	}
	e.want("POST", "/api/v1/meters", op, map[string]any{"address": "000000000002", "site": "Campus", "collector": "0171-2082", "port": 1, "pn": 2, "ct": -5}, 400)
	e.want("POST", "/api/v1/meters", op, map[string]any{"address": "900000000001", "site": "Campus", "direct": true, "imei": "350000000000001", "reg_secret": "dtu"}, 201)
	e.want("PATCH", "/api/v1/meters/000000000001", op, map[string]any{"ct": 100}, 200)
	if got := e.want("GET", "/api/v1/meters/000000000001", view, nil, 200); got["ct_ratio"] != 100.0 || got["area"] != "A1" {
		t.Fatalf("%v", got)
	}
	e.want("PATCH", "/api/v1/areas/"+aid, op, map[string]any{"supply_meter": "000000000001"}, 200)
	e.want("DELETE", "/api/v1/meters/900000000001", view, nil, 403)
	e.want("DELETE", "/api/v1/meters/900000000001", op, nil, 200)
	e.want("DELETE", "/api/v1/meters/900000000001", op, nil, 404)
	if l := e.want("GET", "/api/v1/meters", view, nil, 200); l["total"] != 1.0 {
		t.Fatalf("in service: %v", l)
	}
	if l := e.want("GET", "/api/v1/meters?retired=true", view, nil, 200); l["total"] != 2.0 {
		t.Fatalf("with retired: %v", l)
	}
	// Users are the admin's.
	e.want("POST", "/api/v1/users", op, map[string]string{"username": "x", "password": "xxxxxxxx", "role": "viewer"}, 403)
	e.want("GET", "/api/v1/users", op, nil, 403)
	u := e.want("POST", "/api/v1/users", root, map[string]string{"username": "cash", "password": "cashier-pw", "role": "cashier"}, 201)
	if u["password_hash"] != nil || u["role"] != "cashier" {
		t.Fatalf("%v", u)
	}
	if l := e.want("GET", "/api/v1/users", root, nil, 200); l["total"] != 4.0 {
		t.Fatalf("%v", l)
	}
	e.want("GET", "/api/v1/users/cash", root, nil, 200)
	// Import and export; export is the admin's.
	csvCode, csvBody := raw(t, e.srv, "POST", "/api/v1/import/meters", op, "address,site,area,collector,port,pn\n000000000011,Campus,A1,0171-2082,1,11\n000000000012,Nowhere,A1,0171-2082,1,12\n")
	if csvCode != 400 || !strings.Contains(csvBody, "line 3") {
		t.Fatalf("bad import: %d %s", csvCode, csvBody)
	}
	if code, b := raw(t, e.srv, "POST", "/api/v1/meters/import", op, "address,site,area,collector,port,pn\n000000000011,Campus,A1,0171-2082,1,11\n000000000012,1,,0171-2082,1,12\n"); code != 201 || !strings.Contains(b, `"created":2`) {
		t.Fatalf("legacy import: %d %s", code, b)
	}
	if code, _ := raw(t, e.srv, "POST", "/api/v1/import/users", op, "username,role,password\na,viewer,aaaaaaaa\n"); code != 403 {
		t.Fatalf("operator imported users: %d", code)
	}
	if code, _ := raw(t, e.srv, "POST", "/api/v1/import/planets", op, "name\nx\n"); code != 400 {
		t.Fatalf("unknown kind: %d", code)
	}
	if code, _ := raw(t, e.srv, "GET", "/api/v1/export/meters", op, ""); code != 403 {
		t.Fatalf("operator exported: %d", code)
	}
	code, b := raw(t, e.srv, "GET", "/api/v1/export/meters", root, "")
	if code != 200 || !strings.HasPrefix(b, "address,site,area,collector,port,pn,protocol,phases,rated_amps,ct,pt,password,direct,imei,reg_secret,account,installed_at,supply\n") ||
		!strings.Contains(b, "000000000001,Campus,A1,0171-2082,1,1,dlt645-2007,3,100,100,1,02123456,,,,,") || strings.Count(b, "\n") != 4 {
		t.Fatalf("export: %d\n%s", code, b)
	}
	// Retirement: a collector with meters stays; then the order works.
	e.want("DELETE", "/api/v1/collectors/0171-2082", op, nil, 409)
	for _, a := range []string{"000000000001", "000000000011", "000000000012"} {
		e.want("DELETE", "/api/v1/meters/"+a, op, nil, 200)
	}
	e.want("DELETE", "/api/v1/collectors/0171-2082", op, nil, 200)
	e.want("DELETE", "/api/v1/areas/"+aid, op, nil, 200)
	e.want("DELETE", "/api/v1/sites/Campus", op, nil, 200)
	if l := e.want("GET", "/api/v1/sites", view, nil, 200); l["total"] != 0.0 {
		t.Fatalf("%v", l)
	}
	if l := e.want("GET", "/api/v1/sites?retired=true", view, nil, 200); l["total"] != 1.0 {
		t.Fatalf("%v", l)
	}
	if l := e.want("GET", "/api/v1/collectors?retired=true", view, nil, 200); l["total"] != 1.0 {
		t.Fatalf("%v", l)
	}
	log, _ := e.st.ListAudit(context.Background(), 100)
	for _, a := range log {
		if strings.Contains(a.Detail, "02123456") || strings.Contains(a.Detail, "cashier-pw") {
			t.Fatalf("a secret in the audit: %+v", a)
		}
	}
}

// A swap through POST .../replace keeps the account's consumption
// continuous.
func TestReplaceKeepsTheAccountContinuous(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	op, view := e.login("op", "password-op"), e.login("view", "password-view")
	loc := amigo.Site{}.Location()
	e.want("POST", "/api/v1/sites", op, map[string]string{"name": "s"}, 201)
	e.want("POST", "/api/v1/collectors", op, map[string]any{"site": "s", "address": "0171-1"}, 201)
	e.want("POST", "/api/v1/areas", op, map[string]any{"site": "s", "name": "A"}, 201)
	e.want("POST", "/api/v1/meters", op, map[string]any{"address": "000000000001", "site": "s", "area": "A", "collector": "0171-1", "port": 2, "pn": 5, "ct": 1,
		"account": 7, "installed_at": time.Date(2025, 1, 1, 0, 0, 0, 0, loc), "supply": true}, 201)
	old, _ := e.st.FindMeterByAddress(ctx, "000000000001")
	daily := func(m int64, day int, kwh int64) amigo.Reading {
		return amigo.Reading{MeterID: m, Kind: amigo.KindDaily, Time: time.Date(2026, 1, day, 0, 0, 0, 0, loc), Forward: [5]amigo.Energy{amigo.KWh(kwh)}, HasForward: true, Source: "t"}
	}
	e.st.WriteReadings(ctx, []amigo.Reading{daily(old.ID, 2, 500), daily(old.ID, 3, 510)})
	swap := time.Date(2026, 1, 3, 14, 0, 0, 0, loc)
	e.want("POST", "/api/v1/meters/000000000001/replace", view, map[string]any{"new_address": "000000000002", "removal_kwh": "516", "installation_kwh": "0", "at": swap}, 403)
	e.want("POST", "/api/v1/meters/000000000001/replace", op, map[string]any{"new_address": "000000000002", "removal_kwh": "-1", "installation_kwh": "0", "at": swap}, 400)
	// A removal register below the last daily freeze (510) is refused.
	e.want("POST", "/api/v1/meters/000000000001/replace", op, map[string]any{"new_address": "000000000002", "removal_kwh": "509", "installation_kwh": "0", "at": swap}, 400)
	out := e.want("POST", "/api/v1/meters/000000000001/replace", op, map[string]any{"new_address": "000000000002", "removal_kwh": "516", "installation_kwh": "0", "at": swap, "reason": "faulty display"}, 201)
	nw := out["new"].(map[string]any)
	if nw["address"] != "000000000002" || nw["pn"] != 5.0 || nw["port"] != 2.0 || nw["account_id"] != 7.0 || nw["collector_id"] != float64(old.CollectorID) {
		t.Fatalf("new meter %v", nw)
	}
	if od := out["old"].(map[string]any); od["removed_at"] != swap.UTC().Format(time.RFC3339) {
		t.Fatalf("the answer's old meter: removed_at %v, want %s", od["removed_at"], swap.UTC().Format(time.RFC3339))
	}
	gone, _ := e.st.GetMeter(ctx, old.ID)
	if !gone.RemovedAt.Equal(swap) {
		t.Fatalf("old meter removed at %v, want %v", gone.RemovedAt, swap)
	}
	repl, _ := e.st.FindMeterByAddress(ctx, "000000000002")
	if a, _ := e.st.GetArea(ctx, repl.AreaID); a.SupplyMeterID != repl.ID {
		t.Fatalf("the area's supply meter is %d, want the new %d", a.SupplyMeterID, repl.ID)
	}
	e.st.WriteReadings(ctx, []amigo.Reading{daily(repl.ID, 4, 7), daily(repl.ID, 5, 19)})
	// Hand-computed: Jan 2 = 510 - 500 = 10.00; Jan 3 = (516 - 510) on the
	// old meter + (7 - 0) on the new = 13.00; Jan 4 = 19 - 7 = 12.00.
	cons := e.want("GET", "/api/v1/accounts/7/consumption?interval=day&from=2026-01-02&to=2026-01-05", view, nil, 200)
	var got []string
	for _, it := range cons["items"].([]any) {
		v, _ := it.(map[string]any)["kwh"].(string)
		got = append(got, v)
	}
	if strings.Join(got, ",") != "10.00,13.00,12.00" {
		t.Fatalf("account consumption %v", got)
	}
	// The swap is audited, and the old address now answers with the history.
	log, _ := e.st.ListAudit(ctx, 1)
	if log[0].Action != "meter.replace" || log[0].Actor != "op" || !strings.Contains(log[0].Detail, "removal 516.00 kWh, installation 0.00 kWh: faulty display") {
		t.Fatalf("audit %+v", log[0])
	}
	e.want("POST", "/api/v1/meters/000000000001/replace", op, map[string]any{"new_address": "000000000003", "removal_kwh": "1", "installation_kwh": "0", "at": swap.Add(time.Hour)}, 404)
}

// FuzzArchiveJSON: any body decodes into each route's input (archive,
// login, command, manual reading) or is a bilingual 400, never a panic.
func FuzzArchiveJSON(f *testing.F) {
	f.Add([]byte(`{"address":"000000000001","site":"Campus","ct":50,"phases":3}`))
	f.Add([]byte(`{"name":"Campus","time_zone":"Asia/Shanghai"}`))
	f.Add([]byte(`{"username":"u","password":"p","role":"viewer"} x`))
	f.Add([]byte(`{"new_address":"000000000002","removal_kwh":"1","installation_kwh":"0","at":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`{"username":"root","password":"x"}`))
	f.Add([]byte(`{"type":"disconnect"}`))
	f.Add([]byte(`{"time":"2026-01-05T08:00:00+08:00","forward_active_kwh":"12.5","reason":"hand"}{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range archiveTargets() {
			err := decodeBody(bytes.NewReader(data), v)
			if err != nil && (amigo.ErrorKind(err) != amigo.EINVALID || !strings.Contains(amigo.ErrorMessage(err), " / ")) {
				t.Fatalf("%v", err)
			}
		}
	})
}

// watchingCommands is an engine that records which collectors' archives it
// was told changed.
type watchingCommands struct {
	noCommands
	changed []int64
}

func (w *watchingCommands) ArchiveChanged(id int64) { w.changed = append(w.changed, id) }

// A meter created or swapped through the API tells the engine at once which
// collector's archive to push again; a refused change tells it nothing.
func TestMeterChangesTellTheEngine(t *testing.T) {
	e := newEnv(t)
	w := &watchingCommands{}
	e.srv = New(e.st, w, func() time.Time { return e.now }, nil, nil)
	op := e.login("op", "password-op")
	e.want("POST", "/api/v1/sites", op, map[string]string{"name": "s"}, 201)
	col := e.want("POST", "/api/v1/collectors", op, map[string]any{"site": "s", "address": "0171-1"}, 201)
	cid := int64(col["id"].(float64))
	installed := e.now.AddDate(0, 0, -3)
	e.want("POST", "/api/v1/meters", op, map[string]any{"address": "000000000001", "site": "s", "collector": "0171-1", "port": 1, "pn": 1, "installed_at": installed}, 201)
	e.want("POST", "/api/v1/meters", op, map[string]any{"address": "000000000001", "site": "s", "collector": "0171-1", "port": 1, "pn": 2, "installed_at": installed}, 409)
	swap := e.now.Add(-time.Hour)
	e.want("POST", "/api/v1/meters/000000000001/replace", op, map[string]any{"new_address": "000000000002", "removal_kwh": "5", "installation_kwh": "0", "at": swap}, 201)
	// Created: its collector once; swapped: the old and the new meter's
	// collector (the same one). The refused duplicate: nothing.
	want := []int64{cid, cid, cid}
	if fmt.Sprint(w.changed) != fmt.Sprint(want) {
		t.Fatalf("engine told %v, want %v", w.changed, want)
	}
}
