package wallet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// TestLedgerInvariant runs random histories of payments, daily
// deductions, refunds, adjustments, duplicates (the same reference again,
// sometimes concurrently) and conflicting reuses of a reference against the
// store, and checks after each history that every account's stored
// balance is the sum of its entries, each entry's balance is the running
// sum in order, and both equal a model kept by the test.
func TestLedgerInvariant(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			r := rand.New(rand.NewPCG(seed, 7))
			st := s.open(t)
			f := newFixture(t, st, 0)
			ctx := context.Background()
			accounts := []amigo.Account{f.account(t, "P1", "x"), f.account(t, "P2", "x"), f.account(t, "P3", "x")}
			model := map[int64]amigo.Fen{}
			type used struct {
				account int64
				amount  amigo.Fen
				kind    string
			}
			refs := map[string]used{} // every reference posted, as the model knows it
			var refList []string
			at := local(2026, 3, 1, 9, 0)
			steps := 300
			if s.name == "postgres" {
				steps = 150
			}
			for i := range steps {
				a := accounts[r.IntN(len(accounts))]
				at = at.Add(time.Minute)
				switch op := r.IntN(10); {
				case op < 3: // a payment
					p := amigo.Payment{AccountID: a.ID, AmountFen: amigo.Fen(1 + r.IntN(100_000)), Method: amigo.MethodCash, Reference: fmt.Sprintf("pay-%d", i), By: "cashier", Time: at}
					e, dup, err := st.Credit(ctx, &p)
					if err != nil || dup || e.AmountFen != p.AmountFen {
						t.Fatalf("step %d: credit %+v: %v %v", i, e, dup, err)
					}
					model[a.ID] += p.AmountFen
					refs["payment/"+p.Reference] = used{a.ID, p.AmountFen, amigo.LedgerPayment}
					refList = append(refList, "payment/"+p.Reference)
				case op < 7: // a deduction, refund or adjustment
					kind, amt := amigo.LedgerDaily, -amigo.Fen(r.IntN(5_000))
					switch op {
					case 5:
						kind, amt = amigo.LedgerRefund, -amigo.Fen(1+r.IntN(10_000))
					case 6:
						kind, amt = amigo.LedgerAdjustment, amigo.Fen(r.IntN(20_001)-10_000)
					}
					e := amigo.LedgerEntry{AccountID: a.ID, Time: at, Kind: kind, AmountFen: amt, Reference: fmt.Sprintf("%s/%d/%d", kind, a.ID, i), By: "system"}
					if dup, err := st.PostLedger(ctx, &e); err != nil || dup {
						t.Fatalf("step %d: post %+v: %v %v", i, e, dup, err)
					}
					model[a.ID] += amt
					refs[e.Reference] = used{a.ID, amt, kind}
					refList = append(refList, e.Reference)
				case op < 9 && len(refList) > 0: // the same reference again, several at once
					ref := refList[r.IntN(len(refList))]
					u := refs[ref]
					var wg sync.WaitGroup
					errs := make(chan error, 3)
					for range 3 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							var dup bool
							var err error
							if u.kind == amigo.LedgerPayment {
								p := amigo.Payment{AccountID: u.account, AmountFen: u.amount, Method: amigo.MethodCash, Reference: ref[len("payment/"):], By: "cashier", Time: at}
								_, dup, err = st.Credit(ctx, &p)
							} else {
								e := amigo.LedgerEntry{AccountID: u.account, Time: at, Kind: u.kind, AmountFen: u.amount, Reference: ref, By: "system"}
								dup, err = st.PostLedger(ctx, &e)
							}
							if err == nil && !dup {
								err = fmt.Errorf("reference %s posted twice", ref)
							}
							errs <- err
						}()
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						if err != nil {
							t.Fatalf("step %d: duplicate: %v", i, err)
						}
					}
				case len(refList) > 0: // a reference reused for another amount
					ref := refList[r.IntN(len(refList))]
					u := refs[ref]
					e := amigo.LedgerEntry{AccountID: u.account, Time: at, Kind: u.kind, AmountFen: u.amount - 1, Reference: ref, By: "system"}
					if u.kind == amigo.LedgerPayment {
						p := amigo.Payment{AccountID: u.account, AmountFen: u.amount + 1, Method: amigo.MethodCard, Reference: ref[len("payment/"):], By: "cashier", Time: at}
						if _, _, err := st.Credit(ctx, &p); amigo.ErrorKind(err) != amigo.ECONFLICT {
							t.Fatalf("step %d: reused payment reference: %v", i, err)
						}
					} else if _, err := st.PostLedger(ctx, &e); amigo.ErrorKind(err) != amigo.ECONFLICT {
						t.Fatalf("step %d: reused reference: %v", i, err)
					}
				}
			}
			for _, a := range accounts {
				es := ledger(t, st, a.ID)
				var sum amigo.Fen
				for _, e := range es {
					sum += e.AmountFen
					if e.BalanceFen != sum {
						t.Fatalf("account %s entry %d (%s): balance after %d, running sum %d", a.Number, e.ID, e.Reference, e.BalanceFen, sum)
					}
					if refs[e.Reference].account != a.ID {
						t.Fatalf("entry %s in account %d, model says %d", e.Reference, a.ID, refs[e.Reference].account)
					}
				}
				if got := balance(t, st, a.ID); got != sum || got != model[a.ID] {
					t.Fatalf("account %s: stored balance %d, sum of entries %d, model %d", a.Number, got, sum, model[a.ID])
				}
			}
			n := 0
			for _, a := range accounts {
				n += len(ledger(t, st, a.ID))
			}
			if n != len(refs) {
				t.Fatalf("%d entries for %d references", n, len(refs))
			}
		})
	}
}
