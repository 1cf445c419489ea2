package wallet

import (
	"context"
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
	"github.com/amigo-metering/amigo/tariff"
)

// The daily deduction (docs/money.md): each prepaid account's days are
// deducted in order, one ledger entry per account-day under the reference
// "daily/<account>/<YYYY-MM-DD>", at the prices of the tariff version in
// force that day, the ladder position being the account's usage earlier in
// the ladder cycle. A day is deducted once it is complete: every meter the
// account paid for that day has its opening and closing marks (the
// daily freezes, or the manual readings at an installation, removal,
// move-in or move-out), none went back and none is flagged reversed,
// jumped or stopped. An incomplete day holds the account's later days (the
// ladder position depends on it) and raises one EventDayHeld; late data
// completes it at a later pass. Running twice, or again after a crash,
// deducts nothing twice: the reference is unique, and the cursor
// ("wallet/next/<account>") only saves looking again at days done.

// badFlags make a reading unusable for money until an operator edits it.
const badFlags = amigo.FlagReversed | amigo.FlagJump | amigo.FlagStopped

func nextKey(id int64) string { return fmt.Sprintf("wallet/next/%d", id) }

// span returns the first day of an account's meters and the end (exclusive)
// of its last: zero end when a period is still open.
func span(a amigo.Account, loc *time.Location) (start, end time.Time) {
	open := false
	var last time.Time
	for i, m := range a.Meters {
		if i == 0 || m.From.Before(start) {
			start = m.From
		}
		if m.To.IsZero() {
			open = true
		} else if m.To.After(last) {
			last = m.To
		}
	}
	start = amigo.Day(start, loc)
	if open {
		return start, time.Time{}
	}
	end = amigo.Day(last, loc)
	if end.Before(last) {
		end = end.AddDate(0, 0, 1)
	}
	return start, end
}

