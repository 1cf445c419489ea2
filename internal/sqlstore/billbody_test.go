package sqlstore

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// appendBillBody writes what json.Marshal writes, byte for byte, for
// bills with every field of a line set or empty, nil and empty slices,
// escapes, HTML characters, non-ASCII and invalid UTF-8.
func TestAppendBillBody(t *testing.T) {
	// A field added to a line must be added to appendBillLine too.
	var fields []string
	lt := reflect.TypeFor[amigo.BillLine]()
	for i := range lt.NumField() {
		fields = append(fields, lt.Field(i).Name+" "+lt.Field(i).Type.String()+" "+string(lt.Field(i).Tag))
	}
	want := []string{`Kind string json:"kind"`, `Name string json:"name"`, `Season string json:"season,omitempty"`, `KWh *amigo.Energy json:"kwh,omitempty"`,
		`Price string json:"price,omitempty"`, `PerMonth string json:"per_month,omitempty"`, `ShareDays int json:"share_days,omitempty"`,
		`ShareOf int json:"share_of,omitempty"`, `AmountFen amigo.Fen json:"amount_fen"`, `FromTotals bool json:"from_totals,omitempty"`,
		`Note string json:"note,omitempty"`, `Tariff string json:"tariff,omitempty"`, `From string json:"from,omitempty"`, `To string json:"to,omitempty"`}
	if !slices.Equal(fields, want) {
		t.Fatalf("amigo.BillLine's fields are\n%q\nappendBillLine writes\n%q", fields, want)
	}
	if bt := reflect.TypeFor[billBody](); bt.NumField() != 3 {
		t.Fatalf("billBody has %d fields; appendBillBody writes 3", bt.NumField())
	}

	rng := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "energy", "tier", "峰", "第一档 / tier 1", "a\"b", `back\slash`, "<b>&amp;</b>", "a<b", "x>y", "R&D", "tab\there", "nl\n", "\x00\x1f", "\x7f", "\u2028\u2029", "\xff\xfe bad", "é", "zj-residential@2026-01-01", "2026-10-31"}
	str := func() string { return strs[rng.IntN(len(strs))] }
	num := func() int {
		return []int{0, 1, -1, 31, 1 << 40, -(1 << 40)}[rng.IntN(6)]
	}
	for n := range 3000 {
		var b amigo.Bill
		switch rng.IntN(4) {
		case 0: // nil lines and tariffs
		case 1:
			b.Lines, b.Tariffs = []amigo.BillLine{}, []string{}
		default:
			for range rng.IntN(5) {
				l := amigo.BillLine{Kind: str(), Name: str(), Season: str(), Price: str(), PerMonth: str(), ShareDays: num(), ShareOf: num(),
					AmountFen: amigo.Fen(num() * rng.IntN(100000)), FromTotals: rng.IntN(2) == 0, Note: str(), Tariff: str(), From: str(), To: str()}
				if rng.IntN(3) > 0 {
					e := amigo.Energy(int64(num()) * int64(rng.IntN(1000000)))
					l.KWh = &e
				}
				b.Lines = append(b.Lines, l)
			}
			for range rng.IntN(3) {
				b.Tariffs = append(b.Tariffs, str())
			}
		}
		switch rng.IntN(3) {
		case 0:
			b.Flags = []amigo.BillFlag{}
		case 1:
			b.Flags = []amigo.BillFlag{{Code: "missing_reading", Message: str(), MeterID: int64(num()), Time: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}, {Code: str()}}
		}
		got, err := appendBillBody([]byte("junk"), &b)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(billBody{Lines: b.Lines, Flags: b.Flags, Tariffs: b.Tariffs})
		if err != nil {
			t.Fatal(err)
		}
		if string(got[4:]) != string(want) || string(got[:4]) != "junk" {
			t.Fatalf("bill %d:\n got %s\nwant %s", n, got, want)
		}
	}
}
