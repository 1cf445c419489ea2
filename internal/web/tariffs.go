package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/tariff"
)

// Tariffs: the stored versions (GET /api/v1/tariffs) and an editor of a
// new version's JSON document. "Check" validates it with the tariff
// package (each problem shown with its field) and prices a sample usage
// with it as POST /api/v1/tariffs/{name}/quote would once it is stored;
// "Save" stores it through POST /api/v1/tariffs (admins only, audited).

func (s *Server) tariffPageRoutes() {
	s.mux.HandleFunc("GET /tariffs", s.authed(s.tariffsPage))
	s.mux.HandleFunc("POST /tariffs", s.authed(s.tariffsPost))
}

// tariffItem is a stored version as the API lists it.
type tariffItem struct {
	Name      string          `json:"name"`
	ValidFrom string          `json:"valid_from"`
	Version   string          `json:"version"`
	Summary   string          `json:"summary"`
	CreatedBy string          `json:"created_by"`
	Document  json.RawMessage `json:"document"`
}

// tariffForm is the editor's content.
type tariffForm struct {
	Document string
	Date     string
	Before   string // year- or month-to-date kWh
	Usage    string // "period=kWh" lines, or one figure: the total
}

type tariffProblem struct{ Field, Message string }

type tariffsData struct {
	Items    []tariffItem
	Form     tariffForm
	Problems []tariffProblem
	QuoteErr string
	Quote    *tariff.Quote
	Summary  string
	Saved    string
	Admin    bool
}

// sampleTariff is the editor's document when nothing is stored yet.
const sampleTariff = `{"name": "zj-residential", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01",
 "periods": [{"name": "peak", "from": "08:00", "to": "22:00", "price": "0.5680", "registers": [1, 2, 3]},
             {"name": "valley", "from": "22:00", "to": "08:00", "price": "0.2880", "registers": [4]}],
 "ladder": {"cycle": "year", "thresholds_kwh": ["2760", "4800"], "surcharges": ["0", "0.05", "0.30"]}}`

func (s *Server) tariffList(r *http.Request, se session, v *view) ([]tariffItem, error) {
	var res struct{ Items []tariffItem }
	err := s.apiJSON(r, se, v.L, "GET", "/api/v1/tariffs", nil, &res)
	return res.Items, err
}

func (s *Server) tariffsPage(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav, v.Title = "tariffs", v.L.T("tariffs_page")
	items, err := s.tariffList(r, se, v)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	d := tariffsData{Items: items, Saved: r.URL.Query().Get("saved"), Admin: se.Role == amigo.RoleAdmin}
	d.Form = tariffForm{Document: sampleTariff, Date: s.cfg.Now().In(amigo.Site{}.Location()).Format("2006-01-02"), Before: "0", Usage: "peak=120\nvalley=80"}
	edit := r.URL.Query().Get("edit")
	for _, it := range items {
		if it.Version == edit || (edit == "" && len(items) > 0 && it.Version == items[len(items)-1].Version) {
			d.Form.Document = string(it.Document)
		}
	}
	v.Data = d
	s.render(w, r, http.StatusOK, "tariffs", v)
}

// tariffsPost checks the document and previews a quote, or saves it.
func (s *Server) tariffsPost(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav, v.Title = "tariffs", v.L.T("tariffs_page")
	f := tariffForm{Document: r.PostFormValue("document"), Date: strings.TrimSpace(r.PostFormValue("date")), Before: strings.TrimSpace(r.PostFormValue("before")), Usage: r.PostFormValue("usage")}
	d := tariffsData{Form: f, Admin: se.Role == amigo.RoleAdmin}
	code := http.StatusOK
	t, problems := tariff.Check([]byte(f.Document))
	if len(f.Document) > tariff.MaxDocument {
		t, problems = nil, []tariff.Problem{{Field: "(document)", Message: "larger than the limit / 超过长度上限"}}
	}
	for _, p := range problems {
		d.Problems = append(d.Problems, tariffProblem{Field: p.Field, Message: v.L.Pick(p.Message)})
	}
	if t != nil {
		d.Summary = t.Summary() // bilingual within the line: shown whole
		if q, err := t.QuoteRequest(quoteRequest(t, f)); err != nil {
			d.QuoteErr = v.L.Pick(amigo.ErrorMessage(err))
		} else {
			d.Quote = &q
		}
	}
	if len(problems) > 0 {
		code = http.StatusBadRequest
	} else if r.PostFormValue("action") == "save" {
		c, b := s.apiCall(r, se.Token, "POST", "/api/v1/tariffs", strings.NewReader(f.Document), "application/json")
		if c == http.StatusCreated {
			var res tariffItem
			json.Unmarshal(b, &res)
			http.Redirect(w, r, "/tariffs?saved="+url.QueryEscape(res.Version)+"&edit="+url.QueryEscape(res.Version), http.StatusSeeOther)
			return
		}
		code, v.Err = c, apiError(v.L, c, b).Error()
	}
	items, err := s.tariffList(r, se, v)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	d.Items = items
	v.Data = d
	s.render(w, r, code, "tariffs", v)
}

// quoteRequest is the API's quote request of the editor's sample: usage
// by period ("peak=12.3" lines) or one figure (the total), the cycle's
// usage before it as the ladder's cycle wants.
func quoteRequest(t *tariff.Tariff, f tariffForm) tariff.Request {
	req := tariff.Request{Date: f.Date}
	usage := map[string]string{}
	var total *string
	for i, line := range strings.SplitN(f.Usage, "\n", 65) {
		if i >= 64 {
			break
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if k, val, ok := strings.Cut(line, "="); ok {
			usage[strings.TrimSpace(k)] = strings.TrimSpace(val)
		} else {
			total = &line
		}
	}
	switch {
	case len(usage) > 0 || total == nil:
		req.Usage = usage
		if total != nil {
			req.Total = total // both given: the quote says so
		}
	default:
		req.Total = total
	}
	if t.Ladder != nil {
		before := f.Before
		if t.Ladder.Cycle == tariff.CycleMonth {
			req.MonthToDate = &before
		} else {
			req.YearToDate = &before
		}
	}
	return req
}
