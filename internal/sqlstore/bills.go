package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
)

const billCols = `id, number, kind, status, account_id, account_number, customer_name, site_id, cycle, revision, period_start, period_end,
  kwh, total_fen, due_date, from_totals, corrects, reason, run_id, issued_at, created_by, body`

// billBody is what a bill keeps as JSON.
type billBody struct {
	Lines   []amigo.BillLine `json:"lines"`
	Flags   []amigo.BillFlag `json:"flags,omitempty"`
	Tariffs []string         `json:"tariffs"`
}

func scanBill(row scanner) (amigo.Bill, error) {
	var b amigo.Bill
	var ps, pe, kwh, total, issued int64
	var fromTotals int
	var body string
	err := row.Scan(&b.ID, &b.Number, &b.Kind, &b.Status, &b.AccountID, &b.AccountNumber, &b.CustomerName, &b.SiteID, &b.Cycle, &b.Revision,
		&ps, &pe, &kwh, &total, &b.DueDate, &fromTotals, &b.Corrects, &b.Reason, &b.RunID, &issued, &b.CreatedBy, &body)
	if err != nil {
		return b, err
	}
	b.PeriodStart, b.PeriodEnd, b.IssuedAt = fromUnix(ps), fromUnix(pe), fromUnix(issued)
	b.KWh, b.TotalFen, b.FromTotals = amigo.Energy(kwh), amigo.Fen(total), fromTotals != 0
	var bb billBody
	if err := json.Unmarshal([]byte(body), &bb); err != nil {
		return b, err
	}
	b.Lines, b.Flags, b.Tariffs = bb.Lines, bb.Flags, bb.Tariffs
	if b.Lines == nil {
		b.Lines = []amigo.BillLine{}
	}
	if b.Tariffs == nil {
		b.Tariffs = []string{}
	}
	return b, nil
}

// billChunk is how many bills PutBills writes per statement (21
// parameters a bill).
const billChunk = 200

// billKey is a bill's unique key.
type billKey struct {
	account  int64
	cycle    string
	kind     string
	revision int
}

// PutBills writes bills: a new key is inserted, a held one replaced, an
// issued one left alone (written false). One multi-row statement per
// billChunk bills (a chunk that repeats a key goes bill by bill, in
// order), in the caller's transaction or one of its own.
func (s *DB) PutBills(ctx context.Context, bs []amigo.Bill) ([]bool, error) {
	const op = "put bills"
	written := make([]bool, len(bs))
	if len(bs) == 0 {
		return written, nil
	}
	for i := range bs {
		b := &bs[i]
		if b.Kind == "" || b.Status == "" || b.AccountID == 0 || b.Cycle == "" {
			return nil, amigo.Errorf(amigo.EINVALID, op, "a bill needs a kind, a status, an account and a cycle / 账单缺少类型、状态、账户或账期")
		}
	}
	bodies, err := billBodies(bs)
	if err != nil {
		return nil, internal(op, err)
	}
	tx, commit, rollback, err := s.begin(ctx)
	if err != nil {
		return nil, internal(op, err)
	}
	defer rollback()
	var full *sql.Stmt // the statement of a full chunk, when there are several
	if len(bs) >= 2*billChunk {
		if full, err = tx.PrepareContext(ctx, s.q(billsInsert(billChunk))); err != nil {
			return nil, internal(op, err)
		}
		defer full.Close()
	}
	keys := make(map[billKey]int, min(len(bs), billChunk)) // key: index in its chunk
	for start := 0; start < len(bs); start += billChunk {
		end := min(start+billChunk, len(bs))
		clear(keys)
		for i := start; i < end; i++ {
			b := &bs[i]
			keys[billKey{b.AccountID, b.Cycle, b.Kind, b.Revision}] = i - start
		}
		if len(keys) < end-start {
			// A key twice: one statement each, so that the second sees
			// the first (PostgreSQL refuses one row updated twice).
			for i := start; i < end; i++ {
				if err := s.putBills(ctx, tx, nil, bs[i:i+1], bodies[i:i+1], written[i:i+1], nil); err != nil {
					return nil, internal(op, err)
				}
			}
			continue
		}
		if err := s.putBills(ctx, tx, full, bs[start:end], bodies[start:end], written[start:end], keys); err != nil {
			return nil, internal(op, err)
		}
	}
	if err := commit(); err != nil {
		return nil, internal(op, err)
	}
	return written, nil
}

