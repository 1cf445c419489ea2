package printing

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/billing"
)

// This file connects billing to printing: the one mapping of a bill
// (billing.Document) onto the printed bill (BillDoc), of a payment onto
// its receipt (ReceiptDoc), and the printing of a billing run's bills.

// periodLabel names the tariff periods in Chinese and English.
var periodLabel = map[string]string{
	"sharp":  "尖 sharp",
	"peak":   "峰 peak",
	"flat":   "平 flat",
	"valley": "谷 valley",
}

// BillDocOf maps what billing says a bill shows onto the printed bill:
// the dates in the site's zone (d.TimeZone), the flags as notes (each in
// English and Chinese), the last 12 cycles as the usage chart (a cycle
// without an issued bill drawn empty), the pay link as the QR code. A
// credit note prints as a credit note, naming the bill it cancels, with no
// QR code; a held bill says it is not charged.
func BillDocOf(d billing.Document) (BillDoc, error) {
	loc := time.UTC
	if d.TimeZone != "" {
		l, err := time.LoadLocation(d.TimeZone)
		if err != nil {
			return BillDoc{}, fieldErr("time_zone", "时区无效", fmt.Sprintf("%q is not a time zone", d.TimeZone))
		}
		loc = l
	}
	date := func(field, s string, need bool) (time.Time, error) {
		if s == "" && !need {
			return time.Time{}, nil
		}
		t, err := time.ParseInLocation(time.DateOnly, s, loc)
		if err != nil {
			return t, fieldErr(field, "不是 YYYY-MM-DD 日期", fmt.Sprintf("%q is not a YYYY-MM-DD date", s))
		}
		return t, nil
	}
	credit := d.Kind == amigo.BillKindCredit
	b := BillDoc{Number: d.Number, Account: d.AccountNumber, Customer: d.CustomerName, TotalFen: d.TotalFen, Credit: credit}
	var err error
	if b.PeriodFrom, err = date("period_from", d.PeriodFrom, true); err != nil {
		return b, err
	}
	if b.PeriodTo, err = date("period_to", d.PeriodTo, true); err != nil {
		return b, err
	}
	if b.Issued, err = date("issued_on", d.IssuedOn, false); err != nil {
		return b, err
	}
	if b.Due, err = date("due_date", d.DueDate, !credit); err != nil {
		return b, err
	}
	for _, l := range d.Lines {
		name := l.Name
		if lb := periodLabel[l.Name]; lb != "" {
			name = lb
		} else if n, ok := strings.CutPrefix(l.Name, "tier "); ok && l.Kind == "tier" {
			name = "第" + n + "档 " + l.Name // 第2档 tier 2
		}
		if l.Season != "" {
			name += " (" + l.Season + ")"
		}
		if l.ShareOf > 0 {
			name += fmt.Sprintf(" %d/%d 天 days", l.ShareDays, l.ShareOf)
		}
		price := l.Price
		if price == "" && l.PerMonth != "" {
			price = l.PerMonth + " 元/月"
		}
		b.Lines = append(b.Lines, BillLine{Kind: l.Kind, Name: name, KWh: l.KWh, Price: price, AmountFen: l.AmountFen})
	}
	b.Usage = usageOf(d)
	if !credit && d.Status == amigo.BillIssued {
		b.PayPayload = d.PayURL
	}
	switch {
	case credit:
		b.Notes = append(b.Notes, fmt.Sprintf("本通知单冲销账单 %s / This credit note cancels bill %s", d.Corrects, d.Corrects))
	case d.Corrects != "":
		b.Notes = append(b.Notes, fmt.Sprintf("本账单更正并替代账单 %s / This bill corrects and replaces bill %s", d.Corrects, d.Corrects))
	}
	if d.Status == amigo.BillHeld {
		b.Notes = append(b.Notes, "待审核，暂不收费 / Held for review: not charged yet")
	}
	for i, f := range d.Flags {
		if len(b.Notes) == maxNotes-1 && len(d.Flags)-i > 1 {
			b.Notes = append(b.Notes, fmt.Sprintf("另有 %d 条提示 / %d more remarks", len(d.Flags)-i, len(d.Flags)-i))
			break
		}
		b.Notes = append(b.Notes, f.Message)
	}
	return b, nil
}

