package billing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sqlite"
)

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "amigo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fleet creates a site on zj-residential with n postpaid accounts, one
// meter each, and their frozen readings: Jan 1 [1000; 100 400 300 200],
// Oct 1 [3600; 300 1400 900 1000], Nov 1 [3900+i; 320 1550+i 930 1100];
// account index heldAt has no Nov 1 reading.
func fleet(t testing.TB, s amigo.Store, n, heldAt int) amigo.Site {
	t.Helper()
	ctx := context.Background()
	site := amigo.Site{Name: "Compound 小区", TimeZone: "Asia/Shanghai"}
	if err := s.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/tariffs/zj-residential.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutTariff(ctx, amigo.TariffVersion{Name: "zj-residential", ValidFrom: "2026-01-01", Document: doc, CreatedAt: jan1, CreatedBy: "admin"}); err != nil {
		t.Fatal(err)
	}
	var rs []amigo.Reading
	for i := range n {
		c := amigo.Customer{Name: fmt.Sprintf("客户 %d", i)}
		if err := s.CreateCustomer(ctx, &c); err != nil {
			t.Fatal(err)
		}
		m := amigo.Meter{SiteID: site.ID, Address: fmt.Sprintf("%012d", 100000+i), CTRatio: 1, PTRatio: 1, Direct: true, InstalledAt: at(2025, 12, 1)}
		if err := s.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		a := amigo.Account{Number: fmt.Sprintf("A%04d", i), CustomerID: c.ID, SiteID: site.ID, Mode: amigo.ModePostpaid, Tariff: "zj-residential", BillingDay: 1,
			Meters: []amigo.AccountMeter{{MeterID: m.ID, From: at(2025, 12, 1)}}}
		if err := s.CreateAccount(ctx, &a); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, frozen(m.ID, jan1, 1000, 100, 400, 300, 200), frozen(m.ID, oct1, 3600, 300, 1400, 900, 1000))
		if i != heldAt {
			rs = append(rs, frozen(m.ID, nov1, 3900+int64(i), 320, 1550+int64(i), 930, 1100))
		}
	}
	if _, err := s.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	return site
}

// wantTotal is the bill of fleet account i: peak 200+i kWh × 0.5680,
// valley 100 × 0.2880 = 28.80, and tier 2 (2600 + 300 + i − 2760 = 140+i
// kWh) × 0.05; each rounded half-up to the fen: (200+i) × 56.80 fen
// rounds at half a fen, (140+i) × 5 fen is exact.
func wantTotal(i int64) amigo.Fen {
	return amigo.Fen(((200+i)*5680+50)/100 + 2880 + (140+i)*5)
}

// killer cancels its context at the n-th store call it counts (bills
// written, ledger entries, pages of accounts), inside a transaction or
// between them.
type killer struct {
	amigo.Store
	n      *atomic.Int64 // the run reads ahead on another goroutine
	cancel func()
}

func (k killer) tick() {
	if k.n.Add(-1) == 0 {
		k.cancel()
	}
}

func (k killer) WithTx(ctx context.Context, fn func(amigo.Store) error) error {
	return k.Store.WithTx(ctx, func(tx amigo.Store) error { return fn(killer{tx, k.n, k.cancel}) })
}

func (k killer) PostLedger(ctx context.Context, e *amigo.LedgerEntry) (bool, error) {
	k.tick()
	return k.Store.PostLedger(ctx, e)
}

func (k killer) PostLedgers(ctx context.Context, es []amigo.LedgerEntry) ([]bool, error) {
	k.tick()
	return k.Store.PostLedgers(ctx, es)
}

func (k killer) PutBills(ctx context.Context, bs []amigo.Bill) ([]bool, error) {
	k.tick()
	return k.Store.PutBills(ctx, bs)
}

func (k killer) BillingAccounts(ctx context.Context, site, after int64, limit int) ([]amigo.BillingAccount, error) {
	k.tick()
	return k.Store.BillingAccounts(ctx, site, after, limit)
}

