package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// readingQueries: ReadingsAround finds the neighbours however far they are;
// LatestReadings the newest of a kind per meter;
// ReadingsOfMeters keeps to its kinds and range; UpdateReadingFlags changes
// flags, never values.
func readingQueries(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	_, _, ms := Fixture(t, s, 2)
	d0 := time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC)
	// Meter 0: daily at days 0, 1, 10 (a 9-day gap), 11, 40; a monthly at
	// day 0; a realtime at day 10. Meter 1: daily at day 5.
	var batch []amigo.Reading
	for _, d := range []int{0, 1, 10, 11, 40} {
		batch = append(batch, reading(ms[0].ID, d0.AddDate(0, 0, d), amigo.KindDaily, int64(100+d)))
	}
	batch = append(batch, reading(ms[0].ID, d0, amigo.KindMonthly, 100), reading(ms[0].ID, d0.AddDate(0, 0, 10), amigo.KindRealtime, 110),
		reading(ms[1].ID, d0.AddDate(0, 0, 5), amigo.KindDaily, 7))
	if _, err := s.WriteReadings(ctx, batch); err != nil {
		t.Fatal(err)
	}
	day := func(rs []amigo.Reading) []int {
		var out []int
		for _, r := range rs {
			out = append(out, int(r.Time.Sub(d0).Hours()/24))
		}
		return out
	}
	same := func(a, b []int) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	// Days 4..6 hold nothing: the neighbours are days 1 and 10.
	got, err := s.ReadingsAround(ctx, ms[0].ID, amigo.KindDaily, d0.AddDate(0, 0, 4), d0.AddDate(0, 0, 6))
	if err != nil || !same(day(got), []int{1, 10}) {
		t.Fatalf("around 4..6: days %v err %v", day(got), err)
	}
	// Days 10..11 inclusive, with neighbours 1 and 40.
	got, _ = s.ReadingsAround(ctx, ms[0].ID, amigo.KindDaily, d0.AddDate(0, 0, 10), d0.AddDate(0, 0, 11))
	if !same(day(got), []int{1, 10, 11, 40}) {
		t.Fatalf("around 10..11: days %v", day(got))
	}
	// Nothing before day 0: only what follows.
	got, _ = s.ReadingsAround(ctx, ms[0].ID, amigo.KindDaily, d0.AddDate(0, 0, -3), d0.AddDate(0, 0, -2))
	if !same(day(got), []int{0}) {
		t.Fatalf("around -3..-2: days %v", day(got))
	}
	// LatestReadings: the newest of each kind asked, none for a meter
	// without that kind (meter 1 has no real-time reading).
	latest, err := s.LatestReadings(ctx, []int64{ms[0].ID, ms[1].ID, ms[1].ID + 1000}, amigo.KindDaily)
	if err != nil || len(latest) != 2 || day([]amigo.Reading{latest[ms[0].ID]})[0] != 40 || latest[ms[0].ID].Forward[0] != amigo.KWh(140) ||
		day([]amigo.Reading{latest[ms[1].ID]})[0] != 5 {
		t.Fatalf("latest daily %+v %v", latest, err)
	}
	if latest, err := s.LatestReadings(ctx, []int64{ms[0].ID, ms[1].ID}, amigo.KindRealtime); err != nil || len(latest) != 1 || day([]amigo.Reading{latest[ms[0].ID]})[0] != 10 {
		t.Fatalf("latest real-time %+v %v", latest, err)
	}
	if latest, err := s.LatestReadings(ctx, nil, amigo.KindRealtime); err != nil || len(latest) != 0 {
		t.Fatalf("latest of none %+v %v", latest, err)
	}
	by, err := s.ReadingsOfMeters(ctx, []int64{ms[0].ID, ms[1].ID}, []string{amigo.KindDaily, amigo.KindMonthly}, d0, d0.AddDate(0, 0, 11))
	if err != nil || len(by[ms[0].ID]) != 4 || len(by[ms[1].ID]) != 1 || by[ms[0].ID][3].Kind != amigo.KindDaily {
		t.Fatalf("of meters %+v %v", by, err)
	}
	// Flags: set FlagClockOff on meter 0's days 0..10 (every kind), then
	// clear FlagReversed (never set) while setting FlagJump on day 1 daily.
	n, err := s.UpdateReadingFlags(ctx, ms[0].ID, "", d0, d0.AddDate(0, 0, 10), amigo.FlagClockOff, 0)
	if err != nil || n != 3 { // daily 0, daily 1, monthly 0
		t.Fatalf("flagged %d %v", n, err)
	}
	if n, _ := s.UpdateReadingFlags(ctx, ms[0].ID, "", d0, d0.AddDate(0, 0, 10), amigo.FlagClockOff, 0); n != 0 {
		t.Fatalf("flagging again changed %d", n)
	}
	s.UpdateReadingFlags(ctx, ms[0].ID, amigo.KindDaily, d0.AddDate(0, 0, 1), d0.AddDate(0, 0, 2), amigo.FlagJump, amigo.FlagReversed)
	rs, _ := s.ListReadings(ctx, ms[0].ID, amigo.KindDaily, d0, d0.AddDate(0, 0, 2))
	if rs[0].Flags != amigo.FlagClockOff || rs[1].Flags != amigo.FlagClockOff|amigo.FlagJump || rs[1].Forward[0] != amigo.KWh(101) {
		t.Fatalf("flags %d %d, value %s", rs[0].Flags, rs[1].Flags, rs[1].Forward[0])
	}
	s.UpdateReadingFlags(ctx, ms[0].ID, amigo.KindDaily, d0, d0.AddDate(0, 0, 2), 0, amigo.FlagClockOff)
	rs, _ = s.ListReadings(ctx, ms[0].ID, amigo.KindDaily, d0, d0.AddDate(0, 0, 2))
	if rs[0].Flags != 0 || rs[1].Flags != amigo.FlagJump {
		t.Fatalf("cleared flags %d %d", rs[0].Flags, rs[1].Flags)
	}
}
