package payment

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Config is the payment service's configuration.
type Config struct {
	// Store keeps the orders; its Credit (the money core) records the
	// payment, its ledger entry and audit in the order's transaction.
	Store    amigo.Store
	Provider Provider
	// NotifyURL is the station's notify endpoint as the provider reaches
	// it (…/api/v1/payments/wechat/notify).
	NotifyURL string
	Now       func() time.Time
	Log       *slog.Logger
	// RefusalWindow: refused notifications are written as at most one
	// event per reason per window (default 1 minute), the others counted.
	RefusalWindow time.Duration
	// Zone is where a reconciliation day begins and ends (default
	// UTC+8, the provider's).
	Zone *time.Location
	// MaxOrderFen bounds an order (default 10,000,000 fen = ¥100,000).
	MaxOrderFen amigo.Fen
	// SandboxPay, set when the provider is the sandbox inside the
	// station, pays an order there (what scanning the QR code does in the
	// WeChat app): the demo's and the web app's "pay".
	SandboxPay func(ctx context.Context, orderNo string) error
	// OnCredit, when set, is told of each account credited, after the
	// commit (the prepaid wallet's Paid: a reconnect when the balance is
	// above the credit limit again).
	OnCredit func(accountID int64)
}

// Service takes online payments.
type Service struct {
	cfg Config
	ref *refusals
}

// New checks cfg and returns the service; call Run to have refusals
// written.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Provider == nil {
		return nil, errors.New("payment: a store and a provider are needed")
	}
	if !strings.HasPrefix(cfg.NotifyURL, "http://") && !strings.HasPrefix(cfg.NotifyURL, "https://") {
		return nil, fmt.Errorf("payment: notify_url %q: want an http(s) URL the provider reaches / notify_url 应为支付平台可访问的 http(s) 地址", cfg.NotifyURL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.RefusalWindow <= 0 {
		cfg.RefusalWindow = time.Minute
	}
	if cfg.Zone == nil {
		cfg.Zone = time.FixedZone("UTC+8", 8*3600)
	}
	if cfg.MaxOrderFen <= 0 {
		cfg.MaxOrderFen = 10_000_000
	}
	return &Service{cfg: cfg, ref: newRefusals(cfg.RefusalWindow)}, nil
}

// Method is the ledger method of the provider's payments.
func (s *Service) Method() string { return s.cfg.Provider.Name() }

// newOrderNo returns an order number: "AM", the UTC time to the second,
// 10 random digits (26 characters; the provider takes 6..32).
func newOrderNo(now time.Time) string {
	n, _ := rand.Int(rand.Reader, big.NewInt(10_000_000_000))
	return fmt.Sprintf("AM%s%010d", now.UTC().Format("20060102150405"), n.Int64())
}

// CreateOrder stores an order of amountFen for the account (audited), then
// asks the provider for it and records its code_url. A provider that
// cannot be reached leaves the order created without a code (EUNAVAILABLE):
// no money moved.
func (s *Service) CreateOrder(ctx context.Context, accountID int64, amountFen amigo.Fen, by string) (amigo.PaymentOrder, error) {
	const op = "create payment order"
	if amountFen <= 0 || amountFen > s.cfg.MaxOrderFen {
		return amigo.PaymentOrder{}, amigo.Errorf(amigo.EINVALID, op, "amount_fen must be 1..%d / amount_fen 应为 1..%d 分", s.cfg.MaxOrderFen, s.cfg.MaxOrderFen)
	}
	now := s.cfg.Now()
	o := amigo.PaymentOrder{OrderNo: newOrderNo(now), AccountID: accountID, AmountFen: amountFen, Provider: s.Method(), CreatedBy: by, CreatedAt: now}
	err := s.cfg.Store.WithTx(ctx, func(tx amigo.Store) error {
		if err := tx.CreatePaymentOrder(ctx, &o); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, amigo.AuditEntry{Time: now, Actor: by, Action: "payment.order", Object: fmt.Sprintf("account %d", accountID),
			Detail: fmt.Sprintf("order %s, %d fen, %s", o.OrderNo, amountFen, o.Provider)})
	})
	if err != nil {
		return amigo.PaymentOrder{}, err
	}
	code, err := s.cfg.Provider.CreateOrder(ctx, OrderRequest{OrderNo: o.OrderNo, AmountFen: int64(amountFen),
		Description: fmt.Sprintf("电费 account %d", accountID), NotifyURL: s.cfg.NotifyURL})
	if err != nil {
		s.cfg.Log.Warn("payment provider refused or unreachable / 支付平台下单失败", "order", o.OrderNo, "err", err)
		return o, &amigo.Error{Kind: amigo.EUNAVAILABLE, Op: op, Message: "the payment provider could not be reached; nothing was charged, try again / 支付平台暂不可用，未扣款，请重试", Err: err}
	}
	if err := s.cfg.Store.SetPaymentOrderCode(ctx, o.OrderNo, code); err != nil {
		return o, err
	}
	o.CodeURL = code
	return o, nil
}

