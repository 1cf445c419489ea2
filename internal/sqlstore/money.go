package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Customers, accounts, the ledger, payments, notices and control policies
// (money.go in the domain). A balance changes only with a ledger entry, in
// the same transaction, with its audit entry.

func checkCustomer(op string, c amigo.Customer) error {
	switch {
	case strings.TrimSpace(c.Name) == "" || len(c.Name) > 128:
		return amigo.Errorf(amigo.EINVALID, op, "name: want 1..128 characters / 客户名称应为1..128个字符")
	case len(c.Phone) > 32:
		return amigo.Errorf(amigo.EINVALID, op, "phone: at most 32 characters / 电话最多32个字符")
	case len(c.IDNumber) > 32:
		return amigo.Errorf(amigo.EINVALID, op, "id_number: at most 32 characters / 证件号最多32个字符")
	}
	return nil
}

// CreateCustomer adds a customer (EINVALID without a name).
func (s *DB) CreateCustomer(ctx context.Context, c *amigo.Customer) error {
	if err := checkCustomer("create customer", *c); err != nil {
		return err
	}
	id, err := s.insert(ctx, "create customer", `INSERT INTO customers (name, phone, id_number) VALUES (?, ?, ?)`, c.Name, c.Phone, c.IDNumber)
	c.ID = id
	return err
}

func scanCustomer(row scanner) (amigo.Customer, error) {
	var c amigo.Customer
	err := row.Scan(&c.ID, &c.Name, &c.Phone, &c.IDNumber)
	return c, err
}

// GetCustomer returns a customer (ENOTFOUND).
func (s *DB) GetCustomer(ctx context.Context, id int64) (amigo.Customer, error) {
	c, err := scanCustomer(s.x.QueryRowContext(ctx, s.q(`SELECT id, name, phone, id_number FROM customers WHERE id = ?`), id))
	if err != nil {
		return c, notFound("get customer", "customer", err)
	}
	return c, nil
}

// ListCustomers returns customers in id order and their count.
func (s *DB) ListCustomers(ctx context.Context, limit, offset int) ([]amigo.Customer, int, error) {
	return page(ctx, s, "list customers", `id, name, phone, id_number`, `FROM customers`, `id`, nil, limit, offset, scanCustomer)
}

// UpdateCustomer changes a customer's name, phone and ID number.
func (s *DB) UpdateCustomer(ctx context.Context, c amigo.Customer) error {
	if err := checkCustomer("update customer", c); err != nil {
		return err
	}
	return s.exec1(ctx, "update customer", "customer", `UPDATE customers SET name = ?, phone = ?, id_number = ? WHERE id = ?`, c.Name, c.Phone, c.IDNumber, c.ID)
}

const accountCols = `id, number, customer_id, site_id, prepaid, tariff, billing_day, low_balance_fen, credit_limit_fen, keep_power, balance_fen, control, control_at, created_at`

func scanAccount(row scanner) (amigo.Account, error) {
	var a amigo.Account
	var prepaid, keep int
	var low, limit, bal, ctlAt, created int64
	err := row.Scan(&a.ID, &a.Number, &a.CustomerID, &a.SiteID, &prepaid, &a.Tariff, &a.BillingDay, &low, &limit, &keep, &bal, &a.Control, &ctlAt, &created)
	a.Mode = amigo.ModePostpaid
	if prepaid == 1 {
		a.Mode = amigo.ModePrepaid
	}
	a.LowBalanceFen, a.CreditLimitFen, a.BalanceFen = amigo.Fen(low), amigo.Fen(limit), amigo.Fen(bal)
	a.KeepPower, a.ControlAt, a.CreatedAt = keep == 1, fromUnix(ctlAt), fromUnix(created)
	a.Meters = []amigo.AccountMeter{}
	return a, err
}

