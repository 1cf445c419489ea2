package api

import (
	"context"
	"net/http"
	"strconv"
	"sync"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/billing"
)

// Bills and billing runs (docs/billing.md): staff read every bill, a
// customer their own account's issued ones (custbills.go: any other
// answers 404); operators start runs and correct bills (a credit note plus
// a reissue).
func (s *Server) billRoutes() {
	s.handle("GET /api/v1/bills", amigo.RoleCustomer, s.customerBills(s.listBills))
	s.handle("GET /api/v1/bills/{id}", amigo.RoleCustomer, s.customerBill(s.getBill))
	s.handle("GET /api/v1/bills/{id}/document", amigo.RoleCustomer, s.customerBill(s.billDocument))
	s.handle("GET /api/v1/bills/{id}/pdf", amigo.RoleCustomer, s.customerBill(s.billPDF))
	s.handle("POST /api/v1/bills/{id}/correct", amigo.RoleOperator, s.correctBill)
	s.handle("POST /api/v1/billing-runs", amigo.RoleOperator, s.startBillingRun)
	s.handle("GET /api/v1/billing-runs", amigo.RoleViewer, s.listBillingRuns)
	s.handle("GET /api/v1/billing-runs/{id}", amigo.RoleViewer, s.getBillingRun)
}

// billingRuns are the runs this process works on (one goroutine each).
type billingRuns struct {
	mu      sync.Mutex
	running map[int64]bool
	stopped bool
	ctx     context.Context // ends when the server stops them
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// WaitBillingRuns waits for the billing runs this server started.
func (s *Server) WaitBillingRuns() { s.runs.wg.Wait() }

// StopBillingRuns stops the billing runs this server started, between or
// inside their batches, and waits for them: each resumes where it stopped
// when started again (POST /api/v1/billing-runs).
func (s *Server) StopBillingRuns() {
	s.runs.mu.Lock()
	s.runs.stopped = true
	if s.runs.stop != nil {
		s.runs.stop()
	}
	s.runs.mu.Unlock()
	s.runs.wg.Wait()
}

// listBills lists bills, newest first: ?account= (id or number), ?site=
// (name or id), ?cycle=YYYY-MM, ?status=issued|held.
func (s *Server) listBills(w http.ResponseWriter, r *http.Request, _ principal) {
	q := r.URL.Query()
	limit, offset, err := queryPage(r, 100)
	if err != nil {
		writeErr(w, err)
		return
	}
	f := amigo.BillFilter{Cycle: q.Get("cycle"), Status: q.Get("status"), Limit: limit, Offset: offset}
	if f.Cycle != "" {
		if _, _, err := billing.ParseCycle(f.Cycle); err != nil {
			writeErr(w, err)
			return
		}
	}
	if f.Status != "" && f.Status != amigo.BillIssued && f.Status != amigo.BillHeld {
		writeErr(w, amigo.Errorf(amigo.EINVALID, "bills", "status: want issued or held / status 应为 issued 或 held"))
		return
	}
	if v := q.Get("account"); v != "" {
		a, err := s.store.FindAccountByNumber(r.Context(), v)
		if amigo.ErrorKind(err) == amigo.ENOTFOUND {
			if id, perr := strconv.ParseInt(v, 10, 64); perr == nil {
				a, err = s.store.GetAccount(r.Context(), id)
			}
		}
		if err != nil {
			writeErr(w, err)
			return
		}
		f.AccountID = a.ID
	}
	if v := q.Get("site"); v != "" {
		site, err := s.arch.Site(r.Context(), v)
		if err != nil {
			writeErr(w, err)
			return
		}
		f.SiteID = site.ID
	}
	bs, n, err := s.store.ListBills(r.Context(), f)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": bs, "total": n})
}

func (s *Server) bill(w http.ResponseWriter, r *http.Request) (amigo.Bill, bool) {
	id, err := pathID(r, "id")
	if err != nil {
		writeErr(w, err)
		return amigo.Bill{}, false
	}
	b, err := s.store.GetBill(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return b, false
	}
	return b, true
}

func (s *Server) getBill(w http.ResponseWriter, r *http.Request, _ principal) {
	if b, ok := s.bill(w, r); ok {
		writeJSON(w, http.StatusOK, b)
	}
}

// billDocument is what the printed bill shows (billing.Document).
func (s *Server) billDocument(w http.ResponseWriter, r *http.Request, _ principal) {
	b, ok := s.bill(w, r)
	if !ok {
		return
	}
	d, err := billing.DocumentOf(r.Context(), s.store, b, s.siteLoc(r, b.SiteID), s.opts.PayBase)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// billPDF renders the printed bill through Options.RenderBill; without
// one it answers 501.
func (s *Server) billPDF(w http.ResponseWriter, r *http.Request, _ principal) {
	b, ok := s.bill(w, r)
	if !ok {
		return
	}
	if s.opts.RenderBill == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]any{"error": map[string]string{"code": "not_implemented",
			"message": "bill PDFs are not rendered yet; GET /api/v1/bills/{id}/document has the bill's content / 账单 PDF 尚未实现，账单内容见 /api/v1/bills/{id}/document"}})
		return
	}
	d, err := billing.DocumentOf(r.Context(), s.store, b, s.siteLoc(r, b.SiteID), s.opts.PayBase)
	if err != nil {
		writeErr(w, err)
		return
	}
	pdf, err := s.opts.RenderBill(d)
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+b.Number+`.pdf"`)
	w.WriteHeader(http.StatusOK)
	w.Write(pdf)
}

