package vee

import (
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

func r(kwh int64, h int, kind string) amigo.Reading {
	return amigo.Reading{Kind: kind, Time: time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC), Forward: [5]amigo.Energy{amigo.KWh(kwh)}, HasForward: true}
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
	// A CT of 50 makes the same advance plausible.
	big := m
	big.CTRatio = 50
	if f, _ := Check(big, &prev, r(300, 10, amigo.KindDaily), nil); f != 0 {
		t.Fatalf("CT ratio ignored: %d", f)
	}
	p := int64(800)
	if f, ev := Check(m, &prev, r(100, 10, amigo.KindDaily), &p); f != amigo.FlagStopped || ev[0].Kind != amigo.EventStopped {
		t.Fatalf("stopped: %d %v", f, ev)
	}
	if f, _ := Check(m, nil, r(100, 10, amigo.KindDaily), &p); f != 0 {
		t.Fatal("first reading flagged")
	}
}
