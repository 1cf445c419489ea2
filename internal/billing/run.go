package billing

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
	"github.com/amigo-metering/amigo/tariff"
)

// Runner runs billing runs over a store: a site's postpaid accounts in id
// order, Batch accounts per transaction. Each transaction writes the
// batch's bills, their ledger entries (kind bill, reference "bill/<number>")
// and the run's cursor together, so a run killed at any moment resumes
// after the last batch it committed, and a bill's unique key (account,
// cycle) makes a batch done twice issue nothing twice.
type Runner struct {
	Store   amigo.Store
	Now     func() time.Time // issue time (default time.Now)
	Batch   int              // accounts per transaction (default DefaultBatch)
	DueDays int              // default DefaultDueDays
	Log     *slog.Logger
	// Progress, when set, is called after each committed batch with the
	// run as stored.
	Progress func(amigo.BillingRun)
	// Reader, when set, is another connection to the same database that
	// the run reads accounts, bill states and readings through, so that
	// reading the next batch overlaps writing this one (SQLite has one
	// connection per store). Default: Store.
	Reader amigo.Store
	// Stats is where the run's time went (wall clock), for benchmarks.
	// Reading and computing a batch overlap writing the one before, so
	// the parts add up to more than the run's time.
	Stats Stats
}

// Stats splits a run's wall-clock time: reading accounts, bill states
// and readings; computing bills; writing bills, ledger entries and the
// cursor (the transaction, commit included).
type Stats struct {
	Read, Compute, Write time.Duration
	Ledger               time.Duration // of Write: the ledger entries (PostLedger)
}

// DefaultBatch is how many accounts a run writes per transaction: fewer
// commits (each synchronous) and fewer statements parsed than with 1,000
// (docs/benchmarks.md, billing).
const DefaultBatch = 5000

// Percent is how much of a run is done, 0–100.
func Percent(r amigo.BillingRun) int {
	if r.Status == amigo.RunDone || r.Total == 0 {
		if r.Status == amigo.RunDone {
			return 100
		}
		return 0
	}
	return min(100, r.Done*100/r.Total)
}

// Start returns the run of a site's cycle to work on: the unfinished one
// (a run killed before it ended), or a new one.
func (rn *Runner) Start(ctx context.Context, siteID int64, cycle, by string) (amigo.BillingRun, error) {
	if _, _, err := ParseCycle(cycle); err != nil {
		return amigo.BillingRun{}, err
	}
	if _, err := rn.Store.GetSite(ctx, siteID); err != nil {
		return amigo.BillingRun{}, fmt.Errorf("billing run: site %d: %w", siteID, err)
	}
	r, err := rn.Store.OpenBillingRun(ctx, siteID, cycle)
	if err == nil {
		return r, nil
	}
	if amigo.ErrorKind(err) != amigo.ENOTFOUND {
		return r, fmt.Errorf("billing run: %w", err)
	}
	n, err := rn.Store.CountBillingAccounts(ctx, siteID)
	if err != nil {
		return r, fmt.Errorf("billing run: %w", err)
	}
	now := rn.now()
	r = amigo.BillingRun{SiteID: siteID, Cycle: cycle, Status: amigo.RunRunning, Total: n, StartedBy: by, StartedAt: now, UpdatedAt: now}
	err = rn.Store.WithTx(ctx, func(tx amigo.Store) error {
		if err := tx.CreateBillingRun(ctx, &r); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, amigo.AuditEntry{Time: now, Actor: by, Action: "billing.run", Object: fmt.Sprintf("site %d cycle %s", siteID, cycle), Detail: fmt.Sprintf("run %d started for %d postpaid accounts", r.ID, n)})
	})
	if amigo.ErrorKind(err) == amigo.ECONFLICT { // another process started it meanwhile
		return rn.Store.OpenBillingRun(ctx, siteID, cycle)
	}
	if err != nil {
		return r, fmt.Errorf("billing run: %w", err)
	}
	return r, nil
}

