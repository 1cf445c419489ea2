package tariff

import (
	"fmt"
	"time"
)

// Date is a civil date in the site's zone (no time, no zone): the day a
// usage belongs to, a validity start, a holiday.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads "YYYY-MM-DD" (years 1900–9999), refusing days that do not
// exist ("2026-02-30").
func ParseDate(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s[:4]) || !digits(s[5:7]) || !digits(s[8:]) {
		return Date{}, fmt.Errorf("%q is not a date YYYY-MM-DD / 不是日期 YYYY-MM-DD", s)
	}
	y, m, d := atoi(s[:4]), atoi(s[5:7]), atoi(s[8:])
	if y < 1900 || m < 1 || m > 12 || d < 1 || d > daysIn(y, time.Month(m)) {
		return Date{}, fmt.Errorf("%q is not a date that exists / 日期不存在", s)
	}
	return Date{y, time.Month(m), d}, nil
}

// DateOf returns the civil date of t in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{y, m, d}
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// String returns "YYYY-MM-DD".
// (Without fmt for the dates of years 0–9999: a billing run formats
// millions of them.)
func (d Date) String() string {
	y, m, day := d.Year, int(d.Month), d.Day
	if y < 0 || y > 9999 || m < 0 || m > 99 || day < 0 || day > 99 {
		return fmt.Sprintf("%04d-%02d-%02d", y, m, day)
	}
	b := [10]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), '-',
		byte('0' + m/10), byte('0' + m%10), '-', byte('0' + day/10), byte('0' + day%10)}
	return string(b[:])
}

// MarshalText writes "YYYY-MM-DD".
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// Before reports whether d is earlier than o.
func (d Date) Before(o Date) bool { return d.key() < o.key() }

func (d Date) key() int { return d.Year*10000 + int(d.Month)*100 + d.Day }

func (d Date) time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// Weekday returns the day of the week.
func (d Date) Weekday() time.Weekday { return d.time().Weekday() }

// AddDays returns the date n days later (earlier for negative n).
func (d Date) AddDays(n int) Date {
	y, m, dd := d.time().AddDate(0, 0, n).Date()
	return Date{y, m, dd}
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// DaysInMonth returns the number of days of d's month.
func (d Date) DaysInMonth() int { return daysIn(d.Year, d.Month) }

// MonthDay is a day of any year, "MM-DD", as month*100+day (02-29 allowed).
type MonthDay int

func parseMonthDay(s string) (MonthDay, error) {
	if len(s) != 5 || s[2] != '-' || !digits(s[:2]) || !digits(s[3:]) {
		return 0, fmt.Errorf("%q is not a day of the year MM-DD / 不是月日 MM-DD", s)
	}
	m, d := atoi(s[:2]), atoi(s[3:])
	if m < 1 || m > 12 || d < 1 || d > daysIn(2000, time.Month(m)) { // 2000 is a leap year: 02-29 exists
		return 0, fmt.Errorf("%q is not a day of the year / 月日不存在", s)
	}
	return MonthDay(m*100 + d), nil
}

func (md MonthDay) String() string { return fmt.Sprintf("%02d-%02d", int(md)/100, int(md)%100) }

// MonthDay returns d as a day of any year.
func (d Date) MonthDay() MonthDay { return MonthDay(int(d.Month)*100 + d.Day) }

// Clock is a time of day in minutes after midnight, 0..1440 (1440 is
// "24:00", allowed only as the end of a range).
type Clock int

const minutesPerDay = 24 * 60

func parseClock(s string) (Clock, error) {
	if len(s) != 5 || s[2] != ':' || !digits(s[:2]) || !digits(s[3:]) {
		return 0, fmt.Errorf("%q is not a time of day HH:MM / 不是时刻 HH:MM", s)
	}
	h, m := atoi(s[:2]), atoi(s[3:])
	if h == 24 && m == 0 {
		return minutesPerDay, nil
	}
	if h > 23 || m > 59 {
		return 0, fmt.Errorf("%q is not a time of day 00:00–24:00 / 时刻超出范围", s)
	}
	return Clock(h*60 + m), nil
}

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// Cycle bounds: the first and last day of the ladder cycle ("month" or
// "year") that contains d.
func CycleBounds(cycle string, d Date) (first, last Date) {
	if cycle == CycleYear {
		return Date{d.Year, time.January, 1}, Date{d.Year, time.December, 31}
	}
	return Date{d.Year, d.Month, 1}, Date{d.Year, d.Month, d.DaysInMonth()}
}

// CycleDays returns the number of days of the cycle that contains d.
func CycleDays(cycle string, d Date) int {
	first, last := CycleBounds(cycle, d)
	return int(last.time().Sub(first.time()).Hours()/24) + 1
}
