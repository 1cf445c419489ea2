package tariff

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/amigo-metering/amigo"
)

// Parse reads a tariff document (JSON, docs/tariffs.md) and checks all of
// it. An invalid document is an amigo.EINVALID error whose message lists
// every problem (up to 20) by field, in English and Chinese:
// "periods[1].from: 07:00–22:00 overlaps periods[0] (peak) / 与其他时段重叠".
func Parse(doc []byte) (*Tariff, error) {
	t, problems := Check(doc)
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.String()
		}
		return nil, amigo.Errorf(amigo.EINVALID, "tariff", "%s", strings.Join(msgs, "; "))
	}
	return t, nil
}

// Check reads a tariff document and returns it, or the problems found (at
// most 20; then the tariff is nil).
func Check(doc []byte) (*Tariff, []Problem) {
	tree, err := decodeTree(doc)
	if err != nil {
		var pe *pathErr
		if errors.As(err, &pe) {
			return nil, []Problem{pe.Problem}
		}
		return nil, []Problem{{Field: "(document)", Message: err.Error()}}
	}
	c := &checker{}
	t := c.tariff(tree)
	if len(c.problems) > 0 {
		return nil, c.problems
	}
	return t, nil
}

var topKeys = []string{"name", "title", "time_zone", "valid_from", "flat_price", "periods", "rest_periods",
	"seasons", "calendar", "ladder", "standing_charges"}

func (c *checker) tariff(v any) *Tariff {
	o := c.object("", v, topKeys...)
	if o == nil {
		return nil
	}
	t := &Tariff{}
	if !o.has("name") {
		c.errf("name", "required / 必填")
	} else if s, ok := c.str("name", o.get("name")); ok {
		if !validName(s) {
			c.errf("name", "%q: want 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit / 名称只能含字母、数字、点、下划线、连字符", s)
		}
		t.Name = s
	}
	if o.has("title") {
		if s, ok := c.str("title", o.get("title")); ok {
			if len(s) > 200 || !utf8.ValidString(s) {
				c.errf("title", "want at most 200 bytes of UTF-8 text / 标题过长或编码错误")
			}
			t.Title = s
		}
	}
	if !o.has("time_zone") {
		c.errf("time_zone", "required, e.g. \"Asia/Shanghai\" / 必填，例如 Asia/Shanghai")
	} else if s, ok := c.str("time_zone", o.get("time_zone")); ok {
		t.TimeZone = s
		loc, err := loadZone(s)
		if err != nil {
			c.errf("time_zone", "%q is not a known IANA time zone such as \"Asia/Shanghai\" / 未知时区", s)
		}
		t.Location = loc
	}
	if !o.has("valid_from") {
		c.errf("valid_from", "required, the first day the version is in force, YYYY-MM-DD / 必填，生效日期")
	} else if s, ok := c.str("valid_from", o.get("valid_from")); ok {
		d, err := ParseDate(s)
		if err != nil {
			c.errf("valid_from", "%v", err)
		}
		t.ValidFrom = d
	}
	if o.has("flat_price") {
		if s, ok := c.decimalText("flat_price", o.get("flat_price")); ok {
			p, err := ParsePrice(s)
			if err != nil {
				c.errf("flat_price", "%v", err)
			}
			t.FlatPrice, t.HasFlatPrice = p, true
		}
	}
	if o.has("periods") {
		t.Days = c.periodSet("periods", o.get("periods"))
	}
	if o.has("rest_periods") {
		if !o.has("periods") {
			c.errf("rest_periods", "needs periods (the workday periods) / 需要同时给出 periods")
		}
		t.RestDays = c.periodSet("rest_periods", o.get("rest_periods"))
	}
	if o.has("seasons") {
		if !o.has("periods") {
			c.errf("seasons", "needs periods (the periods outside the seasons) / 需要同时给出 periods")
		}
		t.Seasons = c.seasons("seasons", o.get("seasons"))
	}
	if o.has("calendar") {
		t.Holidays, t.Workdays = c.calendar("calendar", o.get("calendar"))
	}
	if o.has("ladder") {
		t.Ladder = c.ladder("ladder", o.get("ladder"))
	}
	if o.has("standing_charges") {
		t.Standing = c.standing("standing_charges", o.get("standing_charges"))
	}

	// The shape as a whole.
	if !o.has("periods") && !o.has("flat_price") && (t.Ladder == nil || t.Ladder.Prices == nil) {
		c.errf("periods", "a tariff needs periods, a flat_price or a ladder with prices / 需要时段、单一电价或阶梯电价")
	}
	if t.Ladder != nil && t.Ladder.Prices != nil && (o.has("periods") || o.has("flat_price")) {
		c.errf("ladder.prices", "tier prices are for a tariff without periods and without flat_price (tier 1's price is the energy price); a time-of-use tariff uses surcharges / 阶梯电价只用于无时段、无单一电价的电价，分时电价请用 surcharges")
	}
	c.sameRegisters(t)
	return t
}

