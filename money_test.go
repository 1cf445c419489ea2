package amigo

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// KeepsPower: a window that wraps midnight, a weekday, a holiday; the
// window's end is outside it.
func TestKeepsPower(t *testing.T) {
	loc := Site{}.Location()
	p := ControlPolicy{KeepPowerWindows: []TimeWindow{{From: "22:00", To: "06:00"}, {From: "12:00", To: "13:30"}}, KeepPowerWeekdays: []string{"Sunday"}, KeepPowerDates: []string{"2026-10-01"}}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		keep bool
	}{
		{time.Date(2026, 3, 2, 23, 0, 0, 0, loc), true},        // Monday night
		{time.Date(2026, 3, 3, 5, 59, 0, 0, loc), true},        // before 06:00
		{time.Date(2026, 3, 3, 6, 0, 0, 0, loc), false},        // the window's end
		{time.Date(2026, 3, 3, 12, 30, 0, 0, loc), true},       // lunch window
		{time.Date(2026, 3, 3, 13, 30, 0, 0, loc), false},      // its end
		{time.Date(2026, 3, 1, 15, 0, 0, 0, loc), true},        // a Sunday
		{time.Date(2026, 10, 1, 15, 0, 0, 0, loc), true},       // a holiday
		{time.Date(2026, 9, 30, 16, 30, 0, 0, time.UTC), true}, // 00:30 on 1 Oct in Shanghai
	} {
		if got := p.KeepsPower(c.at, loc); got != c.keep {
			t.Errorf("%s: keep %v, want %v", c.at, got, c.keep)
		}
	}
	for _, bad := range []ControlPolicy{
		{KeepPowerWindows: []TimeWindow{{From: "22:00", To: "22:00"}}},
		{KeepPowerWindows: []TimeWindow{{From: "24:30", To: "01:00"}}},
		{KeepPowerWeekdays: []string{"someday"}},
		{KeepPowerDates: []string{"2026-02-30"}},
		{Reconnect: "maybe"},
	} {
		if err := bad.Check(); ErrorKind(err) != EINVALID || !strings.Contains(ErrorMessage(err), " / ") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// FuzzControlPolicy: any JSON policy either fails Check with a bilingual
// EINVALID or is usable at any instant.
func FuzzControlPolicy(f *testing.F) {
	f.Add([]byte(`{"keep_power_windows":[{"from":"22:00","to":"06:00"}],"keep_power_weekdays":["sunday"],"keep_power_dates":["2026-10-01"],"reconnect":"close"}`), int64(0))
	f.Add([]byte(`{"keep_power_windows":[{"from":"2x:00","to":"06:00"}]}`), int64(1_800_000_000))
	f.Fuzz(func(t *testing.T, data []byte, at int64) {
		var p ControlPolicy
		if json.Unmarshal(data, &p) != nil {
			return
		}
		if err := p.Check(); err != nil {
			if ErrorKind(err) != EINVALID || !strings.Contains(ErrorMessage(err), " / ") {
				t.Fatal(err)
			}
			return
		}
		p.KeepsPower(time.Unix(at%4_000_000_000, 0), Site{}.Location())
	})
}