func (rn *Runner) now() time.Time {
	if rn.Now != nil {
		return rn.Now().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}

// Continue works on run r from its cursor to the end and returns it done.
// Cancelling ctx stops it between or inside batches: what was committed
// stays, the rest is done by the next Continue.
func (rn *Runner) Continue(ctx context.Context, r amigo.BillingRun) (amigo.BillingRun, error) {
	site, err := rn.Store.GetSite(ctx, r.SiteID)
	if err != nil {
		return r, fmt.Errorf("billing run %d: site: %w", r.ID, err)
	}
	set, err := LoadTariffs(ctx, rn.Store)
	if err != nil {
		return r, fmt.Errorf("billing run %d: %w", r.ID, err)
	}
	p := Params{Loc: site.Location(), Tariffs: set, DueDays: rn.DueDays, By: "system", RunID: r.ID, plans: &planCache{m: map[planKey]planned{}}}
	batch := rn.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	// The next batch is read and computed (on its own goroutine) while
	// this one is written; a batch found written by another process
	// meanwhile discards what was read ahead.
	ahead := func(after int64) <-chan prepared {
		ch := make(chan prepared, 1)
		go func(r amigo.BillingRun) { ch <- rn.prepare(ctx, r, after, batch, p) }(r)
		return ch
	}
	pending := ahead(r.Cursor)
	defer func() {
		if pending != nil {
			<-pending // never leave the read-ahead running
		}
	}()
	for {
		b := <-pending
		pending = nil
		if err := ctx.Err(); err != nil {
			return r, err
		}
		if b.err != nil {
			return r, fmt.Errorf("billing run %d: batch after account %d: %w", r.ID, r.Cursor, b.err)
		}
		if len(b.as) == 0 {
			break
		}
		pending = ahead(b.as[len(b.as)-1].ID)
		next, err := rn.write(ctx, r, b)
		if amigo.ErrorKind(err) == amigo.ECONFLICT && ctx.Err() == nil {
			// Another process advanced the run meanwhile: what it wrote
			// stands (bills are unique by key); go on from where it is.
			<-pending
			pending = nil
			if r, err = rn.Store.GetBillingRun(ctx, r.ID); err != nil {
				return r, fmt.Errorf("billing run %d: %w", r.ID, err)
			}
			if r.Status == amigo.RunDone {
				return r, nil
			}
			pending = ahead(r.Cursor)
			continue
		}
		if err != nil {
			return r, fmt.Errorf("billing run %d: batch after account %d: %w", r.ID, r.Cursor, err)
		}
		r = next
		if rn.Progress != nil {
			rn.Progress(r)
		}
	}
	now := rn.now()
	r.Status, r.FinishedAt, r.UpdatedAt = amigo.RunDone, now, now
	if r.Done > r.Total { // accounts added while it ran
		r.Total = r.Done
	}
	err = rn.Store.WithTx(ctx, func(tx amigo.Store) error {
		if err := tx.AdvanceBillingRun(ctx, r, r.Cursor); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, amigo.AuditEntry{Time: now, Actor: r.StartedBy, Action: "billing.run", Object: fmt.Sprintf("site %d cycle %s", r.SiteID, r.Cycle),
			Detail: fmt.Sprintf("run %d done: %d issued, %d held, %d billed before, %s yuan", r.ID, r.Issued, r.Held, r.Skipped, r.TotalFen)})
	})
	if amigo.ErrorKind(err) == amigo.ECONFLICT && ctx.Err() == nil {
		// Another process finished it (or moved on): its record stands.
		return rn.Store.GetBillingRun(ctx, r.ID)
	}
	if err != nil {
		return r, fmt.Errorf("billing run %d: finish: %w", r.ID, err)
	}
	if rn.Log != nil {
		rn.Log.Info("billing run done / 计费完成", "run", r.ID, "site", r.SiteID, "cycle", r.Cycle, "issued", r.Issued, "held", r.Held,
			"skipped", r.Skipped, "not_due", r.NotDue, "total_fen", int64(r.TotalFen))
	}
	if rn.Progress != nil {
		rn.Progress(r)
	}
	return r, nil
}

// Run starts (or resumes) the run of a site's cycle and works it to the end.
func (rn *Runner) Run(ctx context.Context, siteID int64, cycle, by string) (amigo.BillingRun, error) {
	r, err := rn.Start(ctx, siteID, cycle, by)
	if err != nil {
		return r, err
	}
	return rn.Continue(ctx, r)
}

// prepared is a batch read and computed, not yet written.
type prepared struct {
	as              []amigo.BillingAccount
	bills           []amigo.Bill
	skipped, notDue int
	err             error
}

