package vee

import (
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

func r(kwh int64, h int, kind string) amigo.Reading {
	return amigo.Reading{Kind: kind, Time: time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC), Forward: [5]amigo.Energy{amigo.KWh(kwh)}, HasForward: true}
}

func kwh(s string) amigo.Energy {
	e, err := amigo.ParseEnergy(s)
	if err != nil {
		panic(err)
	}
	return e
}

func TestCheck(t *testing.T) {
	m := amigo.Meter{ID: 1, Address: "000000000001", Phases: 1, RatedAmps: 60, CTRatio: 1, PTRatio: 1}
	prev := r(100, 0, amigo.KindDaily)
	if f, ev := Check(m, &prev, r(110, 10, amigo.KindDaily), nil); f != 0 || ev != nil {
		t.Fatalf("normal advance flagged %d %v", f, ev)
	}
	if f, ev := Check(m, &prev, r(90, 10, amigo.KindDaily), nil); f != amigo.FlagReversed || ev[0].Kind != amigo.EventReversed {
		t.Fatalf("reversal: %d %v", f, ev)
	}
	// 60 A x 220 V x 1.2 = 15.84 kW: 200 kWh in 10 h is too much.
	if f, ev := Check(m, &prev, r(300, 10, amigo.KindDaily), nil); f != amigo.FlagJump || ev[0].Kind != amigo.EventJump {
		t.Fatalf("jump: %d %v", f, ev)
	}
	// A CT multiplies what the register counted, not what it can count: a
	// 1.5(6) A meter behind CT 200/5 = 40 on three phases registers at most
	// 6 A x 220 V x 3 x 1.2 = 4.752 kW, 47.52 kWh in 10 h: 200 is a jump,
	// 40 is not.
	ct := amigo.Meter{ID: 2, Address: "000000000002", Phases: 3, RatedAmps: 6, CTRatio: 40, PTRatio: 1}
	if f, _ := Check(ct, &prev, r(300, 10, amigo.KindDaily), nil); f != amigo.FlagJump {
		t.Fatalf("CT meter jump: %d", f)
	}
	if f, _ := Check(ct, &prev, r(140, 10, amigo.KindDaily), nil); f != 0 {
		t.Fatalf("CT meter normal advance: %d", f)
	}
	p := int64(800)
	if f, ev := Check(m, &prev, r(100, 10, amigo.KindDaily), &p); f != amigo.FlagStopped || ev[0].Kind != amigo.EventStopped {
		t.Fatalf("stopped: %d %v", f, ev)
	}
	if f, _ := Check(m, nil, r(100, 10, amigo.KindDaily), &p); f != 0 {
		t.Fatal("first reading flagged")
	}
}

// Roll-over against reversal, at the boundary. A 60 A single-phase meter
// registers at most 60 x 220 x 1.2 = 15.84 kW, 380.16 kWh in a day.
func TestAdvanceRollOverOrReversal(t *testing.T) {
	m := amigo.Meter{ID: 1, Address: "000000000001", Phases: 1, RatedAmps: 60}
	day := 24 * time.Hour
	if got := MaxEnergy(m, day); got != kwh("380.16") {
		t.Fatalf("MaxEnergy(day) = %s, want 380.16", got)
	}
	cases := []struct {
		prev, cur string
		span      time.Duration
		want      string
		step      Step
	}{
		{"1234.56", "1236.06", day, "1.50", Advanced},
		{"999999.99", "0.01", day, "0.02", RolledOver},                 // 1000000 - 999999.99 + 0.01
		{"999900.00", "250.00", day, "350.00", RolledOver},             // 100 + 250 = 350 <= 380.16
		{"999900.00", "280.16", day, "380.16", RolledOver},             // exactly the bound
		{"999900.00", "280.17", day, "0", Reversed},                    // 380.17 > 380.16
		{"999000.00", "50.00", day, "0", Reversed},                     // 1050 kWh in a day: not a wrap
		{"500000.00", "3.00", day, "0", Reversed},                      // far from capacity
		{"1236.06", "1234.56", day, "0", Reversed},                     // went back 1.50
		{"999999.99", "0.01", 0, "0", Reversed},                        // no time to wrap
		{"999999.00", "0.50", 10 * 24 * time.Hour, "1.50", RolledOver}, // ten days
	}
	for _, c := range cases {
		got, step := Advance(m, kwh(c.prev), kwh(c.cur), c.span)
		if got != kwh(c.want) || step != c.step {
			t.Errorf("Advance(%s -> %s in %s) = %s %s, want %s %s", c.prev, c.cur, c.span, got, step, c.want, c.step)
		}
	}
	// Validation calls a real roll-over no reversal, and a reversal near
	// the capacity no roll-over.
	prev := amigo.Reading{Kind: amigo.KindDaily, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Forward: [5]amigo.Energy{kwh("999950.00")}, HasForward: true}
	cur := prev
	cur.Time, cur.Forward[0] = prev.Time.Add(day), kwh("12.34") // 50 + 12.34 = 62.34 kWh
	if f, ev := Check(m, &prev, cur, nil); f != 0 || ev != nil {
		t.Fatalf("roll-over flagged %d %v", f, ev)
	}
	cur.Forward[0] = kwh("900.00") // 950 kWh in a day
	if f, _ := Check(m, &prev, cur, nil); f != amigo.FlagReversed {
		t.Fatalf("reversal near capacity: flags %d", f)
	}
}
