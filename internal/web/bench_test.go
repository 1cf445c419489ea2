package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// BenchmarkPages is the server's time per page (handler only, no network)
// with 100,000 meters on one collector's site in one SQLite store, logged
// in as admin: go test -run '^$' -bench Pages -benchtime 20x ./internal/web
// (the store is seeded once, in about a minute; see docs/benchmarks.md).
func BenchmarkPages(b *testing.B) {
	const meters = 100_000
	t0 := time.Now()
	f := newFixture(b, openSQLite(b), meters)
	// Every meter's daily freezes of the last 3 days (yesterday's success
	// rate and line loss read them) and a real-time reading; the meter
	// of the page has 100 days.
	ctx := context.Background()
	loc := f.site.Location()
	today := amigo.Day(time.Now(), loc)
	var rs []amigo.Reading
	flush := func() {
		if _, err := f.st.WriteReadings(ctx, rs); err != nil {
			b.Fatal(err)
		}
		rs = rs[:0]
	}
	ms, _, err := f.st.ListMeters(ctx, amigo.MeterFilter{})
	if err != nil {
		b.Fatal(err)
	}
	for len(ms) == 10000 || len(ms) > 0 { // ListMeters caps a page at 10,000
		for _, m := range ms {
			days := 3
			if m.Address == "000000054321" {
				days = 100
			}
			for d := range days {
				rs = append(rs, amigo.Reading{MeterID: m.ID, Time: today.AddDate(0, 0, -d), Kind: amigo.KindDaily, Forward: [5]amigo.Energy{amigo.Energy(1_000_000 - d*50_000)}, HasForward: true, Quality: amigo.QualityActual, Source: "bench", ReceivedAt: time.Now()})
			}
			rs = append(rs, amigo.Reading{MeterID: m.ID, Time: time.Now().Truncate(15 * time.Minute), Kind: amigo.KindRealtime, Forward: [5]amigo.Energy{1_020_000}, HasForward: true, Quality: amigo.QualityActual, Source: "bench", ReceivedAt: time.Now()})
			if len(rs) >= 20000 {
				flush()
			}
		}
		last := ms[len(ms)-1].ID
		if len(ms) < 10000 {
			break
		}
		ms, _, err = f.st.ListMeters(ctx, amigo.MeterFilter{Offset: int(last)})
		if err != nil {
			b.Fatal(err)
		}
	}
	flush()
	b.Logf("seeded %d meters and their readings in %s", meters, time.Since(t0).Round(time.Millisecond))
	c := f.client(b)
	if res := f.login(b, c, "admin", adminPW); res.StatusCode != http.StatusSeeOther {
		b.Fatalf("login: %d", res.StatusCode)
	}
	u, _ := url.Parse(f.srv.URL)
	cookies := c.Jar.Cookies(u)
	h := f.srv.Config.Handler
	for _, p := range []string{"/", "/meters", "/meters?page=1000", "/meters?page=2000", "/meters?q=00000005", "/meters?status=unknown&page=1500",
		"/meters/000000054321", "/collectors", "/areas", "/audit"} {
		b.Run(p, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", p, nil)
				for _, ck := range cookies {
					req.AddCookie(ck)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", p, rec.Code)
				}
			}
		})
	}
}
