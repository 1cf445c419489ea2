package wallet

import (
	"context"
	"testing"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vclock"
)

const flatV1 = `{"name": "t-flat", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01", "flat_price": "0.5000"}`
const flatV2 = `{"name": "t-flat", "time_zone": "Asia/Shanghai", "valid_from": "2026-03-03", "flat_price": "0.6000"}`
const zj = `{"name": "zj-residential", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01",
  "periods": [
    {"name": "peak", "from": "08:00", "to": "22:00", "price": "0.5680", "registers": [1, 2, 3]},
    {"name": "valley", "from": "22:00", "to": "08:00", "price": "0.2880", "registers": [4]}
  ],
  "ladder": {"cycle": "year", "thresholds_kwh": ["2760", "4800"], "surcharges": ["0", "0.05", "0.30"]}}`

type want struct {
	ref string
	fen amigo.Fen
}

func checkDaily(t *testing.T, st amigo.Store, a amigo.Account, ws []want) {
	t.Helper()
	var got []amigo.LedgerEntry
	for _, e := range ledger(t, st, a.ID) {
		if e.Kind == amigo.LedgerDaily {
			got = append(got, e)
		}
	}
	if len(got) != len(ws) {
		t.Fatalf("account %s: %d daily entries %+v, want %d", a.Number, len(got), got, len(ws))
	}
	for i, w := range ws {
		if got[i].Reference != w.ref || got[i].AmountFen != w.fen || got[i].By != System {
			t.Fatalf("account %s entry %d: %s %d by %s, want %s %d", a.Number, i, got[i].Reference, got[i].AmountFen, got[i].By, w.ref, w.fen)
		}
	}
}