// CreateAccount adds an account and its meters in one transaction; the
// balance starts at 0.
func (s *DB) CreateAccount(ctx context.Context, a *amigo.Account) error {
	const op = "create account"
	if err := a.Check(); err != nil {
		return err
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now().UTC()
	}
	return s.WithTx(ctx, func(tx amigo.Store) error {
		t := tx.(*DB)
		if _, err := t.GetCustomer(ctx, a.CustomerID); err != nil {
			return err
		}
		if _, err := t.GetSite(ctx, a.SiteID); err != nil {
			return err
		}
		id, err := t.insert(ctx, op, `INSERT INTO accounts (number, customer_id, site_id, prepaid, tariff, billing_day, low_balance_fen, credit_limit_fen, keep_power, balance_fen, control, control_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', 0, ?)`,
			a.Number, a.CustomerID, a.SiteID, b2i(a.Mode == amigo.ModePrepaid), a.Tariff, a.BillingDay, int64(a.LowBalanceFen), int64(a.CreditLimitFen), b2i(a.KeepPower), unix(a.CreatedAt))
		if amigo.ErrorKind(err) == amigo.ECONFLICT {
			return &amigo.Error{Kind: amigo.ECONFLICT, Op: op, Message: "account number " + a.Number + " is taken / 户号已存在", Err: err}
		}
		if err != nil {
			return err
		}
		a.ID, a.BalanceFen, a.Control, a.ControlAt = id, 0, amigo.ControlNone, time.Time{}
		for i := range a.Meters {
			a.Meters[i].AccountID = id
			if err := t.AddAccountMeter(ctx, a.Meters[i]); err != nil {
				return err
			}
		}
		ms, err := t.accountMeters(ctx, []int64{id})
		if err != nil {
			return err
		}
		a.Meters = ms[id]
		if a.Meters == nil {
			a.Meters = []amigo.AccountMeter{}
		}
		return nil
	})
}

