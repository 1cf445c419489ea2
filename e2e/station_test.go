//go:build unix

package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// One virtual clock for every program: it read clockStart at the real
// instant the test chose as --clock-origin and runs speed times faster than
// real time. At 3600x a virtual hour is a real second: the set-up has 12 s
// before the first midnight, and the day checked (2026-01-02) is closed by
// the freeze at 2026-01-03 00:00, 36 real seconds after the start.
const (
	speed      = 3600
	clockStart = "2026-01-01T12:00:00+08:00"
)

var (
	cst        = time.FixedZone("CST", 8*3600)
	day2       = time.Date(2026, 1, 2, 0, 0, 0, 0, cst) // the freeze opening the day checked
	day3       = time.Date(2026, 1, 3, 0, 0, 0, 0, cst) // the freeze closing it
	areaMeters = []string{"000000000001", "000000000002", "000000000003", "000000000004"}
)

type reading struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Quality string    `json:"quality"`
	Flags   int       `json:"flags"`
	Forward string    `json:"forward_active_kwh"`
}

type point struct {
	Start    time.Time `json:"start"`
	KWh      *string   `json:"kwh"`
	Tariffs  []*string `json:"tariffs_kwh"`
	Reversed bool      `json:"reversed"`
}

type consumption struct {
	CT         int     `json:"ct"`
	PT         int     `json:"pt"`
	Multiplier int     `json:"multiplier"`
	Side       string  `json:"side"`
	Items      []point `json:"items"`
}

type meterJSON struct {
	ID          int64     `json:"id"`
	Address     string    `json:"address"`
	Port        int       `json:"port"`
	Pn          int       `json:"pn"`
	CT          int       `json:"ct_ratio"`
	AccountID   int64     `json:"account_id"`
	InstalledAt time.Time `json:"installed_at"`
	RemovedAt   time.Time `json:"removed_at"`
}

// simMeter is what `amigo sim --control` reports of a meter.
type simMeter struct {
	Address    string `json:"address"`
	ForwardKWh string `json:"forward_kwh"`
	Clock      string `json:"clock"`
}

