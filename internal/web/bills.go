package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Bills in the browser: the customer's own bills in the app, an account's
// bills and the billing runs for the operators. Everything goes through
// the API (GET /api/v1/bills, /bills/{id}/pdf, POST and GET
// /api/v1/billing-runs) with the session's token: the API decides who
// sees which bill (a customer their own account's only) and audits the
// runs.

// billRow is a bill or credit note as the API lists it.
type billRow struct {
	ID            int64     `json:"id"`
	Number        string    `json:"number"`
	Kind          string    `json:"kind"`
	Status        string    `json:"status"`
	AccountID     int64     `json:"account_id"`
	AccountNumber string    `json:"account_number"`
	Cycle         string    `json:"cycle"`
	TotalFen      amigo.Fen `json:"total_fen"`
	DueDate       string    `json:"due_date"`
	Flags         []struct {
		Message string `json:"message"`
	} `json:"flags"`
}

type billList struct {
	Items []billRow `json:"items"`
	Total int       `json:"total"`
}

// runView is a billing run as the API shows it.
type runView struct {
	amigo.BillingRun
	Percent int `json:"percent"`
}

func (s *Server) billRoutes() {
	m := s.mux
	m.HandleFunc("GET /bills/{id}/pdf", s.authed(s.staffBillPDF))
	m.HandleFunc("GET /payments/{id}/pdf", s.authed(s.staffReceiptPDF))
	m.HandleFunc("GET /billing-runs", s.authed(s.billingRuns))
	m.HandleFunc("POST /billing-runs", s.authed(s.startBillingRun))
	m.HandleFunc("GET /billing-runs/{id}", s.authed(s.billingRun))
	m.HandleFunc("POST /billing-runs/{id}/print", s.authed(s.printBillingRun))
}

// appBills lists the account's bills and credit notes through the API
// (which gives a customer their own issued ones only), each with its PDF.
func (s *Server) appBills(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	v.Nav, v.Title = "bills", v.L.T("app_bills")
	var res billList
	q := url.Values{"account": {cs.Account.Number}, "limit": {"100"}}
	if err := s.apiJSON(r, session{Token: cs.Token}, v.L, "GET", "/api/v1/bills?"+q.Encode(), nil, &res); err != nil {
		s.appFail(w, r, v, err)
		return
	}
	v.Data = map[string]any{"A": cs.Account, "Bills": res.Items, "Total": res.Total}
	s.render(w, r, http.StatusOK, "app_bills", v)
}

// appBillPDF is the API's PDF of one of the customer's bills.
func (s *Server) appBillPDF(w http.ResponseWriter, r *http.Request, cs custSession, v *view) {
	v.Nav, v.Title = "bills", v.L.T("app_bills")
	if err := s.sendPDF(w, r, cs.Token, r.PathValue("bill")); err != nil {
		s.appFail(w, r, v, err)
	}
}

func (s *Server) staffBillPDF(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav = "accounts"
	if err := s.sendPDF(w, r, se.Token, r.PathValue("id")); err != nil {
		s.fail(w, r, v, err)
	}
}

// staffReceiptPDF is the API's PDF of a desk payment's receipt (80 mm).
func (s *Server) staffReceiptPDF(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav = "accounts"
	if err := s.sendAPIPDF(w, r, se.Token, "payments", r.PathValue("id")); err != nil {
		s.fail(w, r, v, err)
	}
}

// sendPDF answers with the API's GET /api/v1/bills/{id}/pdf made with
// token; the API's refusal (404, or 501 while no renderer is wired) comes
// back as an error for the page to show.
func (s *Server) sendPDF(w http.ResponseWriter, r *http.Request, token, id string) error {
	return s.sendAPIPDF(w, r, token, "bills", id)
}

// sendAPIPDF answers with the API's GET /api/v1/{kind}/{id}/pdf (bills or
// payments) made with token.
func (s *Server) sendAPIPDF(w http.ResponseWriter, r *http.Request, token, kind, id string) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return amigo.Errorf(amigo.ENOTFOUND, kind, "%s %q not found / 未找到", kind, id)
	}
	rec := s.apiDo(r, token, http.MethodGet, "/api/v1/"+kind+"/"+strconv.FormatInt(n, 10)+"/pdf", nil, "")
	if rec.code != http.StatusOK {
		return apiError(langOf(r), rec.code, rec.buf.Bytes())
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	if cd := rec.header.Get("Content-Disposition"); cd != "" {
		h.Set("Content-Disposition", cd)
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(rec.buf.Bytes())
	return nil
}

// accountBills are an account's bills for its page (the newest 50).
func (s *Server) accountBills(r *http.Request, se session, l lang, number string) (billList, error) {
	var res billList
	err := s.apiJSON(r, se, l, "GET", "/api/v1/bills?"+url.Values{"account": {number}, "limit": {"50"}}.Encode(), nil, &res)
	return res, err
}

// sites are the sites in service, for the run form.
func (s *Server) sites(r *http.Request, se session, l lang) ([]amigo.Site, error) {
	var res struct {
		Items []amigo.Site `json:"items"`
	}
	err := s.apiJSON(r, se, l, "GET", "/api/v1/sites", nil, &res)
	return res.Items, err
}

// lastCycle is the cycle before now's month (YYYY-MM, China time): the
// one usually billed.
func (s *Server) lastCycle() string {
	t := s.cfg.Now().In(amigo.Site{}.Location())
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, t.Location()).AddDate(0, -1, 0).Format("2006-01")
}

