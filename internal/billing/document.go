package billing

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/amigo-metering/amigo"
)

// Document is everything a printed bill (PDF, internal/printing) shows,
// as plain data: the printer needs nothing else and reads no store.
type Document struct {
	Number        string           `json:"number"`
	Kind          string           `json:"kind"` // bill or credit_note
	Status        string           `json:"status"`
	AccountNumber string           `json:"account_number"`
	CustomerName  string           `json:"customer_name"`
	Cycle         string           `json:"cycle"`
	PeriodFrom    string           `json:"period_from"` // first site-local day, YYYY-MM-DD
	PeriodTo      string           `json:"period_to"`   // last day, inclusive
	IssuedOn      string           `json:"issued_on"`
	DueDate       string           `json:"due_date"`
	TimeZone      string           `json:"time_zone"` // the site's zone, the dates' (IANA name)
	KWh           amigo.Energy     `json:"kwh"`
	Lines         []amigo.BillLine `json:"lines"`
	TotalFen      amigo.Fen        `json:"total_fen"`
	Flags         []amigo.BillFlag `json:"flags,omitempty"`
	Tariffs       []string         `json:"tariffs"`
	Corrects      string           `json:"corrects,omitempty"` // the number of the bill it corrects
	// History is the account's usage of its last 12 cycles up to and
	// including this one, oldest first (issued bills; a cycle without
	// one is absent).
	History []CycleUsage `json:"history"`
	// PayURL is where the customer pays this bill; the QR code carries it.
	PayURL string `json:"pay_url"`
}

// CycleUsage is one cycle's billed usage and amount.
type CycleUsage struct {
	Cycle    string       `json:"cycle"`
	KWh      amigo.Energy `json:"kwh"`
	TotalFen amigo.Fen    `json:"total_fen"`
}

// PayURL is the link (and QR payload) to pay bill b: base (the customer
// app's pay page, e.g. "https://pay.example.com/pay") with the account,
// the bill number and the amount in fen as query parameters.
func PayURL(base string, b amigo.Bill) string {
	q := url.Values{}
	q.Set("account", b.AccountNumber)
	q.Set("bill", b.Number)
	q.Set("amount_fen", strconv.FormatInt(int64(b.TotalFen), 10))
	return base + "?" + q.Encode()
}

// DefaultPayBase is the pay page when the station names none.
const DefaultPayBase = "https://amigo.invalid/pay"

// DocumentOf builds the printed bill of b in the site's zone loc: its
// period as days, and the usage history from the account's bills (the
// latest issued bill of each cycle, credit notes left out).
func DocumentOf(ctx context.Context, s amigo.BillStore, b amigo.Bill, loc *time.Location, payBase string) (Document, error) {
	if payBase == "" {
		payBase = DefaultPayBase
	}
	d := Document{Number: b.Number, Kind: b.Kind, Status: b.Status, AccountNumber: b.AccountNumber, CustomerName: b.CustomerName, Cycle: b.Cycle,
		PeriodFrom: b.PeriodStart.In(loc).Format(time.DateOnly), PeriodTo: b.PeriodEnd.In(loc).AddDate(0, 0, -1).Format(time.DateOnly),
		IssuedOn: b.IssuedAt.In(loc).Format(time.DateOnly), DueDate: b.DueDate, TimeZone: loc.String(), KWh: b.KWh, Lines: b.Lines, TotalFen: b.TotalFen,
		Flags: b.Flags, Tariffs: b.Tariffs, PayURL: PayURL(payBase, b), History: []CycleUsage{}}
	all, _, err := s.ListBills(ctx, amigo.BillFilter{AccountID: b.AccountID})
	if err != nil {
		return d, err
	}
	latest := map[string]amigo.Bill{}
	for _, x := range all {
		if x.ID == b.Corrects {
			d.Corrects = x.Number
		}
		if x.Kind != amigo.BillKindBill || x.Status != amigo.BillIssued || x.Cycle > b.Cycle {
			continue
		}
		if cur, ok := latest[x.Cycle]; !ok || x.Revision > cur.Revision {
			latest[x.Cycle] = x
		}
	}
	y, m, _ := ParseCycle(b.Cycle)
	for i := 11; i >= 0; i-- {
		c := time.Date(y, m-time.Month(i), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
		if x, ok := latest[c]; ok {
			d.History = append(d.History, CycleUsage{Cycle: c, KWh: x.KWh, TotalFen: x.TotalFen})
		}
	}
	return d, nil
}
