package amigo

// Money: customers' accounts, the prepaid ledger, payments, notices to
// customers and a site's supply-control policy (docs/money.md).
//
// To credit an account (a desk payment, an online payment), call the
// store's Credit; it is idempotent by reference:
//
//	p := amigo.Payment{AccountID: id, AmountFen: 5000, Method: amigo.MethodCash, Reference: ref, By: user, Time: now}
//	entry, duplicate, err := store.Credit(ctx, &p)
//
// The payment row, its ledger entry, the new balance and the audit entry
// are one transaction. A reference seen before for the same account and
// amount changes nothing and returns the first entry (p is then the first
// payment, with its receipt number) and duplicate=true; the same reference
// for another account or amount is ECONFLICT. Every other change of a
// balance (daily deduction, refund, adjustment, bill) is store.PostLedger,
// idempotent by reference the same way. A balance is never written any
// other way: it is the sum of the account's entries.

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Account modes.
const (
	ModePrepaid  = "prepaid"  // 预付费: the ledger is debited each day, the supply controlled
	ModePostpaid = "postpaid" // 后付费: billed per cycle
)

// Account control states (prepaid): what the automatic control did last.
const (
	ControlNone    = ""        // balance above the warning threshold
	ControlWarned  = "warned"  // below the warning threshold: notice sent, meter alarm on
	ControlTripped = "tripped" // at or below the credit limit: supply tripped for arrears
)

// Ledger entry kinds.
const (
	LedgerDaily      = "daily"      // the day's consumption at that day's prices (negative)
	LedgerPayment    = "payment"    // desk or online payment (positive)
	LedgerRefund     = "refund"     // money given back (negative)
	LedgerAdjustment = "adjustment" // a correction or an opening balance, either sign
	LedgerBill       = "bill"       // a postpaid bill charged to the account (negative)
)

// Payment methods.
const (
	MethodCash   = "cash"
	MethodCard   = "card"
	MethodWeChat = "wechat"
)

// Notice kinds (what the customer app lists).
const (
	NoticeLowBalance = "low_balance"
	NoticeTrip       = "trip"
	NoticeReconnect  = "reconnect"
)

// Reconnect policies of a site: how a meter tripped for arrears is
// switched back on once paid.
const (
	ReconnectAllowClose = "allow-close" // 1BH: the customer presses the button
	ReconnectClose      = "close"       // 1CH: closed directly
)

// MaxFen bounds any single amount (10⁹ yuan): far beyond any real payment,
// far from overflow when summed.
const MaxFen Fen = 100_000_000_000

// AccountMeter is a meter an account pays for, from From (its
// installation or the customer's move-in) until To (zero: still).
type AccountMeter struct {
	AccountID int64     `json:"account_id"`
	MeterID   int64     `json:"meter_id"`
	Address   string    `json:"address"` // filled by the store
	From      time.Time `json:"from"`
	To        time.Time `json:"to,omitzero"`
}

// Covers reports whether the account paid for the meter at t.
func (m AccountMeter) Covers(t time.Time) bool {
	return !t.Before(m.From) && (m.To.IsZero() || t.Before(m.To))
}

// LedgerEntry is one change of an account's balance.
type LedgerEntry struct {
	ID         int64     `json:"id"`
	AccountID  int64     `json:"account_id"`
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"`
	AmountFen  Fen       `json:"amount_fen"`  // signed: + credits, - debits
	BalanceFen Fen       `json:"balance_fen"` // the balance after this entry
	// Reference makes the entry idempotent (unique across the ledger):
	// "daily/<account>/<YYYY-MM-DD>", a payment's reference, ...
	Reference string `json:"reference"`
	By        string `json:"by"`
	Detail    string `json:"detail,omitempty"`
}

// Payment is money received for an account; its receipt number is what
// the printed receipt shows.
type Payment struct {
	ID        int64     `json:"id"`
	AccountID int64     `json:"account_id"`
	AmountFen Fen       `json:"amount_fen"`
	Method    string    `json:"method"`
	Reference string    `json:"reference"`
	Receipt   string    `json:"receipt"` // filled by the store: "R" + 10 digits of the id
	By        string    `json:"by"`      // the cashier, or the provider
	Time      time.Time `json:"time"`
	LedgerID  int64     `json:"ledger_id"`
}