// putBills upserts bills of distinct keys in one statement (full: the
// statement of billChunk bills, prepared, or nil); keys maps each key to
// its index in bs (nil: bs is one bill).
func (s *DB) putBills(ctx context.Context, tx *sql.Tx, full *sql.Stmt, bs []amigo.Bill, bodies []string, written []bool, keys map[billKey]int) error {
	args := make([]any, 0, 21*len(bs))
	for i := range bs {
		b := &bs[i]
		args = append(args, b.Number, b.Kind, b.Status, b.AccountID, b.AccountNumber, b.CustomerName, b.SiteID, b.Cycle, b.Revision,
			unix(b.PeriodStart), unix(b.PeriodEnd), int64(b.KWh), int64(b.TotalFen), b.DueDate, b2i(b.FromTotals), b.Corrects, b.Reason,
			b.RunID, unix(b.IssuedAt), b.CreatedBy, bodies[i])
	}
	var rows *sql.Rows
	var err error
	if full != nil && len(bs) == billChunk {
		rows, err = full.QueryContext(ctx, args...)
	} else {
		rows, err = tx.QueryContext(ctx, s.q(billsInsert(len(bs))), args...)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var k billKey
		if err := rows.Scan(&id, &k.account, &k.cycle, &k.kind, &k.revision); err != nil {
			return err
		}
		i, ok := 0, true // the one bill
		if keys != nil {
			i, ok = keys[k]
		}
		if !ok {
			return fmt.Errorf("bill of account %d cycle %s returned by its insert was not in it", k.account, k.cycle)
		}
		bs[i].ID, written[i] = id, true
	}
	return rows.Err()
}

// GetBill returns a bill (ENOTFOUND).
func (s *DB) GetBill(ctx context.Context, id int64) (amigo.Bill, error) {
	b, err := scanBill(s.x.QueryRowContext(ctx, s.q(`SELECT `+billCols+` FROM bills WHERE id = ?`), id))
	if err != nil {
		return b, notFound("get bill", "bill", err)
	}
	return b, nil
}

// ListBills returns the bills of f, newest first, and how many match.
func (s *DB) ListBills(ctx context.Context, f amigo.BillFilter) ([]amigo.Bill, int, error) {
	const op = "list bills"
	var c conds
	c.add(f.AccountID != 0, `account_id = ?`, f.AccountID)
	c.add(f.SiteID != 0, `site_id = ?`, f.SiteID)
	c.add(f.Cycle != "", `cycle = ?`, f.Cycle)
	c.add(f.Status != "", `status = ?`, f.Status)
	return page(ctx, s, op, billCols, c.from(`bills`), `id DESC`, c.args, f.Limit, f.Offset, scanBill)
}

// BillStates returns the status of each account's first bill of cycle.
func (s *DB) BillStates(ctx context.Context, cycle string, accountIDs []int64) (map[int64]string, error) {
	const op = "bill states"
	out := make(map[int64]string, len(accountIDs))
	for start := 0; start < len(accountIDs); start += 500 {
		ids := accountIDs[start:min(start+500, len(accountIDs))]
		args := []any{cycle, amigo.BillKindBill}
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := s.x.QueryContext(ctx, s.q(`SELECT account_id, status FROM bills WHERE cycle = ? AND kind = ? AND revision = 0 AND account_id IN (`+marks(len(ids))+`)`), args...)
		if err != nil {
			return nil, internal(op, err)
		}
		for rows.Next() {
			var id int64
			var st string
			if err := rows.Scan(&id, &st); err != nil {
				rows.Close()
				return nil, internal(op, err)
			}
			out[id] = st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, internal(op, err)
		}
	}
	return out, nil
}