// loadZone loads an IANA zone; "" and "Local" (this machine's zone, not the
// site's) are refused.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > 64 {
		return nil, fmt.Errorf("bad zone")
	}
	return time.LoadLocation(name)
}

func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		alnum := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9'
		if !alnum && (i == 0 || ch != '.' && ch != '_' && ch != '-') {
			return false
		}
	}
	return true
}

func (c *checker) periodSet(path string, v any) PeriodSet {
	list, ok := c.list(path, v, maxPeriods)
	if !ok {
		return nil
	}
	if len(list) == 0 {
		c.errf(path, "at least one period / 至少一个时段")
		return nil
	}
	var set PeriodSet
	var owner [minutesPerDay]int // index+1 of the period owning each minute
	regOwner := map[int]int{}    // register → index+1
	withRegs := 0
	for i, pv := range list {
		pp := fmt.Sprintf("%s[%d]", path, i)
		p, ranges := c.period(pp, pv)
		for _, r := range ranges {
			if k := mark(&owner, r.Range, i+1); k != 0 {
				c.errf(r.path+".from", "%s–%s overlaps %s[%d] (%s) / 与 %s[%d] 时段重叠", r.From, r.To, path, k-1, set[k-1].Name, path, k-1)
			}
		}
		for j, reg := range p.Registers {
			if k, dup := regOwner[reg]; dup {
				c.errf(fmt.Sprintf("%s.registers[%d]", pp, j), "register %d is already in %s[%d] (%s): a register bills one period / 计度器 %d 已属于 %s[%d]", reg, path, k-1, set[k-1].Name, reg, path, k-1)
			} else {
				regOwner[reg] = i + 1
			}
		}
		if len(p.Registers) > 0 {
			withRegs++
		}
		for _, q := range set {
			if q.Name == p.Name && p.Name != "" {
				c.errf(pp+".name", "%q is given twice / 时段名称重复", p.Name)
			}
		}
		set = append(set, p)
	}
	if withRegs != 0 && withRegs != len(set) {
		c.errf(path, "registers are given for some periods but not all: give them for every period or none / 计度器须全部给出或全部不给")
	}
	// Missing hours: report the first uncovered run.
	for m := 0; m < minutesPerDay; m++ {
		if owner[m] == 0 {
			end := m
			for end < minutesPerDay && owner[end] == 0 {
				end++
			}
			c.errf(path, "%s–%s is in no period: the periods must cover the 24 hours / 该时段未被覆盖，时段须覆盖全天 24 小时", Clock(m), Clock(end))
			break
		}
	}
	return set
}

// mark gives the minutes of r to owner id; it returns the first other
// owner found (an overlap), 0 if none.
func mark(owner *[minutesPerDay]int, r Range, id int) int {
	first := 0
	set := func(m int) {
		if owner[m] != 0 && owner[m] != id {
			if first == 0 {
				first = owner[m]
			}
			return
		}
		owner[m] = id
	}
	if r.From < r.To {
		for m := r.From; m < r.To; m++ {
			set(int(m))
		}
	} else {
		for m := r.From; m < minutesPerDay; m++ {
			set(int(m))
		}
		for m := Clock(0); m < r.To; m++ {
			set(int(m))
		}
	}
	return first
}

type pathRange struct {
	Range
	path string // the object holding from and to: periods[1] or periods[1].hours[0]
}

var periodKeys = []string{"name", "from", "to", "hours", "price", "registers"}