func heldEvents(t *testing.T, st amigo.Store) int {
	t.Helper()
	_, n, err := st.ListEvents(context.Background(), amigo.EventFilter{Kind: amigo.EventDayHeld})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDailyDeduction: days are priced with the version in force each day;
// a day without its closing freeze is held (once reported) and deducted
// with the late data; a flagged reading holds its days until cleared; a
// move-in at noon counts from the reading at that instant; a pass run
// twice, or after the cursor is lost, deducts nothing twice.
func TestDailyDeduction(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			ctx := context.Background()
			f := newFixture(t, st, 2)
			f.tariff(t, flatV1)
			f.tariff(t, flatV2)
			m1, m2 := f.meters[0], f.meters[1]
			a := f.account(t, "A1", "t-flat", amigo.AccountMeter{MeterID: m1.ID, From: local(2026, 3, 1, 0, 0)})
			// B moves in at noon on 2 March: its day counts from the
			// reading taken then.
			b := f.account(t, "B1", "t-flat", amigo.AccountMeter{MeterID: m2.ID, From: local(2026, 3, 2, 12, 0)})

			f.read(t, m1, amigo.KindDaily, local(2026, 3, 1, 0, 0), "100.00")
			f.read(t, m1, amigo.KindDaily, local(2026, 3, 2, 0, 0), "110.00")
			f.read(t, m1, amigo.KindDaily, local(2026, 3, 3, 0, 0), "125.50")
			// 4 March's freeze is missing for now.
			f.read(t, m1, amigo.KindDaily, local(2026, 3, 5, 0, 0), "150.00")
			f.read(t, m2, amigo.KindDaily, local(2026, 3, 2, 0, 0), "50.00")
			f.read(t, m2, amigo.KindManual, local(2026, 3, 2, 12, 0), "54.00")
			f.read(t, m2, amigo.KindDaily, local(2026, 3, 3, 0, 0), "60.00")

			clock := vclock.NewManual(local(2026, 3, 6, 10, 0))
			w := New(st, nil, clock, Config{})
			res, err := w.Pass(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// A: 1 Mar 10 kWh × 0.5000 = 5.00 yuan; 2 Mar 15.5 kWh × 0.5000
			// = 7.75 yuan; 3 Mar waits for the 4 March freeze.
			// B: 2 Mar from noon, 60 - 54 = 6 kWh × 0.5000 = 3.00 yuan; 3 Mar
			// waits for its 4 March freeze.
			checkDaily(t, st, a, []want{{"daily/" + itoa(a.ID) + "/2026-03-01", -500}, {"daily/" + itoa(a.ID) + "/2026-03-02", -775}})
			checkDaily(t, st, b, []want{{"daily/" + itoa(b.ID) + "/2026-03-02", -300}})
			if res.Deducted != 3 || res.Held != 2 || res.Accounts != 2 {
				t.Fatalf("pass %+v", res)
			}
			if n := heldEvents(t, st); n != 2 {
				t.Fatalf("%d held events, want 2", n)
			}
			// Again: nothing more, no second event.
			if res, err := w.Pass(ctx); err != nil || res.Deducted != 0 {
				t.Fatalf("second pass %+v %v", res, err)
			}
			if n := heldEvents(t, st); n != 2 {
				t.Fatalf("%d held events after the second pass, want 2", n)
			}

			// Late data: the 4 and 6 March freezes.
			f.read(t, m1, amigo.KindDaily, local(2026, 3, 4, 0, 0), "140.00")
			f.read(t, m1, amigo.KindDaily, local(2026, 3, 6, 0, 0), "151.2345")
			if _, err := w.Pass(ctx); err != nil {
				t.Fatal(err)
			}
			// From 3 March the second version's 0.6000 applies:
			// 3 Mar 14.5 kWh × 0.6 = 8.70 yuan; 4 Mar 10 kWh × 0.6 = 6.00;
			// 5 Mar 1.2345 kWh × 0.6 = 0.7407 yuan = 74.07 fen → 74 fen.
			wantA := []want{{"daily/" + itoa(a.ID) + "/2026-03-01", -500}, {"daily/" + itoa(a.ID) + "/2026-03-02", -775},
				{"daily/" + itoa(a.ID) + "/2026-03-03", -870}, {"daily/" + itoa(a.ID) + "/2026-03-04", -600}, {"daily/" + itoa(a.ID) + "/2026-03-05", -74}}
			checkDaily(t, st, a, wantA)
			// -500 - 775 - 870 - 600 - 74 = -2819
			if got := balance(t, st, a.ID); got != -2819 {
				t.Fatalf("balance %d, want -2819", got)
			}

			// A crash that lost the cursor: the references keep it once.
			if err := st.DeleteState(ctx, nextKey(a.ID)); err != nil {
				t.Fatal(err)
			}
			if res, err := w.Pass(ctx); err != nil || res.Deducted != 0 {
				t.Fatalf("pass after a lost cursor %+v %v", res, err)
			}
			checkDaily(t, st, a, wantA)

			// A flagged (jump) freeze holds 6 and 7 March until it is
			// cleared.
			clock.Set(local(2026, 3, 8, 9, 0))
			f.read(t, m1, amigo.KindDaily, local(2026, 3, 7, 0, 0), "161.2345")
			f.read(t, m1, amigo.KindDaily, local(2026, 3, 8, 0, 0), "171.2345")
			if _, err := st.UpdateReadingFlags(ctx, m1.ID, amigo.KindDaily, local(2026, 3, 7, 0, 0), local(2026, 3, 7, 0, 1), amigo.FlagJump, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Pass(ctx); err != nil {
				t.Fatal(err)
			}
			checkDaily(t, st, a, wantA)
			if _, err := st.UpdateReadingFlags(ctx, m1.ID, amigo.KindDaily, local(2026, 3, 7, 0, 0), local(2026, 3, 7, 0, 1), 0, amigo.FlagJump); err != nil {
				t.Fatal(err)
			}
			if n, err := w.DeductAccount(ctx, a.ID); err != nil || n != 2 {
				t.Fatalf("after the flag cleared: %d %v", n, err)
			}
			// 6 and 7 March: 10 kWh × 0.6 = 6.00 yuan each.
			wantA = append(wantA, want{"daily/" + itoa(a.ID) + "/2026-03-06", -600}, want{"daily/" + itoa(a.ID) + "/2026-03-07", -600})
			checkDaily(t, st, a, wantA)
		})
	}
}