// Order returns an order. One still created is asked of the provider
// first (its notification may not have come): paid there, it is credited
// here as a notification would.
func (s *Service) Order(ctx context.Context, orderNo string) (amigo.PaymentOrder, error) {
	o, err := s.cfg.Store.GetPaymentOrder(ctx, orderNo)
	if err != nil || o.State != amigo.OrderCreated || o.CodeURL == "" {
		return o, err
	}
	po, err := s.cfg.Provider.QueryOrder(ctx, orderNo)
	if err != nil {
		s.cfg.Log.Debug("payment order query", "order", orderNo, "err", err)
		return o, nil
	}
	if po.State == TradeSuccess {
		if _, err := s.apply(ctx, po, "query"); err != nil {
			s.cfg.Log.Warn("payment order query not credited / 查询到的支付未入账", "order", orderNo, "err", err)
		}
		return s.cfg.Store.GetPaymentOrder(ctx, orderNo)
	}
	return o, nil
}

// SandboxPay pays an order at the sandbox provider (EUNAVAILABLE with a
// real provider: there the customer pays in the WeChat app). The credit
// follows when the sandbox's notification arrives; poll Order.
func (s *Service) SandboxPay(ctx context.Context, orderNo string) error {
	const op = "sandbox pay"
	if s.cfg.SandboxPay == nil {
		return amigo.Errorf(amigo.EUNAVAILABLE, op, "only the payment sandbox can be paid from here; with WeChat Pay the customer scans the code_url / 仅沙箱支持在此付款，真实微信支付请扫码")
	}
	o, err := s.cfg.Store.GetPaymentOrder(ctx, orderNo)
	if err != nil {
		return err
	}
	if o.State == amigo.OrderPaid {
		return nil
	}
	if err := s.cfg.SandboxPay(ctx, orderNo); err != nil {
		return &amigo.Error{Kind: amigo.EUNAVAILABLE, Op: op, Message: "the payment sandbox did not take the payment / 支付沙箱未能付款", Err: err}
	}
	return nil
}

// Outcomes of apply.
const (
	outcomeCredited  = "credited"
	outcomeDuplicate = "duplicate"
)

// apply credits a paid provider order once: in one transaction the order
// moves to paid with the transaction id, the ledger is credited with
// reference "<method>:<transaction_id>", and the audit written. A
// repetition changes nothing; an unknown order, a different amount or
// another transaction for a paid order is a *Refusal.
func (s *Service) apply(ctx context.Context, po ProviderOrder, via string) (string, error) {
	now := s.cfg.Now()
	outcome := outcomeCredited
	var account int64 // set once the credit is in the transaction
	err := s.cfg.Store.WithTx(ctx, func(tx amigo.Store) error {
		o, err := tx.GetPaymentOrder(ctx, po.OrderNo)
		if amigo.ErrorKind(err) == amigo.ENOTFOUND {
			return Refusef(RefusedUnknown, "order %.32q is not amigo's", po.OrderNo)
		}
		if err != nil {
			return err
		}
		if o.State == amigo.OrderPaid {
			if o.TransactionID == po.TransactionID {
				outcome = outcomeDuplicate
				return nil
			}
			return Refusef(RefusedState, "order %s was paid by transaction %s, not %.32s", o.OrderNo, o.TransactionID, po.TransactionID)
		}
		if int64(o.AmountFen) != po.AmountFen {
			return Refusef(RefusedAmount, "order %s is for %d fen, the notification says %d", o.OrderNo, o.AmountFen, po.AmountFen)
		}
		ok, err := tx.MarkPaymentOrderPaid(ctx, o.OrderNo, po.TransactionID, po.PaidAt, now)
		if err != nil {
			return err
		}
		if !ok {
			outcome = outcomeDuplicate
			return nil
		}
		method := s.Method()
		p := amigo.Payment{AccountID: o.AccountID, AmountFen: o.AmountFen, Method: method, Reference: Reference(method, po.TransactionID),
			By: "payment:" + method, Time: now}
		_, dup, err := tx.Credit(ctx, &p)
		if err != nil {
			return err
		}
		if dup {
			// The ledger has this transaction already: the order is now
			// marked paid, the money is not counted twice.
			outcome = outcomeDuplicate
		}
		account = o.AccountID
		return tx.AppendAudit(ctx, amigo.AuditEntry{Time: now, Actor: "payment:" + method, Action: "payment.online",
			Object: fmt.Sprintf("account %d", o.AccountID),
			Detail: fmt.Sprintf("order %s paid, transaction %s, %d fen (%s)", o.OrderNo, po.TransactionID, o.AmountFen, via)})
	})
	if err == nil && outcome == outcomeCredited && account != 0 && s.cfg.OnCredit != nil {
		s.cfg.OnCredit(account) // after the commit only
	}
	return outcome, err
}

