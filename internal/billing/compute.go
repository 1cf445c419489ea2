package billing

import (
	"fmt"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
	"github.com/amigo-metering/amigo/tariff"
)

// Account is what a bill needs of a postpaid account.
type Account struct {
	ID           int64
	Number       string
	CustomerName string
	SiteID       int64
	Tariff       string // the tariff's name; the versions come from a tariff.Set
	BillingDay   int    // 1–28
	// Start and End bound the account's service (move-in, move-out;
	// End zero: still in service). Both are 00:00 of a site day or the
	// instant of a manual reading of its meter.
	Start, End time.Time
	// Meters are the account's meters, each with InstalledAt and RemovedAt
	// cut to the dates the account had it: a swap is an old meter removed
	// and a new one installed at the same instant.
	Meters []amigo.Meter
}

// Params are what a bill needs beyond the account and its readings.
type Params struct {
	Loc      *time.Location
	Tariffs  *tariff.Set
	DueDays  int // days after the cycle's end the bill is due (default 15)
	IssuedAt time.Time
	By       string // who issues it ("system" for a run)
	RunID    int64
	// plans, when set, keeps the pieces of each service span computed
	// (a run's accounts mostly share one): see planCache.
	plans *planCache
}

// planCache memoizes plan for one tariff set and zone: the pieces of a
// span are the same for every account on the tariff, and plan walks the
// span day by day. Safe for concurrent use; the pieces are read only.
type planCache struct {
	mu sync.Mutex
	m  map[planKey]planned
}

type planKey struct {
	a, b int64
	name string
}

type planned struct {
	ps  []piece
	err error
}

// plan is plan(a, b, name, p.Tariffs, p.Loc), from p's cache when it has one.
func (p Params) plan(a, b time.Time, name string) ([]piece, error) {
	c := p.plans
	if c == nil {
		return plan(a, b, name, p.Tariffs, p.Loc)
	}
	k := planKey{a.Unix(), b.Unix(), name}
	c.mu.Lock()
	x, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return x.ps, x.err
	}
	ps, err := plan(a, b, name, p.Tariffs, p.Loc)
	c.mu.Lock()
	if len(c.m) >= 4096 { // bounded: a run has a few spans, not thousands
		clear(c.m)
	}
	c.m[k] = planned{ps, err}
	c.mu.Unlock()
	return ps, err
}

// DefaultDueDays is the days after its cycle a bill is due.
const DefaultDueDays = 15

// Flag codes.
const (
	FlagMissing    = "missing_reading"
	FlagEstimated  = "estimated_reading"
	FlagReversed   = "reversed"
	FlagNoMeter    = "no_meter"
	FlagNoTariff   = "no_tariff"
	FlagFromTotals = "from_totals"
)

// piece is a run of site days [from, to] (instants [open, close)) priced
// alike: one tariff version, one ladder cycle, one season and kind of day.
type piece struct {
	from, to    tariff.Date
	open, close time.Time
	t           *tariff.Tariff
	ladder      tariff.Date // first day of the ladder cycle (zero: no ladder)
}

// plan cuts [a, b) into pieces. A piece ends where the tariff version
// changes, where its ladder cycle changes, and — for a tariff with seasons
// or rest-day periods — where the season or the kind of day changes.
func plan(a, b time.Time, name string, set *tariff.Set, loc *time.Location) ([]piece, error) {
	var out []piece
	type sig struct {
		t      *tariff.Tariff
		ladder tariff.Date
		season string
		rest   bool
	}
	var cur sig
	for d := tariff.DateOf(a, loc); dayStart(d, loc).Before(b); d = d.AddDays(1) {
		t, err := set.At(name, d)
		if err != nil {
			return nil, err
		}
		s := sig{t: t}
		if t.Ladder != nil {
			s.ladder, _ = tariff.CycleBounds(t.Ladder.Cycle, d)
		}
		if len(t.Seasons) > 0 || len(t.RestDays) > 0 {
			_, s.season, s.rest = t.PeriodsOn(d)
		}
		open := later(dayStart(d, loc), a)
		close := earlier(dayStart(d.AddDays(1), loc), b)
		if len(out) > 0 && s == cur {
			out[len(out)-1].to, out[len(out)-1].close = d, close
			continue
		}
		cur = s
		out = append(out, piece{from: d, to: d, open: open, close: close, t: t, ladder: s.ladder})
	}
	return out, nil
}