// dayTime returns 00:00 of a civil date in loc.
func dayTime(d tariff.Date, loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// DeductAccount deducts one prepaid account's complete days now (what a
// pass does for it).
func (w *Wallet) DeductAccount(ctx context.Context, accountID int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, err := w.store.GetAccount(ctx, accountID)
	if err != nil {
		return 0, err
	}
	site, err := w.store.GetSite(ctx, a.SiteID)
	if err != nil {
		return 0, err
	}
	set, err := LoadTariffs(ctx, w.store)
	if err != nil {
		return 0, err
	}
	n, _, err := w.deduct(ctx, a, site, set)
	return n, err
}

// deduct posts account a's complete days in order up to yesterday and
// reports how many it posted and whether a day holds the rest.
func (w *Wallet) deduct(ctx context.Context, a amigo.Account, site amigo.Site, set *tariff.Set) (int, bool, error) {
	if a.Mode != amigo.ModePrepaid || len(a.Meters) == 0 {
		return 0, false, nil
	}
	loc := site.Location()
	now := w.clock.Now()
	start, end := span(a, loc)
	if today := amigo.Day(now, loc); end.IsZero() || today.Before(end) {
		end = today
	}
	next := start
	if v, ok, err := w.store.GetState(ctx, nextKey(a.ID)); err != nil {
		return 0, false, fmt.Errorf("wallet: account %d: %w", a.ID, err)
	} else if ok {
		if d, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil && d.After(next) {
			next = d
		}
	}
	if !next.Before(end) {
		return 0, false, nil
	}
	t, err := set.At(a.Tariff, tariff.DateOf(next, loc))
	if err != nil {
		return 0, true, w.hold(ctx, a, next, "no tariff "+a.Tariff+" in force / 当日无有效电价")
	}
	// The ladder position needs the cycle's earlier days: load from the
	// cycle's start (or the account's).
	lo := next
	if t.Ladder != nil {
		first, _ := tariff.CycleBounds(t.Ladder.Cycle, tariff.DateOf(next, loc))
		if f := dayTime(first, loc); f.Before(lo) {
			lo = f
		}
		if lo.Before(start) {
			lo = start
		}
	}
	hi := end
	if lim := lo.AddDate(0, 0, analysis.MaxDays); hi.After(lim) {
		hi = lim
	}
	segs, err := w.segments(ctx, a, lo, hi)
	if err != nil {
		return 0, false, err
	}
	pts, err := analysis.Consumption(segs, "day", lo, hi, loc)
	if err != nil {
		return 0, false, fmt.Errorf("wallet: account %d: %w", a.ID, err)
	}
	var cum amigo.Energy // usage earlier in the ladder cycle
	posted := 0
	for _, p := range pts {
		d := p.Start
		date := tariff.DateOf(d, loc)
		t, terr := set.At(a.Tariff, date)
		if terr == nil && t.Ladder != nil {
			if first, _ := tariff.CycleBounds(t.Ladder.Cycle, date); first == date {
				cum = 0
			}
		}
		if d.Before(next) {
			if p.Energy != nil {
				cum += *p.Energy
			}
			continue
		}
		switch {
		case terr != nil:
			return posted, true, w.hold(ctx, a, d, "no tariff "+a.Tariff+" in force / 当日无有效电价")
		case p.Energy == nil || p.Reversed:
			return posted, true, w.hold(ctx, a, d, "a reading is missing or went back / 读数缺失或倒走")
		case flagged(segs, d, d.AddDate(0, 0, 1)):
			return posted, true, w.hold(ctx, a, d, "a reading is flagged (reversed, jump or stopped) / 读数被标记异常")
		}
		q, err := t.Quote(quoteInput(t, a, p, date, cum, start, loc))
		if err != nil {
			return posted, true, w.hold(ctx, a, d, "cannot price the day: "+amigo.ErrorMessage(err))
		}
		e := amigo.LedgerEntry{AccountID: a.ID, Time: now, Kind: amigo.LedgerDaily, AmountFen: -q.TotalFen, Reference: amigo.DailyReference(a.ID, d),
			By: System, Detail: fmt.Sprintf("%s: %s kWh, %s", date, *p.Energy, t.Version())}
		dup, err := w.store.PostLedger(ctx, &e)
		if err != nil {
			return posted, false, fmt.Errorf("wallet: account %d day %s: %w", a.ID, date, err)
		}
		if !dup {
			posted++
		}
		cum += *p.Energy
		if err := w.store.PutState(ctx, nextKey(a.ID), d.AddDate(0, 0, 1).Format(time.DateOnly), now); err != nil {
			return posted, false, fmt.Errorf("wallet: account %d: %w", a.ID, err)
		}
	}
	return posted, false, nil
}

// quoteInput prices one complete day p: by tariff registers when the
// tariff maps them and the meters gave all four, else from the total; a
// day's share of the month's standing charges; the ladder prorated when
// the account began within the cycle.
func quoteInput(t *tariff.Tariff, a amigo.Account, p analysis.Point, date tariff.Date, cum amigo.Energy, start time.Time, loc *time.Location) tariff.QuoteInput {
	span := tariff.Span{Date: date}
	regs := make([]amigo.Energy, 0, 4)
	for _, r := range p.Tariffs {
		if r != nil {
			regs = append(regs, *r)
		}
	}
	if t.HasPeriods() && t.HasRegisters() && len(regs) == 4 {
		span.Registers = regs
	} else {
		span.FromTotals, span.Total = true, *p.Energy
	}
	// The day's share of the month's standing charges, so that a month of
	// days adds up to the monthly charge exactly (not 31 × a rounded day).
	in := tariff.QuoteInput{Spans: []tariff.Span{span}, Standing: tariff.Share{Days: 1, Of: date.DaysInMonth(), After: date.Day - 1}}
	if t.Ladder != nil {
		in.CycleUsageBefore = cum
		first, last := tariff.CycleBounds(t.Ladder.Cycle, date)
		if s := tariff.DateOf(start, loc); first.Before(s) {
			of := tariff.CycleDays(t.Ladder.Cycle, date)
			days := int(dayTime(last, time.UTC).Sub(dayTime(s, time.UTC)).Hours()/24) + 1
			in.InService = tariff.Share{Days: days, Of: of}
		}
	}
	return in
}

// flagged reports whether a reading bounding [a, b] carries a bad flag.
func flagged(segs []analysis.Segment, a, b time.Time) bool {
	for _, s := range segs {
		for _, r := range s.Readings {
			if (r.Kind == amigo.KindDaily || r.Kind == amigo.KindManual) && !r.Time.Before(a) && !r.Time.After(b) && r.Flags&badFlags != 0 {
				return true
			}
		}
	}
	return false
}

// segments returns the account's meters as analysis segments, each cut to
// the account's period on it (a move-in or move-out within a day counts
// from the reading at that instant), with their readings of [lo, hi].
func (w *Wallet) segments(ctx context.Context, a amigo.Account, lo, hi time.Time) ([]analysis.Segment, error) {
	var ids []int64
	seen := map[int64]bool{}
	var segs []analysis.Segment
	for _, am := range a.Meters {
		if !am.To.IsZero() && !am.To.After(lo) || am.From.After(hi) {
			continue
		}
		m, err := w.store.GetMeter(ctx, am.MeterID)
		if err != nil {
			return nil, fmt.Errorf("wallet: account %d meter %d: %w", a.ID, am.MeterID, err)
		}
		if m.InstalledAt.IsZero() || am.From.After(m.InstalledAt) {
			m.InstalledAt = am.From
		}
		if !am.To.IsZero() && (m.RemovedAt.IsZero() || am.To.Before(m.RemovedAt)) {
			m.RemovedAt = am.To
		}
		segs = append(segs, analysis.Segment{Meter: m})
		if !seen[m.ID] {
			seen[m.ID] = true
			ids = append(ids, m.ID)
		}
	}
	by, err := w.store.ReadingsOfMeters(ctx, ids, []string{amigo.KindDaily, amigo.KindMonthly, amigo.KindManual}, lo, hi.Add(time.Second))
	if err != nil {
		return nil, fmt.Errorf("wallet: account %d: readings: %w", a.ID, err)
	}
	for i := range segs {
		segs[i].Readings = by[segs[i].Meter.ID]
	}
	return segs, nil
}

// hold raises one EventDayHeld for an account-day, once the day has been
// over for the grace its data may take to arrive.
func (w *Wallet) hold(ctx context.Context, a amigo.Account, d time.Time, why string) error {
	if w.clock.Now().Before(d.AddDate(0, 0, 1).Add(w.cfg.HoldGrace)) {
		return nil
	}
	day := d.Format(time.DateOnly)
	first, err := w.store.PutStateOnce(ctx, fmt.Sprintf("wallet/held/%d/%s", a.ID, day), why, w.clock.Now())
	if err != nil || !first {
		return err
	}
	return w.store.AppendEvents(ctx, amigo.Event{Time: w.clock.Now(), Kind: amigo.EventDayHeld, Severity: "warning", SiteID: a.SiteID,
		Message: fmt.Sprintf("account %s: day %s not deducted yet: %s / 账户%s %s 暂不扣费", a.Number, day, why, a.Number, day), Detail: why})
}
