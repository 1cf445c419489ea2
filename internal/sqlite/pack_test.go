package sqlite

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// oldReadings are rows of every shape the columns layout held.
func oldReadings(meters []int64) []amigo.Reading {
	t := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	p, v := int64(1520), int64(2231)
	neg := int64(-40)
	var rs []amigo.Reading
	for i, m := range meters {
		base := amigo.Energy(39_000_000 + i*1_000_300)
		for d := range 3 {
			day := t.AddDate(0, 0, d)
			f := [5]amigo.Energy{base + amigo.Energy(d)*90_000, 1_950_000, 13_600_000 + amigo.Energy(d)*30_000, 11_700_000, 11_750_000 + amigo.Energy(d)*60_000}
			rs = append(rs, amigo.Reading{MeterID: m, Time: day, Kind: amigo.KindDaily, Forward: f, HasForward: true,
				Quality: amigo.QualityActual, Source: "collector 000000000001", ReceivedAt: day.Add(47 * time.Minute)})
		}
		rs = append(rs,
			// At the instant of a daily one: its kind id is lower, its name is not.
			amigo.Reading{MeterID: m, Time: t, Kind: amigo.KindRealtime, Forward: [5]amigo.Energy{base}, HasForward: true,
				PowerW: &p, Quality: amigo.QualityActual, Source: "gprs", ReceivedAt: t.Add(time.Second)},
			amigo.Reading{MeterID: m, Time: t.Add(15 * time.Minute), Kind: amigo.KindRealtime, Forward: [5]amigo.Energy{base + 1234}, HasForward: true,
				PowerW: &p, VoltageDV: &v, Quality: amigo.QualityActual, Flags: amigo.FlagJump | amigo.FlagClockOff, Source: "gprs", ReceivedAt: t.Add(15*time.Minute + 3*time.Second)},
			amigo.Reading{MeterID: m, Time: t.Add(time.Hour), Kind: amigo.KindManual, Forward: [5]amigo.Energy{base}, HasForward: true,
				Reverse: [5]amigo.Energy{20_000, 1, 0, 7, 19_992}, HasReverse: true, PowerW: &neg,
				Quality: amigo.QualityEdited, EditedBy: "王工", EditReason: "removal reading / 拆表读数", Source: "manual", ReceivedAt: t.Add(2 * time.Hour)},
			amigo.Reading{MeterID: m, Time: t.Add(time.Hour), Kind: "strange kind", Quality: "guessed", Source: "", ReceivedAt: time.Time{}},
			amigo.Reading{MeterID: m, Time: t.AddDate(0, 1, 0), Kind: amigo.KindMonthly, Forward: [5]amigo.Energy{base + 3_000_000, 1, 2, 3, 4}, HasForward: true,
				Quality: amigo.QualityFromCurrent, Source: "collector 000000000002", ReceivedAt: t.AddDate(0, 1, 0).Add(-5 * time.Second)},
		)
	}
	return rs
}

