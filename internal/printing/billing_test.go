package printing

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/billing"
	"github.com/amigo-metering/amigo/internal/printing/cupstest"
)

// billedFleet creates a site on zj-residential with n postpaid accounts
// A0000, A0001, … (one meter each, billing day 1) and their freezes, and
// runs the October cycle. Account i: Jan 1 [1000; 100 400 300 200], Oct 1
// [3600; 300 1400 900 1000], Nov 1 [3900+i; 320 1550+i 930 1100]: peak
// 200+i kWh × 0.5680, valley 100 × 0.2880 = 28.80, tier 2 (140+i) × 0.05.
// Account 0: 113.60 + 28.80 + 7.00 = 149.40 yuan; account 1: 114.168 →
// 114.17 + 28.80 + 7.05 = 150.02 yuan.
func billedFleet(t *testing.T, s amigo.Store, n int) amigo.BillingRun {
	t.Helper()
	site := unbilledFleet(t, s, n)
	sh := amigo.Site{}.Location()
	rn := &billing.Runner{Store: s, Now: func() time.Time { return time.Date(2026, 11, 2, 3, 0, 0, 0, sh) }, Log: slog.New(slog.DiscardHandler)}
	run, err := rn.Run(context.Background(), site.ID, "2026-10", "system")
	if err != nil {
		t.Fatal(err)
	}
	if run.Issued != n {
		t.Fatalf("run %+v: want %d bills issued", run, n)
	}
	return run
}

// unbilledFleet is billedFleet's site, accounts and readings, not run.
func unbilledFleet(t *testing.T, s amigo.Store, n int) amigo.Site {
	t.Helper()
	ctx := context.Background()
	sh := amigo.Site{}.Location()
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, sh) }
	site := amigo.Site{Name: "Garden 花园", TimeZone: "Asia/Shanghai"}
	if err := s.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/tariffs/zj-residential.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutTariff(ctx, amigo.TariffVersion{Name: "zj-residential", ValidFrom: "2026-01-01", Document: doc, CreatedAt: day(1, 1), CreatedBy: "root"}); err != nil {
		t.Fatal(err)
	}
	var rs []amigo.Reading
	for i := range n {
		c := amigo.Customer{Name: fmt.Sprintf("王五 %d", i)}
		if err := s.CreateCustomer(ctx, &c); err != nil {
			t.Fatal(err)
		}
		m := amigo.Meter{SiteID: site.ID, Address: fmt.Sprintf("%012d", 700+i), CTRatio: 1, PTRatio: 1, Direct: true}
		if err := s.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		a := amigo.Account{Number: fmt.Sprintf("A%04d", i), CustomerID: c.ID, SiteID: site.ID, Mode: amigo.ModePostpaid, Tariff: "zj-residential", BillingDay: 1,
			Meters: []amigo.AccountMeter{{MeterID: m.ID, From: day(1, 1)}}}
		if err := s.CreateAccount(ctx, &a); err != nil {
			t.Fatal(err)
		}
		reg := func(at time.Time, f ...int64) amigo.Reading {
			r := amigo.Reading{MeterID: m.ID, Time: at.UTC(), Kind: amigo.KindDaily, HasForward: true, Quality: amigo.QualityActual}
			for j, v := range f {
				r.Forward[j] = amigo.KWh(v)
			}
			return r
		}
		rs = append(rs, reg(day(1, 1), 1000, 100, 400, 300, 200), reg(day(10, 1), 3600, 300, 1400, 900, 1000),
			reg(day(11, 1), 3900+int64(i), 320, 1550+int64(i), 930, 1100))
	}
	if _, err := s.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	return site
}

