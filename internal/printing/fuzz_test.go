package printing

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/billing"
)

// TestRenderHostileInput fills a bill and a receipt with odd text and
// amounts: rendering either refuses the input with an error in both
// languages, or makes a PDF; it never panics. (Not a fuzz target: with the
// fuzzer's instrumentation, parsing the 16 MB font takes seconds per run.)
func TestRenderHostileInput(t *testing.T) {
	r := renderer(t)
	for _, tc := range []struct {
		account, customer, item, price string
		fen                            int64
		payload                        string
	}{
		{"3301-0042-77", "张三", "峰 peak", "0.5680", 10224, "weixin://wxpay/bizpayurl?pr=1"},
		{"", "", "", "", 0, ""},
		{"a\x00b", "𓀀", "\u202e", "-1", -5, strings.Repeat("x", 300)},
		{"\u202eevil", "\ufeff", "\u00a0", "1e9", math.MinInt64, strings.Repeat("二维码", 60)},
		{"x", "y", strings.Repeat("长", 200), "0", math.MaxInt64, "\xff\xfe"},
		{"x", "\t", "z", "0", 1, "a"},
	} {
		b := BillDoc{Number: "B1", Account: tc.account, Customer: tc.customer, PeriodFrom: time.Unix(0, 0), PeriodTo: time.Unix(86400, 0),
			Due: time.Unix(86400*20, 0), Lines: []BillLine{{Kind: "energy", Name: tc.item, Price: tc.price, AmountFen: amigo.Fen(tc.fen)}},
			TotalFen: amigo.Fen(tc.fen), PayPayload: tc.payload, Usage: []MonthUsage{{Month: tc.item, KWh: amigo.Energy(tc.fen)}}}
		pdf, err := r.Bill(b)
		if err == nil && !strings.HasPrefix(string(pdf), "%PDF-") {
			t.Errorf("%q: no PDF and no error", tc.account)
		}
		if err != nil && !strings.Contains(err.Error(), " / ") {
			t.Errorf("%q: an error not in both languages: %v", tc.account, err)
		}
		_, err = r.Receipt(ReceiptDoc{Number: tc.item, Account: tc.account, Customer: tc.customer, AmountFen: amigo.Fen(tc.fen), Method: tc.price,
			Time: time.Unix(tc.fen%(1<<33), 0), Cashier: tc.payload})
		if err != nil && !strings.Contains(err.Error(), " / ") {
			t.Errorf("%q: an error not in both languages: %v", tc.account, err)
		}
	}
}

// FuzzBillDocOf maps arbitrary documents (JSON as GET …/document answers
// it): the mapping refuses bad dates and zones with an error in both
// languages, or gives a document whose every field Validate checks; it
// never panics. (Rendering is left out, as above.)
func FuzzBillDocOf(f *testing.F) {
	f.Add("2026-10-01", "2026-10-31", "2026-11-20", "Asia/Shanghai", "2026-10", "bill", "peak", int64(14940))
	f.Add("", "x", "2026-02-30", "Mars/Olympus", "2026-13", "credit_note", "tier 2", int64(-5))
	f.Add("2026-10-01", "2026-09-01", "", "", "0000-00", "held", "\x00", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, from, to, due, zone, cycle, kind, name string, fen int64) {
		d := billing.Document{Number: "B1", Kind: kind, Status: amigo.BillIssued, AccountNumber: "A1", PeriodFrom: from, PeriodTo: to, DueDate: due,
			TimeZone: zone, Cycle: cycle, TotalFen: amigo.Fen(fen), Lines: []amigo.BillLine{{Kind: "energy", Name: name, AmountFen: amigo.Fen(fen)}},
			Flags: []amigo.BillFlag{{Message: name}}, History: []billing.CycleUsage{{Cycle: cycle, KWh: amigo.Energy(fen)}}, PayURL: name}
		b, err := BillDocOf(d)
		if err != nil {
			if !strings.Contains(err.Error(), " / ") {
				t.Fatalf("an error not in both languages: %v", err)
			}
			return
		}
		if err := b.Validate(); err != nil && !strings.Contains(err.Error(), " / ") {
			t.Fatalf("an error not in both languages: %v", err)
		}
		if len(b.Usage) > maxUsage || len(b.Notes) > maxNotes {
			t.Fatalf("%d months, %d notes", len(b.Usage), len(b.Notes))
		}
	})
}