// TestStationFromNothing deploys a station as an operator would, with the
// programs alone: a CA and certificates (`amigo ca`), a station.json, the
// first admin (`amigo admin create-user`), `amigo station`, the archive
// through the API and `amigo admin import`, two `amigo sim` fleets behind
// one `amigo-collector`, all on one virtual clock. Then it checks, through
// the API, against figures computed here from the raw registers: daily
// readings of every meter, a CT meter's consumption to the kWh, a register
// that went back, a meter swap and a day of line loss.
func TestStationFromNothing(t *testing.T) {
	if binDir == "" {
		t.Skip("-short: the end-to-end test builds and runs the programs")
	}
	began := time.Now()
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// The CA, the station's certificate for the address the collector
	// dials, and the collector's certificate for terminal 0171-2082.
	run(t, dir, "amigo", "ca", "init", "--dir", "ca")
	run(t, dir, "amigo", "ca", "issue-server", "--dir", "ca", "127.0.0.1")
	run(t, dir, "amigo", "ca", "issue-collector", "--dir", "ca", "0171", "2082")
	write("station.json", `{
  "store": "sqlite:data/amigo.db",
  "http": "127.0.0.1:0",
  "collectors_tls": "127.0.0.1:0",
  "ca_file": "ca/ca.crt",
  "cert_file": "ca/station.crt",
  "key_file": "ca/station.key",
  "secret_file": "data/api.secret",
  "downlink_key_file": "data/downlink.key"
}`)
	// The first admin, before the station ever ran: no admin_password in
	// the configuration, no demo.
	write("root.pw", "first-admin-password\n")
	out := run(t, dir, "amigo", "admin", "create-user", "--config", "station.json", "--username", "root", "--role", "admin", "--password-file", "root.pw")
	if !strings.Contains(out, "user root created with role admin") {
		t.Fatalf("amigo admin create-user printed %q", out)
	}

	// The station, first on a clock that reads 2026-01-01 08:00 at real
	// speed while the archive is made (logins and password hashes are
	// slow under -race; the fast trial clock starts once that is done).
	station := start(t, dir, "station", "amigo", "station", "--config", "station.json", "--start", "2026-01-01T08:00:00+08:00")
	apiAddr := station.expect(t, `^amigo station: API http://(\S+)/api/v1 `, time.Minute)
	station.expect(t, `^amigo station: virtual clock 2026-01-01T08:00:..\+08:00 at 1x`, 10*time.Second)

	// Log in as the first admin; it makes an operator through the API,
	// who builds the archive.
	api := &client{t: t, base: "http://" + apiAddr}
	if code, raw := api.call("GET", "/api/v1/meters", nil, nil); code != 401 {
		t.Fatalf("no token: %d %s", code, raw)
	}
	login := func(user, password string) string {
		var tok struct {
			Token string `json:"token"`
		}
		api.must(200, "POST", "/api/v1/login", map[string]string{"username": user, "password": password}, &tok)
		if tok.Token == "" {
			t.Fatalf("login %s: no token", user)
		}
		return tok.Token
	}
	api.token = login("root", "first-admin-password")
	api.must(201, "POST", "/api/v1/users", map[string]string{"username": "ops", "password": "ops-password-1", "role": "operator"}, nil)
	api.token = login("ops", "ops-password-1")

	api.must(201, "POST", "/api/v1/sites", map[string]string{"name": "Campus 校园", "time_zone": "Asia/Shanghai"}, nil)
	api.must(201, "POST", "/api/v1/collectors", map[string]any{"site": "Campus 校园", "address": "0171-2082", "name": "Building 1 一号楼"}, nil)
	api.must(201, "POST", "/api/v1/areas", map[string]any{"site": "Campus 校园", "name": "Building 1 一号楼", "loss_low_percent": 2, "loss_high_percent": 6}, nil)
	// The area's meters from a CSV with `amigo admin import` while the
	// station runs; meter 1 becomes the area's supply meter.
	write("meters.csv", `address,site,area,collector,port,pn,phases,rated_amps,supply,installed_at
000000000001,Campus 校园,Building 1 一号楼,0171-2082,1,1,3,1000,true,2026-01-01T08:00:00+08:00
000000000002,Campus 校园,Building 1 一号楼,0171-2082,1,2,3,60,,2026-01-01T08:00:00+08:00
000000000003,Campus 校园,Building 1 一号楼,0171-2082,1,3,3,60,,2026-01-01T08:00:00+08:00
000000000004,Campus 校园,Building 1 一号楼,0171-2082,1,4,3,60,,2026-01-01T08:00:00+08:00
`)
	if out := run(t, dir, "amigo", "admin", "import", "--config", "station.json", "meters", "meters.csv"); !strings.Contains(out, "4 meters imported") {
		t.Fatalf("amigo admin import printed %q", out)
	}
	// The others through the API (installed now: 08:00 on the station's
	// clock): a CT of 200/5 (40) on meter 101, and meter 103 on customer
	// account 7.
	var ctMeter, backwards, old meterJSON
	api.must(201, "POST", "/api/v1/meters", map[string]any{"address": "000000000101", "site": "Campus 校园", "collector": "0171-2082", "port": 2, "pn": 11, "ct": 40}, &ctMeter)
	api.must(201, "POST", "/api/v1/meters", map[string]any{"address": "000000000102", "site": "Campus 校园", "collector": "0171-2082", "port": 2, "pn": 12}, &backwards)
	api.must(201, "POST", "/api/v1/meters", map[string]any{"address": "000000000103", "site": "Campus 校园", "collector": "0171-2082", "port": 2, "pn": 13, "account": 7}, &old)
	if ctMeter.CT != 40 || old.AccountID != 7 || old.InstalledAt.After(time.Date(2026, 1, 1, 12, 0, 0, 0, cst)) {
		t.Fatalf("created %+v and %+v", ctMeter, old)
	}
	var areas struct {
		Items []struct {
			Name          string `json:"name"`
			SupplyMeterID int64  `json:"supply_meter_id"`
		} `json:"items"`
	}
	api.must(200, "GET", "/api/v1/areas", nil, &areas)
	if len(areas.Items) != 1 || areas.Items[0].SupplyMeterID == 0 {
		t.Fatalf("areas: %+v (want one, with meter 1 as its supply meter)", areas.Items)
	}
	station.stop(t)
	// The collector's command key, from the master key the station made
	// on its first start.
	if out := run(t, dir, "amigo", "collector-key", "--key-file", "data/downlink.key", "--out", "collector-0171-2082.authkey", "0171-2082"); !strings.Contains(out, "key of 0171-2082 written") {
		t.Fatalf("amigo collector-key printed %q", out)
	}
	t.Logf("archive made in %s (real)", time.Since(began).Round(time.Millisecond))

	// The trial: every program on one clock from here.
	setup := time.Now()
	origin := time.Now().UTC().Format(time.RFC3339Nano)
	clock := []string{"--speed", fmt.Sprint(speed), "--start", clockStart, "--clock-origin", origin}
	// Two fleets of virtual meters: A is the transformer area (meter 1 its
	// supply meter, measuring meters 2-4 plus 4 % lost on the line), B
	// the meters outside it: 101 behind a CT, 102 whose register will go
	// back, 103 to be swapped for 104 (on the bus, not yet in the
	// archive).
	simA := start(t, dir, "simA", "amigo", append([]string{"sim", "--meters", "4", "--first-address", "000000000001", "--supply", "000000000001:4",
		"--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"}, clock...)...)
	simB := start(t, dir, "simB", "amigo", append([]string{"sim", "--meters", "4", "--first-address", "000000000101", "--seed", "2", "--profile", "home",
		"--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"}, clock...)...)
	station = start(t, dir, "station2", "amigo", append([]string{"station", "--config", "station.json"}, clock...)...)
	apiAddr = station.expect(t, `^amigo station: API http://(\S+)/api/v1 `, time.Minute)
	frontAddr := station.expect(t, `^amigo station: collectors, 1376\.1 over TLS / 采集器 \(TLS\) (\S+)$`, 10*time.Second)
	station.expect(t, `^amigo station: virtual clock `, 10*time.Second)
	busA := simA.expect(t, `^TCP serial server / TCP串口服务器: (\S+)$`, 30*time.Second)
	busB := simB.expect(t, `^TCP serial server / TCP串口服务器: (\S+)$`, 30*time.Second)
	controlB := simB.expect(t, `^control / 控制接口: http://([^/]+)/meters`, 30*time.Second)
	sim := &client{t: t, base: "http://" + controlB}
	// The token survives the restart (secret_file keeps the signing key).
	api.base = "http://" + apiAddr

	// The collector: its terminal, the station, its certificates, its
	// command key and its two lines, no meters: the station pushes it the
	// meter archive (a signed command).
	write("collector.json", fmt.Sprintf(`{
  "terminal": "0171-2082",
  "stations": [%q],
  "ca_file": "ca/ca.crt",
  "cert_file": "ca/collector-0171-2082.crt",
  "key_file": "ca/collector-0171-2082.key",
  "auth_key_file": "collector-0171-2082.authkey",
  "heartbeat": "20s",
  "reconnect_max": "2s",
  "ports": [
    {"number": 1, "address": %q},
    {"number": 2, "address": %q}
  ]
}`, frontAddr, busA, busB))
	col := start(t, dir, "collector", "amigo-collector", append([]string{"--config", "collector.json", "--data", "collector-data"}, clock...)...)
	col.expect(t, `^amigo-collector: terminal 0171-2082, `, 30*time.Second)
	poll(t, "the collector online at the station", time.Minute, func() (bool, string) {
		var c struct {
			Status string `json:"status"`
		}
		_, raw := api.call("GET", "/api/v1/collectors/0171-2082", nil, &c)
		return c.Status == "online", raw
	})
	// The set-up must end before the meters' first midnight freeze is
	// collected (00:05): else this machine is too slow for the speed.
	if now := simClock(t, sim, "000000000101"); !now.Before(day2.Add(-15 * time.Minute)) {
		t.Fatalf("the set-up took until %s on the virtual clock, past 23:45 before the first freeze; the machine is too slow for --speed %d", now, speed)
	}
	t.Logf("trial set up in %s (real)", time.Since(setup).Round(time.Millisecond))

	// Every meter's freeze of 2026-01-02 00:00 reaches the API.
	firstDay := append(append([]string{}, areaMeters...), "000000000101", "000000000102", "000000000103")
	opening := waitDaily(t, api, firstDay, day2)

	// During 2026-01-02: meter 102's register goes back 200 kWh (a home
	// uses some 10-20 kWh a day, so the day's closing freeze is below its
	// opening one), and meter 103 is swapped for 104 with the two
	// registers read off the meters at that moment.
	sim.must(200, "POST", "/faults", "000000000102:backwards:200\n", nil)
	var fleet []simMeter
	sim.must(200, "GET", "/meters", nil, &fleet)
	regs := map[string]simMeter{}
	for _, m := range fleet {
		regs[m.Address] = m
	}
	at, err := time.Parse(time.RFC3339, regs["000000000103"].Clock)
	if err != nil {
		t.Fatal(err)
	}
	if !at.Before(day3.Add(-2 * time.Hour)) {
		t.Fatalf("the swap comes at %s on the virtual clock, too near the day's end; the machine is too slow for --speed %d", at, speed)
	}
	removal, installation := regs["000000000103"].ForwardKWh, regs["000000000104"].ForwardKWh
	var swap struct {
		Old meterJSON `json:"old"`
		New meterJSON `json:"new"`
	}
	api.must(201, "POST", "/api/v1/meters/000000000103/replace", map[string]any{"new_address": "000000000104", "removal_kwh": removal,
		"installation_kwh": installation, "at": at.Format(time.RFC3339), "reason": "display broken"}, &swap)
	if !swap.Old.RemovedAt.Equal(at) || !swap.New.InstalledAt.Equal(at) || swap.New.Port != 2 || swap.New.Pn != 13 || swap.New.AccountID != 7 {
		t.Fatalf("swap at %s: %+v", at, swap)
	}
	// Validation raises the reversal as soon as a reading shows it.
	poll(t, "a reading.reversed event for meter 102", time.Minute, func() (bool, string) {
		var evs struct {
			Total int `json:"total"`
		}
		_, raw := api.call("GET", "/api/v1/events?kind=reading.reversed&meter=000000000102", nil, &evs)
		return evs.Total > 0, raw
	})

	// Every meter in service at the day's end has its freeze of
	// 2026-01-03 00:00: the new meter 104, not the removed 103.
	lastDay := append(append([]string{}, areaMeters...), "000000000101", "000000000102", "000000000104")
	closing := waitDaily(t, api, lastDay, day3)
	dayQuery := "?interval=day&from=2026-01-02&to=2026-01-03"
	dayOf := func(path string) consumption {
		t.Helper()
		var c consumption
		api.must(200, "GET", path+dayQuery, nil, &c)
		if len(c.Items) != 1 || !c.Items[0].Start.Equal(day2) {
			t.Fatalf("%s: %+v, want the one day 2026-01-02", path, c)
		}
		return c
	}
	advance := func(addr string) int64 { return cents(t, closing[addr].Forward) - cents(t, opening[addr].Forward) }

	// The CT meter: the register as read, the consumption on the primary
	// side: (closing − opening register) × CT 40 × PT 1.
	t.Run("CT meter to the kWh", func(t *testing.T) {
		c := dayOf("/api/v1/meters/000000000101/consumption")
		want := kwh(advance("000000000101") * 40)
		if c.CT != 40 || c.PT != 1 || c.Multiplier != 40 || c.Side != "primary" || c.Items[0].KWh == nil || *c.Items[0].KWh != want {
			t.Fatalf("registers %s -> %s kWh, x40 = %s kWh; the API says %+v (kwh %v)", opening["000000000101"].Forward, closing["000000000101"].Forward, want, c, deref(c.Items[0].KWh))
		}
		t.Logf("meter 101: (%s - %s) x 40 = %s kWh", closing["000000000101"].Forward, opening["000000000101"].Forward, want)
	})

	// The register that went back: the freeze is kept as read and
	// flagged, the day is left out (null, not a million kWh).
	t.Run("reversed register", func(t *testing.T) {
		if advance("000000000102") >= 0 {
			t.Fatalf("meter 102 went %s -> %s kWh: the backwards fault did not show", opening["000000000102"].Forward, closing["000000000102"].Forward)
		}
		if closing["000000000102"].Flags&1 == 0 {
			t.Errorf("the freeze %s kWh below %s kWh is not flagged reversed: flags %d", closing["000000000102"].Forward, opening["000000000102"].Forward, closing["000000000102"].Flags)
		}
		c := dayOf("/api/v1/meters/000000000102/consumption")
		if c.Items[0].KWh != nil || !c.Items[0].Reversed {
			t.Fatalf("the reversed day: kwh %s, reversed %v; want null and true", deref(c.Items[0].KWh), c.Items[0].Reversed)
		}
	})

	// The swap: the old meter counts from its opening freeze to its
	// removal reading, the new one from its installation reading to its
	// closing freeze, and the account joins them.
	t.Run("swap keeps the account continuous", func(t *testing.T) {
		oldPart := cents(t, removal) - cents(t, opening["000000000103"].Forward)
		newPart := cents(t, closing["000000000104"].Forward) - cents(t, installation)
		for _, c := range []struct {
			path string
			want int64
			how  string
		}{
			{"/api/v1/meters/000000000103/consumption", oldPart, fmt.Sprintf("%s - %s", removal, opening["000000000103"].Forward)},
			{"/api/v1/meters/000000000104/consumption", newPart, fmt.Sprintf("%s - %s", closing["000000000104"].Forward, installation)},
			{"/api/v1/accounts/7/consumption", oldPart + newPart, fmt.Sprintf("(%s - %s) + (%s - %s)", removal, opening["000000000103"].Forward, closing["000000000104"].Forward, installation)},
		} {
			p := dayOf(c.path).Items[0]
			if p.KWh == nil || *p.KWh != kwh(c.want) || p.Reversed {
				t.Errorf("%s: kwh %s reversed %v, want %s = %s kWh", c.path, deref(p.KWh), p.Reversed, c.how, kwh(c.want))
			}
		}
		t.Logf("account 7 on 2026-01-02: (%s - %s) + (%s - %s) = %s kWh", removal, opening["000000000103"].Forward, closing["000000000104"].Forward, installation, kwh(oldPart+newPart))
	})

	// Line loss of the area for 2026-01-02: supply minus customers over
	// supply, from the same registers; the fleet loses 4 % on the line,
	// inside the 2–6 % band.
	t.Run("line loss", func(t *testing.T) {
		supply := advance("000000000001")
		var customers int64
		for _, a := range areaMeters[1:] {
			customers += advance(a)
		}
		wantPct := float64(supply-customers) / float64(supply) * 100
		var as struct {
			Items []struct {
				Loss struct {
					Supply    *string  `json:"supply_kwh"`
					Customers *string  `json:"customers_kwh"`
					Percent   *float64 `json:"percent"`
					Complete  bool     `json:"complete"`
					OutOfBand bool     `json:"out_of_band"`
				} `json:"line_loss"`
			} `json:"items"`
		}
		raw := api.must(200, "GET", "/api/v1/areas?day=2026-01-02", nil, &as)
		if len(as.Items) != 1 {
			t.Fatalf("areas: %s", raw)
		}
		l := as.Items[0].Loss
		if !l.Complete || l.OutOfBand || deref(l.Supply) != kwh(supply) || deref(l.Customers) != kwh(customers) || l.Percent == nil ||
			math.Abs(*l.Percent-wantPct) > 1e-9 || *l.Percent < 2 || *l.Percent > 6 {
			t.Fatalf("line loss %s; want complete, supply %s kWh, customers %s kWh, (supply - customers) / supply = %.4f %% inside 2..6 %%", raw, kwh(supply), kwh(customers), wantPct)
		}
		t.Logf("line loss 2026-01-02: (%s - %s) / %s = %.2f %%", kwh(supply), kwh(customers), kwh(supply), wantPct)
	})
	t.Logf("done in %s (real)", time.Since(began).Round(time.Millisecond))
}