// TestPackMigration: a database of the columns layout (migration 00010)
// with readings of every shape migrates to the packed layout and reads back
// the same readings; down and up again keeps them too.
func TestPackMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := openAt(ctx, path, 10)
	if err != nil {
		t.Fatal(err)
	}
	site := amigo.Site{Name: "s", TimeZone: amigo.DefaultTimeZone}
	if err := old.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	var meters []int64
	for _, addr := range []string{"000000000001", "000000000002", "000000000003"} {
		m := amigo.Meter{SiteID: site.ID, Address: addr, Protocol: "dlt645-2007", Phases: 1, RatedAmps: 60, Direct: true}
		if err := old.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		meters = append(meters, m.ID)
	}
	want := oldReadings(meters)
	if res, err := old.WriteReadings(ctx, want); err != nil || res.Inserted != len(want) {
		t.Fatalf("%+v %v", res, err)
	}
	var cols int
	if err := old.SQL().QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('readings')`).Scan(&cols); err != nil || cols != 23 {
		t.Fatalf("the old table has %d columns (%v), want 23", cols, err)
	}
	wantBy := readAll(t, old, meters)
	if n := len(wantBy[meters[1]]); n != 8 || wantBy[meters[1]][1].Kind != amigo.KindRealtime || wantBy[meters[1]][3].Kind != amigo.KindManual || wantBy[meters[1]][4].Kind != "strange kind" {
		t.Fatalf("the old store returns %d readings of a meter: %+v", n, wantBy[meters[1]])
	}
	old.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var sql string
	if err := s.SQL().QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE name = 'readings'`).Scan(&sql); err != nil {
		t.Fatal(err)
	}
	if want := "WITHOUT ROWID"; !strings.Contains(sql, want) {
		t.Fatalf("readings after the migration: %s", sql)
	}
	if got := readAll(t, s, meters); !reflect.DeepEqual(got, wantBy) {
		t.Fatalf("after the migration:\n got %+v\nwant %+v", got, wantBy)
	}
	// A duplicate of a migrated reading is one; a new name works.
	if res, err := s.WriteReadings(ctx, want[:2]); err != nil || res.Duplicates != 2 {
		t.Fatalf("rewrite: %+v %v", res, err)
	}
	s.Close()

	// Down to 00010 and up again.
	s, err = openAt(ctx, path, 10)
	if err != nil {
		t.Fatal(err)
	}
	p, err := migrator(s.SQL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, meters); !reflect.DeepEqual(got, wantBy) {
		t.Fatalf("after down:\n got %+v\nwant %+v", got, wantBy)
	}
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := readAll(t, s, meters); !reflect.DeepEqual(got, wantBy) {
		t.Fatalf("up again:\n got %+v\nwant %+v", got, wantBy)
	}
}

func readAll(t *testing.T, s *Store, meters []int64) map[int64][]amigo.Reading {
	t.Helper()
	out := map[int64][]amigo.Reading{}
	for _, m := range meters {
		rs, err := s.ListReadings(context.Background(), m, "", time.Unix(1, 0), time.Unix(1<<40, 0))
		if err != nil {
			t.Fatal(err)
		}
		out[m] = rs
	}
	return out
}

// TestPackMigrationGivesBackTheOldPages: after packing, the old table's
// pages are not left free inside the file (VACUUM runs once, after 00011).
func TestPackMigrationGivesBackTheOldPages(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := openAt(ctx, path, 10)
	if err != nil {
		t.Fatal(err)
	}
	site := amigo.Site{Name: "s", TimeZone: amigo.DefaultTimeZone}
	if err := old.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	m := amigo.Meter{SiteID: site.ID, Address: "000000000001", Protocol: "dlt645-2007", Phases: 1, RatedAmps: 60, Direct: true}
	if err := old.CreateMeter(ctx, &m); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var rs []amigo.Reading
	for i := range 3000 {
		at := t0.Add(time.Duration(i) * 15 * time.Minute)
		rs = append(rs, amigo.Reading{MeterID: m.ID, Time: at, Kind: amigo.KindRealtime, Forward: [5]amigo.Energy{amigo.Energy(1_000_000 + i*25)}, HasForward: true,
			Quality: amigo.QualityActual, Source: "collector 000000000001", ReceivedAt: at.Add(time.Minute)})
	}
	if res, err := old.WriteReadings(ctx, rs); err != nil || res.Inserted != len(rs) {
		t.Fatalf("%+v %v", res, err)
	}
	old.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var free int
	if err := s.SQL().QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil || free != 0 {
		t.Fatalf("%d free pages after the migration (%v), want 0", free, err)
	}
	if got, err := s.ListReadings(ctx, m.ID, amigo.KindRealtime, t0, t0.AddDate(1, 0, 0)); err != nil || len(got) != len(rs) {
		t.Fatalf("%d readings after the migration (%v), want %d", len(got), err, len(rs))
	}
}
