package printing

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
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