// checkOnce checks that every account of the fleet has one bill of cycle,
// with the hand-computed total, and one ledger entry for it.
func checkOnce(t *testing.T, s amigo.Store, n, heldAt int) map[string]amigo.Fen {
	t.Helper()
	ctx := context.Background()
	bs, total, err := s.ListBills(ctx, amigo.BillFilter{Cycle: "2026-10"})
	if err != nil || total != n || len(bs) != n {
		t.Fatalf("%d bills (%d listed), want %d: %v", total, len(bs), n, err)
	}
	out := map[string]amigo.Fen{}
	for _, b := range bs {
		var i int64
		fmt.Sscanf(b.AccountNumber, "A%04d", &i)
		if _, dup := out[b.AccountNumber]; dup {
			t.Fatalf("account %s billed twice", b.AccountNumber)
		}
		out[b.AccountNumber] = b.TotalFen
		led, nled, err := s.ListLedger(ctx, b.AccountID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if int(i) == heldAt {
			if b.Status != amigo.BillHeld || b.TotalFen != 0 || nled != 0 || b.Flags[0].Code != FlagMissing {
				t.Fatalf("account %s: %+v, %d ledger entries", b.AccountNumber, b, nled)
			}
			continue
		}
		if b.Status != amigo.BillIssued || b.TotalFen != wantTotal(i) {
			t.Fatalf("account %s: %s %d fen, want issued %d", b.AccountNumber, b.Status, b.TotalFen, wantTotal(i))
		}
		if nled != 1 || led[0].Kind != amigo.LedgerBill || led[0].AmountFen != -b.TotalFen || led[0].Reference != "bill/"+b.Number {
			t.Fatalf("account %s ledger %+v", b.AccountNumber, led)
		}
	}
	return out
}

// A run killed at random points — between batches, inside a batch's
// transaction, while reading accounts — and restarted until it ends
// issues every bill exactly once, with the same amounts as a run that was
// never killed.
func TestRunKilledAtRandomPointsIssuesEveryBillOnce(t *testing.T) {
	const n, heldAt = 60, 13
	ctx := context.Background()
	straight := openStore(t)
	site := fleet(t, straight, n, heldAt)
	rn := &Runner{Store: straight, Batch: 7}
	r, err := rn.Run(ctx, site.ID, "2026-10", "op")
	if err != nil || r.Status != amigo.RunDone || r.Issued != n-1 || r.Held != 1 || r.Done != n {
		t.Fatalf("straight run %+v %v", r, err)
	}
	want := checkOnce(t, straight, n, heldAt)

	for seed := range uint64(3) {
		s := openStore(t)
		site := fleet(t, s, n, heldAt)
		rng := rand.New(rand.NewPCG(seed, 7))
		kills := 0
		for attempt := 0; ; attempt++ {
			if attempt > 200 {
				t.Fatal("the run never finished")
			}
			actx, cancel := context.WithCancel(ctx)
			// A whole run is 28 store calls (10 pages of accounts, 9 of
			// bills, 9 of ledger entries): a kill within the first 10.
			var left atomic.Int64
			left.Store(1 + rng.Int64N(10))
			rn := &Runner{Store: killer{s, &left, cancel}, Batch: 7}
			r, err := rn.Run(actx, site.ID, "2026-10", "op")
			cancel()
			if err == nil {
				if r.Status != amigo.RunDone || r.Done != n {
					t.Fatalf("finished run %+v", r)
				}
				break
			}
			if actx.Err() == nil {
				t.Fatalf("attempt %d failed without a kill: %v", attempt, err)
			}
			kills++
		}
		if kills < 3 {
			t.Fatalf("seed %d: only %d kills", seed, kills)
		}
		got := checkOnce(t, s, n, heldAt)
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("seed %d: account %s %d fen, straight run %d", seed, k, got[k], v)
			}
		}
	}
}