// nextVersion returns when the version after t starts (zero: none).
func nextVersion(set *tariff.Set, t *tariff.Tariff) (tariff.Date, bool) {
	for _, v := range set.Versions(t.Name) {
		if t.ValidFrom.Before(v.ValidFrom) {
			return v.ValidFrom, true
		}
	}
	return tariff.Date{}, false
}

// ladderSpan is the part of a ladder cycle the version t prices for the
// account: from the latest of the cycle's first day, t's first day and the
// account's start, to the earliest of the cycle's end, the next version's
// start and the account's end.
func ladderSpan(p piece, acct Account, set *tariff.Set, loc *time.Location) (start, end time.Time, share tariff.Share) {
	first, last := tariff.CycleBounds(p.t.Ladder.Cycle, p.from)
	start = later(dayStart(first, loc), dayStart(p.t.ValidFrom, loc))
	if !acct.Start.IsZero() {
		start = later(start, acct.Start)
	}
	end = dayStart(last.AddDays(1), loc)
	if nv, ok := nextVersion(set, p.t); ok {
		end = earlier(end, dayStart(nv, loc))
	}
	if !acct.End.IsZero() {
		end = earlier(end, acct.End)
	}
	of := tariff.CycleDays(p.t.Ladder.Cycle, p.from)
	if n := days(start, end, loc); n != of {
		share = tariff.Share{Days: n, Of: of}
	}
	return start, end, share
}

// Instants returns the instants whose readings a bill of acct for cyc
// needs: the boundaries of its pieces, the starts of its ladder spans (the
// ladder position) and its meters' installations and removals.
func Instants(acct Account, cyc Cycle, p Params) ([]time.Time, error) {
	a, b := serviceIn(acct, cyc)
	if !a.Before(b) {
		return nil, nil
	}
	ps, err := p.plan(a, b, acct.Tariff)
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	var out []time.Time
	add := func(t time.Time) {
		if !seen[t.Unix()] {
			seen[t.Unix()] = true
			out = append(out, t)
		}
	}
	for _, x := range ps {
		add(x.open)
		add(x.close)
		if x.t.Ladder != nil {
			s, _, _ := ladderSpan(x, acct, p.Tariffs, p.Loc)
			add(s)
		}
	}
	for _, m := range acct.Meters {
		if !m.InstalledAt.IsZero() {
			add(m.InstalledAt)
		}
		if !m.RemovedAt.IsZero() {
			add(m.RemovedAt)
		}
	}
	return out, nil
}

// serviceIn is the part of cyc the account was in service.
func serviceIn(acct Account, cyc Cycle) (a, b time.Time) {
	a, b = cyc.Open, cyc.Close
	if !acct.Start.IsZero() && acct.Start.After(a) {
		a = acct.Start
	}
	if !acct.End.IsZero() && acct.End.Before(b) {
		b = acct.End
	}
	return a, b
}

