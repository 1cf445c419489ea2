// Package payment takes online payments (在线支付): an order is stored in
// amigo before the provider is asked for it, the provider's asynchronous
// notification is verified, decrypted and credited to the account exactly
// once per provider transaction (order state, payment, ledger entry and
// audit in one transaction), refused notifications are counted and written
// as summary events, and a daily reconciliation compares the provider's
// orders with the ledger's payments. The provider is an interface
// (Provider); internal/payment/wechatpay speaks WeChat Pay API v3 to the
// real provider or to the sandbox in internal/payment/wechatsandbox.
package payment

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Provider is an online payment provider, seen from the merchant (amigo).
type Provider interface {
	// Name is the method payments through it carry in the ledger
	// ("wechat").
	Name() string
	// CreateOrder asks the provider for a QR-code order of amountFen fen;
	// it returns the code_url the customer's app scans. The same order
	// number asked again is the same order at the provider.
	CreateOrder(ctx context.Context, o OrderRequest) (codeURL string, err error)
	// QueryOrder asks the provider for an order's state (reconciliation,
	// and orders whose notification did not come). ENOTFOUND-like
	// answers come back as ErrNoOrder.
	QueryOrder(ctx context.Context, orderNo string) (ProviderOrder, error)
	// ParseNotification verifies a notification (signature with the
	// provider's key, its timestamp against now) and decrypts it. Every
	// refusal is a *Refusal naming its reason.
	ParseNotification(h http.Header, body []byte, now time.Time) (ProviderOrder, error)
}

// OrderRequest is what the provider is asked for.
type OrderRequest struct {
	OrderNo     string
	AmountFen   int64
	Description string
	NotifyURL   string
}

// Provider order states (WeChat's trade_state values).
const (
	TradeSuccess = "SUCCESS"
	TradeNotPay  = "NOTPAY"
	TradeClosed  = "CLOSED"
	TradeRefund  = "REFUND"
)

// ProviderOrder is an order as the provider reports it.
type ProviderOrder struct {
	OrderNo       string
	TransactionID string
	State         string // TradeSuccess, TradeNotPay, …
	AmountFen     int64  // what the order was for (amount.total)
	PaidAt        time.Time
}

// ErrNoOrder is the provider's answer for an order it does not have.
var ErrNoOrder = errors.New("payment: the provider has no such order")

// Refusal reasons of a notification.
const (
	RefusedTooLarge  = "too_large"
	RefusedMalformed = "malformed"
	RefusedSerial    = "serial"
	RefusedSignature = "signature"
	RefusedStale     = "stale_timestamp"
	RefusedDecrypt   = "decrypt"
	RefusedUnknown   = "unknown_order"
	RefusedAmount    = "amount_differs"
	RefusedAccount   = "account"
	RefusedState     = "not_success"
)

// Refusal is a notification amigo does not accept.
type Refusal struct {
	Reason string
	Detail string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("payment notification refused (%s): %s", r.Reason, r.Detail)
}

// Refusef returns a *Refusal.
func Refusef(reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