// Notice is a message to the customer of an account (the app lists them).
type Notice struct {
	ID        int64     `json:"id"`
	AccountID int64     `json:"account_id"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Message   string    `json:"message"` // English / 中文
}

// AccountFilter selects accounts in id order; zero fields select all.
type AccountFilter struct {
	Mode       string
	SiteID     int64
	CustomerID int64
	Control    string // only accounts in this control state; "" any
	Limit      int    // 0: every one
	Offset     int
}

// PaymentFilter selects payments in id order.
type PaymentFilter struct {
	AccountID     int64
	Method        string
	Since, Until  time.Time // [Since, Until); zero: open
	Limit, Offset int
}

// TimeWindow is a daily window of site-local clock time "HH:MM"; From
// after To wraps midnight (22:00–06:00).
type TimeWindow struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ControlPolicy is a site's rule for automatic supply control: when power
// is kept (保电) though the money ran out, and how a paid-up meter is
// reconnected.
type ControlPolicy struct {
	SiteID int64 `json:"site_id"`
	// KeepPowerWindows: daily windows when no trip is sent.
	KeepPowerWindows []TimeWindow `json:"keep_power_windows"`
	// KeepPowerWeekdays: whole days without a trip ("saturday", "sunday").
	KeepPowerWeekdays []string `json:"keep_power_weekdays"`
	// KeepPowerDates: holidays (YYYY-MM-DD, site zone).
	KeepPowerDates []string `json:"keep_power_dates"`
	// Reconnect is ReconnectAllowClose (default) or ReconnectClose.
	Reconnect string    `json:"reconnect"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// Limits of a policy.
const (
	MaxPolicyWindows = 24
	MaxPolicyDates   = 400
)

func clockMinutes(s string) (int, bool) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

// Check returns an EINVALID error naming the first bad field.
func (p ControlPolicy) Check() error {
	const op = "control policy"
	if len(p.KeepPowerWindows) > MaxPolicyWindows {
		return Errorf(EINVALID, op, "keep_power_windows: at most %d / 保电时段最多%d个", MaxPolicyWindows, MaxPolicyWindows)
	}
	for i, w := range p.KeepPowerWindows {
		f, ok1 := clockMinutes(w.From)
		t, ok2 := clockMinutes(w.To)
		if !ok1 || !ok2 || f == t {
			return Errorf(EINVALID, op, "keep_power_windows[%d]: want from and to as different HH:MM / 保电时段第%d项应为不同的 HH:MM", i, i)
		}
	}
	for i, d := range p.KeepPowerWeekdays {
		if _, ok := weekdays[strings.ToLower(d)]; !ok {
			return Errorf(EINVALID, op, "keep_power_weekdays[%d]: %q is not a weekday name (monday..sunday) / 星期名称错误", i, truncName(d))
		}
	}
	if len(p.KeepPowerDates) > MaxPolicyDates {
		return Errorf(EINVALID, op, "keep_power_dates: at most %d / 保电日期最多%d个", MaxPolicyDates, MaxPolicyDates)
	}
	for i, d := range p.KeepPowerDates {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return Errorf(EINVALID, op, "keep_power_dates[%d]: %q is not a date YYYY-MM-DD / 日期格式错误", i, truncName(d))
		}
	}
	if p.Reconnect != "" && p.Reconnect != ReconnectAllowClose && p.Reconnect != ReconnectClose {
		return Errorf(EINVALID, op, "reconnect: want %q or %q / 复电方式应为 %s 或 %s", ReconnectAllowClose, ReconnectClose, ReconnectAllowClose, ReconnectClose)
	}
	return nil
}