// billingRuns is the form that starts (or resumes) a site's run.
func (s *Server) billingRuns(w http.ResponseWriter, r *http.Request, se session, v *view) {
	s.runForm(w, r, se, v, http.StatusOK, r.URL.Query().Get("site"), s.lastCycle())
}

func (s *Server) runForm(w http.ResponseWriter, r *http.Request, se session, v *view, code int, site, cycle string) {
	v.Nav, v.Title = "billing_runs", v.L.T("billing_runs")
	sites, err := s.sites(r, se, v.L)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	var runs struct {
		Items []runView `json:"items"`
	}
	if err := s.apiJSON(r, se, v.L, "GET", "/api/v1/billing-runs?limit=20", nil, &runs); err != nil {
		s.fail(w, r, v, err)
		return
	}
	names := map[int64]string{}
	for _, x := range sites {
		names[x.ID] = x.Name
	}
	v.Data = map[string]any{"Sites": sites, "Site": site, "Cycle": cycle, "CanRun": se.Role == amigo.RoleOperator || se.Role == amigo.RoleAdmin,
		"Runs": runs.Items, "SiteNames": names}
	s.render(w, r, code, "billing_runs", v)
}

// startBillingRun starts the run through the API (operator; audited) and
// shows its progress.
func (s *Server) startBillingRun(w http.ResponseWriter, r *http.Request, se session, v *view) {
	site, cycle := r.PostFormValue("site"), strings.TrimSpace(r.PostFormValue("cycle"))
	var run runView
	if err := s.apiJSON(r, se, v.L, "POST", "/api/v1/billing-runs", map[string]string{"site": site, "cycle": cycle}, &run); err != nil {
		code := http.StatusInternalServerError
		if pe, ok := err.(*pageError); ok {
			code, v.Err = pe.Code, pe.Msg
		} else {
			v.Err = v.L.Pick("internal error / 内部错误")
		}
		s.runForm(w, r, se, v, code, site, cycle)
		return
	}
	http.Redirect(w, r, "/billing-runs/"+strconv.FormatInt(run.ID, 10), http.StatusSeeOther)
}

// printBillingRun sends a finished run's bills to the print queue through
// the API (each bill once, however often asked), then shows the run with
// how many were queued.
func (s *Server) printBillingRun(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav = "billing_runs"
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.fail(w, r, v, amigo.Errorf(amigo.ENOTFOUND, "billing run", "billing run not found / 未找到"))
		return
	}
	var res struct {
		Bills int `json:"bills"`
	}
	if err := s.apiJSON(r, se, v.L, "POST", "/api/v1/billing-runs/"+strconv.FormatInt(id, 10)+"/print", map[string]any{}, &res); err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Flash = fmt.Sprintf(v.L.T("run_printed"), res.Bills)
	s.billingRun(w, r, se, v)
}

// billingRun shows a run's progress (the page asks again every two
// seconds while it runs) and the bills of its site's cycle.
func (s *Server) billingRun(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav = "billing_runs"
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.fail(w, r, v, amigo.Errorf(amigo.ENOTFOUND, "billing run", "billing run not found / 未找到"))
		return
	}
	var run runView
	if err := s.apiJSON(r, se, v.L, "GET", "/api/v1/billing-runs/"+strconv.FormatInt(id, 10), nil, &run); err != nil {
		s.fail(w, r, v, err)
		return
	}
	var site amigo.Site
	if err := s.apiJSON(r, se, v.L, "GET", "/api/v1/sites/"+strconv.FormatInt(run.SiteID, 10), nil, &site); err != nil {
		s.fail(w, r, v, err)
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = min(max(page, 1), 100000)
	var bills billList
	q := url.Values{"site": {strconv.FormatInt(run.SiteID, 10)}, "cycle": {run.Cycle}, "limit": {"100"}, "offset": {strconv.Itoa((page - 1) * 100)}}
	if err := s.apiJSON(r, se, v.L, "GET", "/api/v1/bills?"+q.Encode(), nil, &bills); err != nil {
		s.fail(w, r, v, err)
		return
	}
	next := ""
	if page*100 < bills.Total {
		next = "/billing-runs/" + strconv.FormatInt(run.ID, 10) + "?page=" + strconv.Itoa(page+1)
	}
	v.Title = v.L.T("billing_run") + " " + strconv.FormatInt(run.ID, 10)
	v.Data = map[string]any{"Run": run, "Site": site, "Bills": bills.Items, "Total": bills.Total, "Next": next}
	s.render(w, r, http.StatusOK, "billing_run", v)
}