// accountMeters returns the meter periods of accounts, by account, oldest first.
func (s *DB) accountMeters(ctx context.Context, ids []int64) (map[int64][]amigo.AccountMeter, error) {
	out := map[int64][]amigo.AccountMeter{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT am.account_id, am.meter_id, m.address, am.from_t, am.to_t FROM account_meters am JOIN meters m ON m.id = am.meter_id
		WHERE am.account_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY am.account_id, am.from_t, am.meter_id`), args...)
	if err != nil {
		return nil, internal("account meters", err)
	}
	ms, err := collect(rows, "account meters", func(row scanner) (amigo.AccountMeter, error) {
		var m amigo.AccountMeter
		var from, to int64
		err := row.Scan(&m.AccountID, &m.MeterID, &m.Address, &from, &to)
		m.From, m.To = fromUnix(from), fromUnix(to)
		return m, err
	})
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		out[m.AccountID] = append(out[m.AccountID], m)
	}
	return out, nil
}

func (s *DB) withMeters(ctx context.Context, as []amigo.Account) error {
	ids := make([]int64, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	ms, err := s.accountMeters(ctx, ids)
	if err != nil {
		return err
	}
	for i := range as {
		if m := ms[as[i].ID]; m != nil {
			as[i].Meters = m
		}
	}
	return nil
}

func (s *DB) oneAccount(ctx context.Context, op, where string, arg any) (amigo.Account, error) {
	a, err := scanAccount(s.x.QueryRowContext(ctx, s.q(`SELECT `+accountCols+` FROM accounts WHERE `+where), arg))
	if err != nil {
		return a, notFound(op, "account", err)
	}
	as := []amigo.Account{a}
	if err := s.withMeters(ctx, as); err != nil {
		return a, err
	}
	return as[0], nil
}

// GetAccount returns an account with its meters (ENOTFOUND).
func (s *DB) GetAccount(ctx context.Context, id int64) (amigo.Account, error) {
	return s.oneAccount(ctx, "get account", `id = ?`, id)
}

// FindAccountByNumber returns the account of a number (ENOTFOUND).
func (s *DB) FindAccountByNumber(ctx context.Context, number string) (amigo.Account, error) {
	return s.oneAccount(ctx, "find account", `number = ?`, number)
}

// ListAccounts returns accounts with their meters in id order and how many
// match.
func (s *DB) ListAccounts(ctx context.Context, f amigo.AccountFilter) ([]amigo.Account, int, error) {
	const op = "list accounts"
	var c conds
	switch f.Mode {
	case "":
	case amigo.ModePrepaid, amigo.ModePostpaid:
		c.add(true, `prepaid = ?`, b2i(f.Mode == amigo.ModePrepaid))
	default:
		return nil, 0, amigo.Errorf(amigo.EINVALID, op, "mode: want prepaid or postpaid / 模式应为 prepaid 或 postpaid")
	}
	c.add(f.SiteID != 0, `site_id = ?`, f.SiteID)
	c.add(f.CustomerID != 0, `customer_id = ?`, f.CustomerID)
	c.add(f.Control != "", `control = ?`, f.Control)
	as, total, err := page(ctx, s, op, accountCols, c.from(`accounts`), `id`, c.args, f.Limit, f.Offset, scanAccount)
	if err != nil {
		return nil, 0, err
	}
	if err := s.withMeters(ctx, as); err != nil {
		return nil, 0, err
	}
	return as, total, nil
}

// UpdateAccount changes an account's settings (not its balance, control
// state or meters).
func (s *DB) UpdateAccount(ctx context.Context, a amigo.Account) error {
	const op = "update account"
	a.Meters = nil
	if err := a.Check(); err != nil {
		return err
	}
	err := s.exec1(ctx, op, "account", `UPDATE accounts SET number = ?, customer_id = ?, site_id = ?, prepaid = ?, tariff = ?, billing_day = ?, low_balance_fen = ?, credit_limit_fen = ?, keep_power = ? WHERE id = ?`,
		a.Number, a.CustomerID, a.SiteID, b2i(a.Mode == amigo.ModePrepaid), a.Tariff, a.BillingDay, int64(a.LowBalanceFen), int64(a.CreditLimitFen), b2i(a.KeepPower), a.ID)
	if amigo.ErrorKind(err) == amigo.ECONFLICT {
		return &amigo.Error{Kind: amigo.ECONFLICT, Op: op, Message: "account number " + a.Number + " is taken / 户号已存在", Err: err}
	}
	return err
}

// AddAccountMeter starts an account's period on a meter; a period that
// overlaps another of the same meter is EINVALID. An open period makes the
// meter's account this one.
func (s *DB) AddAccountMeter(ctx context.Context, m amigo.AccountMeter) error {
	const op = "add account meter"
	if m.AccountID <= 0 || m.MeterID <= 0 || m.From.IsZero() || (!m.To.IsZero() && !m.To.After(m.From)) {
		return amigo.Errorf(amigo.EINVALID, op, "want an account, a meter and from before to / 需要账户、电表和起止时间")
	}
	return s.WithTx(ctx, func(tx amigo.Store) error {
		t := tx.(*DB)
		if _, err := t.GetMeter(ctx, m.MeterID); err != nil {
			return err
		}
		to := int64(1 << 62)
		if !m.To.IsZero() {
			to = unix(m.To)
		}
		var n int
		if err := t.x.QueryRowContext(ctx, t.q(`SELECT COUNT(*) FROM account_meters WHERE meter_id = ? AND from_t < ? AND (to_t = 0 OR to_t > ?)`), m.MeterID, to, unix(m.From)).Scan(&n); err != nil {
			return internal(op, err)
		}
		if n > 0 {
			return amigo.Errorf(amigo.EINVALID, op, "meter %d already belongs to an account from %s / 电表在该时段已属于其他账户", m.MeterID, m.From.Format(time.RFC3339))
		}
		if _, err := t.x.ExecContext(ctx, t.q(`INSERT INTO account_meters (account_id, meter_id, from_t, to_t) VALUES (?, ?, ?, ?)`), m.AccountID, m.MeterID, unix(m.From), unix(m.To)); err != nil {
			return internal(op, err)
		}
		if m.To.IsZero() {
			if _, err := t.x.ExecContext(ctx, t.q(`UPDATE meters SET account_id = ? WHERE id = ?`), m.AccountID, m.MeterID); err != nil {
				return internal(op, err)
			}
		}
		return nil
	})
}

// EndAccountMeter ends the account's open period on a meter at at.
func (s *DB) EndAccountMeter(ctx context.Context, accountID, meterID int64, at time.Time) error {
	if at.IsZero() {
		return amigo.Errorf(amigo.EINVALID, "end account meter", "a time is required / 需要时间")
	}
	return s.exec1(ctx, "end account meter", "open period of the account on the meter that began before that time", `UPDATE account_meters SET to_t = ? WHERE account_id = ? AND meter_id = ? AND to_t = 0 AND from_t < ?`,
		unix(at), accountID, meterID, unix(at))
}

// SetAccountControl records what the automatic control did last.
func (s *DB) SetAccountControl(ctx context.Context, id int64, state string, at time.Time) error {
	switch state {
	case amigo.ControlNone, amigo.ControlWarned, amigo.ControlTripped:
	default:
		return amigo.Errorf(amigo.EINVALID, "set account control", "unknown control state %q / 未知的控制状态", state)
	}
	return s.exec1(ctx, "set account control", "account", `UPDATE accounts SET control = ?, control_at = ? WHERE id = ?`, state, unix(at), id)
}

// Ledger.

const ledgerCols = `id, account_id, t, kind, amount_fen, balance_fen, reference, by_user, detail`

func scanLedger(row scanner) (amigo.LedgerEntry, error) {
	var e amigo.LedgerEntry
	var t, amt, bal int64
	err := row.Scan(&e.ID, &e.AccountID, &t, &e.Kind, &amt, &bal, &e.Reference, &e.By, &e.Detail)
	e.Time, e.AmountFen, e.BalanceFen = fromUnix(t), amigo.Fen(amt), amigo.Fen(bal)
	return e, err
}

// FindLedger returns the entry of a reference (ENOTFOUND).
func (s *DB) FindLedger(ctx context.Context, reference string) (amigo.LedgerEntry, error) {
	e, err := scanLedger(s.x.QueryRowContext(ctx, s.q(`SELECT `+ledgerCols+` FROM ledger WHERE reference = ?`), reference))
	if err != nil {
		return e, notFound("find ledger entry", "ledger entry", err)
	}
	return e, nil
}

// ListLedger returns an account's entries newest first and their count.
func (s *DB) ListLedger(ctx context.Context, accountID int64, limit, offset int) ([]amigo.LedgerEntry, int, error) {
	return page(ctx, s, "list ledger", ledgerCols, `FROM ledger WHERE account_id = ?`, `id DESC`, []any{accountID}, limit, offset, scanLedger)
}

// LedgerReferences returns the references of an account's entries of a
// kind made at or after since.
func (s *DB) LedgerReferences(ctx context.Context, accountID int64, kind string, since time.Time) ([]string, error) {
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT reference FROM ledger WHERE account_id = ? AND kind = ? AND t >= ? ORDER BY id`), accountID, kind, unix(since))
	if err != nil {
		return nil, internal("ledger references", err)
	}
	return collect(rows, "ledger references", func(row scanner) (string, error) {
		var r string
		return r, row.Scan(&r)
	})
}