func truncName(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// KeepsPower reports whether the policy keeps power at t (site zone loc):
// t falls in a daily window, on a kept weekday or on a holiday.
func (p ControlPolicy) KeepsPower(t time.Time, loc *time.Location) bool {
	t = t.In(loc)
	if slices.Contains(p.KeepPowerDates, t.Format(time.DateOnly)) {
		return true
	}
	for _, d := range p.KeepPowerWeekdays {
		if weekdays[strings.ToLower(d)] == t.Weekday() {
			return true
		}
	}
	now := t.Hour()*60 + t.Minute()
	for _, w := range p.KeepPowerWindows {
		f, _ := clockMinutes(w.From)
		to, _ := clockMinutes(w.To)
		if f < to && now >= f && now < to || f > to && (now >= f || now < to) {
			return true
		}
	}
	return false
}

// ReceiptNumber is the receipt number of payment id.
func ReceiptNumber(id int64) string { return fmt.Sprintf("R%010d", id) }

// DailyReference is the ledger reference of an account's deduction for a
// site-local day.
func DailyReference(accountID int64, day time.Time) string {
	return fmt.Sprintf("daily/%d/%s", accountID, day.Format(time.DateOnly))
}

// Bounds of an account's fields.
const (
	MaxAccountNumber = 32
	MaxReference     = 128
)

// Check returns an EINVALID error naming the first bad field of an
// account's settings.
func (a Account) Check() error {
	const op = "account"
	switch {
	case a.Number == "" || len(a.Number) > MaxAccountNumber || strings.ContainsAny(a.Number, " \t\r\n/,"):
		return Errorf(EINVALID, op, "number: want 1..%d characters without spaces, commas or slashes / 户号应为1..%d个字符，不含空格、逗号或斜杠", MaxAccountNumber, MaxAccountNumber)
	case a.CustomerID <= 0:
		return Errorf(EINVALID, op, "customer: required / 客户必填")
	case a.SiteID <= 0:
		return Errorf(EINVALID, op, "site: required / 站点必填")
	case a.Mode != ModePrepaid && a.Mode != ModePostpaid:
		return Errorf(EINVALID, op, "mode: want %q or %q / 模式应为 prepaid 或 postpaid", ModePrepaid, ModePostpaid)
	case a.Tariff == "" || len(a.Tariff) > 64:
		return Errorf(EINVALID, op, "tariff: want a tariff name / 电价名称必填")
	case a.BillingDay < 1 || a.BillingDay > 28:
		return Errorf(EINVALID, op, "billing_day: want 1..28 / 结算日应为1..28")
	case a.LowBalanceFen < -MaxFen || a.LowBalanceFen > MaxFen:
		return Errorf(EINVALID, op, "low_balance_fen: out of range / 预警金额超出范围")
	case a.CreditLimitFen < -MaxFen || a.CreditLimitFen > MaxFen:
		return Errorf(EINVALID, op, "credit_limit_fen: out of range / 透支额度超出范围")
	case a.Mode == ModePrepaid && a.CreditLimitFen > a.LowBalanceFen:
		return Errorf(EINVALID, op, "credit_limit_fen: must not exceed low_balance_fen / 跳闸金额不能高于预警金额")
	}
	for i, m := range a.Meters {
		if m.MeterID <= 0 || m.From.IsZero() || (!m.To.IsZero() && !m.To.After(m.From)) {
			return Errorf(EINVALID, op, "meters[%d]: want a meter and from before to / 电表第%d项：需要电表和起止时间", i, i)
		}
	}
	return nil
}

// Supply says whether an account's supply is on: "on" when every meter it
// pays for now reads its relay closed, "off" when one reads open, else
// "unknown".
func (a Account) Supply(meters []Meter, now time.Time) string {
	relay := map[int64]string{}
	for _, m := range meters {
		relay[m.ID] = m.Relay
	}
	state, n := "on", 0
	for _, am := range a.Meters {
		if !am.Covers(now) {
			continue
		}
		n++
		switch relay[am.MeterID] {
		case RelayOpen:
			return "off"
		case RelayClosed:
		default:
			state = "unknown"
		}
	}
	if n == 0 {
		return "unknown"
	}
	return state
}

// Events of the wallet.
const (
	// EventDayHeld: a prepaid account's day is not deducted yet because
	// its data is missing or flagged (raised once per account-day).
	EventDayHeld = "wallet.day_held"
	// EventTripDeferred: an account at its credit limit is kept on by
	// keep-power (raised once per account and incident).
	EventTripDeferred = "wallet.trip_deferred"
)
