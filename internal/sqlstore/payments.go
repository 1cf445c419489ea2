package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

const orderCols = `order_no, account_id, amount_fen, provider, state, code_url, COALESCE(transaction_id, ''), created_by, created_at, paid_at, credited_at`

func scanOrder(row scanner) (amigo.PaymentOrder, error) {
	var o amigo.PaymentOrder
	var created, paid, credited int64
	err := row.Scan(&o.OrderNo, &o.AccountID, &o.AmountFen, &o.Provider, &o.State, &o.CodeURL, &o.TransactionID, &o.CreatedBy, &created, &paid, &credited)
	o.CreatedAt, o.PaidAt, o.CreditedAt = fromUnix(created), fromUnix(paid), fromUnix(credited)
	return o, err
}

// CreatePaymentOrder stores a new order in state created (ECONFLICT for an
// order number that exists, ENOTFOUND for an account that does not).
func (s *DB) CreatePaymentOrder(ctx context.Context, o *amigo.PaymentOrder) error {
	o.State = amigo.OrderCreated
	_, err := s.x.ExecContext(ctx, s.q(`INSERT INTO payment_orders (order_no, account_id, amount_fen, provider, state, code_url, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), o.OrderNo, o.AccountID, int64(o.AmountFen), o.Provider, o.State, o.CodeURL, o.CreatedBy, unix(o.CreatedAt))
	if err != nil {
		if isForeignKey(err) {
			return amigo.Errorf(amigo.ENOTFOUND, "create payment order", "account %d not found / 账户不存在", o.AccountID)
		}
		return internal("create payment order", err)
	}
	return nil
}

// GetPaymentOrder returns an order (ENOTFOUND).
func (s *DB) GetPaymentOrder(ctx context.Context, orderNo string) (amigo.PaymentOrder, error) {
	o, err := scanOrder(s.x.QueryRowContext(ctx, s.q(`SELECT `+orderCols+` FROM payment_orders WHERE order_no = ?`), orderNo))
	if err != nil {
		return o, notFound("get payment order", "payment order "+orderNo, err)
	}
	return o, nil
}

// SetPaymentOrderCode records the provider's code_url (ENOTFOUND).
func (s *DB) SetPaymentOrderCode(ctx context.Context, orderNo, codeURL string) error {
	return s.exec1(ctx, "set payment order code", "payment order "+orderNo, `UPDATE payment_orders SET code_url = ? WHERE order_no = ?`, codeURL, orderNo)
}

// MarkPaymentOrderPaid moves a created order to paid; false when it was
// not in state created.
func (s *DB) MarkPaymentOrderPaid(ctx context.Context, orderNo, transactionID string, paidAt, creditedAt time.Time) (bool, error) {
	res, err := s.x.ExecContext(ctx, s.q(`UPDATE payment_orders SET state = ?, transaction_id = ?, paid_at = ?, credited_at = ?
		WHERE order_no = ? AND state = ?`), amigo.OrderPaid, transactionID, unix(paidAt), unix(creditedAt), orderNo, amigo.OrderCreated)
	if err != nil {
		return false, internal("mark payment order paid", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, internal("mark payment order paid", err)
	}
	return n == 1, nil
}

// ListPaymentOrders returns the orders created or paid in [from, to).
func (s *DB) ListPaymentOrders(ctx context.Context, from, to time.Time) ([]amigo.PaymentOrder, error) {
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT `+orderCols+` FROM payment_orders
		WHERE (created_at >= ? AND created_at < ?) OR (paid_at >= ? AND paid_at < ?) ORDER BY order_no`),
		unix(from), unix(to), unix(from), unix(to))
	if err != nil {
		return nil, internal("list payment orders", err)
	}
	return collect(rows, "list payment orders", scanOrder)
}

// isForeignKey reports a row that names a parent that is not there.
func isForeignKey(err error) bool {
	m := err.Error()
	return strings.Contains(m, "FOREIGN KEY") || strings.Contains(m, "foreign key")
}