func billOf(t *testing.T, s amigo.Store, account string) amigo.Bill {
	t.Helper()
	bs, _, err := s.ListBills(context.Background(), amigo.BillFilter{Cycle: "2026-10"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.AccountNumber == account && b.Kind == amigo.BillKindBill {
			return b
		}
	}
	t.Fatalf("no bill of %s", account)
	return amigo.Bill{}
}

// A bill computed by a billing run on a real store, rendered through the
// mapping: the PDF's text has the account, the customer, the period in
// the site's zone, the lines and the total in yuan, the Chinese labels; its
// credit note prints as a credit note naming the bill it cancels.
func TestBillDocOfComputedBill(t *testing.T) {
	r := renderer(t)
	ctx := context.Background()
	st := stores(t)["sqlite"].(amigo.Store)
	run := billedFleet(t, st, 2)
	b := billOf(t, st, "A0000")
	d, err := billing.DocumentOf(ctx, st, b, amigo.Site{}.Location(), "https://pay.example.com/pay")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := BillDocOf(d)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Account != "A0000" || doc.TotalFen != 14940 || doc.PeriodFrom.Format(time.DateOnly) != "2026-10-01" || doc.PeriodTo.Format(time.DateOnly) != "2026-10-31" ||
		doc.PeriodFrom.Location().String() != "Asia/Shanghai" || doc.Credit || !strings.HasPrefix(doc.PayPayload, "https://pay.example.com/pay?") || len(doc.Usage) != 12 ||
		doc.Usage[11].Month != "2026-10" || doc.Usage[11].Missing || !doc.Usage[10].Missing {
		t.Fatalf("BillDoc %+v", doc)
	}
	pdf, err := r.RenderBill(d)
	if err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, pdf)
	for _, w := range []string{"电费账单", "户号", "A0000", "王五 0", b.Number, "2026-10-01", "2026-10-31", "缴费截止", b.DueDate, "峰 peak", "谷 valley", "第2档 tier 2",
		"113.60", "28.80", "7.00", "合计", "149.40", "人民币壹佰肆拾玖元肆角整", "扫码缴费", "26-10"} {
		if !strings.Contains(text, w) {
			t.Errorf("the bill's PDF lacks %q:\n%s", w, text)
		}
	}
	if run.ID == 0 {
		t.Fatal("no run id")
	}

	c, err := billing.Correct(ctx, st, b.ID, "meter read wrong / 抄表错误", "op", time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	d, err = billing.DocumentOf(ctx, st, c.Credit, amigo.Site{}.Location(), "")
	if err != nil {
		t.Fatal(err)
	}
	pdf, err = r.RenderBill(d)
	if err != nil {
		t.Fatal(err)
	}
	text = pdfText(t, pdf)
	for _, w := range []string{"冲红通知单", "Credit Note", "A0000", c.Credit.Number, "-149.40", "冲减金额", "本通知单冲销账单 " + b.Number, "负壹佰肆拾玖元肆角整"} {
		if !strings.Contains(text, w) {
			t.Errorf("the credit note's PDF lacks %q:\n%s", w, text)
		}
	}
	for _, w := range []string{"扫码缴费", "应缴金额", "电费账单"} {
		if strings.Contains(text, w) {
			t.Errorf("the credit note's PDF says %q:\n%s", w, text)
		}
	}
}

func TestBillDocOfBadDocument(t *testing.T) {
	d := billing.Document{Number: "B1", AccountNumber: "A1", PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31", DueDate: "2026-11-20", Cycle: "2026-10", TimeZone: "Mars/Olympus"}
	if _, err := BillDocOf(d); err == nil || !strings.Contains(err.Error(), "time_zone") {
		t.Errorf("bad zone: %v", err)
	}
	d.TimeZone = "Asia/Shanghai"
	d.DueDate = "20.11.2026"
	if _, err := BillDocOf(d); err == nil || !strings.Contains(err.Error(), "due_date") || !strings.Contains(err.Error(), "日期") {
		t.Errorf("bad due date: %v", err)
	}
	d.DueDate, d.Kind = "", amigo.BillKindCredit
	if doc, err := BillDocOf(d); err != nil || !doc.Credit || !doc.Due.IsZero() {
		t.Errorf("credit note without a due date: %+v %v", doc, err)
	}
}

// A billing run's bills printed in one batch through the real CUPS: each
// printed PDF holds its account's number and total; printing the run again
// queues nothing new.
func TestPrintRunThroughCUPS(t *testing.T) {
	srv := cupstest.Start(t)
	r := renderer(t)
	for name, qs := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := qs.(amigo.Store)
			ctx, cancel := context.WithCancel(context.Background())
			run := billedFleet(t, st, 2)
			q, err := NewQueue(qs, QueueConfig{Printer: srv.URI(), JobPrefix: "amigo-run-" + name + "-" + token(), Client: &Client{User: cupstest.User},
				MinBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, Poll: 100 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			p := &BillPrinter{Store: st, Renderer: r, Queue: q}
			ids, err := p.PrintRun(ctx, run)
			if err != nil || len(ids) != 2 {
				t.Fatalf("PrintRun: %v %v", ids, err)
			}
			again, err := p.PrintRun(ctx, run)
			if err != nil || fmt.Sprint(again) != fmt.Sprint(ids) {
				t.Fatalf("PrintRun again: %v %v, want the same jobs %v", again, err, ids)
			}
			if jobs, err := q.List(ctx, "", 50); err != nil || len(jobs) != 2 {
				t.Fatalf("%d jobs queued (%v), want 2", len(jobs), err)
			}
			running := make(chan error, 1)
			go func() { running <- q.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				if err := <-running; err != context.Canceled {
					t.Errorf("Run: %v", err)
				}
			})
			// Jobs in account order: A0000 149.40, A0001 150.02 (see billedFleet).
			for i, want := range [][]string{{"A0000", "149.40"}, {"A0001", "150.02"}} {
				j := waitState(t, q, ids[i], amigo.PrintPrinted)
				if j.RefID != billOf(t, st, want[0]).Number || j.Kind != KindBill {
					t.Errorf("job %+v, want the bill of %s", j, want[0])
				}
				text := pdfText(t, cupstest.Output(t, q.JobName(ids[i])))
				for _, w := range append(want, "电费账单", "户号") {
					if !strings.Contains(text, w) {
						t.Errorf("printed bill %d lacks %q:\n%s", i, w, text)
					}
				}
			}
		})
	}
}

