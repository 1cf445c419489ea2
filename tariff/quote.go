package tariff

import (
	"fmt"
	"strings"

	"github.com/amigo-metering/amigo"
)

// Line kinds.
const (
	KindEnergy   = "energy"
	KindTier     = "tier"
	KindStanding = "standing"
)

// FlatName is the name of the energy line of a tariff without periods, and
// of the usage such a tariff takes.
const FlatName = "flat"

// TotalName is the name of the line of a time-of-use tariff's flat_price,
// at which a meter without tariff registers is billed from its total.
const TotalName = "total"

// NoteFromTotals marks a line billed from the meter's total because the
// meter has no tariff registers.
const NoteFromTotals = "billed from totals / 按总电量计费"

// Share is a part of a cycle: Days of Of days (1 ≤ Of ≤ 366, 0 ≤ Days ≤ Of)
// that follow After days of it (standing charges only; After + Days ≤ Of).
// A standing charge's share is the rounded amount through After + Days
// less the rounded amount through After, so that the shares of a month's
// days, charged one by one, add up to the monthly charge to the fen.
type Share struct {
	Days  int `json:"days"`
	Of    int `json:"of"`
	After int `json:"after,omitempty"`
}

// Span is usage to price: one site-local day, or a run of days that share
// the season and the kind of day (workday or rest day). Give exactly one of
// Usage, Registers, or FromTotals with Total.
type Span struct {
	Date Date
	// Usage is the energy by period name of the periods in force on Date
	// (for a tariff without periods, the one name "flat").
	Usage map[string]amigo.Energy
	// Registers is the energy of the meter's tariff registers T1..T4
	// (index 0 is T1), billed through the periods' register mapping.
	Registers []amigo.Energy
	// FromTotals bills Total, the meter's total energy, when the meter has
	// no tariff registers: at the tariff's flat_price if it has one (a line
	// named TotalName), else at the first period's price (a line named for
	// that period); the line says so (NoteFromTotals).
	FromTotals bool
	Total      amigo.Energy
}

// QuoteInput is what to price with one tariff version: the usage of one
// ladder cycle (or part of it), where the cycle stood before it, and which
// part of the cycle and of a month the account was in service.
type QuoteInput struct {
	Spans []Span
	// CycleUsageBefore is the usage earlier in the same ladder cycle
	// (year-to-date or month-to-date, before the spans).
	CycleUsageBefore amigo.Energy
	// InService prorates the ladder thresholds for a partial cycle
	// (move-in, move-out, tariff change): each threshold × Days / Of,
	// rounded half-up to a whole kWh. The zero Share is the whole cycle.
	InService Share
	// Standing is how much of a month of standing charges to add: each
	// charge × Days / Of, rounded half-up to the fen ({1, 1} is a whole
	// month). The zero Share adds none.
	Standing Share
}

// Line is one line of a quote. Energy and tier lines carry kWh and the
// price; standing lines the monthly charge and the share charged.
type Line struct {
	Kind       string        `json:"kind"`
	Name       string        `json:"name"`
	Season     string        `json:"season,omitempty"`
	KWh        *amigo.Energy `json:"kwh,omitempty"`
	Price      *Price        `json:"price,omitempty"`
	PerMonth   string        `json:"per_month,omitempty"` // yuan, standing lines
	Share      *Share        `json:"share,omitempty"`     // standing lines, when prorated
	AmountFen  amigo.Fen     `json:"amount_fen"`
	FromTotals bool          `json:"from_totals,omitempty"`
	Note       string        `json:"note,omitempty"`
}

// Quote is the priced usage: the lines, each rounded half-up to the fen,
// and their sum. It records the tariff version it used, so that a bill
// made from it keeps its prices when a later version arrives.
type Quote struct {
	Tariff           string         `json:"tariff"`
	ValidFrom        Date           `json:"valid_from"`
	TotalFen         amigo.Fen      `json:"total_fen"`
	Lines            []Line         `json:"lines"`
	KWh              amigo.Energy   `json:"kwh"`
	CycleUsageBefore amigo.Energy   `json:"cycle_kwh_before"`
	Thresholds       []amigo.Energy `json:"thresholds_kwh,omitempty"` // as applied (prorated)
	FromTotals       bool           `json:"from_totals,omitempty"`
}

