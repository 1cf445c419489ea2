package web

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// An area's suspect meters on a real store, over the last 14 days: the
// supply meter (1) delivers 100 kWh a day; customers 2 (30 a day, two
// reversal events), 3 (30 a day, 10 from the 10th day: the day the loss
// rose from 10 % to 30 %), 4 (20 a day, its freeze of the 3rd day
// missing: days 2 and 3 are gaps) and 5 (10 a day, one stopped event);
// meter 6 is in no area (its stopped event does not count).
// Ranked: 4 (2 missing days), 5 (1 stopped), 2 (2 reversals), 3 (all of
// the drop: 30 − 10 = 20 kWh, 100 %).
func TestSuspectMeters(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			f := newFixture(t, s.open(t), 6)
			ctx := context.Background()
			loc := f.site.Location()
			today := amigo.Day(time.Now(), loc)
			from := today.AddDate(0, 0, -14)
			perDay := map[string]func(d int) int64{
				"000000000001": func(int) int64 { return 100 },
				"000000000002": func(int) int64 { return 30 },
				"000000000003": func(d int) int64 {
					if d >= 9 {
						return 10
					}
					return 30
				},
				"000000000004": func(int) int64 { return 20 },
				"000000000005": func(int) int64 { return 10 },
				"000000000006": func(int) int64 { return 5 },
			}
			var rs []amigo.Reading
			ids := map[string]int64{}
			for addr, use := range perDay {
				m, err := f.st.FindMeterByAddress(ctx, addr)
				if err != nil {
					t.Fatal(err)
				}
				ids[addr] = m.ID
				if addr != "000000000001" && addr != "000000000006" {
					m.AreaID = f.area.ID
					if err := f.st.UpdateMeter(ctx, &m); err != nil {
						t.Fatal(err)
					}
				}
				reg := int64(1000)
				for k := 0; k <= 14; k++ { // freezes at the start of day k (0: from)
					if k > 0 {
						reg += use(k - 1)
					}
					if addr == "000000000004" && k == 2 {
						continue
					}
					rs = append(rs, amigo.Reading{MeterID: m.ID, Time: from.AddDate(0, 0, k), Kind: amigo.KindDaily, Forward: [5]amigo.Energy{amigo.KWh(reg)}, HasForward: true, Quality: amigo.QualityActual, Source: "test", ReceivedAt: time.Now()})
				}
			}
			if _, err := f.st.WriteReadings(ctx, rs); err != nil {
				t.Fatal(err)
			}
			ev := func(kind, addr string) amigo.Event {
				return amigo.Event{Time: time.Now().Add(-time.Hour), Kind: kind, Severity: "warning", SiteID: f.site.ID, MeterID: ids[addr], Message: "test"}
			}
			if err := f.st.AppendEvents(ctx, ev(amigo.EventReversed, "000000000002"), ev(amigo.EventReversed, "000000000002"), ev(amigo.EventStopped, "000000000005"), ev(amigo.EventStopped, "000000000006")); err != nil {
				t.Fatal(err)
			}
			c := f.client(t)
			f.login(t, c, "viewer", viewerPW)
			_, areas := get(t, c, f.srv.URL+"/areas")
			link := fmt.Sprintf("/areas/%d/suspects", f.area.ID)
			if !strings.Contains(areas, `href="`+link+`"`) {
				t.Fatalf("the areas page has no link to %s", link)
			}
			rowRe := regexp.MustCompile(`class="meter-link" href="/meters/(\d+)">\d+</a></td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>([0-9.]+)</td><td>([0-9.]+ %)</td>`)
			for l, rule := range map[string]string{"zh": "排序依据", "en": "Meters rank by missing days"} {
				get(t, c, f.srv.URL+"/lang/"+l+"?next=/")
				code, body := get(t, c, f.srv.URL+link)
				if code != http.StatusOK || !strings.Contains(body, rule) {
					t.Fatalf("%s %s: %d, want the rule %q\n%s", l, link, code, rule, body)
				}
				for _, bad := range untranslated(body) {
					t.Errorf("%s shows the key %q", l, bad)
				}
				var got []string
				for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
					got = append(got, strings.Join(m[1:], " "))
				}
				want := []string{
					"000000000004 2 0 0 0.00 0.00 %",
					"000000000005 0 1 0 0.00 0.00 %",
					"000000000002 0 0 2 0.00 0.00 %",
					"000000000003 0 0 0 20.00 100.00 %",
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s ranking:\n%s\nwant:\n%s", l, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			if code, _ := get(t, c, f.srv.URL+"/areas/999999/suspects"); code != http.StatusNotFound {
				t.Errorf("unknown area: %d, want 404", code)
			}
		})
	}
}
