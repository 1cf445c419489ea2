package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// BenchmarkSuspectsPage is the server's time for an area's suspect meters
// (handler only) with 2,000 customer meters in the area and 15 daily
// freezes each, 1,000 stopped events on the station, in one SQLite store:
// go test -run '^$' -bench SuspectsPage -benchtime 10x ./internal/web
func BenchmarkSuspectsPage(b *testing.B) {
	const meters = 2001
	f := newFixture(b, openSQLite(b), meters)
	ctx := context.Background()
	loc := f.site.Location()
	from := amigo.Day(time.Now(), loc).AddDate(0, 0, -14)
	ms, _, err := f.st.ListMeters(ctx, amigo.MeterFilter{})
	if err != nil {
		b.Fatal(err)
	}
	var rs []amigo.Reading
	var es []amigo.Event
	err = f.st.WithTx(ctx, func(tx amigo.Store) error {
		for i, m := range ms {
			if m.ID != f.area.SupplyMeterID {
				m.AreaID = f.area.ID
				if err := tx.UpdateMeter(ctx, &m); err != nil {
					return err
				}
			}
			for k := 0; k <= 14; k++ {
				rs = append(rs, amigo.Reading{MeterID: m.ID, Time: from.AddDate(0, 0, k), Kind: amigo.KindDaily, Forward: [5]amigo.Energy{amigo.KWh(int64(1000 + k*(10+i%7)))}, HasForward: true, Quality: amigo.QualityActual, Source: "bench", ReceivedAt: time.Now()})
			}
			if i%2 == 0 {
				es = append(es, amigo.Event{Time: time.Now().Add(-time.Hour), Kind: amigo.EventStopped, Severity: "warning", SiteID: f.site.ID, MeterID: m.ID, Message: fmt.Sprint("bench ", i)})
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.st.WriteReadings(ctx, rs); err != nil {
		b.Fatal(err)
	}
	if err := f.st.AppendEvents(ctx, es...); err != nil {
		b.Fatal(err)
	}
	c := f.client(b)
	f.login(b, c, "admin", adminPW)
	u, _ := url.Parse(f.srv.URL)
	cookies := c.Jar.Cookies(u)
	p := fmt.Sprintf("/areas/%d/suspects", f.area.ID)
	h := f.srv.Config.Handler
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
}