// Bounds of a quote's input.
const (
	maxSpans  = 1000
	maxDaysOf = 366
	maxBefore = MaxEnergy
)

func invalid(format string, args ...any) error {
	return amigo.Errorf(amigo.EINVALID, "tariff quote", format, args...)
}

// piece is energy at one price, before rounding.
type piece struct {
	kind, name, season string
	price              Price
	kwh                amigo.Energy
	fromTotals         bool
}

// Quote prices in with t. The rule (docs/tariffs.md): energy lines are
// the usage per period at the period's price (the same period at the same
// price in several spans is one line); the ladder splits the cycle's usage
// at the thresholds — a tier holds the usage above the threshold below it
// up to and including its own, so usage exactly at a threshold stays in
// the lower tier — and each tier above the first (and the first, if its
// surcharge is not zero) gets a tier line: its part of this usage at the
// tier's surcharge, or at the tier's price for a ladder of prices (then the
// energy line holds only the first tier's part); standing lines follow.
// Every line is rounded half-up to the fen on its own; the total is the sum
// of the rounded lines.
func (t *Tariff) Quote(in QuoteInput) (Quote, error) {
	q := Quote{Tariff: t.Name, ValidFrom: t.ValidFrom, CycleUsageBefore: in.CycleUsageBefore, Lines: []Line{}}
	if err := t.checkInput(in); err != nil {
		return q, err
	}
	var pieces []piece
	add := func(p piece) {
		for i := range pieces {
			x := &pieces[i]
			if x.kind == p.kind && x.name == p.name && x.season == p.season && x.price == p.price && x.fromTotals == p.fromTotals {
				x.kwh += p.kwh
				return
			}
		}
		pieces = append(pieces, p)
	}
	var used amigo.Energy
	for i, s := range in.Spans {
		ps, err := t.priceSpan(s)
		if err != nil {
			return q, fmt.Errorf("spans[%d]: %w", i, err)
		}
		for _, p := range ps {
			used += p.kwh
			if p.fromTotals {
				q.FromTotals = true
			}
			add(p)
		}
	}
	q.KWh = used

	var tiers []amigo.Energy // this usage's part in each tier
	if l := t.Ladder; l != nil {
		q.Thresholds = l.applied(in.InService)
		tiers = split(in.CycleUsageBefore, used, q.Thresholds)
	}
	var lines []Line
	if l := t.Ladder; l != nil && l.Prices != nil {
		// A ladder of prices: the first tier's part is the energy line.
		p := piece{kind: KindEnergy, name: FlatName, price: l.Prices[0], kwh: tiers[0]}
		lines = append(lines, p.line())
		for i := 1; i < len(tiers); i++ {
			if tiers[i] > 0 {
				lines = append(lines, piece{kind: KindTier, name: fmt.Sprintf("tier %d", i+1), price: l.Prices[i], kwh: tiers[i]}.line())
			}
		}
	} else {
		for _, p := range pieces {
			lines = append(lines, p.line())
		}
		if l := t.Ladder; l != nil {
			for i, part := range tiers {
				if part > 0 && (i > 0 || l.Surcharges[0] > 0) {
					lines = append(lines, piece{kind: KindTier, name: fmt.Sprintf("tier %d", i+1), price: l.Surcharges[i], kwh: part}.line())
				}
			}
		}
	}
	if in.Standing.Of > 0 {
		for _, s := range t.Standing {
			l := Line{Kind: KindStanding, Name: s.Name, PerMonth: s.PerMonth.String(),
				AmountFen: amigo.Fen(prorate(int64(s.PerMonth), int64(in.Standing.After+in.Standing.Days), int64(in.Standing.Of)) -
					prorate(int64(s.PerMonth), int64(in.Standing.After), int64(in.Standing.Of)))}
			if in.Standing.Days != in.Standing.Of || in.Standing.After != 0 {
				sh := in.Standing
				l.Share = &sh
			}
			lines = append(lines, l)
		}
	}
	for _, l := range lines {
		q.TotalFen += l.AmountFen
	}
	q.Lines = lines
	return q, nil
}