var ledgerKinds = map[string]bool{amigo.LedgerDaily: true, amigo.LedgerPayment: true, amigo.LedgerRefund: true, amigo.LedgerAdjustment: true, amigo.LedgerBill: true}

func checkEntry(op string, e amigo.LedgerEntry) error {
	switch {
	case !ledgerKinds[e.Kind]:
		return amigo.Errorf(amigo.EINVALID, op, "kind: unknown ledger kind %q / 未知的账目类型", e.Kind)
	case e.AccountID <= 0:
		return amigo.Errorf(amigo.EINVALID, op, "account: required / 账户必填")
	case e.Reference == "" || len(e.Reference) > amigo.MaxReference+16:
		return amigo.Errorf(amigo.EINVALID, op, "reference: want 1..%d characters / 参考号应为1..%d个字符", amigo.MaxReference, amigo.MaxReference)
	case e.AmountFen < -amigo.MaxFen || e.AmountFen > amigo.MaxFen:
		return amigo.Errorf(amigo.EINVALID, op, "amount_fen: out of range / 金额超出范围")
	case e.By == "":
		return amigo.Errorf(amigo.EINVALID, op, "by: who posts the entry is required / 需要操作人")
	case e.Time.IsZero():
		return amigo.Errorf(amigo.EINVALID, op, "time: required / 时间必填")
	case len(e.Detail) > 1024:
		return amigo.Errorf(amigo.EINVALID, op, "detail: at most 1024 bytes / 说明最多1024字节")
	}
	return nil
}

