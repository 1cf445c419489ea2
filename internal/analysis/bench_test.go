package analysis_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
	"github.com/amigo-metering/amigo/internal/sqlite"
)

// benchStore holds n meters with days of daily freezes (forward T1..T4
// and reverse) and 96 real-time readings a day, which the consumption
// path must not touch.
func benchStore(b *testing.B, n, days int, loc *time.Location) (amigo.Store, []amigo.Meter, time.Time) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	site := amigo.Site{Name: "bench", TimeZone: loc.String()}
	st.CreateSite(ctx, &site)
	col := amigo.Collector{SiteID: site.ID, Address: "0171-0001"}
	st.CreateCollector(ctx, &col)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, loc)
	var ms []amigo.Meter
	for i := range n {
		m := amigo.Meter{SiteID: site.ID, CollectorID: col.ID, Pn: i + 1, Address: fmt.Sprintf("%012d", i+1), CTRatio: 40, InstalledAt: start}
		if err := st.CreateMeter(ctx, &m); err != nil {
			b.Fatal(err)
		}
		ms = append(ms, m)
		var rs []amigo.Reading
		for d := range days + 1 {
			t := start.AddDate(0, 0, d)
			v := amigo.KWh(int64(1000 + 10*d))
			rs = append(rs, amigo.Reading{MeterID: m.ID, Kind: amigo.KindDaily, Time: t, Forward: [5]amigo.Energy{v, v / 4, v / 4, v / 4, v - 3*(v/4)}, HasForward: true,
				Reverse: [5]amigo.Energy{v / 10}, HasReverse: true, Source: "bench"})
			if d < days {
				for q := range 96 {
					rs = append(rs, amigo.Reading{MeterID: m.ID, Kind: amigo.KindRealtime, Time: t.Add(time.Duration(q) * 15 * time.Minute), Forward: [5]amigo.Energy{v}, HasForward: true, Source: "bench"})
				}
			}
		}
		if _, err := st.WriteReadings(ctx, rs); err != nil {
			b.Fatal(err)
		}
	}
	return st, ms, start
}

// BenchmarkConsumption is the API's consumption path: the store query
// (LoadSegments) and the figures (Consumption).
func BenchmarkConsumption(b *testing.B) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Skip(err)
	}
	ctx := context.Background()
	run := func(b *testing.B, st amigo.Store, ms []amigo.Meter, interval string, from, to time.Time) {
		b.ReportAllocs()
		for b.Loop() {
			segs, err := analysis.LoadSegments(ctx, st, ms, interval, from, to, loc)
			if err != nil {
				b.Fatal(err)
			}
			for _, sg := range segs {
				pts, err := analysis.Consumption([]analysis.Segment{sg}, interval, from, to, loc)
				if err != nil || pts[0].Energy == nil {
					b.Fatalf("%v %+v", err, pts[0])
				}
			}
		}
	}
	b.Run("1meter-400days/day-366", func(b *testing.B) {
		st, ms, start := benchStore(b, 1, 400, loc)
		run(b, st, ms, "day", start, start.AddDate(0, 0, 366))
	})
	b.Run("1meter-400days/month-13", func(b *testing.B) {
		st, ms, start := benchStore(b, 1, 400, loc)
		run(b, st, ms, "month", start, start.AddDate(0, 13, 0))
	})
	b.Run("100meters-31days/day-31", func(b *testing.B) {
		st, ms, start := benchStore(b, 100, 31, loc)
		run(b, st, ms, "day", start, start.AddDate(0, 0, 31))
	})
}

// BenchmarkConsumptionFigures is Consumption alone on 366 days in memory:
// linear in the days (map lookups, no scan per day).
func BenchmarkConsumptionFigures(b *testing.B) {
	for _, days := range []int{31, 366} {
		b.Run(fmt.Sprint(days, "days"), func(b *testing.B) {
			start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			var rs []amigo.Reading
			for d := range days + 1 {
				rs = append(rs, amigo.Reading{MeterID: 1, Kind: amigo.KindDaily, Time: start.AddDate(0, 0, d), Forward: [5]amigo.Energy{amigo.KWh(int64(d))}, HasForward: true})
			}
			segs := []analysis.Segment{{Meter: amigo.Meter{ID: 1}, Readings: rs}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := analysis.Consumption(segs, "day", start, start.AddDate(0, 0, days), time.UTC); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
