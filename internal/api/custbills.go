package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/amigo-metering/amigo"
)

// Customers read their own bills (docs/billing.md): a user of role
// customer is the app login of one account, named CustomerUsername
// ("acct:<number>", internal/web), and sees that account's issued bills
// and credit notes only. Any other bill, or one held for review (not
// charged), answers 404 exactly as a bill that does not exist: another
// account's bills are not told apart from none.

// customerPrefix begins the username of a customer's app login.
const customerPrefix = "acct:"

// noBill and noAccount are the store's own "not found" answers, so that a
// refused look-up cannot be told from a missing one.
var (
	noBill    = amigo.Errorf(amigo.ENOTFOUND, "get bill", "bill not found / 未找到")
	noAccount = amigo.Errorf(amigo.ENOTFOUND, "find account", "account not found / 未找到")
)

// customerAccount returns the account a customer's login is for: the one
// its username names, while that account still belongs to the login's
// customer. ok is false when there is none.
func (s *Server) customerAccount(ctx context.Context, p principal) (a amigo.Account, ok bool, err error) {
	number, found := strings.CutPrefix(p.User, customerPrefix)
	if !found || number == "" {
		return a, false, nil
	}
	u, err := s.store.GetUser(ctx, p.ID)
	if err != nil {
		return a, false, err
	}
	a, err = s.store.FindAccountByNumber(ctx, number)
	if amigo.ErrorKind(err) == amigo.ENOTFOUND {
		return a, false, nil
	}
	if err != nil {
		return a, false, err
	}
	return a, u.CustomerID != 0 && a.CustomerID == u.CustomerID, nil
}

// resolveAccount reads ?account= as listBills does: a number first, then
// an id.
func (s *Server) resolveAccount(ctx context.Context, v string) (amigo.Account, error) {
	a, err := s.store.FindAccountByNumber(ctx, v)
	if amigo.ErrorKind(err) == amigo.ENOTFOUND {
		if id, perr := strconv.ParseInt(v, 10, 64); perr == nil {
			a, err = s.store.GetAccount(ctx, id)
		}
	}
	return a, err
}

type custHandler = func(w http.ResponseWriter, r *http.Request, p principal)

// customerBills lets a customer list their own account's issued bills
// (GET /api/v1/bills): ?account= may be left out, or name their account by
// number or id; any other account answers 404. Staff pass unchanged.
func (s *Server) customerBills(h custHandler) custHandler {
	return func(w http.ResponseWriter, r *http.Request, p principal) {
		if p.Role != amigo.RoleCustomer {
			h(w, r, p)
			return
		}
		own, ok, err := s.customerAccount(r.Context(), p)
		if err != nil {
			writeErr(w, err)
			return
		}
		if !ok {
			writeErr(w, noAccount)
			return
		}
		q := r.URL.Query()
		if v := q.Get("account"); v != "" {
			a, err := s.resolveAccount(r.Context(), v)
			if err != nil && amigo.ErrorKind(err) != amigo.ENOTFOUND {
				writeErr(w, err)
				return
			}
			if err != nil || a.ID != own.ID {
				writeErr(w, noAccount)
				return
			}
		}
		switch q.Get("status") {
		case amigo.BillHeld:
			// Held for review: not the customer's to see yet.
			writeJSON(w, http.StatusOK, map[string]any{"items": []amigo.Bill{}, "total": 0})
			return
		case "":
			q.Set("status", amigo.BillIssued)
		}
		q.Set("account", own.Number)
		r2 := *r
		u := *r.URL
		u.RawQuery = q.Encode()
		r2.URL = &u
		h(w, &r2, p)
	}
}

// customerBill lets a customer read a bill (GET /api/v1/bills/{id} and
// its document and PDF) of their own account once issued; any other
// answers 404 as a missing bill. Staff pass unchanged.
func (s *Server) customerBill(h custHandler) custHandler {
	return func(w http.ResponseWriter, r *http.Request, p principal) {
		if p.Role != amigo.RoleCustomer {
			h(w, r, p)
			return
		}
		id, err := pathID(r, "id")
		if err != nil {
			writeErr(w, err)
			return
		}
		own, ok, err := s.customerAccount(r.Context(), p)
		if err != nil {
			writeErr(w, err)
			return
		}
		b, err := s.store.GetBill(r.Context(), id)
		if err != nil && amigo.ErrorKind(err) != amigo.ENOTFOUND {
			writeErr(w, err)
			return
		}
		if err != nil || !ok || b.AccountID != own.ID || b.Status != amigo.BillIssued {
			writeErr(w, noBill)
			return
		}
		h(w, r, p)
	}
}