// prepare reads the page of accounts after an id, their bill states and
// readings (through Reader when set), and computes their bills.
func (rn *Runner) prepare(ctx context.Context, r amigo.BillingRun, after int64, limit int, p Params) (out prepared) {
	rd := rn.Reader
	if rd == nil {
		rd = rn.Store
	}
	if out.err = ctx.Err(); out.err != nil {
		return out
	}
	t0 := time.Now()
	as, err := rd.BillingAccounts(ctx, r.SiteID, after, limit)
	if err != nil || len(as) == 0 {
		rn.Stats.Read += time.Since(t0)
		out.err = err
		return out
	}
	out.as = as
	p.IssuedAt = rn.now()
	ids := make([]int64, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	states, err := rd.BillStates(ctx, r.Cycle, ids)
	if err != nil {
		out.err = err
		return out
	}
	type job struct {
		acct Account
		cyc  Cycle
	}
	jobs := make([]job, 0, len(as))
	instants := map[int64]time.Time{}
	for _, ba := range as {
		if states[ba.ID] == amigo.BillIssued {
			out.skipped++
			continue
		}
		acct := AccountOf(ba, p.Loc)
		cyc, err := CycleOf(r.Cycle, acct.BillingDay, p.Loc)
		if err != nil {
			// A bad billing day holds the bill with the reason.
			b := amigo.Bill{Kind: amigo.BillKindBill, Status: amigo.BillHeld, AccountID: acct.ID, AccountNumber: acct.Number, CustomerName: acct.CustomerName,
				SiteID: acct.SiteID, Cycle: r.Cycle, Number: Number(r.Cycle, acct.SiteID, acct.Number, amigo.BillKindBill, 0), IssuedAt: p.IssuedAt, CreatedBy: p.By, RunID: r.ID,
				Lines: []amigo.BillLine{}, Tariffs: []string{}, Flags: []amigo.BillFlag{{Code: FlagNoTariff, Message: amigo.ErrorMessage(err)}}}
			out.bills = append(out.bills, b)
			continue
		}
		if cyc.Close.After(p.IssuedAt) {
			// Its cycle has not ended (a later billing day): left for a
			// later run of the same cycle.
			out.notDue++
			continue
		}
		ins, err := Instants(acct, cyc, p)
		if err != nil {
			ins = nil // Compute holds it, naming the tariff problem
		}
		for _, t := range ins {
			instants[t.Unix()] = t
		}
		jobs = append(jobs, job{acct, cyc})
	}
	ts := make([]time.Time, 0, len(instants))
	for _, t := range instants {
		ts = append(ts, t)
	}
	t1 := time.Now()
	rn.Stats.Read += t1.Sub(t0)
	// The batch in two halves, each on its own goroutine: its meters'
	// readings read (through Reader's pool of connections), then its
	// bills computed (Compute is pure), so that reading and computing
	// take both cores while the batch before is written.
	computed := make([]amigo.Bill, len(jobs))
	oks := make([]bool, len(jobs))
	const workers = 2
	errs := make([]error, workers)
	reads, comps := make([]time.Duration, workers), make([]time.Duration, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := len(jobs)*w/workers, len(jobs)*(w+1)/workers
		if lo == hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			var meterIDs []int64
			for _, j := range jobs[lo:hi] {
				for _, m := range j.acct.Meters {
					meterIDs = append(meterIDs, m.ID)
				}
			}
			readings, err := rd.ReadingsAtInstants(ctx, meterIDs, ts)
			if err != nil {
				errs[w] = err
				return
			}
			t1 := time.Now()
			reads[w] = t1.Sub(t0)
			var segs []analysis.Segment
			for k := lo; k < hi; k++ {
				j := jobs[k]
				segs = segs[:0]
				for _, m := range j.acct.Meters {
					segs = append(segs, analysis.Segment{Meter: m, Readings: readings[m.ID]})
				}
				if computed[k], oks[k], errs[w] = Compute(j.acct, j.cyc, segs, p); errs[w] != nil {
					return
				}
			}
			comps[w] = time.Since(t1)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			out.err = err
			return out
		}
	}
	rn.Stats.Read += slices.Max(reads)
	rn.Stats.Compute += slices.Max(comps)
	out.bills = slices.Grow(out.bills, len(computed))
	for k, b := range computed {
		if oks[k] {
			out.bills = append(out.bills, b)
		}
	}
	return out
}