// TestDailyLadderAndRegisters: a four-register meter on a peak/valley
// tariff with an annual ladder is priced by its registers, and the day
// that crosses the first threshold pays the surcharge on the part above.
func TestDailyLadderAndRegisters(t *testing.T) {
	st := openSQLite(t)
	ctx := context.Background()
	f := newFixture(t, st, 1)
	f.tariff(t, zj)
	m := f.meters[0]
	a := f.account(t, "Z1", "zj-residential", amigo.AccountMeter{MeterID: m.ID, From: local(2026, 1, 1, 0, 0)})
	// total, T1 (sharp), T2 (peak), T3 (flat), T4 (valley)
	f.read(t, m, amigo.KindDaily, local(2026, 1, 1, 0, 0), "0", "0", "0", "0", "0")
	f.read(t, m, amigo.KindDaily, local(2026, 1, 2, 0, 0), "2750", "1000", "600", "400", "750")
	f.read(t, m, amigo.KindDaily, local(2026, 1, 3, 0, 0), "2770", "1003", "603", "402", "762")
	w := New(st, nil, vclock.NewManual(local(2026, 1, 3, 8, 0)), Config{})
	if _, err := w.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	checkDaily(t, st, a, []want{
		// 1 Jan: peak (T1+T2+T3) 2000 kWh × 0.5680 = 1136.00 yuan, valley
		// 750 × 0.2880 = 216.00 yuan; 2750 ≤ 2760, first tier:
		// 113600 + 21600 = 135200 fen.
		{"daily/" + itoa(a.ID) + "/2026-01-01", -135200},
		// 2 Jan: peak 8 kWh × 0.5680 = 4.544 yuan → 454 fen; valley 12 kWh
		// × 0.2880 = 3.456 yuan → 346 fen; 2750 + 20 = 2770: 10 kWh above
		// 2760 at the 0.05 surcharge = 0.50 yuan → 50 fen; 454 + 346 + 50 = 850.
		{"daily/" + itoa(a.ID) + "/2026-01-02", -850},
	})
}

func itoa(n int64) string { return amigoItoa(n) }

// TestSwapWithinADay: a meter swapped at noon: the day is the old meter
// up to its removal reading plus the new one from its installation
// reading, as the account's meter dates say.
func TestSwapWithinADay(t *testing.T) {
	st := openSQLite(t)
	ctx := context.Background()
	f := newFixture(t, st, 2)
	f.tariff(t, flatV1)
	old, nu := f.meters[0], f.meters[1]
	swap := local(2026, 3, 2, 12, 0)
	a := f.account(t, "S1", "t-flat", amigo.AccountMeter{MeterID: old.ID, From: local(2026, 3, 1, 0, 0), To: swap}, amigo.AccountMeter{MeterID: nu.ID, From: swap})
	f.read(t, old, amigo.KindDaily, local(2026, 3, 1, 0, 0), "100.00")
	f.read(t, old, amigo.KindDaily, local(2026, 3, 2, 0, 0), "110.00")
	f.read(t, old, amigo.KindManual, swap, "112.00")
	f.read(t, nu, amigo.KindManual, swap, "0.50")
	f.read(t, nu, amigo.KindDaily, local(2026, 3, 3, 0, 0), "5.50")
	w := New(st, nil, vclock.NewManual(local(2026, 3, 3, 9, 0)), Config{})
	if _, err := w.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	checkDaily(t, st, a, []want{
		{"daily/" + itoa(a.ID) + "/2026-03-01", -500}, // 10 kWh × 0.5000 = 5.00 yuan
		// 2 Mar: (112 - 110) + (5.50 - 0.50) = 7 kWh × 0.5000 = 3.50 yuan.
		{"daily/" + itoa(a.ID) + "/2026-03-02", -350},
	})
}