// Run again, a done cycle issues nothing more and changes nothing; a new
// tariff version does not change an issued bill; a held bill is issued
// once its reading arrives.
func TestRunAgainAndHeldBillReleased(t *testing.T) {
	const n, heldAt = 12, 4
	ctx := context.Background()
	s := openStore(t)
	site := fleet(t, s, n, heldAt)
	rn := &Runner{Store: s, Batch: 5}
	if _, err := rn.Run(ctx, site.ID, "2026-10", "op"); err != nil {
		t.Fatal(err)
	}
	first := checkOnce(t, s, n, heldAt)

	doc, _ := os.ReadFile("../../docs/tariffs/zj-residential.json")
	v2 := []byte(string(doc))
	v2 = []byte(strings.NewReplacer(`"2026-01-01"`, `"2026-10-16"`, `"0.5680"`, `"0.9999"`).Replace(string(v2)))
	if err := s.PutTariff(ctx, amigo.TariffVersion{Name: "zj-residential", ValidFrom: "2026-10-16", Document: v2, CreatedAt: nov1, CreatedBy: "admin"}); err != nil {
		t.Fatal(err)
	}
	r, err := rn.Run(ctx, site.ID, "2026-10", "op")
	if err != nil || r.Issued != 0 || r.Skipped != n-1 || r.Held != 1 {
		t.Fatalf("second run %+v %v", r, err)
	}
	if again := checkOnce(t, s, n, heldAt); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("amounts changed: %v, were %v", again, first)
	}

	// The held account's reading arrives; with the version from Oct 16 it
	// needs Oct 16 too. Its bill is then issued once:
	//	Oct 1 [3600; 300 1400 900 1000] → Oct 16 [3700; 300 1450 900 1050] → Nov 1 [3900+4; 320 1554 930 1100]
	//	v1 (Jan 1–Oct 15, thresholds 2178 / 3787): peak 50 × 0.5680 = 28.40, valley 50 × 0.2880 = 14.40;
	//	   2600 → 2700 lies above 2178: tier 2 100 × 0.05 = 5.00
	//	v2 (Oct 16–Dec 31, thresholds 582 / 1013): 0 → 204, tier 1 only; peak 154 × 0.9999 = 153.9846 → 153.98, valley 50 × 0.2880 = 14.40
	//	total 28.40 + 14.40 + 5.00 + 153.98 + 14.40 = 216.18 yuan
	acct, err := s.FindAccountByNumber(ctx, fmt.Sprintf("A%04d", heldAt))
	if err != nil {
		t.Fatal(err)
	}
	mid := acct.Meters[0].MeterID
	if _, err := s.WriteReadings(ctx, []amigo.Reading{frozen(mid, at(2026, 10, 16), 3700, 300, 1450, 900, 1050), frozen(mid, nov1, 3904, 320, 1554, 930, 1100)}); err != nil {
		t.Fatal(err)
	}
	r, err = rn.Run(ctx, site.ID, "2026-10", "op")
	if err != nil || r.Issued != 1 || r.Held != 0 || r.TotalFen != 21618 {
		t.Fatalf("third run %+v %v", r, err)
	}
	bs, _, _ := s.ListBills(ctx, amigo.BillFilter{AccountID: acct.ID})
	if len(bs) != 1 || bs[0].Status != amigo.BillIssued || bs[0].TotalFen != 21618 || len(bs[0].Tariffs) != 2 {
		t.Fatalf("released bill %+v", bs)
	}
	if got, _ := s.GetAccount(ctx, acct.ID); got.BalanceFen != -21618 {
		t.Fatalf("balance %d", got.BalanceFen)
	}
}