// sameEntry judges an entry found under e's reference: the same account
// and amount is a duplicate, anything else a conflict.
func sameEntry(op string, found, e amigo.LedgerEntry) error {
	if found.AccountID != e.AccountID || found.AmountFen != e.AmountFen || found.Kind != e.Kind {
		return amigo.Errorf(amigo.ECONFLICT, op, "reference %q was used for account %d, %s fen %d / 该参考号已用于其他账目", truncate(e.Reference), found.AccountID, found.Kind, found.AmountFen)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// post writes e (a new reference) inside a transaction: the balance, the
// entry, the audit entry.
func (t *DB) post(ctx context.Context, op string, e *amigo.LedgerEntry) error {
	var bal int64
	err := t.x.QueryRowContext(ctx, t.q(`UPDATE accounts SET balance_fen = balance_fen + ? WHERE id = ? RETURNING balance_fen`), int64(e.AmountFen), e.AccountID).Scan(&bal)
	if err != nil {
		return notFound(op, "account", err)
	}
	e.BalanceFen = amigo.Fen(bal)
	id, err := t.insert(ctx, op, `INSERT INTO ledger (account_id, t, kind, amount_fen, balance_fen, reference, by_user, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.AccountID, unix(e.Time), e.Kind, int64(e.AmountFen), bal, e.Reference, e.By, e.Detail)
	if err != nil {
		return err
	}
	e.ID = id
	detail := fmt.Sprintf("%s fen %d, balance %d, reference %s", e.Kind, e.AmountFen, bal, e.Reference)
	if e.Detail != "" {
		detail += ": " + e.Detail
	}
	return t.AppendAudit(ctx, amigo.AuditEntry{Time: e.Time, Actor: e.By, Action: "ledger." + e.Kind, Object: fmt.Sprintf("account %d", e.AccountID), Detail: detail})
}

// raced reports whether err is a unique violation another transaction
// caused under the same reference, which a look-up after the rollback
// resolves.
func raced(err error) bool { return amigo.ErrorKind(err) == amigo.ECONFLICT }

// PostLedger appends an entry idempotently by reference.
func (s *DB) PostLedger(ctx context.Context, e *amigo.LedgerEntry) (bool, error) {
	const op = "post ledger entry"
	if err := checkEntry(op, *e); err != nil {
		return false, err
	}
	e.Time = e.Time.UTC().Truncate(time.Second)
	dup := false
	err := s.WithTx(ctx, func(tx amigo.Store) error {
		t := tx.(*DB)
		found, err := t.FindLedger(ctx, e.Reference)
		switch {
		case err == nil:
			if err := sameEntry(op, found, *e); err != nil {
				return err
			}
			*e, dup = found, true
			return nil
		case amigo.ErrorKind(err) != amigo.ENOTFOUND:
			return err
		}
		return t.post(ctx, op, e)
	})
	if err != nil && raced(err) && s.tx == nil {
		if found, ferr := s.FindLedger(ctx, e.Reference); ferr == nil {
			if err := sameEntry(op, found, *e); err != nil {
				return false, err
			}
			*e = found
			return true, nil
		}
	}
	return dup, err
}

// ledgerChunk is how many entries PostLedgers writes per statement.
const ledgerChunk = 500

// PostLedgers appends entries idempotently by reference, in one
// transaction: per chunk of entries one look-up of the references, one
// balance update of their accounts, one insert of the entries and one of
// their audit entries.
func (s *DB) PostLedgers(ctx context.Context, es []amigo.LedgerEntry) ([]bool, error) {
	const op = "post ledger entries"
	dup := make([]bool, len(es))
	for i := range es {
		if err := checkEntry(op, es[i]); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		es[i].Time = es[i].Time.UTC().Truncate(time.Second)
	}
	if len(es) == 0 {
		return dup, nil
	}
	work := func() error {
		return s.WithTx(ctx, func(tx amigo.Store) error {
			t := tx.(*DB)
			for start := 0; start < len(es); start += ledgerChunk {
				end := min(start+ledgerChunk, len(es))
				if err := t.postChunk(ctx, op, es[start:end], dup[start:end]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := work()
	if err != nil && raced(err) && s.tx == nil {
		// Another transaction posted some of the references meanwhile:
		// now they are found and judged as duplicates.
		clear(dup)
		err = work()
	}
	if err != nil {
		return nil, err
	}
	return dup, nil
}

// addBalances adds sums[id] to each account's balance and returns each
// account's balance before, in one statement. On SQLite the VALUES list
// is left without casts: SQLite then runs it as a coroutine and finds
// each account by its primary key (TestAddBalancesPlan); with casts it
// materializes the list and scans every account.
func (t *DB) addBalances(ctx context.Context, op string, sums map[int64]int64) (map[int64]int64, error) {
	before := make(map[int64]int64, len(sums))
	ids := make([]int64, 0, len(sums))
	for id := range sums {
		ids = append(ids, id)
	}
	slices.Sort(ids) // accounts in id order, as entry by entry would
	args := make([]any, 0, 2*len(sums))
	for _, id := range ids {
		args = append(args, id, sums[id])
	}
	rows, err := t.queryOnce(ctx, t.q(balancesQuery(t.d.MultiRow, len(ids))), args...)
	if err != nil {
		return nil, internal(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, bal int64
		if err := rows.Scan(&id, &bal); err != nil {
			return nil, internal(op, err)
		}
		before[id] = bal - sums[id]
	}
	if err := rows.Err(); err != nil {
		return nil, internal(op, err)
	}
	return before, nil
}

// balancesQuery is the update of n accounts' balances by (id, sum) pairs,
// returning each account's new balance; typed is for a server that needs
// the VALUES list's types (PostgreSQL).
func balancesQuery(typed bool, n int) string {
	one := "(?, ?), "
	if typed {
		one = "(CAST(? AS BIGINT), CAST(? AS BIGINT)), "
	}
	return `UPDATE accounts SET balance_fen = balance_fen + v.column2
	  FROM (VALUES ` + strings.TrimSuffix(strings.Repeat(one, n), ", ") + `) AS v
	  WHERE accounts.id = v.column1 RETURNING accounts.id, accounts.balance_fen`
}

// postChunk posts up to ledgerChunk entries inside a transaction.
func (t *DB) postChunk(ctx context.Context, op string, es []amigo.LedgerEntry, dup []bool) error {
	// References stored already (or repeated in es) are duplicates.
	refs := make([]any, len(es))
	for i, e := range es {
		refs[i] = e.Reference
	}
	rows, err := t.queryOnce(ctx, t.q(`SELECT `+ledgerCols+` FROM ledger WHERE reference IN (`+marks(len(refs))+`)`), refs...)
	if err != nil {
		return internal(op, err)
	}
	found, err := collect(rows, op, scanLedger)
	if err != nil {
		return err
	}
	byRef := make(map[string]int, len(es)) // reference: index in es of its first new entry
	stored := make(map[string]amigo.LedgerEntry, len(found))
	for _, f := range found {
		stored[f.Reference] = f
	}
	var fresh, again []int // new references; repeats of them in es
	sums := map[int64]int64{}
	for i := range es {
		e := &es[i]
		if f, ok := stored[e.Reference]; ok {
			if err := sameEntry(op, f, *e); err != nil {
				return err
			}
			*e, dup[i] = f, true
			continue
		}
		if k, ok := byRef[e.Reference]; ok {
			if err := sameEntry(op, es[k], *e); err != nil {
				return err
			}
			dup[i] = true // filled from es[k] once it is written
			again = append(again, i)
			continue
		}
		byRef[e.Reference] = i
		fresh = append(fresh, i)
		sums[e.AccountID] += int64(e.AmountFen)
	}
	if len(fresh) == 0 {
		return nil
	}
	// The balances: one update of every account by the sum of its
	// entries; each entry's balance is the running one, in order.
	running, err := t.addBalances(ctx, op, sums)
	if err != nil {
		return err
	}
	for id := range sums {
		if _, ok := running[id]; !ok {
			return amigo.Errorf(amigo.ENOTFOUND, op, "account %d not found / 未找到账户", id)
		}
	}
	// The entries, then their ids by reference.
	args := make([]any, 0, 8*len(fresh))
	for _, i := range fresh {
		e := &es[i]
		running[e.AccountID] += int64(e.AmountFen)
		e.BalanceFen = amigo.Fen(running[e.AccountID])
		args = append(args, e.AccountID, unix(e.Time), e.Kind, int64(e.AmountFen), int64(e.BalanceFen), e.Reference, e.By, e.Detail)
	}
	rows, err = t.queryOnce(ctx, t.q(`INSERT INTO ledger (account_id, t, kind, amount_fen, balance_fen, reference, by_user, detail) VALUES `+
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?), ", len(fresh)), ", ")+` RETURNING id, reference`), args...)
	if err != nil {
		return internal(op, err)
	}
	for rows.Next() {
		var id int64
		var ref string
		if err := rows.Scan(&id, &ref); err != nil {
			rows.Close()
			return internal(op, err)
		}
		es[byRef[ref]].ID = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return internal(op, err)
	}
	// The audit entries, as post writes them.
	args = args[:0]
	for _, i := range fresh {
		e := es[i]
		detail := e.Kind + " fen " + strconv.FormatInt(int64(e.AmountFen), 10) + ", balance " + strconv.FormatInt(int64(e.BalanceFen), 10) + ", reference " + e.Reference
		if e.Detail != "" {
			detail += ": " + e.Detail
		}
		args = append(args, unix(e.Time), e.By, "ledger."+e.Kind, "account "+strconv.FormatInt(e.AccountID, 10), detail)
	}
	if _, err := t.x.ExecContext(ctx, t.q(`INSERT INTO audit (t, actor, action, object, detail) VALUES `+
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(fresh)), ", ")), args...); err != nil {
		return internal(op, err)
	}
	for _, i := range again {
		es[i] = es[byRef[es[i].Reference]]
	}
	return nil
}

// paymentRef is the ledger reference of a payment's reference.
func paymentRef(ref string) string { return "payment/" + ref }

var methods = map[string]bool{amigo.MethodCash: true, amigo.MethodCard: true, amigo.MethodWeChat: true}

// Credit records a payment with its ledger entry and audit entry in one
// transaction, idempotently by reference.
func (s *DB) Credit(ctx context.Context, p *amigo.Payment) (amigo.LedgerEntry, bool, error) {
	const op = "credit"
	switch {
	case p.AmountFen <= 0 || p.AmountFen > amigo.MaxFen:
		return amigo.LedgerEntry{}, false, amigo.Errorf(amigo.EINVALID, op, "amount_fen: want 1..%d / 金额应为1..%d分", amigo.MaxFen, amigo.MaxFen)
	case !methods[p.Method]:
		return amigo.LedgerEntry{}, false, amigo.Errorf(amigo.EINVALID, op, "method: want cash, card or wechat / 支付方式应为 cash、card 或 wechat")
	case p.Reference == "" || len(p.Reference) > amigo.MaxReference:
		return amigo.LedgerEntry{}, false, amigo.Errorf(amigo.EINVALID, op, "reference: want 1..%d characters / 参考号应为1..%d个字符", amigo.MaxReference, amigo.MaxReference)
	case p.By == "":
		return amigo.LedgerEntry{}, false, amigo.Errorf(amigo.EINVALID, op, "by: who takes the payment is required / 需要收款人")
	case p.Time.IsZero():
		return amigo.LedgerEntry{}, false, amigo.Errorf(amigo.EINVALID, op, "time: required / 时间必填")
	}
	p.Time = p.Time.UTC().Truncate(time.Second)
	e := amigo.LedgerEntry{AccountID: p.AccountID, Time: p.Time, Kind: amigo.LedgerPayment, AmountFen: p.AmountFen, Reference: paymentRef(p.Reference), By: p.By, Detail: p.Method}
	// dupOf judges a payment found under the reference.
	dupOf := func(t *DB, found amigo.Payment) (amigo.LedgerEntry, error) {
		if found.AccountID != p.AccountID || found.AmountFen != p.AmountFen {
			return amigo.LedgerEntry{}, amigo.Errorf(amigo.ECONFLICT, op, "reference %q was used for account %d, %d fen / 该参考号已用于其他付款", truncate(p.Reference), found.AccountID, found.AmountFen)
		}
		le, err := t.FindLedger(ctx, paymentRef(found.Reference))
		if err != nil {
			return le, err
		}
		*p = found
		return le, nil
	}
	dup := false
	err := s.WithTx(ctx, func(tx amigo.Store) error {
		t := tx.(*DB)
		found, err := t.FindPayment(ctx, p.Reference)
		switch {
		case err == nil:
			e, err = dupOf(t, found)
			dup = err == nil
			return err
		case amigo.ErrorKind(err) != amigo.ENOTFOUND:
			return err
		}
		if err := t.post(ctx, op, &e); err != nil {
			return err
		}
		id, err := t.insert(ctx, op, `INSERT INTO payments (account_id, amount_fen, method, reference, receipt, by_user, t, ledger_id) VALUES (?, ?, ?, ?, '', ?, ?, ?)`,
			p.AccountID, int64(p.AmountFen), p.Method, p.Reference, p.By, unix(p.Time), e.ID)
		if err != nil {
			return err
		}
		p.ID, p.Receipt, p.LedgerID = id, amigo.ReceiptNumber(id), e.ID
		_, err = t.x.ExecContext(ctx, t.q(`UPDATE payments SET receipt = ? WHERE id = ?`), p.Receipt, id)
		return internal(op, err)
	})
	if err != nil && raced(err) && s.tx == nil {
		if found, ferr := s.FindPayment(ctx, p.Reference); ferr == nil {
			le, err := dupOf(s, found)
			return le, err == nil, err
		}
	}
	if err != nil {
		return amigo.LedgerEntry{}, false, err
	}
	return e, dup, nil
}

const paymentCols = `id, account_id, amount_fen, method, reference, receipt, by_user, t, ledger_id`

func scanPayment(row scanner) (amigo.Payment, error) {
	var p amigo.Payment
	var amt, t int64
	err := row.Scan(&p.ID, &p.AccountID, &amt, &p.Method, &p.Reference, &p.Receipt, &p.By, &t, &p.LedgerID)
	p.AmountFen, p.Time = amigo.Fen(amt), fromUnix(t)
	return p, err
}

// GetPayment returns a payment (ENOTFOUND).
func (s *DB) GetPayment(ctx context.Context, id int64) (amigo.Payment, error) {
	p, err := scanPayment(s.x.QueryRowContext(ctx, s.q(`SELECT `+paymentCols+` FROM payments WHERE id = ?`), id))
	if err != nil {
		return p, notFound("get payment", "payment", err)
	}
	return p, nil
}

// FindPayment returns the payment of a reference (ENOTFOUND).
func (s *DB) FindPayment(ctx context.Context, reference string) (amigo.Payment, error) {
	p, err := scanPayment(s.x.QueryRowContext(ctx, s.q(`SELECT `+paymentCols+` FROM payments WHERE reference = ?`), reference))
	if err != nil {
		return p, notFound("find payment", "payment", err)
	}
	return p, nil
}

// ListPayments returns payments in id order and how many match.
func (s *DB) ListPayments(ctx context.Context, f amigo.PaymentFilter) ([]amigo.Payment, int, error) {
	const op = "list payments"
	var c conds
	c.add(f.AccountID != 0, `account_id = ?`, f.AccountID)
	c.add(f.Method != "", `method = ?`, f.Method)
	c.add(!f.Since.IsZero(), `t >= ?`, f.Since.Unix())
	c.add(!f.Until.IsZero(), `t < ?`, f.Until.Unix())
	return page(ctx, s, op, paymentCols, c.from(`payments`), `id`, c.args, f.Limit, f.Offset, scanPayment)
}

// AppendNotice adds a notice for an account's customer.
func (s *DB) AppendNotice(ctx context.Context, n *amigo.Notice) error {
	if n.AccountID <= 0 || n.Kind == "" || n.Message == "" || n.Time.IsZero() {
		return amigo.Errorf(amigo.EINVALID, "append notice", "a notice needs an account, a kind, a message and a time / 通知需要账户、类型、内容和时间")
	}
	id, err := s.insert(ctx, "append notice", `INSERT INTO notices (account_id, t, kind, message) VALUES (?, ?, ?, ?)`, n.AccountID, unix(n.Time), n.Kind, n.Message)
	n.ID = id
	return err
}

// ListNotices returns an account's notices newest first and their count.
func (s *DB) ListNotices(ctx context.Context, accountID int64, limit, offset int) ([]amigo.Notice, int, error) {
	return page(ctx, s, "list notices", `id, account_id, t, kind, message`, `FROM notices WHERE account_id = ?`, `id DESC`, []any{accountID}, limit, offset, func(row scanner) (amigo.Notice, error) {
		var n amigo.Notice
		var t int64
		err := row.Scan(&n.ID, &n.AccountID, &t, &n.Kind, &n.Message)
		n.Time = fromUnix(t)
		return n, err
	})
}

// GetControlPolicy returns a site's policy, the default when none was set.
func (s *DB) GetControlPolicy(ctx context.Context, siteID int64) (amigo.ControlPolicy, error) {
	var doc, by string
	var at int64
	err := s.x.QueryRowContext(ctx, s.q(`SELECT policy, updated_at, updated_by FROM control_policies WHERE site_id = ?`), siteID).Scan(&doc, &at, &by)
	if errors.Is(err, sql.ErrNoRows) {
		return amigo.ControlPolicy{SiteID: siteID, KeepPowerWindows: []amigo.TimeWindow{}, KeepPowerWeekdays: []string{}, KeepPowerDates: []string{}, Reconnect: amigo.ReconnectAllowClose}, nil
	}
	if err != nil {
		return amigo.ControlPolicy{}, internal("get control policy", err)
	}
	var p amigo.ControlPolicy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return p, internal("get control policy", err)
	}
	p.SiteID, p.UpdatedAt, p.UpdatedBy = siteID, fromUnix(at), by
	if p.Reconnect == "" {
		p.Reconnect = amigo.ReconnectAllowClose
	}
	return p, nil
}

// PutControlPolicy sets a site's policy.
func (s *DB) PutControlPolicy(ctx context.Context, p amigo.ControlPolicy) error {
	if err := p.Check(); err != nil {
		return err
	}
	if _, err := s.GetSite(ctx, p.SiteID); err != nil {
		return err
	}
	site, at, by := p.SiteID, p.UpdatedAt, p.UpdatedBy
	p.SiteID, p.UpdatedAt, p.UpdatedBy = 0, time.Time{}, ""
	doc, err := json.Marshal(p)
	if err != nil {
		return internal("put control policy", err)
	}
	_, err = s.x.ExecContext(ctx, s.q(`INSERT INTO control_policies (site_id, policy, updated_at, updated_by) VALUES (?, ?, ?, ?)
		ON CONFLICT (site_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at, updated_by = excluded.updated_by`), site, string(doc), unix(at), by)
	return internal("put control policy", err)
}