// billsInsert is the upsert of n bills, returning the key of each bill
// written: a new key is inserted, a held bill replaced.
func billsInsert(n int) string {
	return `INSERT INTO bills (number, kind, status, account_id, account_number, customer_name, site_id, cycle, revision,
	  period_start, period_end, kwh, total_fen, due_date, from_totals, corrects, reason, run_id, issued_at, created_by, body)
	  VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", n), ", ") + `
	  ON CONFLICT (account_id, cycle, kind, revision) DO UPDATE SET number = excluded.number, status = excluded.status,
	  account_number = excluded.account_number, customer_name = excluded.customer_name, site_id = excluded.site_id,
	  period_start = excluded.period_start, period_end = excluded.period_end, kwh = excluded.kwh, total_fen = excluded.total_fen,
	  due_date = excluded.due_date, from_totals = excluded.from_totals, corrects = excluded.corrects, reason = excluded.reason,
	  run_id = excluded.run_id, issued_at = excluded.issued_at, created_by = excluded.created_by, body = excluded.body
	  WHERE bills.status = 'held' RETURNING id, account_id, cycle, kind, revision`
}

// billBodies encodes the bills' lines, flags and tariffs as stored, on
// up to GOMAXPROCS goroutines (a batch of a billing run is thousands).
func billBodies(bs []amigo.Bill) ([]string, error) {
	out := make([]string, len(bs))
	workers := min(runtime.GOMAXPROCS(0), len(bs)/100+1)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := w; i < len(bs); i += workers {
				b := &bs[i]
				var err error
				if buf, err = appendBillBody(buf[:0], b); err != nil {
					errs[w] = fmt.Errorf("bill %s: %w", b.Number, err)
					return
				}
				out[i] = string(buf)
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

const runCols = `id, site_id, cycle, status, total, done, issued, held, skipped, not_due, total_fen, cursor, started_by, started_at, updated_at, finished_at`

func scanRun(row scanner) (amigo.BillingRun, error) {
	var r amigo.BillingRun
	var fen, st, up, fin int64
	err := row.Scan(&r.ID, &r.SiteID, &r.Cycle, &r.Status, &r.Total, &r.Done, &r.Issued, &r.Held, &r.Skipped, &r.NotDue, &fen, &r.Cursor, &r.StartedBy, &st, &up, &fin)
	r.TotalFen, r.StartedAt, r.UpdatedAt, r.FinishedAt = amigo.Fen(fen), fromUnix(st), fromUnix(up), fromUnix(fin)
	return r, err
}

// CreateBillingRun starts a run (ECONFLICT when the site's cycle has an
// unfinished one).
func (s *DB) CreateBillingRun(ctx context.Context, r *amigo.BillingRun) error {
	id, err := s.insert(ctx, "create billing run", `INSERT INTO billing_runs (site_id, cycle, status, total, done, issued, held, skipped, not_due, total_fen, cursor, started_by, started_at, updated_at, finished_at)
	  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.SiteID, r.Cycle, r.Status, r.Total, r.Done, r.Issued, r.Held, r.Skipped, r.NotDue, int64(r.TotalFen), r.Cursor,
		r.StartedBy, unix(r.StartedAt), unix(r.UpdatedAt), unix(r.FinishedAt))
	if err != nil {
		if amigo.ErrorKind(err) == amigo.ECONFLICT {
			return &amigo.Error{Kind: amigo.ECONFLICT, Op: "create billing run", Message: "a billing run of this site and cycle is unfinished / 该站点该账期已有未完成的计费任务", Err: err}
		}
		return err
	}
	r.ID = id
	return nil
}

// GetBillingRun returns a run (ENOTFOUND).
func (s *DB) GetBillingRun(ctx context.Context, id int64) (amigo.BillingRun, error) {
	r, err := scanRun(s.x.QueryRowContext(ctx, s.q(`SELECT `+runCols+` FROM billing_runs WHERE id = ?`), id))
	if err != nil {
		return r, notFound("get billing run", "billing run", err)
	}
	return r, nil
}

// ListBillingRuns returns the newest runs first, at most limit (of a site
// when siteID is not 0).
func (s *DB) ListBillingRuns(ctx context.Context, siteID int64, limit int) ([]amigo.BillingRun, error) {
	const op = "list billing runs"
	where, args := ``, []any{}
	if siteID != 0 {
		where, args = ` WHERE site_id = ?`, append(args, siteID)
	}
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT `+runCols+` FROM billing_runs`+where+` ORDER BY id DESC LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, internal(op, err)
	}
	return collect(rows, op, scanRun)
}

// OpenBillingRun returns the unfinished run of a site's cycle (ENOTFOUND).
func (s *DB) OpenBillingRun(ctx context.Context, siteID int64, cycle string) (amigo.BillingRun, error) {
	r, err := scanRun(s.x.QueryRowContext(ctx, s.q(`SELECT `+runCols+` FROM billing_runs WHERE site_id = ? AND cycle = ? AND status = ?`), siteID, cycle, amigo.RunRunning))
	if err != nil {
		return r, notFound("open billing run", "billing run", err)
	}
	return r, nil
}