// A correction is a credit note for the whole bill plus a reissue computed
// again (here after the meter's CT ratio was found to be 2, not 1), both
// charged to the ledger and audited; the original never changes.
//
//	account A0003, first bill: peak 203 × 0.5680 = 115.304 → 115.30, valley 28.80, tier 2 143 × 0.05 = 7.15: 151.25 yuan
//	reissue with CT 2: before Jan 1–Oct 1 = 2600 × 2 = 5200 (above 4800: tier 3), October 303 × 2 = 606 kWh
//	peak 406 × 0.5680 = 230.608 → 230.61; valley 200 × 0.2880 = 57.60; tier 3 606 × 0.30 = 181.80; total 470.01 yuan
//	balance: −151.25 + 151.25 − 470.01 = −470.01
func TestCorrectionIsACreditNoteAndAReissue(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	site := fleet(t, s, 5, -1)
	if _, err := (&Runner{Store: s}).Run(ctx, site.ID, "2026-10", "op"); err != nil {
		t.Fatal(err)
	}
	acct, _ := s.FindAccountByNumber(ctx, "A0003")
	bs, _, _ := s.ListBills(ctx, amigo.BillFilter{AccountID: acct.ID})
	orig := bs[0]
	if orig.TotalFen != 15125 {
		t.Fatalf("first bill %d", orig.TotalFen)
	}
	m, _ := s.GetMeter(ctx, acct.Meters[0].MeterID)
	m.CTRatio = 2
	if err := s.UpdateMeter(ctx, &m); err != nil {
		t.Fatal(err)
	}
	if _, err := Correct(ctx, s, orig.ID, "", "op", nov1); amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatalf("no reason: %v", err)
	}
	c, err := Correct(ctx, s, orig.ID, "CT ratio was 2 / 互感器变比应为2", "op", at(2026, 11, 20))
	if err != nil {
		t.Fatal(err)
	}
	if c.Credit.TotalFen != -15125 || c.Credit.Number != "202610-1-A0003-C1" || c.Credit.Kind != amigo.BillKindCredit || c.Credit.Corrects != orig.ID {
		t.Fatalf("credit note %+v", c.Credit)
	}
	if c.Reissue.TotalFen != 47001 || c.Reissue.Number != "202610-1-A0003-R1" || c.Reissue.Revision != 1 || c.Reissue.Corrects != orig.ID {
		t.Fatalf("reissue %+v", c.Reissue)
	}
	if got, _ := s.GetBill(ctx, orig.ID); got.TotalFen != 15125 || got.Status != amigo.BillIssued {
		t.Fatalf("original changed: %+v", got)
	}
	if a, _ := s.GetAccount(ctx, acct.ID); a.BalanceFen != -47001 {
		t.Fatalf("balance %d", a.BalanceFen)
	}
	if _, err := Correct(ctx, s, orig.ID, "again", "op", nov1); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("corrected twice: %v", err)
	}
	if _, err := Correct(ctx, s, c.Credit.ID, "a credit note", "op", nov1); amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatalf("credit note corrected: %v", err)
	}
	// The reissue can be corrected in turn (revision 2).
	c2, err := Correct(ctx, s, c.Reissue.ID, "again / 再次更正", "op", at(2026, 11, 21))
	if err != nil || c2.Reissue.Number != "202610-1-A0003-R2" || c2.Credit.TotalFen != -47001 {
		t.Fatalf("second correction %+v %v", c2, err)
	}
	audit, _ := s.ListAudit(ctx, 50)
	var credits, reissues int
	for _, e := range audit {
		switch e.Action {
		case "bill.credit":
			credits++
		case "bill.reissue":
			reissues++
		}
	}
	if credits != 2 || reissues != 2 {
		t.Fatalf("audit: %d credit, %d reissue entries", credits, reissues)
	}
}

// An account whose cycle has not ended at the run (billing day 15, run on
// November 2 for cycle 2026-10, which ends on November 15) gets no bill
// yet; a run of the same cycle after its end bills it.
func TestRunLeavesCyclesNotEndedForLater(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	site := fleet(t, s, 3, -1)
	a, _ := s.FindAccountByNumber(ctx, "A0002")
	a.BillingDay = 15
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	nov2 := func() time.Time { return at(2026, 11, 2) }
	r, err := (&Runner{Store: s, Now: nov2}).Run(ctx, site.ID, "2026-10", "op")
	if err != nil || r.Issued != 2 || r.NotDue != 1 || r.Done != 3 {
		t.Fatalf("run on Nov 2: %+v %v", r, err)
	}
	if bs, _, _ := s.ListBills(ctx, amigo.BillFilter{AccountID: a.ID}); len(bs) != 0 {
		t.Fatalf("bill before its cycle ended: %+v", bs)
	}
	// After Nov 15 the account's cycle (Oct 15 – Nov 15) is billed; its
	// Oct 15 and Nov 15 readings are not stored: held, naming them.
	r, err = (&Runner{Store: s, Now: func() time.Time { return at(2026, 11, 16) }}).Run(ctx, site.ID, "2026-10", "op")
	if err != nil || r.Issued != 0 || r.Held != 1 || r.Skipped != 2 || r.NotDue != 0 {
		t.Fatalf("run on Nov 16: %+v %v", r, err)
	}
}

