package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/api"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func admin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := adminMain(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// `amigo admin` sets a fresh station up from a config file: a user, then
// the archive from CSV; the API then logs in as that user.
func TestAdminSetsUpAStation(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "station.db")
	cfg := writeFile(t, dir, "station.json", `{"store": "sqlite:`+db+`"}`)
	pw := writeFile(t, dir, "pw", "first-admin-pw\n")
	code, out, errs := admin(t, "", "create-user", "--config", cfg, "--username", "alice", "--role", "admin", "--password-file", pw)
	if code != 0 || out != "user alice created with role admin / 已创建用户 alice，角色 admin\n" {
		t.Fatalf("create-user: %d %q %q", code, out, errs)
	}
	// Without a terminal, the password is the first line of stdin.
	if code, out, errs := admin(t, "operator-pw\n", "create-user", "--config", cfg, "--username", "bob", "--role", "operator"); code != 0 {
		t.Fatalf("create-user from stdin: %d %q %q", code, out, errs)
	}
	if code, out, errs := admin(t, "operator-pw-2\n", "set-password", "--config", cfg, "--username", "bob"); code != 0 || !strings.Contains(out, "password of bob changed") {
		t.Fatalf("set-password: %d %q %q", code, out, errs)
	}
	if code, _, errs := admin(t, "short\n", "create-user", "--config", cfg, "--username", "carl", "--role", "viewer"); code != 1 || !strings.Contains(errs, "at least 8 characters / 密码至少8位") {
		t.Fatalf("short password: %d %q", code, errs)
	}
	sites := writeFile(t, dir, "sites.csv", "name,time_zone\nCampus 校园,Asia/Shanghai\n")
	cols := writeFile(t, dir, "collectors.csv", "site,address,name\nCampus 校园,0171-2082,c1\n")
	meters := writeFile(t, dir, "meters.csv", "address,site,collector,port,pn,ct\n000000000001,Campus 校园,0171-2082,1,1,50\n000000000002,Campus 校园,0171-2082,1,2,1\n")
	bad := writeFile(t, dir, "bad.csv", "address,site,collector,port,pn\n000000000003,Campus 校园,0171-2082,1,3\n000000000004,Nowhere,0171-2082,1,4\n")
	for _, c := range []struct{ kind, file, want string }{
		{"sites", sites, "1 sites imported / 已导入站点 1 条\n"},
		{"collectors", cols, "1 collectors imported / 已导入采集器 1 条\n"},
		{"meters", meters, "2 meters imported / 已导入电表 2 条\n"},
	} {
		if code, out, errs := admin(t, "", "import", "--config", cfg, c.kind, c.file); code != 0 || out != c.want {
			t.Fatalf("import %s: %d %q %q", c.kind, code, out, errs)
		}
	}
	code, _, errs = admin(t, "", "import", "--config", cfg, "meters", bad)
	if code != 1 || !strings.Contains(errs, `line 3 / 第3行: unknown site "Nowhere"`) {
		t.Fatalf("bad import: %d %q", code, errs)
	}
	code, out, _ = admin(t, "", "export", "--config", cfg, "meters")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, "000000000001,Campus 校园,,0171-2082,1,1,dlt645-2007,1,60,50,1,02000000") {
		t.Fatalf("export: %d\n%s", code, out)
	}
	code, out, _ = admin(t, "", "list-users", "--config", cfg)
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
		t.Fatalf("list-users: %d %s", code, out)
	}
	// The API on that store: alice logs in and sees the two meters.
	store, err := openStore(context.Background(), "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := httptest.NewServer(api.New(store, nil, time.Now, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"username":"alice","password":"first-admin-pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token, Role string }
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || tok.Role != "admin" {
		t.Fatalf("login %d %+v", resp.StatusCode, tok)
	}
	get := func() (int, int) {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/meters", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ms struct{ Total int }
		json.NewDecoder(resp.Body).Decode(&ms)
		return resp.StatusCode, ms.Total
	}
	if code, n := get(); code != 200 || n != 2 {
		t.Fatalf("meters %d %d", code, n)
	}
	resp, _ = http.Post(srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"username":"bob","password":"operator-pw-2"}`))
	resp.Body.Close()
	if code, n := get(); resp.StatusCode != 200 || code != 200 || n != 2 {
		t.Fatalf("meters %d %d", code, n)
	}
	// Retired by the CLI while the API runs: the token dies at once.
	if code, out, errs := admin(t, "", "create-user", "--config", cfg, "--username", "root2", "--role", "admin", "--password-file", pw); code != 0 {
		t.Fatalf("%q %q", out, errs)
	}
	if code, out, errs := admin(t, "", "retire-user", "--config", cfg, "--username", "alice"); code != 0 {
		t.Fatalf("retire-user: %q %q", out, errs)
	}
	if code, _ := get(); code != 401 {
		t.Fatalf("the retired user's token answers %d", code)
	}
	log, _ := store.ListAudit(context.Background(), 100)
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	if s := strings.Join(actions, ","); !strings.Contains(s, "import.meters.failed") || !strings.Contains(s, "user.retire") || !strings.Contains(s, "import.sites") {
		t.Fatalf("audit %s", s)
	}
}

func TestAdminHelpAndErrors(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"import", "--help"}} {
		if code, out, _ := admin(t, "", args...); code != 0 || !strings.Contains(out, "create-user") {
			t.Fatalf("%v: %d %q", args, code, out)
		}
	}
	if code, _, errs := admin(t, "", "explode"); code != 2 || !strings.Contains(errs, "unknown action") {
		t.Fatalf("%d %q", code, errs)
	}
	if code, _, errs := admin(t, "", "list-users", "--config", filepath.Join(t.TempDir(), "none.json")); code != 1 || !strings.Contains(errs, "配置") {
		t.Fatalf("%d %q", code, errs)
	}
}

// admin_password makes the first admin, is accepted again while it matches,
// and stops the station loudly once it no longer does.
func TestConfigAdminPassword(t *testing.T) {
	ctx := context.Background()
	store, err := openStore(ctx, "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := ensureAdmin(ctx, store, "first-password", time.Now, log); err != nil {
		t.Fatal(err)
	}
	u, err := store.FindUserByUsername(ctx, "admin")
	if err != nil || u.Role != amigo.RoleAdmin {
		t.Fatalf("%+v %v", u, err)
	}
	if err := ensureAdmin(ctx, store, "first-password", time.Now, log); err != nil {
		t.Fatalf("same password: %v", err)
	}
	if err := ensureAdmin(ctx, store, "", time.Now, log); err != nil {
		t.Fatalf("no key: %v", err)
	}
	err = ensureAdmin(ctx, store, "changed-password", time.Now, log)
	if err == nil || !strings.Contains(err.Error(), "remove the key") || !strings.Contains(err.Error(), "amigo admin set-password") || !strings.Contains(err.Error(), "请从配置中删除该项") {
		t.Fatalf("changed password: %v", err)
	}
	if err := ensureAdmin(ctx, store, "short", time.Now, log); err == nil {
		t.Fatal("a short admin_password was accepted")
	}
}

// `amigo admin import` takes customers and accounts too: all rows or none,
// the bad line named.
func TestAdminImportsAccounts(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "station.db")
	cfg := writeFile(t, dir, "station.json", `{"store": "sqlite:`+db+`"}`)
	for _, c := range [][2]string{{"sites", "name\nCampus\n"}, {"collectors", "site,address\nCampus,0171-2082\n"}} {
		if code, out, errs := admin(t, "", "import", "--config", cfg, c[0], writeFile(t, dir, c[0]+".csv", c[1])); code != 0 {
			t.Fatalf("import %s: %q %q", c[0], out, errs)
		}
	}
	if code, out, errs := admin(t, "", "import", "--config", cfg, "meters", writeFile(t, dir, "meters.csv", "address,site,collector,port,pn\n000000000001,Campus,0171-2082,1,1\n000000000002,Campus,0171-2082,1,2\n")); code != 0 {
		t.Fatalf("import meters: %q %q", out, errs)
	}
	store, err := openStore(context.Background(), "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutTariff(context.Background(), amigo.TariffVersion{Name: "zj-residential", ValidFrom: "2026-01-01", Document: []byte(demoTariff), CreatedAt: time.Now(), CreatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	head := "number,site,mode,tariff,customer_name,phone,meters,from,opening_balance_fen\n"
	bad := writeFile(t, dir, "bad.csv", head+"A1,Campus,prepaid,zj-residential,张三,138,000000000001,2026-01-01T00:00:00+08:00,800\nA2,Campus,postpaid,zj-residential,李四,139,000000000009,2026-01-01T00:00:00+08:00,\n")
	if code, _, errs := admin(t, "", "import", "--config", cfg, "accounts", bad); code != 1 || !strings.Contains(errs, "line 3") || !strings.Contains(errs, "000000000009") {
		t.Fatalf("bad accounts import: %d %q", code, errs)
	}
	good := writeFile(t, dir, "good.csv", head+"A1,Campus,prepaid,zj-residential,张三,138,000000000001,2026-01-01T00:00:00+08:00,800\nA2,Campus,postpaid,zj-residential,李四,139,000000000002,2026-01-01T00:00:00+08:00,\n")
	if code, out, errs := admin(t, "", "import", "--config", cfg, "accounts", good); code != 0 || out != "2 accounts imported / 已导入账户 2 条\n" {
		t.Fatalf("accounts import: %d %q %q", code, out, errs)
	}
	store, err = openStore(context.Background(), "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a, err := store.FindAccountByNumber(context.Background(), "A1")
	if err != nil || a.BalanceFen != 800 || len(a.Meters) != 1 || a.Meters[0].Address != "000000000001" {
		t.Fatalf("A1 %+v %v", a, err)
	}
	if _, n, _ := store.ListCustomers(context.Background(), 0, 0); n != 2 {
		t.Fatalf("%d customers, want 2 (the failed import kept none)", n)
	}
}
