package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/amigo-metering/amigo/tariff"
)

// The tariff editor on a real store: a bad document is refused with its
// fields named (nothing stored), a good one previews the quote the API
// gives once it is saved, an admin saves it (audited), a viewer cannot,
// and a form without the session's token is refused.
func TestTariffEditor(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			f := newFixture(t, s.open(t), 1)
			ctx := context.Background()
			c := f.client(t)
			f.login(t, c, "admin", adminPW)
			for l, want := range map[string]string{"zh": "新版本", "en": "New version"} {
				get(t, c, f.srv.URL+"/lang/"+l+"?next=/")
				code, body := get(t, c, f.srv.URL+"/tariffs")
				if code != http.StatusOK || !strings.Contains(body, want) {
					t.Fatalf("%s /tariffs: %d, want %q", l, code, want)
				}
				for _, bad := range untranslated(body) {
					t.Errorf("%s /tariffs shows the key %q", l, bad)
				}
			}
			_, page := get(t, c, f.srv.URL+"/tariffs")
			token := csrfRe.FindStringSubmatch(page)[1]
			form := func(doc, action string) url.Values {
				return url.Values{"csrf": {token}, "document": {doc}, "date": {"2026-06-30"}, "before": {"0"}, "usage": {"peak=120\nvalley=80"}, "action": {action}}
			}
			bad := strings.Replace(sampleTariff, `"price": "0.5680"`, `"price": "0.5x"`, 1)
			bad = strings.Replace(bad, `"time_zone": "Asia/Shanghai"`, `"time_zone": "Mars/Base"`, 1)
			for _, action := range []string{"check", "save"} {
				res, body := postForm(t, c, f.srv.URL+"/tariffs", form(bad, action))
				if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "<code>periods[0].price</code>") || !strings.Contains(body, "<code>time_zone</code>") {
					t.Errorf("%s of a bad document: %d, want 400 naming periods[0].price and time_zone\n%s", action, res.StatusCode, body)
				}
			}
			if vs, _ := f.st.ListTariffs(ctx, ""); len(vs) != 0 {
				t.Fatalf("a bad document was stored: %v", vs)
			}
			// 120 kWh peak × 0.5680 = 68.16 yuan; 80 kWh valley × 0.2880 =
			// 23.04 yuan; 200 kWh of the year is under the first threshold
			// (2760): no surcharge. 68.16 + 23.04 = 91.20 yuan.
			res, body := postForm(t, c, f.srv.URL+"/tariffs", form(sampleTariff, "check"))
			if res.StatusCode != http.StatusOK || !strings.Contains(body, `<th id="quote-total">91.20</th>`) || !strings.Contains(body, `id="tariff-ok"`) {
				t.Fatalf("preview: %d\n%s", res.StatusCode, body)
			}
			if vs, _ := f.st.ListTariffs(ctx, ""); len(vs) != 0 {
				t.Fatalf("a preview stored the tariff: %v", vs)
			}
			// A missing year-to-date is named in the preview.
			fm := form(sampleTariff, "check")
			fm.Set("before", "")
			if _, body := postForm(t, c, f.srv.URL+"/tariffs", fm); !strings.Contains(body, "year_to_date") {
				t.Errorf("preview without year-to-date does not name it:\n%s", body)
			}

			// A viewer previews but cannot save.
			cv := f.client(t)
			f.login(t, cv, "viewer", viewerPW)
			_, vpage := get(t, cv, f.srv.URL+"/tariffs")
			vf := form(sampleTariff, "save")
			vf.Set("csrf", csrfRe.FindStringSubmatch(vpage)[1])
			if res, _ := postForm(t, cv, f.srv.URL+"/tariffs", vf); res.StatusCode != http.StatusForbidden {
				t.Errorf("viewer save: %d, want 403", res.StatusCode)
			}
			// No token, no save.
			nf := form(sampleTariff, "save")
			nf.Del("csrf")
			if res, _ := postForm(t, c, f.srv.URL+"/tariffs", nf); res.StatusCode != http.StatusForbidden {
				t.Errorf("save without the CSRF token: %d, want 403", res.StatusCode)
			}
			if vs, _ := f.st.ListTariffs(ctx, ""); len(vs) != 0 {
				t.Fatalf("a refused save was stored: %v", vs)
			}

			res, _ = postForm(t, c, f.srv.URL+"/tariffs", form(sampleTariff, "save"))
			if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "saved=zj-residential%402026-01-01") {
				t.Fatalf("save: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			if vs, _ := f.st.ListTariffs(ctx, ""); len(vs) != 1 || vs[0].CreatedBy != "admin" {
				t.Fatalf("stored: %+v", vs)
			}
			es, _ := f.st.ListAudit(ctx, 20)
			audited := false
			for _, e := range es {
				audited = audited || (e.Action == "tariff.create" && e.Actor == "admin")
			}
			if !audited {
				t.Errorf("the save is not audited")
			}
			if _, body := get(t, c, f.srv.URL+res.Header.Get("Location")); !strings.Contains(body, "zj-residential@2026-01-01") || !strings.Contains(body, "periods / 时段: peak 0.5680, valley 0.2880") {
				t.Errorf("the list lacks the saved version")
			}
			// The API's quote of the stored version is the preview's.
			lres, err := http.Post(f.srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"username":"viewer","password":"`+viewerPW+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			var tok struct{ Token string }
			json.NewDecoder(lres.Body).Decode(&tok)
			lres.Body.Close()
			req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/tariffs/zj-residential/quote", strings.NewReader(`{"date":"2026-06-30","year_to_date":"0","usage":{"peak":"120","valley":"80"}}`))
			req.Header.Set("Authorization", "Bearer "+tok.Token)
			req.Header.Set("Content-Type", "application/json")
			qres, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var q struct {
				TotalFen int64 `json:"total_fen"`
			}
			json.NewDecoder(qres.Body).Decode(&q)
			qres.Body.Close()
			if q.TotalFen != 9120 {
				t.Errorf("API quote: %d fen, want 9120 as previewed", q.TotalFen)
			}
		})
	}
}

// The editor's sample usage (outside input) becomes a quote request the
// tariff package checks: never a panic, and what it prices is in fen.
func FuzzTariffSample(f *testing.F) {
	t, problems := tariff.Check([]byte(sampleTariff))
	if len(problems) > 0 {
		f.Fatal(problems)
	}
	f.Add("2026-06-30", "0", "peak=120\nvalley=80")
	f.Add("2026-02-29", "", "12.5")
	f.Add("x", "-1", "=\n=\npeak=1e9")
	f.Fuzz(func(tt *testing.T, date, before, usage string) {
		q, err := t.QuoteRequest(quoteRequest(t, tariffForm{Date: date, Before: before, Usage: usage}))
		if err == nil && q.TotalFen < 0 {
			tt.Fatalf("negative total %d for %q %q %q", q.TotalFen, date, before, usage)
		}
	})
}