// Compute makes the bill of acct for cyc from its meters' readings (segs:
// at least the readings at Instants). It is pure and deterministic: the
// same inputs give the same bill. ok is false when the account was not in
// service in the cycle (no bill). A bill that cannot be priced from actual
// readings comes back held, its flags saying why, with no lines.
//
// The rule (docs/billing.md): the cycle is cut into pieces (plan); each
// piece's usage per register T1–T4 (or its total, for a meter without
// tariff registers) is analysis.Between its boundaries; the pieces of one
// version and ladder cycle are one quote, whose ladder position is the
// account's usage from the start of its ladder span to the quote's first
// day and whose thresholds are prorated for a partial span; each version's
// standing charges are prorated by its days in the cycle over the cycle's
// days and added to its last quote. The bill's lines are the quotes'
// lines (each rounded half-up to the fen), its total their sum.
func Compute(acct Account, cyc Cycle, segs []analysis.Segment, p Params) (bill amigo.Bill, ok bool, err error) {
	if p.Loc == nil || p.Tariffs == nil {
		return bill, false, fmt.Errorf("billing: compute: no zone or tariffs")
	}
	bill = amigo.Bill{Kind: amigo.BillKindBill, Status: amigo.BillIssued, AccountID: acct.ID, AccountNumber: acct.Number,
		CustomerName: acct.CustomerName, SiteID: acct.SiteID, Cycle: cyc.Name, Number: Number(cyc.Name, acct.SiteID, acct.Number, amigo.BillKindBill, 0),
		Lines: []amigo.BillLine{}, Tariffs: []string{}, IssuedAt: p.IssuedAt, CreatedBy: p.By, RunID: p.RunID}
	a, b := serviceIn(acct, cyc)
	if !a.Before(b) {
		return bill, false, nil
	}
	bill.PeriodStart, bill.PeriodEnd = a, b
	due := p.DueDays
	if due <= 0 {
		due = DefaultDueDays
	}
	bill.DueDate = tariff.DateOf(cyc.Close, p.Loc).AddDays(due).String()
	held := func(f amigo.BillFlag) {
		bill.Status = amigo.BillHeld
		for _, g := range bill.Flags {
			if g.Code == f.Code && g.MeterID == f.MeterID && g.Time.Equal(f.Time) && !f.Time.IsZero() {
				return // the same reading is missing once, whatever needs it
			}
		}
		bill.Flags = append(bill.Flags, f)
	}
	ps, err := p.plan(a, b, acct.Tariff)
	if err != nil {
		held(amigo.BillFlag{Code: FlagNoTariff, Message: fmt.Sprintf("no tariff in force for the cycle: %s / 账期内无有效电价", amigo.ErrorMessage(err))})
		return finish(bill), true, nil
	}
	// flagInterval holds the bill for what iv lacks; names gives the
	// figure's names in English and Chinese ("usage 2026-10-01–2026-10-31",
	// "用电量"), formatted only for a flag.
	flagInterval := func(iv analysis.Interval, names func() (en, zh string)) bool {
		if iv.Served && len(iv.Missing) == 0 && !iv.Reversed {
			return iv.Known
		}
		en, zh := names()
		if !iv.Served {
			held(amigo.BillFlag{Code: FlagNoMeter, Message: fmt.Sprintf("%s: the account had no meter in service / %s：账户无在用电表", en, zh)})
			return false
		}
		for _, m := range iv.Missing {
			ts := m.Time.In(p.Loc).Format("2006-01-02 15:04")
			if m.Estimated {
				held(amigo.BillFlag{Code: FlagEstimated, MeterID: m.MeterID, Time: m.Time, Message: fmt.Sprintf("%s: the reading of meter %s at %s is estimated / %s：电表 %s 在 %s 的读数为估算值", en, m.Address, ts, zh, m.Address, ts)})
			} else {
				held(amigo.BillFlag{Code: FlagMissing, MeterID: m.MeterID, Time: m.Time, Message: fmt.Sprintf("%s: no reading of meter %s at %s / %s：电表 %s 缺少 %s 的读数", en, m.Address, ts, zh, m.Address, ts)})
			}
		}
		if iv.Reversed {
			held(amigo.BillFlag{Code: FlagReversed, Message: fmt.Sprintf("%s: a register went back / %s：电量示值倒走", en, zh)})
		}
		return iv.Known
	}

	// Usage of each piece.
	spans := make([]tariff.Span, len(ps))
	fromTotals := false
	for i, x := range ps {
		iv := analysis.Between(segs, x.open, x.close)
		if !flagInterval(iv, func() (string, string) {
			return fmt.Sprintf("usage %s–%s", x.from, x.to), fmt.Sprintf("%s至%s用电量", x.from, x.to)
		}) {
			continue
		}
		bill.KWh += iv.Energy
		sp := tariff.Span{Date: x.from}
		switch {
		case !x.t.HasPeriods():
			sp.Usage = map[string]amigo.Energy{tariff.FlatName: iv.Energy}
		case iv.HasTariffs && x.t.HasRegisters():
			sp.Registers = iv.Tariff[:]
		default:
			sp.FromTotals, sp.Total = true, iv.Energy
			fromTotals = true
		}
		spans[i] = sp
	}
	if fromTotals {
		bill.FromTotals = true
		bill.Flags = append(bill.Flags, amigo.BillFlag{Code: FlagFromTotals, Message: "the meter has no tariff registers: billed from its total / 电表无费率计度器，按总电量计费"})
	}
	if bill.Status == amigo.BillHeld {
		return finish(bill), true, nil
	}

	// Quotes: consecutive pieces of one version and ladder cycle.
	cycleDays := days(cyc.Open, cyc.Close, p.Loc)
	standingDays := map[*tariff.Tariff]int{}
	lastOf := map[*tariff.Tariff]int{} // index of the version's last quote
	type quote struct {
		first, last int
	}
	var qs []quote
	for i, x := range ps {
		standingDays[x.t] += days(x.open, x.close, p.Loc)
		if n := len(qs); n > 0 && ps[qs[n-1].last].t == x.t && ps[qs[n-1].last].ladder == x.ladder {
			qs[n-1].last = i
		} else {
			qs = append(qs, quote{first: i, last: i})
		}
		lastOf[x.t] = len(qs) - 1
	}
	for qi, q := range qs {
		t := ps[q.first].t
		in := tariff.QuoteInput{Spans: spans[q.first : q.last+1]}
		if t.Ladder != nil {
			start, _, share := ladderSpan(ps[q.first], acct, p.Tariffs, p.Loc)
			in.InService = share
			if open := ps[q.first].open; start.Before(open) {
				iv := analysis.Between(segs, start, open)
				from, to := tariff.DateOf(start, p.Loc), ps[q.first].from.AddDays(-1)
				if !flagInterval(iv, func() (string, string) {
					return fmt.Sprintf("ladder position (usage %s–%s)", from, to), fmt.Sprintf("阶梯位置（%s至%s用电量）", from, to)
				}) {
					continue
				}
				in.CycleUsageBefore = iv.Energy
			}
		}
		if lastOf[t] == qi {
			in.Standing = tariff.Share{Days: standingDays[t], Of: cycleDays}
		}
		qt, err := t.Quote(in)
		if err != nil {
			held(amigo.BillFlag{Code: FlagNoTariff, Message: fmt.Sprintf("the tariff %s could not price the usage: %s / 电价无法计价", t.Version(), amigo.ErrorMessage(err))})
			continue
		}
		from, to, version := ps[q.first].from.String(), ps[q.last].to.String(), t.Version()
		for _, l := range qt.Lines {
			bl := amigo.BillLine{Kind: l.Kind, Name: l.Name, Season: l.Season, KWh: l.KWh, PerMonth: l.PerMonth, AmountFen: l.AmountFen,
				FromTotals: l.FromTotals, Note: l.Note, Tariff: version, From: from, To: to}
			if l.Price != nil {
				bl.Price = l.Price.String()
			}
			if l.Share != nil {
				bl.ShareDays, bl.ShareOf = l.Share.Days, l.Share.Of
			}
			bill.Lines = append(bill.Lines, bl)
		}
		if len(bill.Tariffs) == 0 || bill.Tariffs[len(bill.Tariffs)-1] != version {
			bill.Tariffs = append(bill.Tariffs, version)
		}
	}
	return finish(bill), true, nil
}

// finish sets the total (the sum of the rounded lines) of an issued bill
// and empties a held one.
func finish(b amigo.Bill) amigo.Bill {
	if b.Status == amigo.BillHeld {
		b.Lines, b.TotalFen, b.KWh = []amigo.BillLine{}, 0, 0
		return b
	}
	b.TotalFen = 0
	for _, l := range b.Lines {
		b.TotalFen += l.AmountFen
	}
	return b
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