func (c *checker) period(path string, v any) (Period, []pathRange) {
	var p Period
	o := c.object(path, v, periodKeys...)
	if o == nil {
		return p, nil
	}
	if !o.has("name") {
		c.errf(path+".name", "required / 必填")
	} else if s, ok := c.str(path+".name", o.get("name")); ok {
		if s == "" || len(s) > 32 || !utf8.ValidString(s) || strings.HasPrefix(s, "tier ") {
			c.errf(path+".name", "%q: want 1–32 bytes of text, not starting with \"tier \" / 名称应为 1–32 字节", s)
		}
		p.Name = s
	}
	if !o.has("price") {
		c.errf(path+".price", "required, yuan/kWh with at most 4 decimals / 必填，元/千瓦时，最多 4 位小数")
	} else if s, ok := c.decimalText(path+".price", o.get("price")); ok {
		pr, err := ParsePrice(s)
		if err != nil {
			c.errf(path+".price", "%v", err)
		}
		p.Price = pr
	}
	var ranges []pathRange
	switch {
	case o.has("hours") && (o.has("from") || o.has("to")):
		c.errf(path+".hours", "give either from/to or hours, not both / from/to 与 hours 只能二选一")
	case o.has("hours"):
		list, ok := c.list(path+".hours", o.get("hours"), maxRanges)
		if ok && len(list) == 0 {
			c.errf(path+".hours", "at least one range / 至少一个时间段")
		}
		for j, hv := range list {
			hp := fmt.Sprintf("%s.hours[%d]", path, j)
			ho := c.object(hp, hv, "from", "to")
			if ho == nil {
				continue
			}
			if r, ok := c.rangeOf(hp, ho); ok {
				ranges = append(ranges, pathRange{r, hp})
			}
		}
	default:
		if r, ok := c.rangeOf(path, o); ok {
			ranges = append(ranges, pathRange{r, path})
		}
	}
	for _, r := range ranges {
		p.Hours = append(p.Hours, r.Range)
	}
	if o.has("registers") {
		list, _ := c.list(path+".registers", o.get("registers"), maxRegisters)
		seen := map[int]bool{}
		for j, rv := range list {
			rp := fmt.Sprintf("%s.registers[%d]", path, j)
			if n, ok := c.integer(rp, rv, 1, maxRegisters); ok {
				if seen[n] {
					c.errf(rp, "register %d is given twice / 计度器重复", n)
					continue
				}
				seen[n] = true
				p.Registers = append(p.Registers, n)
			}
		}
		if list != nil && len(list) == 0 {
			c.errf(path+".registers", "at least one register (1–4), or leave the key out / 至少一个计度器")
		}
	}
	return p, ranges
}

// rangeOf reads from and to of o at path.
func (c *checker) rangeOf(path string, o *object) (Range, bool) {
	var r Range
	ok := true
	for _, k := range []string{"from", "to"} {
		kp := path + "." + k
		if !o.has(k) {
			c.errf(kp, "required, HH:MM of the site's clock / 必填，时刻 HH:MM")
			ok = false
			continue
		}
		s, isStr := c.str(kp, o.get(k))
		if !isStr {
			ok = false
			continue
		}
		m, err := parseClock(s)
		if err != nil {
			c.errf(kp, "%v", err)
			ok = false
			continue
		}
		if k == "from" {
			if m == minutesPerDay {
				c.errf(kp, "24:00 can only end a range / 24:00 只能作为结束时刻")
				ok = false
			}
			r.From = m
		} else {
			r.To = m
		}
	}
	if ok && (r.From == r.To || r.From == 0 && r.To == 0) {
		c.errf(path+".to", "%s–%s is empty (the whole day is 00:00–24:00) / 时间段为空（全天为 00:00–24:00）", r.From, r.To)
		ok = false
	}
	if ok && r.To == minutesPerDay {
		r.To = 0 // [From, 24:00) is the wrap to 00:00
		if r.From == 0 {
			r.To = minutesPerDay // the whole day, kept unwrapped
		}
	}
	return r, ok
}

var seasonKeys = []string{"name", "from", "to", "periods", "rest_periods"}

