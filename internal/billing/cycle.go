// Package billing makes postpaid bills: for one account and cycle, the
// usage per tariff register from the frozen readings at the cycle's
// boundaries (internal/analysis: primary side, × CT × PT, continuous
// across a meter swap), priced by the tariff versions in force (package
// tariff: periods, the ladder position from the account's history,
// proration of a partial cycle, standing charges, half-up rounding per
// line). A bill whose boundary reading is missing or estimated is held
// for review, never priced as zero. compute.go is pure; run.go is the
// resumable billing run over a store; correct.go the credit note and
// reissue. See docs/billing.md.
package billing

import (
	"strconv"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/tariff"
)

// Cycle is one billing cycle of an account: [Open, Close) in the site's
// zone. Cycle "2026-10" with billing day D runs from 00:00 on October D to
// 00:00 on November D (billing day 1: the calendar month).
type Cycle struct {
	Name        string
	Open, Close time.Time
}

// MaxBillingDay is the last billing day a month always has.
const MaxBillingDay = 28

// ParseCycle reads "YYYY-MM" (years 2000–2099).
func ParseCycle(name string) (year int, month time.Month, err error) {
	if len(name) != 7 || name[4] != '-' {
		return 0, 0, amigo.Errorf(amigo.EINVALID, "billing cycle", "cycle %q: want YYYY-MM such as 2026-10 / 账期格式应为 YYYY-MM", trunc(name))
	}
	y, err1 := strconv.Atoi(name[:4])
	m, err2 := strconv.Atoi(name[5:])
	if err1 != nil || err2 != nil || y < 2000 || y > 2099 || m < 1 || m > 12 || name[0] == '+' || name[5] == '+' || name[5] == '-' {
		return 0, 0, amigo.Errorf(amigo.EINVALID, "billing cycle", "cycle %q: want YYYY-MM with a month 01–12 and a year 2000–2099 / 账期格式应为 YYYY-MM", trunc(name))
	}
	return y, time.Month(m), nil
}

// CycleOf returns the cycle name for an account with billingDay in loc.
func CycleOf(name string, billingDay int, loc *time.Location) (Cycle, error) {
	y, m, err := ParseCycle(name)
	if err != nil {
		return Cycle{}, err
	}
	if billingDay < 1 || billingDay > MaxBillingDay {
		return Cycle{}, amigo.Errorf(amigo.EINVALID, "billing cycle", "billing day %d: want 1–%d / 抄表日应为 1–%d", billingDay, MaxBillingDay, MaxBillingDay)
	}
	return Cycle{Name: name, Open: time.Date(y, m, billingDay, 0, 0, 0, 0, loc), Close: time.Date(y, m+1, billingDay, 0, 0, 0, 0, loc)}, nil
}

func trunc(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// dayStart is 00:00 of d in loc.
func dayStart(d tariff.Date, loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// days counts the site days from a to b (instants at 00:00 in loc; a
// partial day counts as a day).
func days(a, b time.Time, loc *time.Location) int {
	if !a.Before(b) {
		return 0
	}
	last := tariff.DateOf(b, loc)
	n := civil(last) - civil(tariff.DateOf(a, loc)) + 1
	if dayStart(last, loc).Equal(b) {
		n-- // b opens its day: that day is not counted
	}
	return int(n)
}

// civil numbers the days of the calendar.
func civil(d tariff.Date) int64 {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// Number is a bill's number: the cycle, the site and the account number
// ("202610-1-A0001"); a credit note adds "-C<n>", a reissue "-R<n>".
func Number(cycle string, siteID int64, account string, kind string, revision int) string {
	n := cycle[:4] + cycle[5:] + "-" + strconv.FormatInt(siteID, 10) + "-" + account
	switch {
	case kind == amigo.BillKindCredit:
		n += "-C" + strconv.Itoa(revision)
	case revision > 0:
		n += "-R" + strconv.Itoa(revision)
	}
	return n
}
