package api

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sqlite"
)

// The API's figures are on the primary side and say so; the readings stay
// as read; a range beyond the bounds is refused with a bilingual 400; the
// areas' line loss uses CT on both sides.
func TestConsumptionPrimarySideBoundsAndLineLoss(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	site := amigo.Site{Name: "s", TimeZone: "Europe/Berlin"}
	st.CreateSite(ctx, &site)
	col := amigo.Collector{SiteID: site.ID, Address: "0171-1"}
	st.CreateCollector(ctx, &col)
	area := amigo.Area{SiteID: site.ID, Name: "T1", LossLow: 0, LossHigh: 8}
	st.CreateArea(ctx, &area)
	d0 := time.Date(2026, 3, 29, 0, 0, 0, 0, berlin) // a 23-hour day
	d1 := d0.AddDate(0, 0, 1)
	mk := func(addr string, areaID int64, ct, pt int) amigo.Meter {
		m := amigo.Meter{SiteID: site.ID, AreaID: areaID, Address: addr, CollectorID: col.ID, Pn: len(addr), CTRatio: ct, PTRatio: pt, Phases: 3, RatedAmps: 6, InstalledAt: d0.AddDate(0, -1, 0)}
		if err := st.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// CT 200/5 = 40, PT 10 kV/100 V = 100: 1234.56 -> 1236.06 is
	// 1.50 x 40 x 100 = 6000.00 kWh.
	hv := mk("000000000001", 0, 40, 100) // in no area
	supply := mk("000000000002", area.ID, 40, 1)
	c1, c2, c3 := mk("000000000003", area.ID, 1, 1), mk("000000000004", area.ID, 1, 1), mk("000000000005", area.ID, 1, 1)
	area.SupplyMeterID = supply.ID
	st.SQL().ExecContext(ctx, `UPDATE areas SET supply_meter_id = ? WHERE id = ?`, supply.ID, area.ID)
	rd := func(m amigo.Meter, t time.Time, v string) amigo.Reading {
		e, _ := amigo.ParseEnergy(v)
		return amigo.Reading{MeterID: m.ID, Kind: amigo.KindDaily, Time: t, Forward: [5]amigo.Energy{e}, HasForward: true, Source: "t"}
	}
	// Supply 5000.00 -> 5025.00: 25.00 x 40 = 1000.00 kWh; customers 400 +
	// 300 + 250 = 950.00; loss (1000 − 950) / 1000 = 5.00 %.
	if _, err := st.WriteReadings(ctx, []amigo.Reading{rd(hv, d0, "1234.56"), rd(hv, d1, "1236.06"),
		rd(supply, d0, "5000.00"), rd(supply, d1, "5025.00"), rd(c1, d0, "100.00"), rd(c1, d1, "500.00"),
		rd(c2, d0, "10.00"), rd(c2, d1, "310.00"), rd(c3, d0, "0.00"), rd(c3, d1, "250.00")}); err != nil {
		t.Fatal(err)
	}
	h := testHash("password-v")
	st.CreateUser(ctx, &amigo.User{Username: "v", PasswordHash: h, Role: amigo.RoleViewer})
	srv := New(st, noCommands{}, func() time.Time { return d1.Add(12 * time.Hour) }, nil, nil)
	_, out := call(t, srv, "POST", "/api/v1/login", "", map[string]string{"username": "v", "password": "password-v"})
	tok, _ := out["token"].(string)

	code, out := call(t, srv, "GET", "/api/v1/meters/000000000001/consumption?from=2026-03-29&to=2026-03-30", tok, nil)
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	items := out["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["kwh"] != "6000.00" || out["ct"] != 40.0 || out["pt"] != 100.0 || out["multiplier"] != 4000.0 || out["side"] != "primary" {
		t.Fatalf("consumption %v", out)
	}
	code, out = call(t, srv, "GET", "/api/v1/meters/000000000001/readings?kind=daily&from=2026-03-29&to=2026-03-31", tok, nil)
	if code != 200 || out["items"].([]any)[0].(map[string]any)["forward_active_kwh"] != "1234.56" {
		t.Fatalf("raw register changed: %v", out)
	}
	for _, q := range []string{"from=0001-01-01&to=9999-12-31", "interval=month&from=2000-01-01&to=2026-01-01", "from=2026-01-01&to=2027-01-03"} {
		code, out = call(t, srv, "GET", "/api/v1/meters/000000000001/consumption?"+q, tok, nil)
		if code != 400 {
			t.Fatalf("%s: %d %v", q, code, out)
		}
		if msg := out["error"].(map[string]any)["message"].(string); msg != "a day interval covers at most 366 days; ask for months or a shorter range / 按日查询最多366天" && msg != "a month interval covers at most 120 months / 按月查询最多120个月" && msg != `"0001-01-01" is outside the years 2000..2099 / "0001-01-01" 超出 2000..2099 年` {
			t.Fatalf("%s: message %q", q, msg)
		}
	}
	code, out = call(t, srv, "GET", "/api/v1/areas?day=2026-03-29", tok, nil)
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	l := out["items"].([]any)[0].(map[string]any)["line_loss"].(map[string]any)
	if l["supply_kwh"] != "1000.00" || l["customers_kwh"] != "950.00" || l["percent"] != 5.0 || l["complete"] != true || l["out_of_band"] != false {
		t.Fatalf("line loss %v", l)
	}
}