func (c *checker) seasons(path string, v any) []Season {
	list, ok := c.list(path, v, maxSeasons)
	if !ok {
		return nil
	}
	var out []Season
	var owner [13][32]int // month, day → season index+1
	for i, sv := range list {
		sp := fmt.Sprintf("%s[%d]", path, i)
		o := c.object(sp, sv, seasonKeys...)
		if o == nil {
			continue
		}
		var s Season
		if !o.has("name") {
			c.errf(sp+".name", "required / 必填")
		} else if n, ok := c.str(sp+".name", o.get("name")); ok {
			if n == "" || len(n) > 32 {
				c.errf(sp+".name", "want 1–32 bytes / 名称应为 1–32 字节")
			}
			for _, q := range out {
				if q.Name == n {
					c.errf(sp+".name", "%q is given twice / 季节名称重复", n)
				}
			}
			s.Name = n
		}
		okRange := true
		for _, k := range []string{"from", "to"} {
			kp := sp + "." + k
			if !o.has(k) {
				c.errf(kp, "required, MM-DD / 必填，月-日")
				okRange = false
				continue
			}
			str, ok := c.str(kp, o.get(k))
			if !ok {
				okRange = false
				continue
			}
			md, err := parseMonthDay(str)
			if err != nil {
				c.errf(kp, "%v", err)
				okRange = false
				continue
			}
			if k == "from" {
				s.From = md
			} else {
				s.To = md
			}
		}
		if okRange {
			first := 0
			for m := 1; m <= 12; m++ {
				for d := 1; d <= daysIn(2000, time.Month(m)); d++ {
					if !s.contains(MonthDay(m*100 + d)) {
						continue
					}
					if owner[m][d] != 0 && first == 0 {
						first = owner[m][d]
					}
					owner[m][d] = i + 1
				}
			}
			if first != 0 {
				c.errf(sp+".from", "%s–%s overlaps %s[%d] (%s) / 与其他季节重叠", s.From, s.To, path, first-1, out[first-1].Name)
			}
		}
		if !o.has("periods") {
			c.errf(sp+".periods", "required / 必填")
		} else {
			s.Days = c.periodSet(sp+".periods", o.get("periods"))
		}
		if o.has("rest_periods") {
			s.RestDays = c.periodSet(sp+".rest_periods", o.get("rest_periods"))
		}
		out = append(out, s)
	}
	return out
}

// sameRegisters checks that every period set bills the same registers, so
// that a meter's registers are billed whole on every kind of day.
func (c *checker) sameRegisters(t *Tariff) {
	want := regsOf(t.Days)
	check := func(path string, set PeriodSet) {
		if set == nil {
			return
		}
		if got := regsOf(set); got != want {
			c.errf(path, "bills registers %s, the year-round periods bill %s: every period set must bill the same registers / 各时段组须对应相同的计度器", got, want)
		}
	}
	check("rest_periods", t.RestDays)
	for i, s := range t.Seasons {
		check(fmt.Sprintf("seasons[%d].periods", i), s.Days)
		check(fmt.Sprintf("seasons[%d].rest_periods", i), s.RestDays)
	}
}

func regsOf(set PeriodSet) string {
	var regs []int
	for _, p := range set {
		regs = append(regs, p.Registers...)
	}
	sort.Ints(regs)
	return fmt.Sprint(regs)
}

func (c *checker) calendar(path string, v any) (holidays, workdays map[Date]bool) {
	o := c.object(path, v, "holidays", "workdays")
	if o == nil {
		return nil, nil
	}
	read := func(key string) map[Date]bool {
		if !o.has(key) {
			return nil
		}
		kp := path + "." + key
		list, _ := c.list(kp, o.get(key), maxCalendar)
		m := map[Date]bool{}
		for i, dv := range list {
			dp := fmt.Sprintf("%s[%d]", kp, i)
			if s, ok := c.str(dp, dv); ok {
				d, err := ParseDate(s)
				if err != nil {
					c.errf(dp, "%v", err)
					continue
				}
				if m[d] {
					c.errf(dp, "%s is given twice / 日期重复", d)
				}
				m[d] = true
			}
		}
		return m
	}
	holidays, workdays = read("holidays"), read("workdays")
	for d := range holidays {
		if workdays[d] {
			c.errf(path+".workdays", "%s is also a holiday / 同时是节假日", d)
		}
	}
	return holidays, workdays
}