// The scheduler bills the previous cycle each site day after 02:00, once
// a day; the next day's tick bills nothing twice.
func TestSchedulerBillsThePreviousCycleOnceADay(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	fleet(t, s, 4, -1)
	now := at(2026, 11, 1).Add(90 * time.Minute)
	clock := func() time.Time { return now }
	sc := &Scheduler{Runner: &Runner{Store: s, Now: clock}, Now: clock}
	if rs, err := sc.Tick(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("01:30: %v %v", rs, err)
	}
	now = at(2026, 11, 1).Add(3 * time.Hour)
	rs, err := sc.Tick(ctx)
	if err != nil || len(rs) != 1 || rs[0].Cycle != "2026-10" || rs[0].Issued != 4 {
		t.Fatalf("03:00: %+v %v", rs, err)
	}
	if rs, err := sc.Tick(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("03:00 again: %v %v", rs, err)
	}
	now = at(2026, 11, 2).Add(3 * time.Hour)
	rs, err = sc.Tick(ctx)
	if err != nil || len(rs) != 1 || rs[0].Issued != 0 || rs[0].Skipped != 4 {
		t.Fatalf("next day: %+v %v", rs, err)
	}
	checkOnce(t, s, 4, -1)
}

// Two processes working on one run at once (a run resumed twice, two
// station nodes): every bill once, and the run's counts count each
// account once.
func TestTwoRunnersOnOneRun(t *testing.T) {
	for _, store := range []struct {
		name string
		open func(t *testing.T) amigo.Store
	}{{"sqlite", func(t *testing.T) amigo.Store { return openStore(t) }}, {"postgres", openPG}} {
		t.Run(store.name, func(t *testing.T) {
			const n, heldAt = 40, 5
			ctx := context.Background()
			s := store.open(t)
			site := fleet(t, s, n, heldAt)
			r, err := (&Runner{Store: s}).Start(ctx, site.ID, "2026-10", "op")
			if err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 2)
			for range 2 {
				go func() {
					_, err := (&Runner{Store: s, Batch: 3}).Continue(ctx, r)
					errs <- err
				}()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.GetBillingRun(ctx, r.ID)
			if err != nil || got.Status != amigo.RunDone || got.Issued != n-1 || got.Held != 1 || got.Done != n || got.TotalFen == 0 {
				t.Fatalf("run %+v %v", got, err)
			}
			var want amigo.Fen
			for i := range int64(n) {
				if i != heldAt {
					want += wantTotal(i)
				}
			}
			if got.TotalFen != want {
				t.Fatalf("run total %d, bills %d", got.TotalFen, want)
			}
			checkOnce(t, s, n, heldAt)
		})
	}
}

// With Print set, each run the scheduler finishes is handed to it once
// the run is done; a failed Print keeps the day open and the same run is
// handed again at the next tick (no new run, no bill twice); a run that
// issues nothing is not printed.
func TestSchedulerPrintsItsRuns(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	fleet(t, s, 3, -1)
	now := at(2026, 11, 1).Add(3 * time.Hour)
	clock := func() time.Time { return now }
	var printed []amigo.BillingRun
	fail := true
	sc := &Scheduler{Runner: &Runner{Store: s, Now: clock}, Now: clock, Print: func(_ context.Context, r amigo.BillingRun) error {
		printed = append(printed, r)
		if fail {
			return fmt.Errorf("printer on fire")
		}
		return nil
	}}
	rs, err := sc.Tick(ctx)
	if err == nil || !strings.Contains(err.Error(), "printer on fire") || len(rs) != 1 || len(printed) != 1 || printed[0].ID != rs[0].ID || printed[0].Status != amigo.RunDone || printed[0].Issued != 3 {
		t.Fatalf("first tick: %+v %v, printed %+v", rs, err, printed)
	}
	fail = false
	rs, err = sc.Tick(ctx)
	if err != nil || len(rs) != 0 || len(printed) != 2 || printed[1].ID != printed[0].ID {
		t.Fatalf("second tick: %+v %v, printed %+v", rs, err, printed)
	}
	if rs, err := sc.Tick(ctx); err != nil || len(rs) != 0 || len(printed) != 2 {
		t.Fatalf("third tick: %+v %v, printed %d", rs, err, len(printed))
	}
	now = at(2026, 11, 2).Add(3 * time.Hour)
	if rs, err := sc.Tick(ctx); err != nil || len(rs) != 1 || rs[0].Issued != 0 || len(printed) != 2 {
		t.Fatalf("next day: %+v %v, printed %d", rs, err, len(printed))
	}
	checkOnce(t, s, 3, -1)
}
