package station

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// A day collected late (补抄) is validated against the stored days on both
// sides, and the stored later day is re-checked against it. The meters are
// 60 A single phase: at most 60 x 220 x 1.2 = 15.84 kW, 380.16 kWh a day,
// 760.32 kWh in two.
func TestLateDayValidatedAgainstBothNeighbours(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	site, _, ms := fixture(t, s, "Europe/Berlin", 2)
	loc := site.Location()
	d := func(n int) time.Time { return time.Date(2026, 3, n, 0, 0, 0, 0, loc) }
	e := newEngine(s, nil, vclock.NewManual(d(20)))
	byID := map[int64]amigo.Meter{ms[0].ID: ms[0], ms[1].ID: ms[1]}
	rd := func(m amigo.Meter, day int, v string) amigo.Reading {
		x, _ := amigo.ParseEnergy(v)
		return amigo.Reading{MeterID: m.ID, Kind: amigo.KindDaily, Time: d(day), Forward: [5]amigo.Energy{x}, HasForward: true, Source: "t", ReceivedAt: d(20)}
	}
	flags := func(m amigo.Meter, day int) int {
		t.Helper()
		rs, err := s.ListReadings(ctx, m.ID, amigo.KindDaily, d(day), d(day).Add(time.Second))
		if err != nil || len(rs) != 1 {
			t.Fatalf("reading of day %d: %v %v", day, rs, err)
		}
		return rs[0].Flags
	}
	commit := func(rs ...amigo.Reading) {
		t.Helper()
		if err := e.commit(ctx, nil, nil, rs, byID); err != nil {
			t.Fatal(err)
		}
	}
	// Meter A: days 1 (100.00) and 3 (120.00) arrive, then day 2 late at
	// 130.00. Day 2 against day 1: +30.00, fine. Day 3 against day 2:
	// 120.00 < 130.00, and 1000000 − 130 + 120 is no roll-over: reversed.
	a := ms[0]
	commit(rd(a, 1, "100.00"))
	commit(rd(a, 3, "120.00"))
	if f := flags(a, 3); f != 0 {
		t.Fatalf("day 3 before the late day: flags %d", f)
	}
	commit(rd(a, 2, "130.00"))
	if f2, f3 := flags(a, 2), flags(a, 3); f2 != 0 || f3 != amigo.FlagReversed {
		t.Fatalf("after the late day: day 2 flags %d, day 3 flags %d (want 0, %d)", f2, f3, amigo.FlagReversed)
	}
	es := events(t, s, amigo.EventReversed)
	if len(es) != 1 || es[0].MeterID != a.ID || !strings.Contains(es[0].Detail, "found when the late reading of 2026-03-01T23:00:00Z arrived") {
		t.Fatalf("reversal events %+v", es)
	}
	// Meter B: days 1 (100.00) and 3 (900.00): 800.00 in two days is more
	// than 760.32, a jump. Day 2 arrives late at 850.00: the jump was on
	// day 2 (750.00 > 380.16), and day 3 (+50.00) is cleared with a note.
	b := ms[1]
	commit(rd(b, 1, "100.00"))
	commit(rd(b, 3, "900.00"))
	if f := flags(b, 3); f != amigo.FlagJump {
		t.Fatalf("day 3 of B: flags %d, want jump", f)
	}
	commit(rd(b, 2, "850.00"))
	if f2, f3 := flags(b, 2), flags(b, 3); f2 != amigo.FlagJump || f3 != 0 {
		t.Fatalf("after the late day: day 2 flags %d (want %d), day 3 flags %d (want 0)", f2, amigo.FlagJump, f3)
	}
	notes := events(t, s, amigo.EventRechecked)
	if len(notes) != 1 || notes[0].MeterID != b.ID || notes[0].Message != "meter 000000000002: daily reading of 2026-03-02T23:00:00Z re-checked after the late reading of 2026-03-01T23:00:00Z: no longer jumped / 补抄后复核，原告警解除" {
		t.Fatalf("re-check notes %+v", notes)
	}
	if n := len(events(t, s, amigo.EventJump)); n != 2 { // day 3 first, then day 2
		t.Fatalf("%d jump events, want 2", n)
	}
	// The same late day again is a duplicate: nothing is re-judged.
	commit(rd(b, 2, "850.00"))
	if n := len(events(t, s, amigo.EventJump)) + len(events(t, s, amigo.EventRechecked)); n != 3 {
		t.Fatalf("a duplicate raised events: %d", n)
	}
}

// Validating a request's readings against the stored ones held in memory
// costs no allocation per reading (it ran on every reading of a pass: 8
// per reading, a fifth of the ingest's CPU went to allocation and GC).
func TestValidateAllocatesNothingPerReading(t *testing.T) {
	e, rs, meters := validateBatch(t)
	// A jump on the first meter: validation does judge them.
	rs[0].Forward[0] += 100000
	evs := e.validate(context.Background(), rs, meters)
	if len(evs) != 1 || evs[0].MeterID != rs[0].MeterID || rs[0].Flags&amigo.FlagJump == 0 || rs[1].Flags != 0 {
		t.Fatalf("events %+v, flags %d %d", evs, rs[0].Flags, rs[1].Flags)
	}
	rs[0].Forward[0] -= 100000
	allocs := testing.AllocsPerRun(20, func() {
		if evs := e.validate(context.Background(), rs, meters); len(evs) != 0 {
			t.Fatalf("events %+v", evs)
		}
	})
	if allocs > float64(len(rs)/4) {
		t.Fatalf("%v allocations validating %d readings", allocs, len(rs))
	}
}
