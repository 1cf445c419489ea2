package tariff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/amigo-metering/amigo"
)

// Request is a quote asked for from outside (the API's body, the CLI's
// flags): decimals as strings, the ladder position as year- or
// month-to-date. Exactly one of Usage, Registers and Total.
type Request struct {
	// Date is the site-local day of the usage, YYYY-MM-DD: it picks the
	// version (through a Set), the season and the kind of day.
	Date string `json:"date"`
	// Usage is kWh by period name: {"peak": "12.34"}.
	Usage map[string]string `json:"usage,omitempty"`
	// Registers is kWh of the meter's registers T1, T2, T3, T4.
	Registers []string `json:"registers,omitempty"`
	// Total is the kWh of a meter without tariff registers.
	Total *string `json:"total,omitempty"`
	// YearToDate or MonthToDate (the one the ladder's cycle needs) is the
	// cycle's usage before this one.
	YearToDate  *string `json:"year_to_date,omitempty"`
	MonthToDate *string `json:"month_to_date,omitempty"`
	// InServiceDays prorates the ladder: days in service of the cycle
	// containing Date (absent: the whole cycle).
	InServiceDays *int `json:"in_service_days,omitempty"`
	// StandingDays is the days of Date's month of standing charges
	// (absent: the whole month; 0: none).
	StandingDays *int `json:"standing_days,omitempty"`
}

// MaxRequest is the largest request body accepted, in bytes.
const MaxRequest = 16 << 10

// DecodeRequest reads one JSON Request of known fields (at most
// MaxRequest bytes) and nothing after it.
func DecodeRequest(b []byte) (Request, error) {
	var req Request
	if len(b) > MaxRequest {
		return req, invalidReq("the request is larger than %d bytes / 请求超过 %d 字节", MaxRequest, MaxRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return req, invalidReq("%s: want %s (kWh are decimal strings such as \"12.34\") / 类型错误（电量为字符串）", te.Field, te.Type)
		}
		return req, invalidReq("not a quote request: %v / 请求格式错误", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, invalidReq("one JSON object and nothing after it / 只能是一个 JSON 对象")
	}
	return req, nil
}

func invalidReq(format string, args ...any) error {
	return amigo.Errorf(amigo.EINVALID, "tariff quote", format, args...)
}

// fieldErr names the field on both sides of a bilingual message
// ("where: what / where: 什么"), so that a reader of either language
// learns which field is wrong.
func fieldErr(where string, err error) error {
	if en, zh, ok := strings.Cut(err.Error(), " / "); ok {
		return invalidReq("%s: %s / %s: %s", where, en, where, zh)
	}
	return invalidReq("%s: %v", where, err)
}

// Input turns a request into a QuoteInput for t, each problem named by
// its field (and the CLI flag that sets it).
func (t *Tariff) Input(req Request) (QuoteInput, error) {
	var in QuoteInput
	d, err := ParseDate(req.Date)
	if err != nil {
		return in, fieldErr("date (--date)", err)
	}
	span := Span{Date: d}
	given := 0
	if req.Usage != nil {
		given++
		if len(req.Usage) > maxPeriods {
			return in, invalidReq("usage: more than %d periods / 时段过多", maxPeriods)
		}
		span.Usage = map[string]amigo.Energy{}
		names := make([]string, 0, len(req.Usage))
		for name := range req.Usage {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			e, err := ParseKWh(req.Usage[name])
			if err != nil {
				return in, fieldErr(fmt.Sprintf("usage.%s (--usage %s=KWH)", name, name), err)
			}
			span.Usage[name] = e
		}
	}
	if req.Registers != nil {
		given++
		if len(req.Registers) > maxRegisters {
			return in, invalidReq("registers (--registers): %d values, at most %d (T1–T4) / 计度器过多", len(req.Registers), maxRegisters)
		}
		for i, v := range req.Registers {
			e, err := ParseKWh(v)
			if err != nil {
				return in, fieldErr(fmt.Sprintf("registers[%d] (--registers)", i), err)
			}
			span.Registers = append(span.Registers, e)
		}
	}
	if req.Total != nil {
		given++
		e, err := ParseKWh(*req.Total)
		if err != nil {
			return in, fieldErr("total (--total)", err)
		}
		span.FromTotals, span.Total = true, e
	}
	if given != 1 {
		return in, invalidReq("usage: give one of usage, registers or total (--usage, --registers, --total) / 按时段、按计度器或按总电量，须给出且只给一种")
	}
	in.Spans = []Span{span}
	if l := t.Ladder; l != nil {
		field, flag, v, zh := "year_to_date", "--year-to-date", req.YearToDate, "年"
		if l.Cycle == CycleMonth {
			field, flag, v, zh = "month_to_date", "--month-to-date", req.MonthToDate, "月"
		}
		if v == nil {
			return in, invalidReq("%s (%s): required: %s has a %s ladder, give the cycle's usage before this one in kWh / 必填：该电价为按%s阶梯，请给出本周期此前用电量", field, flag, t.Name, l.Cycle, zh)
		}
		e, err := ParseKWh(*v)
		if err != nil {
			return in, fieldErr(field+" ("+flag+")", err)
		}
		in.CycleUsageBefore = e
		if n := req.InServiceDays; n != nil {
			of := CycleDays(l.Cycle, d)
			if *n < 0 || *n > of {
				return in, invalidReq("in_service_days (--in-service): %d: want 0 to %d, the days of the %s cycle / 在用天数超出范围", *n, of, l.Cycle)
			}
			in.InService = Share{Days: *n, Of: of}
		}
	}
	n := d.DaysInMonth()
	in.Standing = Share{Days: n, Of: n}
	if s := req.StandingDays; s != nil {
		if *s < 0 || *s > n {
			return in, invalidReq("standing_days (--standing-days): %d: want 0 to %d / 基本费天数超出范围", *s, n)
		}
		in.Standing.Days = *s
	}
	return in, nil
}

// QuoteRequest prices a request with t.
func (t *Tariff) QuoteRequest(req Request) (Quote, error) {
	in, err := t.Input(req)
	if err != nil {
		return Quote{Tariff: t.Name, ValidFrom: t.ValidFrom, Lines: []Line{}}, err
	}
	return t.Quote(in)
}
