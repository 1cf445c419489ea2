package web

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/amigo-metering/amigo"
)

// Customers' accounts for the operators and the desk: the money core's
// API (accounts, ledger, desk payments with receipts), called in-process.

// accountView is an account as the API shows it.
type accountView struct {
	ID         int64      `json:"id"`
	Number     string     `json:"number"`
	CustomerID int64      `json:"customer_id"`
	Mode       string     `json:"mode"`
	Tariff     string     `json:"tariff"`
	BalanceFen *amigo.Fen `json:"balance_fen"`
	Control    string     `json:"control"`
	Supply     string     `json:"supply"`
	Meters     []struct {
		Address string `json:"address"`
	} `json:"meters"`
}

func (s *Server) accountRoutes() {
	s.mux.HandleFunc("GET /accounts", s.authed(s.accounts))
	s.mux.HandleFunc("GET /accounts/{id}", s.authed(s.accountPage))
	s.mux.HandleFunc("POST /accounts/{id}/payments", s.authed(s.deskPayment))
	s.mux.HandleFunc("POST /accounts/{id}/app-login", s.authed(s.appLoginCode))
}

func (s *Server) accounts(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav, v.Title = "accounts", v.L.T("accounts")
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	page = min(max(page, 1), 100000)
	u := url.Values{"limit": {"50"}, "offset": {strconv.Itoa((page - 1) * 50)}}
	number := strings.TrimSpace(q.Get("number"))
	if number != "" {
		u = url.Values{"number": {number}}
	}
	mode := q.Get("mode")
	if mode == amigo.ModePrepaid || mode == amigo.ModePostpaid {
		u.Set("mode", mode)
	} else {
		mode = ""
	}
	var res struct {
		Items []accountView `json:"items"`
		Total int           `json:"total"`
	}
	if err := s.apiJSON(r, se, v.L, "GET", "/api/v1/accounts?"+u.Encode(), nil, &res); err != nil {
		s.fail(w, r, v, err)
		return
	}
	next := ""
	if number == "" && page*50 < res.Total {
		next = "/accounts?" + url.Values{"mode": {mode}, "page": {strconv.Itoa(page + 1)}}.Encode()
	}
	v.Data = map[string]any{"Items": res.Items, "Total": res.Total, "Number": number, "Mode": mode, "Next": next}
	s.render(w, r, http.StatusOK, "accounts", v)
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav = "accounts"
	id := r.PathValue("id")
	var a accountView
	if err := s.apiJSON(r, se, v.L, "GET", "/api/v1/accounts/"+url.PathEscape(id), nil, &a); err != nil {
		s.fail(w, r, v, err)
		return
	}
	var ledger struct {
		Items []amigo.LedgerEntry `json:"items"`
		Total int                 `json:"total"`
	}
	if err := s.apiJSON(r, se, v.L, "GET", "/api/v1/accounts/"+url.PathEscape(id)+"/ledger?limit=50", nil, &ledger); err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Title = v.L.T("account") + " " + a.Number
	// A new reference each time the form is shown: the same form sent
	// twice is one payment.
	b := make([]byte, 8)
	rand.Read(b)
	v.Data = map[string]any{"A": a, "Ledger": ledger.Items, "Ref": "desk-" + hex.EncodeToString(b), "Code": r.URL.Query().Get("code"),
		"Desk": se.Role == amigo.RoleCashier || se.Role == amigo.RoleAdmin}
	s.render(w, r, http.StatusOK, "account", v)
}

// deskPayment takes a payment at the desk through the API (cashier or
// admin; one payment per reference) and shows its receipt.
func (s *Server) deskPayment(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav = "accounts"
	id := r.PathValue("id")
	fen, err := parseYuan(r.PostFormValue("amount"))
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	var rc struct {
		amigo.Payment
		Account    string    `json:"account"`
		Customer   string    `json:"customer"`
		Cashier    string    `json:"cashier"`
		BalanceFen amigo.Fen `json:"balance_fen"`
		Duplicate  bool      `json:"duplicate"`
	}
	in := map[string]any{"amount_fen": int64(fen), "method": r.PostFormValue("method"), "reference": r.PostFormValue("reference")}
	if err := s.apiJSON(r, se, v.L, "POST", "/api/v1/accounts/"+url.PathEscape(id)+"/payments", in, &rc); err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Title = v.L.T("receipt") + " " + rc.Receipt
	v.Data = rc
	s.render(w, r, http.StatusOK, "receipt", v)
}

// appLoginCode issues a new one-time set-up code for the account's app
// login (operator or admin; audited), shown once.
func (s *Server) appLoginCode(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav = "accounts"
	if se.Role != amigo.RoleOperator && se.Role != amigo.RoleAdmin {
		s.fail(w, r, v, &pageError{Code: http.StatusForbidden, Msg: v.L.Pick("role " + se.Role + " may not do this / 权限不足")})
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, r, v, amigo.Errorf(amigo.ENOTFOUND, "account", "no such account"))
		return
	}
	a, err := s.cfg.Store.GetAccount(r.Context(), id)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	code, err := EnsureCustomerLogin(r.Context(), s.cfg.Store, a.Number, se.User, true, s.cfg.Now())
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Title = v.L.T("account") + " " + a.Number
	v.Data = map[string]string{"Number": a.Number, "Code": code, "ID": strconv.FormatInt(a.ID, 10)}
	s.render(w, r, http.StatusOK, "appcode", v)
}
