package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/archive"
	"github.com/amigo-metering/amigo/internal/printing"
	"github.com/amigo-metering/amigo/internal/wallet"
)

// Money routes (docs/money.md): customers, accounts with their balance and
// supply, the ledger, desk payments with receipts, notices and the sites'
// control policies.

// Wallet is what the API needs of the prepaid wallet: a payment tells it
// (so that a paid-up meter is reconnected at once), a customer's switch
// goes through it.
type Wallet interface {
	Pay(ctx context.Context, p *amigo.Payment) (amigo.LedgerEntry, bool, error)
	CustomerSwitch(ctx context.Context, accountID int64, on bool, by string) ([]amigo.Command, error)
}

// SetWallet makes the API use w (the station's running wallet); without
// it payments are recorded and the wallet's next pass acts on them.
func (s *Server) SetWallet(w Wallet) { s.wallet = w }

// storeWallet records payments without a running wallet.
type storeWallet struct{ store amigo.Store }

func (w storeWallet) Pay(ctx context.Context, p *amigo.Payment) (amigo.LedgerEntry, bool, error) {
	return w.store.Credit(ctx, p)
}

func (w storeWallet) CustomerSwitch(context.Context, int64, bool, string) ([]amigo.Command, error) {
	return nil, amigo.Errorf(amigo.EUNAVAILABLE, "customer switch", "no wallet runs here / 费控未运行")
}

var _ Wallet = (*wallet.Wallet)(nil)

// handleRoles is handle for the roles listed only (not a rank): payments
// are taken by cashiers and admins, not by operators.
func (s *Server) handleRoles(pattern string, roles []string, h func(w http.ResponseWriter, r *http.Request, p principal)) {
	s.handle(pattern, amigo.RoleViewer, func(w http.ResponseWriter, r *http.Request, p principal) {
		if !slices.Contains(roles, p.Role) {
			writeErr(w, amigo.Errorf(amigo.EFORBIDDEN, "auth", "role %s may not do this / 权限不足", p.Role))
			return
		}
		h(w, r, p)
	})
}

func (s *Server) moneyRoutes() {
	op, admin, view := amigo.RoleOperator, amigo.RoleAdmin, amigo.RoleViewer
	desk := []string{amigo.RoleCashier, amigo.RoleAdmin}
	s.handle("POST /api/v1/customers", op, s.createCustomer)
	s.handle("GET /api/v1/customers", view, s.listCustomers)
	s.handle("GET /api/v1/customers/{id}", view, s.getCustomer)
	s.handle("POST /api/v1/accounts", op, s.createAccount)
	s.handle("GET /api/v1/accounts", view, s.listAccounts)
	s.handle("GET /api/v1/accounts/{id}", view, s.getAccount)
	s.handle("PATCH /api/v1/accounts/{id}", op, s.patchAccount)
	s.handle("GET /api/v1/accounts/{id}/ledger", view, s.accountLedger)
	s.handleRoles("POST /api/v1/accounts/{id}/payments", desk, s.postPayment)
	s.handle("GET /api/v1/accounts/{id}/payments", view, s.accountPayments)
	s.handle("GET /api/v1/accounts/{id}/notices", view, s.accountNotices)
	s.handle("GET /api/v1/payments/{id}", view, s.getPayment)
	s.handle("GET /api/v1/sites/{site}/control-policy", view, s.getPolicy)
	s.handle("PUT /api/v1/sites/{site}/control-policy", admin, s.putPolicy)
}

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request, p principal) {
	if in, ok := body[archive.CustomerInput](w, r); ok {
		c, err := s.arch.CreateCustomer(r.Context(), p.User, in)
		reply(w, http.StatusCreated, c, err)
	}
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request, _ principal) {
	limit, offset, err := queryPage(r, 100)
	if err != nil {
		writeErr(w, err)
		return
	}
	cs, n, err := s.store.ListCustomers(r.Context(), limit, offset)
	reply(w, http.StatusOK, map[string]any{"items": cs, "total": n}, err)
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request, _ principal) {
	id, err := pathID(r, "id")
	if err != nil {
		writeErr(w, err)
		return
	}
	c, err := s.store.GetCustomer(r.Context(), id)
	reply(w, http.StatusOK, c, err)
}