func TestPrintRunWithoutPrinter(t *testing.T) {
	p := &BillPrinter{}
	if _, err := p.PrintRun(context.Background(), amigo.BillingRun{ID: 1}); amigo.ErrorKind(err) != amigo.ECONFLICT || !strings.Contains(err.Error(), "printer") || !strings.Contains(err.Error(), "打印机") {
		t.Errorf("no printer: %v", err)
	}
}

// "From reading to printed bill, nothing needs a person": the station's
// scheduler, at 03:00 on the billing day, runs the cycle and queues every
// bill it issued, once (the next day's run issues nothing and queues
// nothing more). The bills are queued 2 per transaction here, as a large
// run's are 500 per transaction.
func TestSchedulerQueuesItsBills(t *testing.T) {
	r := renderer(t)
	defer func(n int) { printChunk = n }(printChunk)
	printChunk = 2
	ctx := context.Background()
	qs := stores(t)["sqlite"]
	st := qs.(amigo.Store)
	now := time.Date(2026, 11, 1, 3, 0, 0, 0, amigo.Site{}.Location())
	clock := func() time.Time { return now }
	q, err := NewQueue(qs, QueueConfig{Printer: "ipp://127.0.0.1:1/printers/none", Now: clock, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	bp := &BillPrinter{Store: st, Renderer: r, Queue: q}
	sc := &billing.Scheduler{Runner: &billing.Runner{Store: st, Now: clock, Log: slog.New(slog.DiscardHandler)}, Now: clock,
		Print: func(ctx context.Context, run amigo.BillingRun) error { _, err := bp.PrintRun(ctx, run); return err }}
	unbilledFleet(t, st, 3)
	rs, err := sc.Tick(ctx)
	if err != nil || len(rs) != 1 || rs[0].Issued != 3 {
		t.Fatalf("tick: %+v %v", rs, err)
	}
	if ids, err := bp.PrintRun(ctx, rs[0]); err != nil || len(ids) != 3 || ids[0] >= ids[1] || ids[1] >= ids[2] {
		t.Fatalf("the run printed again: %v %v, want its 3 jobs in order", ids, err)
	}
	jobs, err := q.List(ctx, "", 50)
	if err != nil || len(jobs) != 3 {
		t.Fatalf("%d jobs queued (%v), want 3", len(jobs), err)
	}
	for _, acct := range []string{"A0000", "A0001", "A0002"} {
		n := billOf(t, st, acct).Number
		found := false
		for _, j := range jobs {
			found = found || (j.RefID == n && j.Kind == KindBill && j.State == amigo.PrintQueued)
		}
		if !found {
			t.Errorf("the bill of %s (%s) is not queued: %+v", acct, n, jobs)
		}
	}
	now = now.Add(24 * time.Hour)
	if rs, err := sc.Tick(ctx); err != nil || len(rs) != 1 || rs[0].Issued != 0 {
		t.Fatalf("next day: %+v %v", rs, err)
	}
	if jobs, _ := q.List(ctx, "", 50); len(jobs) != 3 {
		t.Fatalf("%d jobs after the next day, want 3", len(jobs))
	}
}
