package payment

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/amigo-metering/amigo"
)

// Difference kinds of a reconciliation.
const (
	PaidNotCredited = "paid_not_credited" // the provider has it paid; the ledger has no such payment
	CreditedNotPaid = "credited_not_paid" // the ledger has the payment; the provider has no such paid order
	AmountDiffers   = "amount_differs"    // both have it, with different amounts
)

// Difference is one line of a reconciliation.
type Difference struct {
	Kind          string    `json:"kind"`
	OrderNo       string    `json:"order_no,omitempty"`
	TransactionID string    `json:"transaction_id,omitempty"`
	AccountID     int64     `json:"account_id,omitempty"`
	ProviderFen   amigo.Fen `json:"provider_fen"`
	LedgerFen     amigo.Fen `json:"ledger_fen"`
	ProviderState string    `json:"provider_state,omitempty"`
	Reference     string    `json:"reference,omitempty"`
}

// Report is a day's reconciliation (对账): the provider's paid orders
// (asked one by one) against the ledger's payments of the provider's
// method.
type Report struct {
	Day    string    `json:"day"`
	Zone   string    `json:"zone"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Method string    `json:"method"`
	// Orders is how many of amigo's orders were asked about.
	Orders int `json:"orders_queried"`
	// ProviderPaid and ProviderFen: the orders the provider has paid
	// within the day, and their sum.
	ProviderPaid int       `json:"provider_paid"`
	ProviderFen  amigo.Fen `json:"provider_fen"`
	// LedgerPayments and LedgerFen: the ledger's payments of the method
	// within the day, and their sum.
	LedgerPayments int          `json:"ledger_payments"`
	LedgerFen      amigo.Fen    `json:"ledger_fen"`
	Differences    []Difference `json:"differences"`
	// Unanswered are the orders the provider could not be asked about:
	// the report is incomplete while there are any.
	Unanswered []string `json:"unanswered,omitempty"`
}

// ParseDay reads a reconciliation day (YYYY-MM-DD) in zone.
func ParseDay(day string, zone *time.Location) (time.Time, time.Time, error) {
	d, err := time.ParseInLocation("2006-01-02", day, zone)
	if err != nil {
		return time.Time{}, time.Time{}, amigo.Errorf(amigo.EINVALID, "reconciliation", "day %q: want YYYY-MM-DD / 日期应为 YYYY-MM-DD", day)
	}
	return d, d.AddDate(0, 0, 1), nil
}

// Reconcile compares the provider's orders paid on day (in the service's
// zone) with the ledger's payments of that day. Orders created the day
// before are asked about too (paid after midnight), and a payment that
// crossed midnight between the provider and the ledger (paid 23:59:59,
// credited 00:00:01) is matched, not reported.
func (s *Service) Reconcile(ctx context.Context, day string) (Report, error) {
	from, to, err := ParseDay(day, s.cfg.Zone)
	if err != nil {
		return Report{}, err
	}
	method := s.Method()
	rep := Report{Day: day, Zone: s.cfg.Zone.String(), From: from, To: to, Method: method, Differences: []Difference{}}
	orders, err := s.cfg.Store.ListPaymentOrders(ctx, from.AddDate(0, 0, -1), to)
	if err != nil {
		return rep, err
	}
	ledger, _, err := s.cfg.Store.ListPayments(ctx, amigo.PaymentFilter{Method: method, Since: from.AddDate(0, 0, -1), Until: to.AddDate(0, 0, 1)})
	if err != nil {
		return rep, err
	}
	byRef := map[string]amigo.Payment{}
	for _, p := range ledger {
		byRef[p.Reference] = p
		if !p.Time.Before(from) && p.Time.Before(to) {
			rep.LedgerPayments++
			rep.LedgerFen += p.AmountFen
		}
	}
	paidAnyDay := map[string]ProviderOrder{} // reference → the provider's paid order, whatever its day
	for _, o := range orders {
		if o.Provider != method {
			continue
		}
		rep.Orders++
		po, err := s.cfg.Provider.QueryOrder(ctx, o.OrderNo)
		if errors.Is(err, ErrNoOrder) {
			continue
		}
		if err != nil {
			s.cfg.Log.Warn("reconciliation: order not answered / 对账：订单查询失败", "order", o.OrderNo, "err", err)
			rep.Unanswered = append(rep.Unanswered, o.OrderNo)
			continue
		}
		if po.State != TradeSuccess && po.State != TradeRefund {
			continue
		}
		ref := Reference(method, po.TransactionID)
		paidAnyDay[ref] = po
		if po.PaidAt.Before(from) || !po.PaidAt.Before(to) {
			continue
		}
		rep.ProviderPaid++
		rep.ProviderFen += amigo.Fen(po.AmountFen)
		lp, ok := byRef[ref]
		switch {
		case !ok:
			rep.Differences = append(rep.Differences, Difference{Kind: PaidNotCredited, OrderNo: o.OrderNo, TransactionID: po.TransactionID,
				AccountID: o.AccountID, ProviderFen: amigo.Fen(po.AmountFen), ProviderState: po.State, Reference: ref})
		case int64(lp.AmountFen) != po.AmountFen:
			rep.Differences = append(rep.Differences, Difference{Kind: AmountDiffers, OrderNo: o.OrderNo, TransactionID: po.TransactionID,
				AccountID: lp.AccountID, ProviderFen: amigo.Fen(po.AmountFen), LedgerFen: lp.AmountFen, ProviderState: po.State, Reference: ref})
		}
	}
	for _, p := range ledger {
		if p.Time.Before(from) || !p.Time.Before(to) {
			continue
		}
		if _, ok := paidAnyDay[p.Reference]; ok {
			continue // matched above, or paid at the provider on a neighbouring day
		}
		rep.Differences = append(rep.Differences, Difference{Kind: CreditedNotPaid, AccountID: p.AccountID, LedgerFen: p.AmountFen, Reference: p.Reference})
	}
	sort.SliceStable(rep.Differences, func(i, j int) bool {
		a, b := rep.Differences[i], rep.Differences[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Reference < b.Reference
	})
	return rep, nil
}

// String renders a report for people, one line per difference.
func (r Report) String() string {
	s := fmt.Sprintf("reconciliation %s (%s) / 对账: %d orders queried / 查询订单; provider paid / 平台已付 %d, %d fen; ledger payments / 账本收款 %d, %d fen; differences / 差异 %d\n",
		r.Day, r.Method, r.Orders, r.ProviderPaid, r.ProviderFen, r.LedgerPayments, r.LedgerFen, len(r.Differences))
	for _, d := range r.Differences {
		s += fmt.Sprintf("  %-18s order %s transaction %s account %d provider %d fen ledger %d fen %s\n",
			d.Kind, d.OrderNo, d.TransactionID, d.AccountID, d.ProviderFen, d.LedgerFen, d.Reference)
	}
	if len(r.Unanswered) > 0 {
		s += fmt.Sprintf("  incomplete: the provider did not answer for %d orders / 报告不完整：%d 个订单未能查询 %v\n", len(r.Unanswered), len(r.Unanswered), r.Unanswered)
	}
	return s
}