// waitDaily waits until every meter has its daily freeze of instant day in
// the API and returns them by address.
func waitDaily(t *testing.T, api *client, meters []string, day time.Time) map[string]reading {
	t.Helper()
	got := map[string]reading{}
	poll(t, fmt.Sprintf("the freeze of %s from every meter", day.Format(time.RFC3339)), 2*time.Minute, func() (bool, string) {
		for _, a := range meters {
			if _, ok := got[a]; ok {
				continue
			}
			var rs struct {
				Items []reading `json:"items"`
			}
			_, raw := api.call("GET", "/api/v1/meters/"+a+"/readings?kind=daily&from=2026-01-01&to=2026-01-04", nil, &rs)
			for _, r := range rs.Items {
				if r.Time.Equal(day) {
					got[a] = r
				}
			}
			if _, ok := got[a]; !ok {
				return false, a + ": " + raw
			}
		}
		return true, ""
	})
	return got
}

// simClock is the virtual time a meter of the fleet reads.
func simClock(t *testing.T, sim *client, address string) time.Time {
	t.Helper()
	var ms []simMeter
	sim.must(200, "GET", "/meters?address="+address, nil, &ms)
	if len(ms) != 1 {
		t.Fatalf("sim: %+v", ms)
	}
	now, err := time.Parse(time.RFC3339, ms[0].Clock)
	if err != nil {
		t.Fatal(err)
	}
	return now
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}
