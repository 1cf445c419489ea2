package amigo

import (
	"context"
	"time"
)

// Online payment order states.
const (
	OrderCreated = "created" // stored; the provider was asked (or is being asked) for it
	OrderPaid    = "paid"    // the provider's notification was verified and the account credited
)

// PaymentOrder is an online payment order (在线支付订单): stored before the
// provider is asked for it, paid once its verified notification credited
// the account.
type PaymentOrder struct {
	OrderNo       string    `json:"order_no"` // out_trade_no at the provider
	AccountID     int64     `json:"account_id"`
	AmountFen     Fen       `json:"amount_fen"`
	Provider      string    `json:"provider"` // "wechat"
	State         string    `json:"state"`
	CodeURL       string    `json:"code_url,omitempty"`
	TransactionID string    `json:"transaction_id,omitempty"` // the provider's, once paid
	CreatedBy     string    `json:"created_by"`
	CreatedAt     time.Time `json:"created_at"`
	PaidAt        time.Time `json:"paid_at,omitzero"` // the provider's success_time
	CreditedAt    time.Time `json:"credited_at,omitzero"`
}

// PaymentStore keeps online payment orders.
type PaymentStore interface {
	// CreatePaymentOrder stores a new order (ECONFLICT for an order number
	// that exists).
	CreatePaymentOrder(ctx context.Context, o *PaymentOrder) error
	// GetPaymentOrder returns an order (ENOTFOUND).
	GetPaymentOrder(ctx context.Context, orderNo string) (PaymentOrder, error)
	// SetPaymentOrderCode records the provider's code_url.
	SetPaymentOrderCode(ctx context.Context, orderNo, codeURL string) error
	// MarkPaymentOrderPaid moves a created order to paid with the
	// provider's transaction id and times; it reports false, changing
	// nothing, when the order is not in state created (paid already).
	// ECONFLICT when the transaction id belongs to another order.
	MarkPaymentOrderPaid(ctx context.Context, orderNo, transactionID string, paidAt, creditedAt time.Time) (bool, error)
	// ListPaymentOrders returns the orders created in [from, to) or paid
	// in it, by order number.
	ListPaymentOrders(ctx context.Context, from, to time.Time) ([]PaymentOrder, error)
}

// Event kinds of online payments.
const (
	// EventPaymentRefused: notifications refused (bad signature, stale
	// timestamp, unknown order, different amount, …), written at most once
	// per reason and window, with the count of the others.
	EventPaymentRefused = "payment.notify_refused"
)
