package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// paymentOrders: online payment orders are created once, found, given
// their code, moved to paid once (a transaction id belongs to one order),
// and listed by the day they were created or paid.
func paymentOrders(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, _, _ := Fixture(t, s, 1)
	c := amigo.Customer{Name: "李四"}
	if err := s.CreateCustomer(ctx, &c); err != nil {
		t.Fatal(err)
	}
	a := amigo.Account{Number: "P-001", CustomerID: c.ID, SiteID: site.ID, Mode: amigo.ModePrepaid, Tariff: "zj", BillingDay: 1}
	if err := s.CreateAccount(ctx, &a); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	o := amigo.PaymentOrder{OrderNo: "AM20261125020000000001", AccountID: a.ID, AmountFen: 5000, Provider: "wechat", CreatedBy: "u", CreatedAt: at}
	if err := s.CreatePaymentOrder(ctx, &o); err != nil || o.State != amigo.OrderCreated {
		t.Fatalf("create: %v %+v", err, o)
	}
	again := o
	if err := s.CreatePaymentOrder(ctx, &again); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("same order number again: %v", err)
	}
	stray := amigo.PaymentOrder{OrderNo: "AM20261125020000000002", AccountID: a.ID + 1000, AmountFen: 1, Provider: "wechat", CreatedBy: "u", CreatedAt: at}
	if err := s.CreatePaymentOrder(ctx, &stray); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("order for no account: %v", err)
	}
	if _, err := s.GetPaymentOrder(ctx, "nope"); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("get unknown: %v", err)
	}
	if err := s.SetPaymentOrderCode(ctx, o.OrderNo, "weixin://wxpay/bizpayurl?pr=abc"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPaymentOrderCode(ctx, "nope", "x"); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("code of unknown: %v", err)
	}
	paid := at.Add(22 * time.Hour) // the next day (UTC)
	if ok, err := s.MarkPaymentOrderPaid(ctx, o.OrderNo, "4200000001", paid, paid.Add(time.Second)); err != nil || !ok {
		t.Fatalf("mark paid: %v %v", ok, err)
	}
	if ok, err := s.MarkPaymentOrderPaid(ctx, o.OrderNo, "4200000001", paid, paid.Add(time.Minute)); err != nil || ok {
		t.Fatalf("mark paid twice: %v %v", ok, err)
	}
	o2 := amigo.PaymentOrder{OrderNo: "AM20261125020000000003", AccountID: a.ID, AmountFen: 700, Provider: "wechat", CreatedBy: "u", CreatedAt: at.Add(time.Hour)}
	if err := s.CreatePaymentOrder(ctx, &o2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkPaymentOrderPaid(ctx, o2.OrderNo, "4200000001", paid, paid); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("a transaction id of another order: %v", err)
	}
	got, err := s.GetPaymentOrder(ctx, o.OrderNo)
	want := o
	want.State, want.CodeURL, want.TransactionID, want.PaidAt, want.CreditedAt = amigo.OrderPaid, "weixin://wxpay/bizpayurl?pr=abc", "4200000001", paid, paid.Add(time.Second)
	if err != nil || got != want {
		t.Fatalf("got %+v %v\nwant %+v", got, err, want)
	}
	day := func(d time.Time) []string {
		os, err := s.ListPaymentOrders(ctx, d, d.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var nos []string
		for _, o := range os {
			nos = append(nos, o.OrderNo)
		}
		return nos
	}
	d25 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	if got := day(d25); len(got) != 2 || got[0] != o.OrderNo || got[1] != o2.OrderNo {
		t.Fatalf("orders of the 25th: %v", got)
	}
	if got := day(d25.Add(24 * time.Hour)); len(got) != 1 || got[0] != o.OrderNo {
		t.Fatalf("orders of the 26th (paid then): %v", got)
	}
	if got := day(d25.Add(48 * time.Hour)); len(got) != 0 {
		t.Fatalf("orders of the 27th: %v", got)
	}
}