// Reference is the ledger reference of a provider's transaction: one
// payment per transaction id, whatever path (notification, query) it came
// by.
func Reference(method, transactionID string) string { return method + ":" + transactionID }

// maxNotifyBody bounds a notification's body before it is read.
const maxNotifyBody = 64 << 10

// failAnswer is the answer the provider expects for a notification not
// accepted (it retries).
func failAnswer(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"code":"FAIL","message":%q}`, msg)
}

// Notify is the provider's notify endpoint (unauthenticated: the
// signature is the authentication). It answers 204 when the payment is
// credited or was already; 4xx with {"code":"FAIL"} for a refused
// notification (counted, written as summary events), 5xx when the store
// failed (the provider retries).
func (s *Service) Notify(w http.ResponseWriter, r *http.Request) {
	src := r.RemoteAddr
	if r.ContentLength > maxNotifyBody {
		s.refuse(r.Context(), src, Refusef(RefusedTooLarge, "body of %d bytes", r.ContentLength))
		failAnswer(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotifyBody))
	if err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			s.refuse(r.Context(), src, Refusef(RefusedTooLarge, "body larger than %d bytes", maxNotifyBody))
			failAnswer(w, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		failAnswer(w, http.StatusBadRequest, "body not read")
		return
	}
	po, err := s.cfg.Provider.ParseNotification(r.Header, body, s.cfg.Now())
	if err != nil {
		var rf *Refusal
		if !errors.As(err, &rf) {
			rf = Refusef(RefusedMalformed, "%v", err)
		}
		s.refuse(r.Context(), src, rf)
		failAnswer(w, statusOf(rf.Reason), rf.Reason)
		return
	}
	if po.State != TradeSuccess {
		s.cfg.Log.Info("payment notification of an unpaid state ignored / 非支付成功通知", "order", po.OrderNo, "state", po.State)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	outcome, err := s.apply(r.Context(), po, "notification")
	if err != nil {
		var rf *Refusal
		if errors.As(err, &rf) {
			s.refuse(r.Context(), src, rf)
			failAnswer(w, statusOf(rf.Reason), rf.Reason)
			return
		}
		s.cfg.Log.Error("payment notification not stored / 支付通知未能保存", "order", po.OrderNo, "err", err)
		failAnswer(w, http.StatusInternalServerError, "not stored, send again")
		return
	}
	s.cfg.Log.Info("payment notification / 支付通知", "order", po.OrderNo, "transaction", po.TransactionID, "outcome", outcome)
	w.WriteHeader(http.StatusNoContent)
}

func statusOf(reason string) int {
	switch reason {
	case RefusedSignature, RefusedSerial, RefusedStale:
		return http.StatusUnauthorized
	case RefusedTooLarge:
		return http.StatusRequestEntityTooLarge
	case RefusedUnknown:
		return http.StatusNotFound
	case RefusedAmount, RefusedState:
		return http.StatusConflict
	}
	return http.StatusBadRequest
}
