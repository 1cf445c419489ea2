package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// money: customers, accounts with their meters, the ledger (idempotent by
// reference, balance kept with each entry), payments with receipts,
// notices and control policies.
func money(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, _, ms := Fixture(t, s, 3)
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

	if err := s.CreateCustomer(ctx, &amigo.Customer{Name: " "}); amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatalf("customer without a name: %v", err)
	}
	c := amigo.Customer{Name: "张三", Phone: "13800000000"}
	if err := s.CreateCustomer(ctx, &c); err != nil {
		t.Fatal(err)
	}
	c.IDNumber = "330102199001011234"
	if err := s.UpdateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetCustomer(ctx, c.ID); err != nil || got != c {
		t.Fatalf("customer %+v %v", got, err)
	}
	if cs, n, err := s.ListCustomers(ctx, 10, 0); err != nil || n != 1 || len(cs) != 1 {
		t.Fatalf("customers %v %d %v", cs, n, err)
	}

	a := amigo.Account{Number: "A-001", CustomerID: c.ID, SiteID: site.ID, Mode: amigo.ModePrepaid, Tariff: "zj", BillingDay: 1,
		LowBalanceFen: 2000, CreditLimitFen: 0, CreatedAt: at,
		Meters: []amigo.AccountMeter{{MeterID: ms[0].ID, From: at}}}
	if err := s.CreateAccount(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Meters) != 1 || a.Meters[0].Address != ms[0].Address || a.BalanceFen != 0 {
		t.Fatalf("created %+v", a)
	}
	if m, _ := s.GetMeter(ctx, ms[0].ID); m.AccountID != a.ID {
		t.Fatalf("meter's account %d, want %d", m.AccountID, a.ID)
	}
	dupNum := a
	dupNum.ID, dupNum.Meters = 0, nil
	if err := s.CreateAccount(ctx, &dupNum); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("number taken: %v", err)
	}
	// A second account on the same meter overlapping the first's period is
	// refused, and nothing of it is kept.
	b := amigo.Account{Number: "B-002", CustomerID: c.ID, SiteID: site.ID, Mode: amigo.ModePostpaid, Tariff: "zj", BillingDay: 5,
		Meters: []amigo.AccountMeter{{MeterID: ms[0].ID, From: at.Add(24 * time.Hour)}}}
	if err := s.CreateAccount(ctx, &b); amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatalf("overlapping meter period: %v", err)
	}
	if _, err := s.FindAccountByNumber(ctx, "B-002"); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("refused account kept: %v", err)
	}
	// Move-out of A, move-in of B: periods meet, do not overlap.
	moved := at.Add(48 * time.Hour)
	if err := s.EndAccountMeter(ctx, a.ID, ms[0].ID, moved); err != nil {
		t.Fatal(err)
	}
	if err := s.EndAccountMeter(ctx, a.ID, ms[0].ID, moved); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("ending twice: %v", err)
	}
	b.Meters = []amigo.AccountMeter{{MeterID: ms[0].ID, From: moved}, {MeterID: ms[1].ID, From: moved}}
	if err := s.CreateAccount(ctx, &b); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAccount(ctx, a.ID)
	if err != nil || got.Number != "A-001" || got.Mode != amigo.ModePrepaid || got.LowBalanceFen != 2000 || len(got.Meters) != 1 || !got.Meters[0].To.Equal(moved) || !got.CreatedAt.Equal(at) {
		t.Fatalf("get account %+v %v", got, err)
	}
	if list, n, err := s.ListAccounts(ctx, amigo.AccountFilter{Mode: amigo.ModePostpaid}); err != nil || n != 1 || list[0].ID != b.ID || len(list[0].Meters) != 2 {
		t.Fatalf("postpaid accounts %+v %d %v", list, n, err)
	}
	if _, _, err := s.ListAccounts(ctx, amigo.AccountFilter{Mode: "both"}); amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatalf("bad mode: %v", err)
	}
	got.KeepPower, got.Tariff, got.BalanceFen = true, "zj2", 999_999 // the balance is not a setting
	if err := s.UpdateAccount(ctx, got); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.GetAccount(ctx, a.ID); !g.KeepPower || g.Tariff != "zj2" || g.BalanceFen != 0 {
		t.Fatalf("updated %+v", g)
	}
	if err := s.SetAccountControl(ctx, a.ID, amigo.ControlTripped, at); err != nil {
		t.Fatal(err)
	}
	if list, n, _ := s.ListAccounts(ctx, amigo.AccountFilter{Control: amigo.ControlTripped}); n != 1 || list[0].ID != a.ID || !list[0].ControlAt.Equal(at) {
		t.Fatalf("tripped accounts %+v", list)
	}

	// Ledger and payments: 50.00 yuan paid, paid again under the same
	// reference (nothing changes), a day's deduction of 3.21 yuan, the same
	// day again: balance 5000 - 321 = 4679.
	p := amigo.Payment{AccountID: a.ID, AmountFen: 5000, Method: amigo.MethodCash, Reference: "desk-1", By: "cashier1", Time: at}
	e, dup, err := s.Credit(ctx, &p)
	if err != nil || dup || e.BalanceFen != 5000 || e.Kind != amigo.LedgerPayment || p.Receipt != amigo.ReceiptNumber(p.ID) || p.LedgerID != e.ID {
		t.Fatalf("credit %+v %+v %v %v", e, p, dup, err)
	}
	again := amigo.Payment{AccountID: a.ID, AmountFen: 5000, Method: amigo.MethodCash, Reference: "desk-1", By: "cashier2", Time: at.Add(time.Minute)}
	e2, dup, err := s.Credit(ctx, &again)
	if err != nil || !dup || e2.ID != e.ID || again.ID != p.ID || again.By != "cashier1" {
		t.Fatalf("credit again %+v %+v %v %v", e2, again, dup, err)
	}
	other := amigo.Payment{AccountID: b.ID, AmountFen: 5000, Method: amigo.MethodCash, Reference: "desk-1", By: "cashier1", Time: at}
	if _, _, err := s.Credit(ctx, &other); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("same reference for another account: %v", err)
	}
	for _, bad := range []amigo.Payment{
		{AccountID: a.ID, AmountFen: 0, Method: amigo.MethodCash, Reference: "x", By: "c", Time: at},
		{AccountID: a.ID, AmountFen: 1, Method: "gold", Reference: "x", By: "c", Time: at},
		{AccountID: a.ID, AmountFen: 1, Method: amigo.MethodCash, Reference: "", By: "c", Time: at},
	} {
		if _, _, err := s.Credit(ctx, &bad); amigo.ErrorKind(err) != amigo.EINVALID {
			t.Fatalf("bad payment %+v: %v", bad, err)
		}
	}
	if _, _, err := s.Credit(ctx, &amigo.Payment{AccountID: 9999, AmountFen: 1, Method: amigo.MethodCash, Reference: "nobody", By: "c", Time: at}); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("unknown account: %v", err)
	}
	day := amigo.LedgerEntry{AccountID: a.ID, Time: at, Kind: amigo.LedgerDaily, AmountFen: -321, Reference: amigo.DailyReference(a.ID, at), By: "system"}
	if dup, err := s.PostLedger(ctx, &day); err != nil || dup || day.BalanceFen != 4679 {
		t.Fatalf("daily %+v %v %v", day, dup, err)
	}
	day2 := amigo.LedgerEntry{AccountID: a.ID, Time: at.Add(time.Hour), Kind: amigo.LedgerDaily, AmountFen: -321, Reference: amigo.DailyReference(a.ID, at), By: "system"}
	if dup, err := s.PostLedger(ctx, &day2); err != nil || !dup || day2.ID != day.ID {
		t.Fatalf("daily again %+v %v %v", day2, dup, err)
	}
	day2.AmountFen = -322
	day2.ID = 0
	if _, err := s.PostLedger(ctx, &day2); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("daily again with another amount: %v", err)
	}
	if acc, _ := s.GetAccount(ctx, a.ID); acc.BalanceFen != 4679 {
		t.Fatalf("balance %d, want 4679", acc.BalanceFen)
	}
	es, n, err := s.ListLedger(ctx, a.ID, 0, 0)
	if err != nil || n != 2 || es[0].ID != day.ID || es[1].ID != e.ID {
		t.Fatalf("ledger %+v %d %v", es, n, err)
	}
	if refs, err := s.LedgerReferences(ctx, a.ID, amigo.LedgerDaily, at); err != nil || len(refs) != 1 || refs[0] != fmt.Sprintf("daily/%d/2026-03-01", a.ID) {
		t.Fatalf("references %v %v", refs, err)
	}
	if ps, n, err := s.ListPayments(ctx, amigo.PaymentFilter{AccountID: a.ID, Since: at, Until: at.Add(time.Second)}); err != nil || n != 1 || ps[0].Receipt != p.Receipt {
		t.Fatalf("payments %+v %d %v", ps, n, err)
	}
	if au, _ := s.ListAudit(ctx, 1); len(au) != 1 || au[0].Action != "ledger.daily" || au[0].Actor != "system" {
		t.Fatalf("audit %+v", au)
	}
	// A failed transaction keeps neither the entry nor the balance.
	boom := amigo.Errorf(amigo.EINTERNAL, "test", "boom")
	s.WithTx(ctx, func(tx amigo.Store) error {
		tx.PostLedger(ctx, &amigo.LedgerEntry{AccountID: a.ID, Time: at, Kind: amigo.LedgerAdjustment, AmountFen: 100, Reference: "adj/rolled-back", By: "admin"})
		return boom
	})
	if acc, _ := s.GetAccount(ctx, a.ID); acc.BalanceFen != 4679 {
		t.Fatalf("balance after rollback %d", acc.BalanceFen)
	}

	// A page of a filtered listing: the total counts every match, the page
	// only its rows.
	for i, m := range []string{amigo.MethodCash, amigo.MethodCard, amigo.MethodCash, amigo.MethodCash} {
		q := amigo.Payment{AccountID: a.ID, AmountFen: 100, Method: m, Reference: fmt.Sprintf("page/%d", i), By: "c", Time: at.Add(time.Duration(i+1) * time.Minute)}
		if _, _, err := s.Credit(ctx, &q); err != nil {
			t.Fatal(err)
		}
	}
	if ps, n, err := s.ListPayments(ctx, amigo.PaymentFilter{AccountID: a.ID, Method: amigo.MethodCash, Since: at.Add(time.Minute), Limit: 1, Offset: 1}); err != nil || n != 3 || len(ps) != 1 || ps[0].Reference != "page/2" {
		t.Fatalf("a page of payments %+v %d %v", ps, n, err)
	}
	if ps, n, err := s.ListPayments(ctx, amigo.PaymentFilter{AccountID: a.ID, Method: amigo.MethodWeChat}); err != nil || n != 0 || len(ps) != 0 {
		t.Fatalf("payments by another method %+v %d %v", ps, n, err)
	}

	n1 := amigo.Notice{AccountID: a.ID, Time: at, Kind: amigo.NoticeLowBalance, Message: "low / 余额不足"}
	if err := s.AppendNotice(ctx, &n1); err != nil {
		t.Fatal(err)
	}
	if ns, n, err := s.ListNotices(ctx, a.ID, 10, 0); err != nil || n != 1 || ns[0].Message != n1.Message {
		t.Fatalf("notices %+v %v", ns, err)
	}

	if p, err := s.GetControlPolicy(ctx, site.ID); err != nil || p.Reconnect != amigo.ReconnectAllowClose || len(p.KeepPowerWindows) != 0 {
		t.Fatalf("default policy %+v %v", p, err)
	}
	pol := amigo.ControlPolicy{SiteID: site.ID, KeepPowerWindows: []amigo.TimeWindow{{From: "22:00", To: "06:00"}}, KeepPowerWeekdays: []string{"sunday"},
		KeepPowerDates: []string{"2026-10-01"}, Reconnect: amigo.ReconnectClose, UpdatedAt: at, UpdatedBy: "admin"}
	if err := s.PutControlPolicy(ctx, pol); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetControlPolicy(ctx, site.ID); err != nil || got.Reconnect != amigo.ReconnectClose || got.KeepPowerWindows[0].From != "22:00" || got.UpdatedBy != "admin" || !got.UpdatedAt.Equal(at) {
		t.Fatalf("policy %+v %v", got, err)
	}
	pol.KeepPowerWindows[0].To = "25:00"
	if err := s.PutControlPolicy(ctx, pol); amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatalf("bad window: %v", err)
	}
}
