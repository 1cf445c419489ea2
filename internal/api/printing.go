package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/printing"
)

// Printed documents (docs/printing.md): a payment's receipt as PDF, a
// receipt or a billing run's bills sent to the station's printer.
func (s *Server) printRoutes() {
	s.handle("GET /api/v1/payments/{id}/pdf", amigo.RoleCustomer, s.receiptPDF)
	s.handleRoles("POST /api/v1/payments/{id}/print", []string{amigo.RoleCashier, amigo.RoleOperator, amigo.RoleAdmin}, s.printReceipt)
	s.handle("POST /api/v1/billing-runs/{id}/print", amigo.RoleOperator, s.printRun)
}

// mayReadAccount checks that p may see account id's payments as a
// document: a customer only their own accounts (another's is not told
// apart from none), cashiers, operators and admins any.
func (s *Server) mayReadAccount(ctx context.Context, p principal, id int64) error {
	if p.Role != amigo.RoleCustomer {
		if p.Role != amigo.RoleCashier && rank[p.Role] < rank[amigo.RoleOperator] {
			return amigo.Errorf(amigo.EFORBIDDEN, "auth", "role %s may not do this / 权限不足", p.Role)
		}
		return nil
	}
	u, err := s.store.GetUser(ctx, p.ID)
	if err != nil {
		return err
	}
	a, err := s.store.GetAccount(ctx, id)
	if err != nil || u.CustomerID == 0 || a.CustomerID != u.CustomerID {
		return amigo.Errorf(amigo.ENOTFOUND, "payment", "payment not found / 收款记录不存在")
	}
	return nil
}

// receiptDoc reads payment {id} and builds its printed receipt.
func (s *Server) receiptDoc(w http.ResponseWriter, r *http.Request, p principal) (printing.ReceiptDoc, bool) {
	id, err := pathID(r, "id")
	if err != nil {
		writeErr(w, err)
		return printing.ReceiptDoc{}, false
	}
	pay, err := s.store.GetPayment(r.Context(), id)
	if err == nil {
		err = s.mayReadAccount(r.Context(), p, pay.AccountID)
	}
	if err != nil {
		if amigo.ErrorKind(err) == amigo.ENOTFOUND {
			err = amigo.Errorf(amigo.ENOTFOUND, "payment", "payment %d not found / 收款记录不存在", id)
		}
		writeErr(w, err)
		return printing.ReceiptDoc{}, false
	}
	d, err := s.receiptOf(r, pay)
	if err != nil {
		writeErr(w, err)
		return d, false
	}
	return d, true
}

// receiptOf is pay's printed receipt: its account's number and customer,
// the time in the site's zone.
func (s *Server) receiptOf(r *http.Request, pay amigo.Payment) (printing.ReceiptDoc, error) {
	a, err := s.store.GetAccount(r.Context(), pay.AccountID)
	if err != nil {
		return printing.ReceiptDoc{}, err
	}
	customer := ""
	if c, err := s.store.GetCustomer(r.Context(), a.CustomerID); err == nil {
		customer = c.Name
	}
	return printing.ReceiptOf(pay, a.Number, customer, s.siteLoc(r, a.SiteID)), nil
}

// renderReceipt renders d, or writes why it cannot (501 without a renderer).
func (s *Server) renderReceipt(w http.ResponseWriter, d printing.ReceiptDoc) ([]byte, bool) {
	if s.opts.RenderReceipt == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]any{"error": map[string]string{"code": "not_implemented",
			"message": "receipt PDFs are not rendered on this station (no CJK font: config key font_file) / 本主站不生成收据 PDF（缺少中文字体：配置项 font_file）"}})
		return nil, false
	}
	pdf, err := s.opts.RenderReceipt(d)
	if err != nil {
		writeErr(w, err)
		return nil, false
	}
	return pdf, true
}

// receiptPDF is a payment's receipt as PDF (80 mm roll).
func (s *Server) receiptPDF(w http.ResponseWriter, r *http.Request, p principal) {
	d, ok := s.receiptDoc(w, r, p)
	if !ok {
		return
	}
	pdf, ok := s.renderReceipt(w, d)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+d.Number+`.pdf"`)
	w.WriteHeader(http.StatusOK)
	w.Write(pdf)
}

// noPrinter answers 409 when the station has no printer.
func (s *Server) noPrinter(w http.ResponseWriter) bool {
	if s.opts.PrintReceipt == nil || s.opts.PrintRun == nil {
		writeErr(w, printing.ErrNoPrinter)
		return true
	}
	return false
}

// queueReceipt renders d and queues it for the printer; the job's
// reference is the receipt number, so a receipt is printed once however
// often it is asked for.
func (s *Server) queueReceipt(ctx context.Context, d printing.ReceiptDoc) (int64, error) {
	if s.opts.RenderReceipt == nil || s.opts.PrintReceipt == nil {
		return 0, printing.ErrNoPrinter
	}
	pdf, err := s.opts.RenderReceipt(d)
	if err != nil {
		return 0, err
	}
	return s.opts.PrintReceipt(ctx, d.Number, pdf)
}

// printReceipt sends a payment's receipt to the station's printer.
func (s *Server) printReceipt(w http.ResponseWriter, r *http.Request, p principal) {
	if s.noPrinter(w) {
		return
	}
	d, ok := s.receiptDoc(w, r, p)
	if !ok {
		return
	}
	id, err := s.queueReceipt(r.Context(), d)
	reply(w, http.StatusAccepted, map[string]any{"receipt": d.Number, "print_job": id}, err)
}

// printRun sends every issued bill of a billing run to the printer in one
// batch; asked again, it prints nothing twice.
func (s *Server) printRun(w http.ResponseWriter, r *http.Request, p principal) {
	if s.noPrinter(w) {
		return
	}
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
	if run.Status != amigo.RunDone {
		writeErr(w, amigo.Errorf(amigo.ECONFLICT, "billing run", "run %d is still running: print it when it is done / 计费批次 %d 尚未完成", id, id))
		return
	}
	jobs, err := s.opts.PrintRun(r.Context(), run)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.store.AppendAudit(r.Context(), amigo.AuditEntry{Time: s.now(), Actor: p.User, Action: "billing.print", Object: fmt.Sprintf("run %d", id), Detail: fmt.Sprintf("%d bills queued for printing", len(jobs))}); err != nil {
		s.log.Warn("audit of a billing run's printing", "run", id, "err", err)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"run": id, "bills": len(jobs), "print_jobs": jobs})
}
