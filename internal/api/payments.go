package api

import (
	"net/http"
	"strconv"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/payment"
)

// NotifyPath is where the payment provider POSTs its notifications (no
// token: the provider's signature is the authentication).
const NotifyPath = "/api/v1/payments/wechat/notify"

// SetPayments turns online payments on; call it before serving. Without
// it the payment routes answer 503.
func (s *Server) SetPayments(p *payment.Service) { s.pay = p }

func (s *Server) paymentRoutes() {
	s.handleFunc("POST "+NotifyPath, func(w http.ResponseWriter, r *http.Request) {
		if s.pay == nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"code":"FAIL","message":"online payments are not configured"}`))
			return
		}
		s.pay.Notify(w, r)
	})
	// Customers create and look at orders of their own accounts; cashiers
	// and above of any account.
	s.handle("POST /api/v1/accounts/{id}/orders", amigo.RoleCustomer, s.createOrder)
	s.handle("GET /api/v1/accounts/{id}/orders/{no}", amigo.RoleCustomer, s.getOrder)
	s.handle("POST /api/v1/accounts/{id}/sandbox-pay", amigo.RoleCustomer, s.sandboxPay)
	s.handle("GET /api/v1/payments/reconciliation", amigo.RoleOperator, s.reconciliation)
}

// payments returns the service, or writes 503 when there is none.
func (s *Server) payments(w http.ResponseWriter) (*payment.Service, bool) {
	if s.pay == nil {
		writeErr(w, amigo.Errorf(amigo.EUNAVAILABLE, "payments", "online payments are not configured on this station (\"payment\" in its configuration) / 本主站未配置在线支付"))
		return nil, false
	}
	return s.pay, true
}

// orderAccount reads the account id of the path and checks that p may pay
// for it: a customer only for their own accounts, a cashier and above for
// any.
func (s *Server) orderAccount(w http.ResponseWriter, r *http.Request, p principal) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeErr(w, amigo.Errorf(amigo.EINVALID, "account", "account id must be a positive number / 账户编号应为正整数"))
		return 0, false
	}
	if p.Role != amigo.RoleCustomer {
		if p.Role != amigo.RoleCashier && rank[p.Role] < rank[amigo.RoleOperator] {
			writeErr(w, amigo.Errorf(amigo.EFORBIDDEN, "auth", "role %s may not do this / 权限不足", p.Role))
			return 0, false
		}
		return id, true
	}
	u, err := s.store.GetUser(r.Context(), p.ID)
	if err != nil {
		writeErr(w, err)
		return 0, false
	}
	a, err := s.store.GetAccount(r.Context(), id)
	if err != nil || u.CustomerID == 0 || a.CustomerID != u.CustomerID {
		// Another customer's account is not told apart from none.
		writeErr(w, amigo.Errorf(amigo.ENOTFOUND, "account", "account %d not found / 账户不存在", id))
		return 0, false
	}
	return id, true
}

// orderInput is the body of POST /api/v1/accounts/{id}/orders.
type orderInput struct {
	AmountFen amigo.Fen `json:"amount_fen"`
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request, p principal) {
	pay, ok := s.payments(w)
	if !ok {
		return
	}
	id, ok := s.orderAccount(w, r, p)
	if !ok {
		return
	}
	var in orderInput
	if err := decodeStrict(w, r, &in); err != nil {
		writeErr(w, err)
		return
	}
	o, err := pay.CreateOrder(r.Context(), id, in.AmountFen, p.User)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, o)
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request, p principal) {
	pay, ok := s.payments(w)
	if !ok {
		return
	}
	id, ok := s.orderAccount(w, r, p)
	if !ok {
		return
	}
	o, err := pay.Order(r.Context(), r.PathValue("no"))
	if err == nil && o.AccountID != id {
		err = amigo.Errorf(amigo.ENOTFOUND, "order", "order not found / 订单不存在")
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// sandboxPayInput is the body of POST /api/v1/accounts/{id}/sandbox-pay.
type sandboxPayInput struct {
	OrderNo string `json:"order_no"`
}

// sandboxPay is the demo's "pay" (the sandbox provider only): the order
// is paid at the sandbox, whose notification then credits the account.
func (s *Server) sandboxPay(w http.ResponseWriter, r *http.Request, p principal) {
	pay, ok := s.payments(w)
	if !ok {
		return
	}
	id, ok := s.orderAccount(w, r, p)
	if !ok {
		return
	}
	var in sandboxPayInput
	if err := decodeStrict(w, r, &in); err != nil {
		writeErr(w, err)
		return
	}
	o, err := s.store.GetPaymentOrder(r.Context(), in.OrderNo)
	if err == nil && o.AccountID != id {
		err = amigo.Errorf(amigo.ENOTFOUND, "order", "order not found / 订单不存在")
	}
	if err == nil {
		err = pay.SandboxPay(r.Context(), in.OrderNo)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"order_no": in.OrderNo, "status": "paid at the sandbox; the account is credited when its notification arrives: GET the order / 沙箱已付款，通知到达后入账"})
}

func (s *Server) reconciliation(w http.ResponseWriter, r *http.Request, p principal) {
	pay, ok := s.payments(w)
	if !ok {
		return
	}
	day := r.URL.Query().Get("day")
	if day == "" {
		writeErr(w, amigo.Errorf(amigo.EINVALID, "reconciliation", "day is required: ?day=YYYY-MM-DD / 需要日期参数 day"))
		return
	}
	rep, err := pay.Reconcile(r.Context(), day)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