// write commits a prepared batch's bills, their ledger entries and the
// run's new cursor in one transaction.
func (rn *Runner) write(ctx context.Context, r amigo.BillingRun, b prepared) (amigo.BillingRun, error) {
	t2 := time.Now()
	defer func() { rn.Stats.Write += time.Since(t2) }()
	bills, as := b.bills, b.as
	next := r
	next.Skipped += b.skipped
	next.NotDue += b.notDue
	next.Done += len(as)
	next.Cursor = as[len(as)-1].ID
	next.UpdatedAt = rn.now()
	err := rn.Store.WithTx(ctx, func(tx amigo.Store) error {
		written, err := tx.PutBills(ctx, bills)
		if err != nil {
			return err
		}
		entries := make([]amigo.LedgerEntry, 0, len(bills))
		for i, b := range bills {
			switch {
			case !written[i]:
				next.Skipped++
				continue
			case b.Status == amigo.BillHeld:
				next.Held++
				continue
			}
			next.Issued++
			next.TotalFen += b.TotalFen
			if b.TotalFen != 0 {
				entries = append(entries, billEntry(b))
			}
		}
		// The batch's ledger entries in a few statements.
		t3 := time.Now()
		_, err = tx.PostLedgers(ctx, entries)
		rn.Stats.Ledger += time.Since(t3)
		if err != nil {
			return fmt.Errorf("ledger entries of the batch's bills: %w", err)
		}
		return tx.AdvanceBillingRun(ctx, next, r.Cursor)
	})
	if err != nil {
		return r, err
	}
	return next, nil
}

// postBill charges an issued bill (or credits a credit note) to the
// account's ledger, idempotently by the bill's number.
func postBill(ctx context.Context, tx amigo.Store, b amigo.Bill) error {
	if b.TotalFen == 0 {
		return nil
	}
	e := billEntry(b)
	if _, err := tx.PostLedger(ctx, &e); err != nil {
		return fmt.Errorf("ledger entry of bill %s: %w", b.Number, err)
	}
	return nil
}

// billEntry is the ledger entry of an issued bill (or credit note): its
// total charged (credited) under the reference "bill/<number>".
func billEntry(b amigo.Bill) amigo.LedgerEntry {
	return amigo.LedgerEntry{AccountID: b.AccountID, Time: b.IssuedAt, Kind: amigo.LedgerBill, AmountFen: -b.TotalFen,
		Reference: "bill/" + b.Number, By: b.CreatedBy, Detail: b.Kind + " " + b.Number + " cycle " + b.Cycle}
}

// AccountOf turns a stored account into what a bill needs: its meters cut
// to the periods the account had them, its service from its first
// period's start to its last period's end (open while a period is open).
// A period that starts or ends within a site day (a move-in at 15:00)
// counts from 00:00 of that day — the day belongs to the account moving in
// — unless it is the meter's own installation or removal instant, which
// has its manual reading.
func AccountOf(ba amigo.BillingAccount, loc *time.Location) Account {
	a := Account{ID: ba.ID, Number: ba.Number, CustomerName: ba.CustomerName, SiteID: ba.SiteID, Tariff: ba.Tariff, BillingDay: ba.BillingDay}
	open := false
	for i, p := range ba.Meters {
		if i >= len(ba.MeterRows) {
			break
		}
		m := ba.MeterRows[i]
		from, to := p.From, p.To
		if !from.Equal(m.InstalledAt) {
			from = amigo.Day(from, loc)
		}
		if !to.IsZero() && !to.Equal(m.RemovedAt) {
			to = amigo.Day(to, loc)
		}
		if m.InstalledAt.IsZero() || from.After(m.InstalledAt) {
			m.InstalledAt = from
		}
		if !to.IsZero() && (m.RemovedAt.IsZero() || to.Before(m.RemovedAt)) {
			m.RemovedAt = to
		}
		a.Meters = append(a.Meters, m)
		if a.Start.IsZero() || from.Before(a.Start) {
			a.Start = from
		}
		if to.IsZero() {
			open = true
		} else if to.After(a.End) {
			a.End = to
		}
	}
	if open {
		a.End = time.Time{}
	}
	return a
}

// LoadTariffs reads every stored tariff version into a set.
func LoadTariffs(ctx context.Context, s amigo.TariffStore) (*tariff.Set, error) {
	vs, err := s.ListTariffs(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("tariffs: %w", err)
	}
	var set tariff.Set
	for _, v := range vs {
		t, err := tariff.Parse(v.Document)
		if err != nil {
			return nil, fmt.Errorf("tariff %s@%s: %w", v.Name, v.ValidFrom, err)
		}
		if err := set.Add(t); err != nil {
			return nil, err
		}
	}
	return &set, nil
}