func (p piece) line() Line {
	kwh, price := p.kwh, p.price
	l := Line{Kind: p.kind, Name: p.name, Season: p.season, KWh: &kwh, Price: &price, AmountFen: amount(kwh, price), FromTotals: p.fromTotals}
	if p.fromTotals {
		l.Note = NoteFromTotals
	}
	return l
}

// applied returns the thresholds for a cycle of which the account was in
// service in.Days of in.Of days: each × Days / Of rounded half-up to a
// whole kWh; the thresholds as written for the whole cycle.
func (l *Ladder) applied(in Share) []amigo.Energy {
	out := make([]amigo.Energy, len(l.Thresholds))
	for i, th := range l.Thresholds {
		if in.Of == 0 || in.Days == in.Of {
			out[i] = th
			continue
		}
		kwh := prorate(int64(th), int64(in.Days), int64(in.Of)*amigo.EnergyScale)
		out[i] = amigo.Energy(kwh * amigo.EnergyScale)
	}
	return out
}

// split returns the part of used (after before, in the same cycle) that
// falls in each tier: tier i holds the cycle's usage in (T[i-1], T[i]].
func split(before, used amigo.Energy, thresholds []amigo.Energy) []amigo.Energy {
	parts := make([]amigo.Energy, len(thresholds)+1)
	lo, hi := before, before+used
	floor := amigo.Energy(0)
	for i := range parts {
		ceil := hi
		if i < len(thresholds) {
			ceil = min(hi, thresholds[i])
		}
		if from := max(lo, floor); ceil > from {
			parts[i] = ceil - from
		}
		if i < len(thresholds) {
			floor = max(floor, thresholds[i])
		}
	}
	return parts
}

func (t *Tariff) checkInput(in QuoteInput) error {
	if len(in.Spans) > maxSpans {
		return invalid("%d spans: at most %d / 用电段超过 %d", len(in.Spans), maxSpans, maxSpans)
	}
	if in.CycleUsageBefore < 0 || in.CycleUsageBefore > maxBefore {
		return invalid("cycle usage before %s kWh: want 0 to %s / 周期内已用电量超出范围", in.CycleUsageBefore, maxBefore)
	}
	for _, sh := range []struct {
		name string
		s    Share
	}{{"in service", in.InService}, {"standing", in.Standing}} {
		s := sh.s
		if s.Of < 0 || s.Of > maxDaysOf || s.Days < 0 || s.Days > s.Of {
			return invalid("%s share %d/%d: want 0 ≤ days ≤ of ≤ %d / 天数比例错误", sh.name, s.Days, s.Of, maxDaysOf)
		}
		if s.After < 0 || s.After > s.Of-s.Days || (s.After != 0 && sh.name != "standing") {
			return invalid("%s share after %d days: want 0 ≤ after ≤ of − days (standing charges only) / 天数比例错误", sh.name, s.After)
		}
	}
	var sum amigo.Energy
	for i, s := range in.Spans {
		if s.Date.IsZero() {
			return invalid("spans[%d]: no date / 缺少日期", i)
		}
		if s.Date.Before(t.ValidFrom) {
			return invalid("spans[%d]: %s is before %s is in force (%s) / 早于该版本生效日期", i, s.Date, t.Version(), t.ValidFrom)
		}
		given := 0
		if s.Usage != nil {
			given++
		}
		if s.Registers != nil {
			given++
		}
		if s.FromTotals {
			given++
		}
		if given != 1 {
			return invalid("spans[%d]: give exactly one of usage by period, registers, or the total / 按时段、按计度器或按总电量，只能给一种", i)
		}
		if len(s.Registers) > maxRegisters {
			return invalid("spans[%d]: %d registers, at most %d (T1–T4) / 计度器过多", i, len(s.Registers), maxRegisters)
		}
		if len(s.Usage) > maxPeriods {
			return invalid("spans[%d]: %d periods, at most %d / 时段过多", i, len(s.Usage), maxPeriods)
		}
		es := append([]amigo.Energy{s.Total}, s.Registers...)
		for _, e := range s.Usage {
			es = append(es, e)
		}
		for _, e := range es {
			if e < 0 || e > MaxEnergy {
				return invalid("spans[%d]: energy %s kWh: want 0 to %s / 电量超出范围", i, e, MaxEnergy)
			}
			sum += e
		}
	}
	if t.Ladder != nil && len(in.Spans) > 0 {
		first, last := CycleBounds(t.Ladder.Cycle, in.Spans[0].Date)
		for i, s := range in.Spans {
			if s.Date.Before(first) || last.Before(s.Date) {
				return invalid("spans[%d]: %s is not in the %s cycle %s–%s of spans[0]: quote each ladder cycle on its own / 每个阶梯周期须分别计价", i, s.Date, t.Ladder.Cycle, first, last)
			}
		}
	}
	if sum > 10*MaxEnergy {
		return invalid("%s kWh in one quote is too much / 电量过大", sum)
	}
	return nil
}