// usageOf is the 12 cycles up to d's: billed usage, or missing.
func usageOf(d billing.Document) []MonthUsage {
	y, m, err := billing.ParseCycle(d.Cycle)
	if err != nil {
		out := make([]MonthUsage, 0, len(d.History))
		for _, h := range d.History {
			out = append(out, MonthUsage{Month: h.Cycle, KWh: h.KWh})
		}
		return lastMonths(out, maxUsage)
	}
	have := map[string]amigo.Energy{}
	for _, h := range d.History {
		have[h.Cycle] = h.KWh
	}
	out := make([]MonthUsage, 0, 12)
	for i := 11; i >= 0; i-- {
		c := time.Date(y, m-time.Month(i), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
		kwh, ok := have[c]
		out = append(out, MonthUsage{Month: c, KWh: kwh, Missing: !ok})
	}
	return out
}

// RenderBill renders a bill as billing describes it: the hook the API's
// GET /api/v1/bills/{id}/pdf calls.
func (r *Renderer) RenderBill(d billing.Document) ([]byte, error) {
	b, err := BillDocOf(d)
	if err != nil {
		return nil, err
	}
	return r.Bill(b)
}

// ReceiptOf maps a payment onto its printed receipt: the receipt number,
// the account's number and customer, the time in the site's zone loc.
func ReceiptOf(p amigo.Payment, account, customer string, loc *time.Location) ReceiptDoc {
	if loc == nil {
		loc = time.UTC
	}
	number := p.Receipt
	if number == "" {
		number = amigo.ReceiptNumber(p.ID)
	}
	return ReceiptDoc{Number: number, Account: account, Customer: customer, AmountFen: p.AmountFen, Method: p.Method,
		Time: p.Time.In(loc), Cashier: p.By, Reference: p.Reference}
}

// BillPrinter prints billing runs' bills: each issued bill of a run is
// rendered and all are queued together.
type BillPrinter struct {
	Store    amigo.Store
	Renderer *Renderer
	Queue    *Queue
	PayBase  string // the pay page of the QR code (billing.DefaultPayBase when empty)
}

// printChunk is how many bills are rendered and queued per transaction:
// a bill's PDF is some 65 KB, so a chunk holds about 30 MB, whatever the
// size of the run.
var printChunk = 500 // a variable for the tests

// PrintRun queues every issued bill of run (kind bill or credit note,
// RunID run.ID), in account order, and returns the jobs' ids. A run of up
// to 500 bills is queued in one transaction (Queue.EnqueueAll); a larger
// one in transactions of 500, so that memory stays bounded. Each job's
// reference is the bill's number: a run printed again — after a failure
// half-way, or asked twice — queues only what is missing and prints
// nothing twice.
func (p *BillPrinter) PrintRun(ctx context.Context, run amigo.BillingRun) ([]int64, error) {
	if p.Queue == nil {
		return nil, ErrNoPrinter
	}
	site, err := p.Store.GetSite(ctx, run.SiteID)
	if err != nil {
		return nil, fmt.Errorf("打印账单 / printing the bills of run %d: %w", run.ID, err)
	}
	var bills []amigo.Bill
	const page = 500
	for off := 0; ; off += page {
		bs, _, err := p.Store.ListBills(ctx, amigo.BillFilter{SiteID: run.SiteID, Cycle: run.Cycle, Status: amigo.BillIssued, Limit: page, Offset: off})
		if err != nil {
			return nil, fmt.Errorf("打印账单 / printing the bills of run %d: %w", run.ID, err)
		}
		for _, b := range bs {
			if b.RunID == run.ID {
				bills = append(bills, b)
			}
		}
		if len(bs) < page {
			break
		}
	}
	sort.Slice(bills, func(i, j int) bool {
		if bills[i].AccountNumber != bills[j].AccountNumber {
			return bills[i].AccountNumber < bills[j].AccountNumber
		}
		return bills[i].Number < bills[j].Number
	})
	ids := make([]int64, 0, len(bills))
	for start := 0; start < len(bills); start += printChunk {
		chunk := bills[start:min(start+printChunk, len(bills))]
		docs := make([]Doc, 0, len(chunk))
		for _, b := range chunk {
			d, err := billing.DocumentOf(ctx, p.Store, b, site.Location(), p.PayBase)
			if err != nil {
				return nil, fmt.Errorf("打印账单 / printing bill %s: %w", b.Number, err)
			}
			pdf, err := p.Renderer.RenderBill(d)
			if err != nil {
				return nil, fmt.Errorf("打印账单 / printing bill %s: %w", b.Number, err)
			}
			docs = append(docs, Doc{RefID: b.Number, PDF: pdf})
		}
		got, err := p.Queue.EnqueueAll(ctx, KindBill, docs)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// ErrNoPrinter is the answer to printing on a station without a printer.
var ErrNoPrinter = amigo.Errorf(amigo.ECONFLICT, "printing", `this station has no printer: set "printer" in its configuration (docs/printing.md) / 本主站未配置打印机：请在配置中设置 printer`)
