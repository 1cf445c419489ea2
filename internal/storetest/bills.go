package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// bills: a bill's key (account, cycle, kind, revision) is written once;
// a held bill is replaced, an issued one never (the store refuses to
// change it); runs keep their cursor; readings at instants.
func bills(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC)
	kwh := amigo.KWh(300)
	b := amigo.Bill{Number: "202610-1-A1", Kind: amigo.BillKindBill, Status: amigo.BillHeld, AccountID: 7, AccountNumber: "A1", SiteID: 1, Cycle: "2026-10",
		PeriodStart: at.Add(-31 * 24 * time.Hour), PeriodEnd: at, DueDate: "2026-11-16", IssuedAt: at, CreatedBy: "system",
		Flags: []amigo.BillFlag{{Code: "missing_reading", Message: "no reading / 缺少读数", MeterID: 3, Time: at}}, Lines: []amigo.BillLine{}, Tariffs: []string{}}
	w, err := s.PutBills(ctx, []amigo.Bill{b})
	if err != nil || !w[0] {
		t.Fatalf("put held: %v %v", w, err)
	}
	bs := []amigo.Bill{b}
	bs[0].Status, bs[0].Flags, bs[0].TotalFen, bs[0].KWh = amigo.BillIssued, nil, 14940, kwh
	bs[0].Lines = []amigo.BillLine{{Kind: "energy", Name: "peak", KWh: &kwh, Price: "0.5680", AmountFen: 14940, Tariff: "zj@2026-01-01"}}
	bs[0].Tariffs = []string{"zj@2026-01-01"}
	if w, err := s.PutBills(ctx, bs); err != nil || !w[0] {
		t.Fatalf("replace held: %v %v", w, err)
	}
	id := bs[0].ID
	got, err := s.GetBill(ctx, id)
	if err != nil || got.Status != amigo.BillIssued || got.TotalFen != 14940 || len(got.Lines) != 1 || *got.Lines[0].KWh != kwh || got.Tariffs[0] != "zj@2026-01-01" || !got.IssuedAt.Equal(at) {
		t.Fatalf("got %+v %v", got, err)
	}
	// Issued: the same key again is not written, and nothing changes.
	again := bs[0]
	again.TotalFen = 1
	if w, err := s.PutBills(ctx, []amigo.Bill{again}); err != nil || w[0] {
		t.Fatalf("issued key again: %v %v", w, err)
	}
	if got, _ := s.GetBill(ctx, id); got.TotalFen != 14940 {
		t.Fatalf("issued bill changed: %d", got.TotalFen)
	}
	// A credit note is another key.
	cn := bs[0]
	cn.Kind, cn.Revision, cn.Corrects, cn.TotalFen, cn.Number = amigo.BillKindCredit, 1, id, -14940, "202610-1-A1-C1"
	if w, err := s.PutBills(ctx, []amigo.Bill{cn}); err != nil || !w[0] {
		t.Fatalf("credit note: %v %v", w, err)
	}
	if st, err := s.BillStates(ctx, "2026-10", []int64{7, 8}); err != nil || len(st) != 1 || st[7] != amigo.BillIssued {
		t.Fatalf("states %v %v", st, err)
	}
	if l, n, err := s.ListBills(ctx, amigo.BillFilter{AccountID: 7, Limit: 1}); err != nil || n != 2 || len(l) != 1 || l[0].Kind != amigo.BillKindCredit {
		t.Fatalf("list %v %d %v", l, n, err)
	}
	if _, err := s.GetBill(ctx, 999); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("missing bill: %v", err)
	}

	// Runs: one unfinished run per site and cycle; the cursor is kept.
	r := amigo.BillingRun{SiteID: 1, Cycle: "2026-10", Status: amigo.RunRunning, Total: 10, StartedBy: "op", StartedAt: at, UpdatedAt: at}
	if err := s.CreateBillingRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	r2 := r
	if err := s.CreateBillingRun(ctx, &r2); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("second open run: %v", err)
	}
	r.Cursor, r.Done, r.Issued, r.TotalFen, r.NotDue = 42, 5, 5, 1000, 2
	if err := s.UpdateBillingRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if o, err := s.OpenBillingRun(ctx, 1, "2026-10"); err != nil || o.ID != r.ID || o.Cursor != 42 || o.TotalFen != 1000 || o.NotDue != 2 {
		t.Fatalf("open run %+v %v", o, err)
	}
	// Advancing from a cursor that moved on is a conflict.
	adv := r
	adv.Cursor, adv.Done = 50, 6
	if err := s.AdvanceBillingRun(ctx, adv, 41); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("advance from a stale cursor: %v", err)
	}
	if err := s.AdvanceBillingRun(ctx, adv, 42); err != nil {
		t.Fatal(err)
	}
	r = adv
	r.Status, r.FinishedAt = amigo.RunDone, at
	if err := s.UpdateBillingRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenBillingRun(ctx, 1, "2026-10"); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("finished run still open: %v", err)
	}
	if g, err := s.GetBillingRun(ctx, r.ID); err != nil || g.Status != amigo.RunDone || !g.FinishedAt.Equal(at) {
		t.Fatalf("run %+v %v", g, err)
	}
	// Listed newest first, of one site or of all, at most limit.
	r3 := amigo.BillingRun{SiteID: 2, Cycle: "2026-10", Status: amigo.RunRunning, Total: 3, StartedBy: "op", StartedAt: at, UpdatedAt: at}
	if err := s.CreateBillingRun(ctx, &r3); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		site  int64
		limit int
		want  []int64
	}{{0, 10, []int64{r3.ID, r.ID}}, {0, 1, []int64{r3.ID}}, {1, 10, []int64{r.ID}}, {2, 10, []int64{r3.ID}}, {3, 10, nil}} {
		rs, err := s.ListBillingRuns(ctx, c.site, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, x := range rs {
			got = append(got, x.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Fatalf("runs of site %d, limit %d: %v, want %v", c.site, c.limit, got, c.want)
		}
		if len(rs) > 0 && rs[len(rs)-1].ID == r.ID && (rs[len(rs)-1].Status != amigo.RunDone || rs[len(rs)-1].Cursor != 50) {
			t.Fatalf("listed run %+v", rs[len(rs)-1])
		}
	}

	// Readings at instants: only those instants, daily/monthly/manual.
	site, _, ms := Fixture(t, s, 3)
	d0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var rs []amigo.Reading
	for i := range 5 {
		for _, m := range ms {
			rs = append(rs, amigo.Reading{MeterID: m.ID, Time: d0.AddDate(0, 0, i), Kind: amigo.KindDaily, Forward: [5]amigo.Energy{amigo.KWh(int64(i))}, HasForward: true, Quality: amigo.QualityActual})
		}
	}
	rs = append(rs, amigo.Reading{MeterID: ms[0].ID, Time: d0, Kind: amigo.KindRealtime, HasForward: true, Quality: amigo.QualityActual})
	if _, err := s.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	by, err := s.ReadingsAtInstants(ctx, []int64{ms[0].ID, ms[1].ID}, []time.Time{d0, d0.AddDate(0, 0, 3), d0.AddDate(0, 0, 3)})
	if err != nil || len(by[ms[0].ID]) != 2 || len(by[ms[1].ID]) != 2 || by[ms[0].ID][1].Forward[0] != amigo.KWh(3) {
		t.Fatalf("readings at instants %v %v", by, err)
	}

	// Billing accounts: a site's postpaid accounts after an id, with the
	// customer's name and the meters of their periods.
	ms2 := ms
	// The first account's meter with ratios and secrets.
	ms2[0].CTRatio, ms2[0].PTRatio, ms2[0].RatedAmps, ms2[0].Password, ms2[0].Operator, ms2[0].RegSecret = 50, 2, 80, "02123456", "op1", "s3cret"
	if err := s.UpdateMeter(ctx, &ms2[0]); err != nil {
		t.Fatal(err)
	}
	c := amigo.Customer{Name: "李四"}
	if err := s.CreateCustomer(ctx, &c); err != nil {
		t.Fatal(err)
	}
	var accts []amigo.Account
	for i, mode := range []string{amigo.ModePostpaid, amigo.ModePrepaid, amigo.ModePostpaid} {
		a := amigo.Account{Number: fmt.Sprintf("BA-%d", i), CustomerID: c.ID, SiteID: site.ID, Mode: mode, Tariff: "zj", BillingDay: 1,
			Meters: []amigo.AccountMeter{{MeterID: ms2[i].ID, From: d0}}}
		if err := s.CreateAccount(ctx, &a); err != nil {
			t.Fatal(err)
		}
		accts = append(accts, a)
	}
	if n, err := s.CountBillingAccounts(ctx, site.ID); err != nil || n != 2 {
		t.Fatalf("count %d %v", n, err)
	}
	ba, err := s.BillingAccounts(ctx, site.ID, 0, 1)
	if err != nil || len(ba) != 1 || ba[0].ID != accts[0].ID || ba[0].CustomerName != "李四" || len(ba[0].MeterRows) != 1 || ba[0].MeterRows[0].Address != ms2[0].Address || !ba[0].Meters[0].From.Equal(d0) {
		t.Fatalf("first page %+v %v", ba, err)
	}
	// The meter as a bill uses it, without its secrets.
	want := ms2[0]
	if full, err := s.GetMeter(ctx, want.ID); err != nil {
		t.Fatal(err)
	} else {
		want = full
	}
	row := ba[0].MeterRows[0]
	if row.ID != want.ID || row.SiteID != want.SiteID || row.Protocol != want.Protocol || row.Phases != want.Phases || row.CTRatio != want.CTRatio || row.PTRatio != want.PTRatio ||
		row.Direct != want.Direct || row.RatedAmps != want.RatedAmps || row.AccountID != want.AccountID || !row.InstalledAt.Equal(want.InstalledAt) || !row.RemovedAt.Equal(want.RemovedAt) {
		t.Fatalf("meter row %+v, stored %+v", row, want)
	}
	if want.CTRatio != 50 || want.Password == "" || want.RegSecret == "" {
		t.Fatalf("stored meter %+v: want its ratios and secrets", want)
	}
	if row.Password != "" || row.RegSecret != "" || row.Operator != "" {
		t.Fatalf("meter row with its secrets: %+v", row)
	}
	ba, err = s.BillingAccounts(ctx, site.ID, accts[0].ID, 10)
	if err != nil || len(ba) != 1 || ba[0].ID != accts[2].ID {
		t.Fatalf("after %d: %+v %v", accts[0].ID, ba, err)
	}
}