// priceSpan turns one span into energy at prices.
func (t *Tariff) priceSpan(s Span) ([]piece, error) {
	if !t.HasPeriods() {
		var e amigo.Energy
		switch {
		case s.FromTotals:
			e = s.Total
		case s.Registers != nil:
			for _, r := range s.Registers {
				e += r
			}
		default:
			for name, u := range s.Usage {
				if name != FlatName {
					return nil, invalid("period %q: the tariff %s has no periods, give %q / 该电价无时段，请用 %q", name, t.Name, FlatName, FlatName)
				}
				e += u
			}
		}
		return []piece{{kind: KindEnergy, name: FlatName, price: t.FlatPrice, kwh: e}}, nil
	}
	set, season, _ := t.PeriodsOn(s.Date)
	switch {
	case s.FromTotals:
		p := piece{kind: KindEnergy, name: set[0].Name, season: season, price: set[0].Price, kwh: s.Total, fromTotals: true}
		if t.HasFlatPrice {
			p.name, p.season, p.price = TotalName, "", t.FlatPrice
		}
		return []piece{p}, nil
	case s.Registers != nil:
		if !t.HasRegisters() {
			return nil, invalid("the tariff %s maps no meter registers to its periods: give usage by period or the total / 该电价未配置计度器，请按时段或总电量计价", t.Name)
		}
		byPeriod := make([]amigo.Energy, len(set))
		for i, e := range s.Registers {
			found := false
			for j, p := range set {
				for _, r := range p.Registers {
					if r == i+1 {
						byPeriod[j] += e
						found = true
					}
				}
			}
			if !found && e > 0 {
				return nil, invalid("register T%d has %s kWh but no period of %s bills it / 计度器 T%d 有电量但无对应时段", i+1, e, t.Name, i+1)
			}
		}
		var out []piece
		for j, p := range set {
			if p.billsOneOf(len(s.Registers)) {
				out = append(out, piece{kind: KindEnergy, name: p.Name, season: season, price: p.Price, kwh: byPeriod[j]})
			}
		}
		return out, nil
	default:
		for name := range s.Usage {
			if _, ok := set.byName(name); !ok {
				return nil, invalid("no period %q on %s (periods: %s) / 该日无此时段", name, s.Date, strings.Join(set.Names(), ", "))
			}
		}
		var out []piece
		for _, p := range set {
			if e, ok := s.Usage[p.Name]; ok {
				out = append(out, piece{kind: KindEnergy, name: p.Name, season: season, price: p.Price, kwh: e})
			}
		}
		return out, nil
	}
}

// billsOneOf reports whether p bills one of the registers 1..n.
func (p Period) billsOneOf(n int) bool {
	for _, r := range p.Registers {
		if r <= n {
			return true
		}
	}
	return false
}