func (c *checker) ladder(path string, v any) *Ladder {
	o := c.object(path, v, "cycle", "thresholds_kwh", "surcharges", "prices")
	if o == nil {
		return nil
	}
	l := &Ladder{}
	if !o.has("cycle") {
		c.errf(path+".cycle", "required: \"month\" or \"year\" / 必填：month 或 year")
	} else if s, ok := c.str(path+".cycle", o.get("cycle")); ok {
		if s != CycleMonth && s != CycleYear {
			c.errf(path+".cycle", "%q: want \"month\" or \"year\" / 应为 month 或 year", s)
		}
		l.Cycle = s
	}
	if !o.has("thresholds_kwh") {
		c.errf(path+".thresholds_kwh", "required: the kWh per cycle where each tier ends / 必填：各档上限电量")
	} else if list, ok := c.list(path+".thresholds_kwh", o.get("thresholds_kwh"), maxTiers); ok {
		if len(list) == 0 {
			c.errf(path+".thresholds_kwh", "at least one threshold / 至少一个阈值")
		}
		for i, tv := range list {
			tp := fmt.Sprintf("%s.thresholds_kwh[%d]", path, i)
			s, ok := c.decimalText(tp, tv)
			if !ok {
				continue
			}
			e, err := ParseKWh(s)
			if err != nil {
				c.errf(tp, "%v", err)
				continue
			}
			if e == 0 {
				c.errf(tp, "0 kWh: a threshold must be above 0 / 阈值须大于 0")
			}
			if n := len(l.Thresholds); n > 0 && e <= l.Thresholds[n-1] {
				c.errf(tp, "%s kWh is not above the threshold before it (%s kWh): thresholds must increase / 阈值须递增", e, l.Thresholds[n-1])
			}
			l.Thresholds = append(l.Thresholds, e)
		}
	}
	tiers := func(key string) []Price {
		kp := path + "." + key
		list, ok := c.list(kp, o.get(key), maxTiers+1)
		if !ok {
			return nil
		}
		if n := len(l.Thresholds); len(list) != n+1 {
			c.errf(kp, "%d entries for %d thresholds: want %d, one per tier / 档数应为阈值数加一 (%d)", len(list), n, n+1, n+1)
		}
		out := []Price{}
		for i, pv := range list {
			pp := fmt.Sprintf("%s[%d]", kp, i)
			if s, ok := c.decimalText(pp, pv); ok {
				p, err := ParsePrice(s)
				if err != nil {
					c.errf(pp, "%v", err)
				}
				out = append(out, p)
			}
		}
		return out
	}
	switch {
	case o.has("surcharges") && o.has("prices"):
		c.errf(path+".prices", "give either surcharges or prices, not both / surcharges 与 prices 只能二选一")
	case o.has("surcharges"):
		l.Surcharges = tiers("surcharges")
	case o.has("prices"):
		l.Prices = tiers("prices")
	default:
		c.errf(path+".surcharges", "required: surcharges (on top of the period price) or prices (per tier) / 必填：加价 surcharges 或各档电价 prices")
	}
	return l
}

func (c *checker) standing(path string, v any) []Standing {
	list, ok := c.list(path, v, maxStanding)
	if !ok {
		return nil
	}
	var out []Standing
	for i, sv := range list {
		sp := fmt.Sprintf("%s[%d]", path, i)
		o := c.object(sp, sv, "name", "per_month")
		if o == nil {
			continue
		}
		var s Standing
		if !o.has("name") {
			c.errf(sp+".name", "required / 必填")
		} else if n, ok := c.str(sp+".name", o.get("name")); ok {
			if n == "" || len(n) > 32 || strings.HasPrefix(n, "tier ") {
				c.errf(sp+".name", "want 1–32 bytes / 名称应为 1–32 字节")
			}
			for _, q := range out {
				if q.Name == n {
					c.errf(sp+".name", "%q is given twice / 名称重复", n)
				}
			}
			s.Name = n
		}
		if !o.has("per_month") {
			c.errf(sp+".per_month", "required, yuan per month with at most 2 decimals / 必填，元/月，最多 2 位小数")
		} else if str, ok := c.decimalText(sp+".per_month", o.get("per_month")); ok {
			f, err := parseYuan(str)
			if err != nil {
				c.errf(sp+".per_month", "%v", err)
			}
			s.PerMonth = f
		}
		out = append(out, s)
	}
	return out
}
