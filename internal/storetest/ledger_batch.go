package storetest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// ledgerBatch: PostLedgers posts like PostLedger entry by entry, in one
// transaction.
func ledgerBatch(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, _, ms := Fixture(t, s, 2)
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	c := amigo.Customer{Name: "李四"}
	if err := s.CreateCustomer(ctx, &c); err != nil {
		t.Fatal(err)
	}
	var accts [2]amigo.Account
	for i := range accts {
		accts[i] = amigo.Account{Number: "L-00" + string(rune('1'+i)), CustomerID: c.ID, SiteID: site.ID, Mode: amigo.ModePostpaid, Tariff: "zj", BillingDay: 1,
			CreatedAt: at, Meters: []amigo.AccountMeter{{MeterID: ms[i].ID, From: at}}}
		if err := s.CreateAccount(ctx, &accts[i]); err != nil {
			t.Fatal(err)
		}
	}
	a, b := accts[0].ID, accts[1].ID
	// One entry alone first: a's balance 500.
	first := amigo.LedgerEntry{AccountID: a, Time: at, Kind: amigo.LedgerAdjustment, AmountFen: 500, Reference: "adj/first", By: "admin"}
	if _, err := s.PostLedger(ctx, &first); err != nil {
		t.Fatal(err)
	}
	if dup, err := s.PostLedgers(ctx, nil); err != nil || len(dup) != 0 {
		t.Fatalf("no entries: %v %v", dup, err)
	}
	batch := func() []amigo.LedgerEntry {
		return []amigo.LedgerEntry{
			{AccountID: a, Time: at, Kind: amigo.LedgerBill, AmountFen: -1234, Reference: "bill/1", By: "system", Detail: "bill 1"},
			{AccountID: b, Time: at, Kind: amigo.LedgerBill, AmountFen: -250, Reference: "bill/2", By: "system"},
			{AccountID: a, Time: at.Add(time.Minute), Kind: amigo.LedgerAdjustment, AmountFen: 34, Reference: "adj/3", By: "admin"},
			{AccountID: a, Time: at, Kind: amigo.LedgerBill, AmountFen: -1234, Reference: "bill/1", By: "system"},       // repeated in the batch
			{AccountID: a, Time: at, Kind: amigo.LedgerAdjustment, AmountFen: 500, Reference: "adj/first", By: "admin"}, // stored before
		}
	}
	es := batch()
	dup, err := s.PostLedgers(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	// a: 500 − 1234 = −734, then + 34 = −700; b: 0 − 250 = −250.
	if want := []bool{false, false, false, true, true}; len(dup) != 5 || dup[0] != want[0] || dup[1] != want[1] || dup[2] != want[2] || !dup[3] || !dup[4] {
		t.Fatalf("duplicates %v, want %v", dup, want)
	}
	if es[0].BalanceFen != -734 || es[2].BalanceFen != -700 || es[1].BalanceFen != -250 || es[0].ID == 0 || es[1].ID == 0 || es[2].ID == 0 ||
		es[3].ID != es[0].ID || es[3].BalanceFen != -734 || es[4].ID != first.ID || es[4].BalanceFen != 500 {
		t.Fatalf("entries %+v", es)
	}
	for _, want := range []struct {
		id  int64
		bal amigo.Fen
	}{{a, -700}, {b, -250}} {
		if acc, _ := s.GetAccount(ctx, want.id); acc.BalanceFen != want.bal {
			t.Fatalf("account %d balance %d, want %d", want.id, acc.BalanceFen, want.bal)
		}
	}
	if got, err := s.FindLedger(ctx, "bill/1"); err != nil || got.ID != es[0].ID || got.BalanceFen != -734 || got.Detail != "bill 1" || !got.Time.Equal(at) {
		t.Fatalf("bill/1 stored %+v %v", got, err)
	}
	if au, _ := s.ListAudit(ctx, 3); len(au) != 3 || au[0].Action != "ledger.adjustment" || au[0].Object != "account "+itoa(a) ||
		!strings.Contains(au[0].Detail, "balance -700, reference adj/3") || au[2].Action != "ledger.bill" || !strings.Contains(au[2].Detail, "balance -734, reference bill/1: bill 1") {
		t.Fatalf("audit %+v", au)
	}
	// The same batch again posts nothing.
	again := batch()
	if dup, err := s.PostLedgers(ctx, again); err != nil || dup[0] != true || dup[1] != true || dup[2] != true || again[2].ID != es[2].ID || again[2].BalanceFen != -700 {
		t.Fatalf("again %v %+v %v", dup, again, err)
	}
	if acc, _ := s.GetAccount(ctx, a); acc.BalanceFen != -700 {
		t.Fatalf("balance after the batch again %d", acc.BalanceFen)
	}
	// A reference used for another amount fails the whole call: the new
	// entry before it is not kept.
	bad := []amigo.LedgerEntry{
		{AccountID: b, Time: at, Kind: amigo.LedgerAdjustment, AmountFen: 1, Reference: "adj/new", By: "admin"},
		{AccountID: a, Time: at, Kind: amigo.LedgerBill, AmountFen: -999, Reference: "bill/1", By: "system"},
	}
	if _, err := s.PostLedgers(ctx, bad); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("reference reused: %v", err)
	}
	inBatch := []amigo.LedgerEntry{
		{AccountID: b, Time: at, Kind: amigo.LedgerAdjustment, AmountFen: 1, Reference: "adj/new", By: "admin"},
		{AccountID: a, Time: at, Kind: amigo.LedgerAdjustment, AmountFen: 1, Reference: "adj/new", By: "admin"},
	}
	if _, err := s.PostLedgers(ctx, inBatch); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("reference reused within the batch: %v", err)
	}
	if _, err := s.PostLedgers(ctx, []amigo.LedgerEntry{{AccountID: 99999, Time: at, Kind: amigo.LedgerAdjustment, AmountFen: 1, Reference: "adj/nobody", By: "admin"}}); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("unknown account: %v", err)
	}
	if _, err := s.PostLedgers(ctx, []amigo.LedgerEntry{{AccountID: a, Time: at, Kind: "gift", AmountFen: 1, Reference: "x", By: "admin"}}); amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatalf("bad kind: %v", err)
	}
	if _, err := s.FindLedger(ctx, "adj/new"); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("adj/new kept: %v", err)
	}
	if acc, _ := s.GetAccount(ctx, b); acc.BalanceFen != -250 {
		t.Fatalf("b's balance after failed batches %d", acc.BalanceFen)
	}
	// More entries than one statement holds (1,201: three chunks), all
	// on account b, inside the caller's transaction: b's balance −250 −
	// 1201 = −1451, the last entry's running balance the same.
	many := make([]amigo.LedgerEntry, 1201)
	for i := range many {
		many[i] = amigo.LedgerEntry{AccountID: b, Time: at, Kind: amigo.LedgerDaily, AmountFen: -1, Reference: "daily/many/" + itoa(int64(i)), By: "system"}
	}
	err = s.WithTx(ctx, func(tx amigo.Store) error {
		_, err := tx.PostLedgers(ctx, many)
		return err
	})
	if err != nil || many[1200].BalanceFen != -1451 || many[0].BalanceFen != -251 || many[500].BalanceFen != -751 {
		t.Fatalf("many: %v, balances %d %d %d", err, many[0].BalanceFen, many[500].BalanceFen, many[1200].BalanceFen)
	}
	if _, n, _ := s.ListLedger(ctx, b, 1, 0); n != 1202 {
		t.Fatalf("b has %d entries, want 1202", n)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
