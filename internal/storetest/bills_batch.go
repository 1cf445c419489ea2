package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// billsBatch: PutBills of many bills (more than a statement takes) writes
// each as PutBills of it alone would, in order: new keys inserted, held
// ones replaced in place, issued ones left alone (written false); every
// written bill gets its own id; a key repeated in one call sees its
// earlier bill.
func billsBatch(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC)
	const n = 1234
	bill := func(i int, status string, fen int64) amigo.Bill {
		kwh := amigo.KWh(int64(i))
		return amigo.Bill{Number: fmt.Sprintf("202610-1-B%d", i), Kind: amigo.BillKindBill, Status: status, AccountID: int64(1000 + i), AccountNumber: fmt.Sprintf("B%d", i),
			CustomerName: fmt.Sprintf("住户 %d", i), SiteID: 1, Cycle: "2026-10", PeriodStart: at.Add(-31 * 24 * time.Hour), PeriodEnd: at, DueDate: "2026-11-16",
			IssuedAt: at, CreatedBy: "system", TotalFen: amigo.Fen(fen), KWh: kwh, Tariffs: []string{"zj@2026-01-01"},
			Lines: []amigo.BillLine{{Kind: "energy", Name: "flat", KWh: &kwh, Price: "0.5380", AmountFen: amigo.Fen(fen), Tariff: "zj@2026-01-01"}}}
	}
	// Before: every third account issued, the next one held.
	var before []amigo.Bill
	for i := range n {
		switch i % 3 {
		case 0:
			before = append(before, bill(i, amigo.BillIssued, 1))
		case 1:
			before = append(before, bill(i, amigo.BillHeld, 0))
		}
	}
	if w, err := s.PutBills(ctx, before); err != nil || len(w) != len(before) {
		t.Fatalf("put before: %d written, %v", len(w), err)
	}
	ids := map[int64]int64{} // account: id of its stored bill
	for k, b := range before {
		if b.ID == 0 {
			t.Fatalf("bill %d of account %d written without an id", k, b.AccountID)
		}
		if ids[b.AccountID] != 0 {
			t.Fatalf("account %d twice", b.AccountID)
		}
		ids[b.AccountID] = b.ID
	}
	// Now every account issued, with account 1000+5 (no bill before)
	// first held, then issued, in the same call.
	var bs []amigo.Bill
	for i := range n {
		if i == 5 {
			bs = append(bs, bill(i, amigo.BillHeld, 0))
		}
		bs = append(bs, bill(i, amigo.BillIssued, int64(100+i)))
	}
	w, err := s.PutBills(ctx, bs)
	if err != nil || len(w) != len(bs) {
		t.Fatalf("put batch: %d written, %v", len(w), err)
	}
	seen := map[int64]bool{}
	for k, b := range bs {
		i := int(b.AccountID - 1000)
		if want := i%3 != 0; w[k] != want {
			t.Fatalf("bill %d (account %d, %s): written %v, want %v", k, b.AccountID, b.Status, w[k], want)
		}
		if !w[k] {
			continue
		}
		if b.ID == 0 || (seen[b.ID] && i != 5) {
			t.Fatalf("bill %d: id %d", k, b.ID)
		}
		seen[b.ID] = true
		if i%3 == 1 && b.ID != ids[b.AccountID] {
			t.Fatalf("held bill of account %d replaced under id %d, was %d", b.AccountID, b.ID, ids[b.AccountID])
		}
	}
	if bs[5].ID != bs[6].ID || bs[5].AccountID != bs[6].AccountID {
		t.Fatalf("a key twice in a call: ids %d and %d", bs[5].ID, bs[6].ID)
	}
	for i := range n {
		l, cnt, err := s.ListBills(ctx, amigo.BillFilter{AccountID: int64(1000 + i), Limit: 2})
		if err != nil || cnt != 1 || len(l) != 1 {
			t.Fatalf("account %d: %d bills, %v", 1000+i, cnt, err)
		}
		want := int64(100 + i)
		if i%3 == 0 {
			want = 1
		}
		got := l[0]
		if got.Status != amigo.BillIssued || int64(got.TotalFen) != want || got.Number != fmt.Sprintf("202610-1-B%d", i) || got.CustomerName != fmt.Sprintf("住户 %d", i) ||
			len(got.Lines) != 1 || int64(got.Lines[0].AmountFen) != want || *got.Lines[0].KWh != amigo.KWh(int64(i)) || !got.IssuedAt.Equal(at) {
			t.Fatalf("account %d: %+v", 1000+i, got)
		}
	}
}
