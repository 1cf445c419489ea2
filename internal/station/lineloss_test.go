package station

import (
	"context"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sqlite"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// A day whose last customer freeze arrives late is judged when it becomes
// complete, by a restarted station, once. Supply: CT 40, 5000.00 ->
// 5025.00 = 25.00 x 40 = 1000.00 kWh; customers 400.00 + 300.00 + 250.00
// = 950.00; loss (1000 − 950) / 1000 = 5.00 %, outside the band 0..4 %.
func TestLineLossJudgedWhenLateDataCompletesTheDay(t *testing.T) {
	ctx := context.Background()
	s, reopen := openStore(t)
	site, area, ms := fixture(t, s, "Asia/Shanghai", 4)
	loc := site.Location()
	supply := ms[0]
	supply.CTRatio = 40
	if err := s.UpdateMeter(ctx, &supply); err != nil {
		t.Fatal(err)
	}
	if _, err := s.(*sqlite.Store).SQL().ExecContext(ctx, `UPDATE areas SET supply_meter_id = ?, loss_low = 0, loss_high = 4 WHERE id = ?`, supply.ID, area.ID); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 7, 14, 0, 0, 0, 0, loc)
	end := day.AddDate(0, 0, 1)
	rd := func(m amigo.Meter, at time.Time, v string) amigo.Reading {
		x, _ := amigo.ParseEnergy(v)
		return amigo.Reading{MeterID: m.ID, Kind: amigo.KindDaily, Time: at, Forward: [5]amigo.Energy{x}, HasForward: true, Source: "t", ReceivedAt: end}
	}
	if _, err := s.WriteReadings(ctx, []amigo.Reading{rd(supply, day, "5000.00"), rd(supply, end, "5025.00"),
		rd(ms[1], day, "100.00"), rd(ms[1], end, "500.00"), rd(ms[2], day, "20.00"), rd(ms[2], end, "320.00"), rd(ms[3], day, "7.00")}); err != nil {
		t.Fatal(err)
	}
	clock := vclock.NewManual(end.Add(time.Hour))
	newEngine(s, nil, clock).checkLineLoss(ctx, site)
	if n := len(events(t, s, amigo.EventLineLoss)); n != 0 {
		t.Fatalf("incomplete day judged: %d events", n)
	}
	if v, ok, _ := s.GetState(ctx, "lineloss/1"); !ok || v != `{"next":"2026-07-15","pending":["2026-07-14"]}` {
		t.Fatalf("queue state %q %v", v, ok)
	}
	// The station restarts; the late freeze arrives (7.00 -> 257.00).
	s2 := reopen()
	if _, err := s2.WriteReadings(ctx, []amigo.Reading{rd(ms[3], end, "257.00")}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	e2 := newEngine(s2, nil, clock)
	e2.checkLineLoss(ctx, site)
	es := events(t, s2, amigo.EventLineLoss)
	if len(es) != 1 || es[0].AreaID != area.ID || es[0].Message != "area area: line loss 5.00 % on 2026-07-14 is outside 0.0..4.0 % / 线损率越限" || es[0].Detail != "supply 1000.00 kWh, customers 950.00 kWh (primary side)" {
		t.Fatalf("events %+v", es)
	}
	// Judged once: another pass (and another restart) raises nothing more.
	clock.Advance(time.Hour)
	e2.checkLineLoss(ctx, site)
	newEngine(reopen(), nil, clock).checkLineLoss(ctx, site)
	if n := len(events(t, s2, amigo.EventLineLoss)); n != 1 {
		t.Fatalf("%d line-loss events, want 1", n)
	}
	if v, _, _ := s2.GetState(ctx, "lineloss/1/2026-07-14"); v != "5.00" {
		t.Fatalf("judged state %q", v)
	}
	if v, _, _ := s2.GetState(ctx, "lineloss/1"); v != `{"next":"2026-07-15"}` {
		t.Fatalf("queue state %q", v)
	}
}