// correctBill issues a credit note and a reissue: {"reason": "..."}.
func (s *Server) correctBill(w http.ResponseWriter, r *http.Request, p principal) {
	id, err := pathID(r, "id")
	if err != nil {
		writeErr(w, err)
		return
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeStrict(w, r, &in); err != nil {
		writeErr(w, err)
		return
	}
	c, err := billing.Correct(r.Context(), s.store, id, in.Reason, p.User, s.now())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

// runView is a run with its percentage.
type runView struct {
	amigo.BillingRun
	Percent int `json:"percent"`
}

// startBillingRun starts (or resumes) the run of a site's cycle:
// {"site": name or id, "cycle": "YYYY-MM"} → 202 with the run; it goes on
// after the answer (GET /api/v1/billing-runs/{id} shows its progress).
func (s *Server) startBillingRun(w http.ResponseWriter, r *http.Request, p principal) {
	var in struct {
		Site  string `json:"site"`
		Cycle string `json:"cycle"`
	}
	if err := decodeStrict(w, r, &in); err != nil {
		writeErr(w, err)
		return
	}
	if in.Site == "" {
		writeErr(w, amigo.Errorf(amigo.EINVALID, "billing run", "site: required (name or id) / 站点必填"))
		return
	}
	site, err := s.arch.Site(r.Context(), in.Site)
	if err != nil {
		writeErr(w, err)
		return
	}
	rn := &billing.Runner{Store: s.store, Now: s.now, Log: s.log}
	run, err := rn.Start(r.Context(), site.ID, in.Cycle, p.User)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.runs.mu.Lock()
	if s.runs.running == nil {
		s.runs.running = map[int64]bool{}
		s.runs.ctx, s.runs.stop = context.WithCancel(context.Background())
	}
	if s.runs.stopped {
		s.runs.mu.Unlock()
		writeErr(w, amigo.Errorf(amigo.EUNAVAILABLE, "billing run", "the station is stopping / 主站正在停止"))
		return
	}
	busy := s.runs.running[run.ID]
	runCtx := s.runs.ctx
	if !busy {
		s.runs.running[run.ID] = true
		s.runs.wg.Add(1)
	}
	s.runs.mu.Unlock()
	if !busy {
		go func() {
			defer s.runs.wg.Done()
			defer func() {
				s.runs.mu.Lock()
				delete(s.runs.running, run.ID)
				s.runs.mu.Unlock()
			}()
			if _, err := rn.Continue(runCtx, run); err != nil {
				s.log.Error("billing run failed; POST /api/v1/billing-runs again resumes it", "run", run.ID, "err", err)
			}
		}()
	}
	writeJSON(w, http.StatusAccepted, runView{run, billing.Percent(run)})
}

// listBillingRuns lists the newest runs, with their percentages: ?site=
// (name or id), ?limit= (default 20).
func (s *Server) listBillingRuns(w http.ResponseWriter, r *http.Request, _ principal) {
	limit, _, err := queryPage(r, 20)
	if err != nil {
		writeErr(w, err)
		return
	}
	var siteID int64
	if v := r.URL.Query().Get("site"); v != "" {
		site, err := s.arch.Site(r.Context(), v)
		if err != nil {
			writeErr(w, err)
			return
		}
		siteID = site.ID
	}
	runs, err := s.store.ListBillingRuns(r.Context(), siteID, limit)
	if err != nil {
		writeErr(w, err)
		return
	}
	items := make([]runView, 0, len(runs))
	for _, run := range runs {
		items = append(items, runView{run, billing.Percent(run)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

func (s *Server) getBillingRun(w http.ResponseWriter, r *http.Request, _ principal) {
	id, err := pathID(r, "id")
	if err != nil {
		writeErr(w, err)
		return
	}
	run, err := s.store.GetBillingRun(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, runView{run, billing.Percent(run)})
}
