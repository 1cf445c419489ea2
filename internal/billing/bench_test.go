package billing

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/sqlite"

	"github.com/amigo-metering/amigo"
)

// BenchmarkBillingRun bills a site of AMIGO_BILLING_ACCOUNTS postpaid
// accounts (default 10,000) on SQLite, one meter each with its frozen
// readings at Jan 1, Oct 1 and Nov 1 (zj-residential: a yearly ladder, so
// each bill reads three instants), generated with bulk inserts outside
// the timing; AMIGO_BILLING_BATCH sets the accounts per transaction
// (default DefaultBatch). Not a timed test: run it by hand, once (docs/benchmarks.md):
//
//	AMIGO_BILLING_ACCOUNTS=1000000 go test -run '^$' -bench BillingRun -benchtime 1x -timeout 60m ./internal/billing/
func BenchmarkBillingRun(b *testing.B) {
	n := 10_000
	if v := os.Getenv("AMIGO_BILLING_ACCOUNTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("AMIGO_BILLING_ACCOUNTS=%q: want a positive number", v)
		}
	}
	batch := 0 // DefaultBatch
	if v := os.Getenv("AMIGO_BILLING_BATCH"); v != "" {
		var err error
		if batch, err = strconv.Atoi(v); err != nil || batch < 1 {
			b.Fatalf("AMIGO_BILLING_BATCH=%q: want a positive number", v)
		}
	}
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "amigo.db")
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		reader, err := sqlite.Open(context.Background(), path) // as amigo billing does
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		site := bulkFleet(b, s, n)
		b.Logf("fleet of %d accounts generated in %s", n, time.Since(t0).Round(time.Millisecond))
		b.StartTimer()
		t1 := time.Now()
		rn := &Runner{Store: s, Reader: reader, Batch: batch}
		r, err := rn.Run(context.Background(), site, "2026-10", "bench")
		el := time.Since(t1)
		if err != nil || r.Issued != n {
			b.Fatalf("run %+v: %v", r, err)
		}
		b.ReportMetric(float64(n)/el.Seconds(), "accounts/s")
		b.Logf("billing run of %d accounts: %s (%.0f accounts/s), %s yuan; read %s, compute %s, write %s (ledger entries %s)", n, el.Round(time.Millisecond), float64(n)/el.Seconds(), r.TotalFen,
			rn.Stats.Read.Round(time.Millisecond), rn.Stats.Compute.Round(time.Millisecond), rn.Stats.Write.Round(time.Millisecond), rn.Stats.Ledger.Round(time.Millisecond))
		reader.Close()
		s.Close()
	}
}

// bulkFleet inserts n customers, meters, postpaid accounts with their
// meter periods, 100 rows a statement, 10,000 rows a transaction, and
// three frozen readings per meter through the store; it returns the site's
// id.
func bulkFleet(tb testing.TB, s *sqlite.Store, n int) int64 {
	tb.Helper()
	db := s.SQL()
	ctx := context.Background()
	doc, err := os.ReadFile("../../docs/tariffs/zj-residential.json")
	if err != nil {
		tb.Fatal(err)
	}
	must := func(_ sql.Result, err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(db.ExecContext(ctx, `INSERT INTO sites (id, name, time_zone, retired_at) VALUES (1, 'Bench', 'Asia/Shanghai', 0)`))
	must(db.ExecContext(ctx, `INSERT INTO tariffs (name, valid_from, document, created_at, created_by) VALUES ('zj-residential', '2026-01-01', ?, 0, 'bench')`, string(doc)))
	loc, _ := time.LoadLocation("Asia/Shanghai")
	jan1, oct1, nov1 := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Unix(), time.Date(2026, 10, 1, 0, 0, 0, 0, loc).Unix(), time.Date(2026, 11, 1, 0, 0, 0, 0, loc).Unix()
	from := time.Date(2025, 6, 1, 0, 0, 0, 0, loc).Unix()
	type table struct {
		head string
		cols int
		rows func(i int) [][]any
	}
	tables := []table{
		{`INSERT INTO customers (id, name, phone) VALUES `, 3, func(i int) [][]any { return [][]any{{i, "住户 " + strconv.Itoa(i), ""}} }},
		{`INSERT INTO meters (id, site_id, address, protocol, phases, ct_ratio, pt_ratio, area_id, collector_id, port, pn, direct, password, operator, rated_amps, account_id, installed_at, removed_at, status, since, reason, relay, imei, reg_secret) VALUES `, 24,
			func(i int) [][]any {
				return [][]any{{i, 1, fmt.Sprintf("%012d", i), "dlt645-2007", 1, 1, 1, 0, 0, 0, 0, 1, "", "", 60, i, from, 0, "unknown", 0, "", "unknown", "", ""}}
			}},
		{`INSERT INTO accounts (id, number, customer_id, site_id, prepaid, tariff, billing_day, low_balance_fen, credit_limit_fen, keep_power, balance_fen, control, control_at, created_at) VALUES `, 14,
			func(i int) [][]any {
				return [][]any{{i, fmt.Sprintf("B%07d", i), i, 1, 0, "zj-residential", 1, 0, 0, 0, 0, "", 0, from}}
			}},
		{`INSERT INTO account_meters (account_id, meter_id, from_t, to_t) VALUES `, 4, func(i int) [][]any { return [][]any{{i, i, from, 0}} }},
	}
	for _, tb2 := range tables {
		var rows [][]any
		flush := func(tx *sql.Tx) {
			if len(rows) == 0 {
				return
			}
			one := "(" + strings.TrimSuffix(strings.Repeat("?, ", tb2.cols), ", ") + ")"
			q := tb2.head + strings.TrimSuffix(strings.Repeat(one+", ", len(rows)), ", ")
			args := make([]any, 0, len(rows)*tb2.cols)
			for _, r := range rows {
				args = append(args, r...)
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				tb.Fatal(err)
			}
			rows = rows[:0]
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			tb.Fatal(err)
		}
		for i := 1; i <= n; i++ {
			rows = append(rows, tb2.rows(i)...)
			if len(rows) >= 100 {
				flush(tx)
			}
			if i%10_000 == 0 {
				flush(tx)
				if err := tx.Commit(); err != nil {
					tb.Fatal(err)
				}
				if tx, err = db.BeginTx(ctx, nil); err != nil {
					tb.Fatal(err)
				}
			}
		}
		flush(tx)
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
	// The readings go through the store (its layout is its own), 10,000
	// a transaction.
	var rs []amigo.Reading
	for i := 1; i <= n; i++ {
		k := int64(i % 100)
		row := func(t int64, f ...int64) amigo.Reading {
			r := amigo.Reading{MeterID: int64(i), Time: time.Unix(t, 0).UTC(), Kind: amigo.KindDaily, HasForward: true,
				Quality: amigo.QualityActual, Source: "bench", ReceivedAt: time.Unix(t, 0).UTC()}
			for j := range 5 {
				r.Forward[j] = amigo.Energy(f[j] * 10000)
			}
			return r
		}
		rs = append(rs, row(jan1, 1000, 100, 400, 300, 200), row(oct1, 3600, 300, 1400, 900, 1000), row(nov1, 3900+k, 320, 1550+k, 930, 1100))
		if len(rs) >= 10_000 || i == n {
			if _, err := s.WriteReadings(ctx, rs); err != nil {
				tb.Fatal(err)
			}
			rs = rs[:0]
		}
	}
	return 1
}