// UpdateBillingRun writes a run's progress.
func (s *DB) UpdateBillingRun(ctx context.Context, r amigo.BillingRun) error {
	return s.exec1(ctx, "update billing run", "billing run", `UPDATE billing_runs SET status = ?, total = ?, done = ?, issued = ?, held = ?, skipped = ?, not_due = ?, total_fen = ?, cursor = ?, updated_at = ?, finished_at = ? WHERE id = ?`,
		r.Status, r.Total, r.Done, r.Issued, r.Held, r.Skipped, r.NotDue, int64(r.TotalFen), r.Cursor, unix(r.UpdatedAt), unix(r.FinishedAt), r.ID)
}

// AdvanceBillingRun writes a run's progress if its cursor is still from.
func (s *DB) AdvanceBillingRun(ctx context.Context, r amigo.BillingRun, from int64) error {
	const op = "advance billing run"
	res, err := s.x.ExecContext(ctx, s.q(`UPDATE billing_runs SET status = ?, total = ?, done = ?, issued = ?, held = ?, skipped = ?, not_due = ?, total_fen = ?, cursor = ?, updated_at = ?, finished_at = ?
	  WHERE id = ? AND cursor = ? AND status = ?`),
		r.Status, r.Total, r.Done, r.Issued, r.Held, r.Skipped, r.NotDue, int64(r.TotalFen), r.Cursor, unix(r.UpdatedAt), unix(r.FinishedAt), r.ID, from, amigo.RunRunning)
	if err != nil {
		return internal(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return internal(op, err)
	} else if n != 1 {
		return amigo.Errorf(amigo.ECONFLICT, op, "billing run %d moved on: another process works on it / 计费任务已被其他进程推进", r.ID)
	}
	return nil
}

// ReadingsAtInstants returns the daily, monthly and manual readings of
// meters at exactly the given instants (500 meters a query), with what a
// bill uses: forward registers, reverse total, quality and flags.
func (s *DB) ReadingsAtInstants(ctx context.Context, meterIDs []int64, instants []time.Time) (map[int64][]amigo.Reading, error) {
	const op = "readings at instants"
	out := map[int64][]amigo.Reading{}
	if len(instants) == 0 {
		return out, nil
	}
	ts := make([]any, 0, len(instants))
	seen := map[int64]bool{}
	for _, t := range instants {
		if u := unix(t); !seen[u] {
			seen[u] = true
			ts = append(ts, u)
		}
	}
	kinds := make([]any, 0, 3)
	for _, kind := range []string{amigo.KindDaily, amigo.KindMonthly, amigo.KindManual} {
		k, ok, err := s.kindArg(ctx, s.x, s.added, kind)
		if err != nil {
			return nil, internal(op, err)
		}
		if ok {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return out, nil
	}
	for start := 0; start < len(meterIDs); start += 500 {
		ids := meterIDs[start:min(start+500, len(meterIDs))]
		args := append([]any{}, kinds...)
		for _, id := range ids {
			args = append(args, id)
		}
		args = append(args, ts...)
		// What a bill needs of a reading: the registers, the quality.
		rs, err := s.readReadings(ctx, s.x, s.added, func() (*sql.Rows, error) {
			return s.x.QueryContext(ctx, s.q(`SELECT `+s.rcols()+` FROM readings
		  WHERE kind IN (`+marks(len(kinds))+`) AND meter_id IN (`+marks(len(ids))+`) AND t IN (`+marks(len(ts))+`) ORDER BY meter_id, t`), args...)
		})
		if err != nil {
			return nil, internal(op, err)
		}
		// Each meter's readings (in meter order) are a part of rs, kept
		// as they are rather than copied into a slice of their own.
		for i := 0; i < len(rs); {
			j := i
			for ; j < len(rs) && rs[j].MeterID == rs[i].MeterID; j++ {
				rs[j] = billReading(rs[j])
			}
			if prev, ok := out[rs[i].MeterID]; ok {
				out[rs[i].MeterID] = append(prev, rs[i:j]...)
			} else {
				out[rs[i].MeterID] = rs[i:j:j]
			}
			i = j
		}
	}
	return out, nil
}

// billReading is what a bill uses of a reading: forward registers, reverse
// total, quality and flags.
func billReading(r amigo.Reading) amigo.Reading {
	return amigo.Reading{MeterID: r.MeterID, Time: r.Time, Kind: r.Kind, Forward: r.Forward, HasForward: r.HasForward,
		Reverse: [5]amigo.Energy{r.Reverse[0]}, HasReverse: r.HasReverse, Quality: r.Quality, Flags: r.Flags}
}

// CountBillingAccounts counts a site's postpaid accounts.
func (s *DB) CountBillingAccounts(ctx context.Context, siteID int64) (int, error) {
	var n int
	err := s.x.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM accounts WHERE site_id = ? AND prepaid = 0`), siteID).Scan(&n)
	return n, internal("count billing accounts", err)
}

// BillingAccounts returns a page of a site's postpaid accounts after an id:
// one query of the accounts with their customers, then their meter
// periods joined with the meters' columns a bill uses (not the meters'
// secrets, status or wiring), one query per billingMeterChunk accounts.
func (s *DB) BillingAccounts(ctx context.Context, siteID, after int64, limit int) ([]amigo.BillingAccount, error) {
	const op = "billing accounts"
	cols := strings.ReplaceAll("a."+accountCols, ", ", ", a.")
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT `+cols+`, c.name FROM accounts a JOIN customers c ON c.id = a.customer_id
	  WHERE a.site_id = ? AND a.prepaid = 0 AND a.id > ? ORDER BY a.id LIMIT ?`), siteID, after, limit)
	if err != nil {
		return nil, internal(op, err)
	}
	out, err := collect(rows, op, func(row scanner) (amigo.BillingAccount, error) {
		var ba amigo.BillingAccount
		var name string
		a, err := scanAccount(scannerFunc(func(dest ...any) error { return row.Scan(append(dest, &name)...) }))
		ba.Account, ba.CustomerName = a, name
		return ba, err
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	byID := make(map[int64]int, len(out)) // account: index in out
	for i := range out {
		byID[out[i].ID] = i
		out[i].Meters = []amigo.AccountMeter{}
	}
	// The meter periods with their meters, in one query per
	// billingMeterChunk accounts.
	for start := 0; start < len(out); start += billingMeterChunk {
		part := out[start:min(start+billingMeterChunk, len(out))]
		args := make([]any, len(part))
		for i, a := range part {
			args[i] = a.ID
		}
		rows, err := s.x.QueryContext(ctx, s.q(`SELECT am.account_id, am.from_t, am.to_t, m.id, m.site_id, m.address, m.protocol, m.phases, m.ct_ratio, m.pt_ratio,
		  m.direct, m.rated_amps, m.account_id, m.installed_at, m.removed_at
		  FROM account_meters am JOIN meters m ON m.id = am.meter_id
		  WHERE am.account_id IN (`+marks(len(part))+`) ORDER BY am.account_id, am.from_t, am.meter_id`), args...)
		if err != nil {
			return nil, internal(op, err)
		}
		for rows.Next() {
			var p amigo.AccountMeter
			var m amigo.Meter
			var from, to, inst, rem int64
			var direct int
			if err := rows.Scan(&p.AccountID, &from, &to, &m.ID, &m.SiteID, &m.Address, &m.Protocol, &m.Phases, &m.CTRatio, &m.PTRatio,
				&direct, &m.RatedAmps, &m.AccountID, &inst, &rem); err != nil {
				rows.Close()
				return nil, internal(op, err)
			}
			p.MeterID, p.Address, p.From, p.To = m.ID, m.Address, fromUnix(from), fromUnix(to)
			m.Direct, m.InstalledAt, m.RemovedAt = direct != 0, fromUnix(inst), fromUnix(rem)
			a := &out[byID[p.AccountID]]
			a.Meters = append(a.Meters, p)
			a.MeterRows = append(a.MeterRows, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, internal(op, err)
		}
	}
	return out, nil
}

// billingMeterChunk is how many accounts' meters BillingAccounts reads
// per query.
const billingMeterChunk = 1000

// scannerFunc adapts a function to scanner.
type scannerFunc func(dest ...any) error

func (f scannerFunc) Scan(dest ...any) error { return f(dest...) }