// accountMeterJSON is a meter of an account, with its relay.
type accountMeterJSON struct {
	Address string    `json:"address"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to,omitzero"`
	Relay   string    `json:"relay"`
}

// accountJSON is an account as the API shows it: balance_fen for a
// prepaid account only, supply on/off/unknown from the relays of the
// meters it pays for now.
type accountJSON struct {
	ID             int64              `json:"id"`
	Number         string             `json:"number"`
	CustomerID     int64              `json:"customer_id"`
	SiteID         int64              `json:"site_id"`
	Mode           string             `json:"mode"`
	Tariff         string             `json:"tariff"`
	BillingDay     int                `json:"billing_day"`
	LowBalanceFen  amigo.Fen          `json:"low_balance_fen"`
	CreditLimitFen amigo.Fen          `json:"credit_limit_fen"`
	KeepPower      bool               `json:"keep_power"`
	BalanceFen     *amigo.Fen         `json:"balance_fen,omitempty"`
	Control        string             `json:"control,omitempty"`
	Supply         string             `json:"supply"`
	Meters         []accountMeterJSON `json:"meters"`
	CreatedAt      time.Time          `json:"created_at"`
}

func (s *Server) accountView(ctx context.Context, a amigo.Account) (accountJSON, error) {
	v := accountJSON{ID: a.ID, Number: a.Number, CustomerID: a.CustomerID, SiteID: a.SiteID, Mode: a.Mode, Tariff: a.Tariff, BillingDay: a.BillingDay,
		LowBalanceFen: a.LowBalanceFen, CreditLimitFen: a.CreditLimitFen, KeepPower: a.KeepPower, CreatedAt: a.CreatedAt, Meters: []accountMeterJSON{}}
	if a.Mode == amigo.ModePrepaid {
		b := a.BalanceFen
		v.BalanceFen, v.Control = &b, a.Control
		if v.Control == "" {
			v.Control = "none"
		}
	}
	var ms []amigo.Meter
	for _, am := range a.Meters {
		m, err := s.store.GetMeter(ctx, am.MeterID)
		if err != nil {
			return v, err
		}
		ms = append(ms, m)
		v.Meters = append(v.Meters, accountMeterJSON{Address: am.Address, From: am.From, To: am.To, Relay: m.Relay})
	}
	v.Supply = a.Supply(ms, s.now())
	return v, nil
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, p principal) {
	in, ok := body[archive.AccountInput](w, r)
	if !ok {
		return
	}
	a, err := s.arch.CreateAccount(r.Context(), p.User, in)
	if err != nil {
		writeErr(w, err)
		return
	}
	v, err := s.accountView(r.Context(), a)
	reply(w, http.StatusCreated, v, err)
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request, _ principal) {
	q := r.URL.Query()
	if n := q.Get("number"); n != "" {
		a, err := s.store.FindAccountByNumber(r.Context(), n)
		if amigo.ErrorKind(err) == amigo.ENOTFOUND {
			reply(w, http.StatusOK, map[string]any{"items": []accountJSON{}, "total": 0}, nil)
			return
		}
		if err != nil {
			writeErr(w, err)
			return
		}
		v, err := s.accountView(r.Context(), a)
		reply(w, http.StatusOK, map[string]any{"items": []accountJSON{v}, "total": 1}, err)
		return
	}
	limit, offset, err := queryPage(r, 100)
	if err != nil {
		writeErr(w, err)
		return
	}
	mode := q.Get("mode")
	if mode != "" && mode != amigo.ModePrepaid && mode != amigo.ModePostpaid {
		writeErr(w, amigo.Errorf(amigo.EINVALID, "accounts", "mode: want prepaid or postpaid / mode 应为 prepaid 或 postpaid"))
		return
	}
	as, n, err := s.store.ListAccounts(r.Context(), amigo.AccountFilter{Mode: mode, SiteID: queryID(r, "site"), CustomerID: queryID(r, "customer"), Limit: limit, Offset: offset})
	if err != nil {
		writeErr(w, err)
		return
	}
	items := make([]accountJSON, 0, len(as))
	for _, a := range as {
		v, err := s.accountView(r.Context(), a)
		if err != nil {
			writeErr(w, err)
			return
		}
		items = append(items, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": n})
}

// account reads the {id} of the path.
func (s *Server) account(w http.ResponseWriter, r *http.Request) (amigo.Account, bool) {
	id, err := pathID(r, "id")
	if err != nil {
		writeErr(w, err)
		return amigo.Account{}, false
	}
	a, err := s.store.GetAccount(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return a, false
	}
	return a, true
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request, _ principal) {
	if a, ok := s.account(w, r); ok {
		v, err := s.accountView(r.Context(), a)
		reply(w, http.StatusOK, v, err)
	}
}

func (s *Server) patchAccount(w http.ResponseWriter, r *http.Request, p principal) {
	a, ok := s.account(w, r)
	if !ok {
		return
	}
	in, ok := body[archive.AccountPatch](w, r)
	if !ok {
		return
	}
	a, err := s.arch.UpdateAccount(r.Context(), p.User, a.ID, in)
	if err != nil {
		writeErr(w, err)
		return
	}
	v, err := s.accountView(r.Context(), a)
	reply(w, http.StatusOK, v, err)
}

func (s *Server) accountLedger(w http.ResponseWriter, r *http.Request, _ principal) {
	a, ok := s.account(w, r)
	if !ok {
		return
	}
	limit, offset, err := queryPage(r, 100)
	if err != nil {
		writeErr(w, err)
		return
	}
	es, n, err := s.store.ListLedger(r.Context(), a.ID, limit, offset)
	reply(w, http.StatusOK, map[string]any{"account": a.Number, "balance_fen": a.BalanceFen, "items": es, "total": n}, err)
}

// paymentInput is the body of POST /api/v1/accounts/{id}/payments.
type paymentInput struct {
	AmountFen *int64 `json:"amount_fen"`
	Method    string `json:"method"`
	Reference string `json:"reference"`
	// Print sends the receipt to the station's printer (once per
	// receipt, however often the payment is posted).
	Print bool `json:"print"`
}

// receiptJSON is what a printed receipt shows.
type receiptJSON struct {
	amigo.Payment
	Account    string    `json:"account"`
	Customer   string    `json:"customer"`
	Cashier    string    `json:"cashier"`
	BalanceFen amigo.Fen `json:"balance_fen"` // after the payment
	Duplicate  bool      `json:"duplicate,omitempty"`
	// PrintJob is the print job of the receipt ("print": true); when it
	// could not be queued, PrintError says why (the payment stands: POST
	// /api/v1/payments/{id}/print tries again).
	PrintJob   int64  `json:"print_job,omitempty"`
	PrintError string `json:"print_error,omitempty"`
}

func (s *Server) receipt(ctx context.Context, p amigo.Payment) (receiptJSON, error) {
	rc := receiptJSON{Payment: p, Cashier: p.By}
	a, err := s.store.GetAccount(ctx, p.AccountID)
	if err != nil {
		return rc, err
	}
	rc.Account = a.Number
	if c, err := s.store.GetCustomer(ctx, a.CustomerID); err == nil {
		rc.Customer = c.Name
	}
	e, err := s.store.FindLedger(ctx, "payment/"+p.Reference)
	if err != nil {
		return rc, err
	}
	rc.BalanceFen = e.BalanceFen
	return rc, nil
}

// postPayment records a desk payment (cashier, admin): the same reference
// twice is one payment (200 with the first receipt, 201 the first time).
func (s *Server) postPayment(w http.ResponseWriter, r *http.Request, p principal) {
	a, ok := s.account(w, r)
	if !ok {
		return
	}
	in, ok := body[paymentInput](w, r)
	if !ok {
		return
	}
	switch {
	case in.AmountFen == nil:
		writeErr(w, amigo.Errorf(amigo.EINVALID, "payment", "amount_fen: required / 金额必填"))
		return
	case in.Method != amigo.MethodCash && in.Method != amigo.MethodCard:
		writeErr(w, amigo.Errorf(amigo.EINVALID, "payment", "method: want cash or card at the desk / 柜台收款方式应为 cash 或 card"))
		return
	case in.Print && (s.opts.RenderReceipt == nil || s.opts.PrintReceipt == nil):
		// Refused before any money is taken.
		writeErr(w, printing.ErrNoPrinter)
		return
	}
	pay := amigo.Payment{AccountID: a.ID, AmountFen: amigo.Fen(*in.AmountFen), Method: in.Method, Reference: in.Reference, By: p.User, Time: s.now()}
	_, dup, err := s.wallet.Pay(r.Context(), &pay)
	if err != nil {
		writeErr(w, err)
		return
	}
	rc, err := s.receipt(r.Context(), pay)
	rc.Duplicate = dup
	if err == nil && in.Print {
		d, perr := s.receiptOf(r, pay)
		if perr == nil {
			rc.PrintJob, perr = s.queueReceipt(r.Context(), d)
		}
		if perr != nil {
			s.log.Error("receipt not queued for printing", "receipt", pay.Receipt, "err", perr)
			rc.PrintError = amigo.ErrorMessage(perr)
		}
	}
	code := http.StatusCreated
	if dup {
		code = http.StatusOK
	}
	reply(w, code, rc, err)
}

func (s *Server) accountPayments(w http.ResponseWriter, r *http.Request, _ principal) {
	a, ok := s.account(w, r)
	if !ok {
		return
	}
	limit, offset, err := queryPage(r, 100)
	if err != nil {
		writeErr(w, err)
		return
	}
	ps, n, err := s.store.ListPayments(r.Context(), amigo.PaymentFilter{AccountID: a.ID, Limit: limit, Offset: offset})
	reply(w, http.StatusOK, map[string]any{"items": ps, "total": n}, err)
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request, _ principal) {
	id, err := pathID(r, "id")
	if err != nil {
		writeErr(w, err)
		return
	}
	p, err := s.store.GetPayment(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return
	}
	rc, err := s.receipt(r.Context(), p)
	reply(w, http.StatusOK, rc, err)
}

func (s *Server) accountNotices(w http.ResponseWriter, r *http.Request, _ principal) {
	a, ok := s.account(w, r)
	if !ok {
		return
	}
	limit, offset, err := queryPage(r, 100)
	if err != nil {
		writeErr(w, err)
		return
	}
	ns, n, err := s.store.ListNotices(r.Context(), a.ID, limit, offset)
	reply(w, http.StatusOK, map[string]any{"items": ns, "total": n}, err)
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, _ principal) {
	site, err := s.arch.Site(r.Context(), r.PathValue("site"))
	if err != nil {
		writeErr(w, err)
		return
	}
	pol, err := s.store.GetControlPolicy(r.Context(), site.ID)
	reply(w, http.StatusOK, pol, err)
}

// policyInput is the body of PUT /api/v1/sites/{site}/control-policy.
type policyInput struct {
	KeepPowerWindows  []amigo.TimeWindow `json:"keep_power_windows"`
	KeepPowerWeekdays []string           `json:"keep_power_weekdays"`
	KeepPowerDates    []string           `json:"keep_power_dates"`
	Reconnect         string             `json:"reconnect"`
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request, p principal) {
	site, err := s.arch.Site(r.Context(), r.PathValue("site"))
	if err != nil {
		writeErr(w, err)
		return
	}
	in, ok := body[policyInput](w, r)
	if !ok {
		return
	}
	pol := amigo.ControlPolicy{SiteID: site.ID, KeepPowerWindows: in.KeepPowerWindows, KeepPowerWeekdays: in.KeepPowerWeekdays, KeepPowerDates: in.KeepPowerDates,
		Reconnect: in.Reconnect, UpdatedAt: s.now(), UpdatedBy: p.User}
	if pol.Reconnect == "" {
		pol.Reconnect = amigo.ReconnectAllowClose
	}
	err = s.store.WithTx(r.Context(), func(tx amigo.Store) error {
		if err := tx.PutControlPolicy(r.Context(), pol); err != nil {
			return err
		}
		return tx.AppendAudit(r.Context(), amigo.AuditEntry{Time: s.now(), Actor: p.User, Action: "control_policy.set", Object: "site " + site.Name,
			Detail: fmt.Sprintf("windows %v, weekdays %v, dates %d, reconnect %s", in.KeepPowerWindows, in.KeepPowerWeekdays, len(in.KeepPowerDates), pol.Reconnect)})
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	pol, err = s.store.GetControlPolicy(r.Context(), site.ID)
	reply(w, http.StatusOK, pol, err)
}
