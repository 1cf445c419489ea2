package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/analysis"
	"github.com/amigo-metering/amigo/tariff"
)

// Correction is what Correct made: the credit note cancelling the bill and
// the bill reissued in its place.
type Correction struct {
	Credit  amigo.Bill `json:"credit_note"`
	Reissue amigo.Bill `json:"reissue"`
}

// MaxReason bounds a correction's reason, in bytes.
const MaxReason = 500

// Correct corrects an issued bill: a credit note for the whole of it and a
// reissue computed again from the readings as they are now (a reading
// edited since, a meter's ratio fixed), priced by the tariff versions that
// were loaded when the bill was first issued — a version loaded later
// never changes it. Both are written with their ledger entries and audit
// entries in one transaction. The bill itself is never changed.
//
// Errors: ENOTFOUND, EINVALID (not an issued bill; no reason; the
// reissue would be held: its flags say why), ECONFLICT (corrected
// already: correct the reissue instead).
func Correct(ctx context.Context, s amigo.Store, id int64, reason, by string, now time.Time) (Correction, error) {
	const op = "correct bill"
	var c Correction
	if reason == "" || len(reason) > MaxReason {
		return c, amigo.Errorf(amigo.EINVALID, op, "reason: required, at most %d bytes / 更正原因必填，最多%d字节", MaxReason, MaxReason)
	}
	orig, err := s.GetBill(ctx, id)
	if err != nil {
		return c, err
	}
	if orig.Kind != amigo.BillKindBill || orig.Status != amigo.BillIssued {
		return c, amigo.Errorf(amigo.EINVALID, op, "bill %s is a %s, %s: only an issued bill can be corrected / 只能更正已出账的账单", orig.Number, orig.Kind, orig.Status)
	}
	same, _, err := s.ListBills(ctx, amigo.BillFilter{AccountID: orig.AccountID, Cycle: orig.Cycle})
	if err != nil {
		return c, err
	}
	rev := 0
	for _, b := range same {
		if b.Kind == amigo.BillKindCredit && b.Corrects == orig.ID {
			return c, amigo.Errorf(amigo.ECONFLICT, op, "bill %s was corrected already by %s: correct the reissue instead / 该账单已更正，请更正重开的账单", orig.Number, b.Number)
		}
		rev = max(rev, b.Revision)
	}
	rev++

	site, err := s.GetSite(ctx, orig.SiteID)
	if err != nil {
		return c, err
	}
	set, err := tariffsAsOf(ctx, s, orig.IssuedAt)
	if err != nil {
		return c, err
	}
	as, err := s.BillingAccounts(ctx, orig.SiteID, orig.AccountID-1, 1)
	if err != nil {
		return c, err
	}
	if len(as) != 1 || as[0].ID != orig.AccountID {
		return c, amigo.Errorf(amigo.EINVALID, op, "account %s is no longer a postpaid account of site %d / 该账户已不是后付费账户", orig.AccountNumber, orig.SiteID)
	}
	loc := site.Location()
	acct := AccountOf(as[0], loc)
	cyc, err := CycleOf(orig.Cycle, acct.BillingDay, loc)
	if err != nil {
		return c, err
	}
	p := Params{Loc: loc, Tariffs: set, IssuedAt: now.UTC().Truncate(time.Second), By: by}
	ins, err := Instants(acct, cyc, p)
	if err != nil {
		return c, amigo.Errorf(amigo.EINVALID, op, "the reissue cannot be priced: %s / 无法重新计价", amigo.ErrorMessage(err))
	}
	ids := make([]int64, len(acct.Meters))
	for i, m := range acct.Meters {
		ids[i] = m.ID
	}
	rs, err := s.ReadingsAtInstants(ctx, ids, ins)
	if err != nil {
		return c, err
	}
	segs := make([]analysis.Segment, len(acct.Meters))
	for i, m := range acct.Meters {
		segs[i] = analysis.Segment{Meter: m, Readings: rs[m.ID]}
	}
	re, ok, err := Compute(acct, cyc, segs, p)
	if err != nil {
		return c, err
	}
	if !ok || re.Status != amigo.BillIssued {
		msg := "the account was not in service in the cycle / 账期内账户未在用"
		if len(re.Flags) > 0 {
			msg = re.Flags[0].Message
		}
		return c, amigo.Errorf(amigo.EINVALID, op, "the reissue would be held: %s / 重开账单将被挂起", msg)
	}
	re.Revision, re.Corrects, re.Reason = rev, orig.ID, reason
	re.Number = Number(orig.Cycle, orig.SiteID, orig.AccountNumber, amigo.BillKindBill, rev)

	cn := orig
	cn.ID, cn.Kind, cn.Revision, cn.Corrects, cn.Reason, cn.RunID = 0, amigo.BillKindCredit, rev, orig.ID, reason, 0
	cn.Number = Number(orig.Cycle, orig.SiteID, orig.AccountNumber, amigo.BillKindCredit, rev)
	cn.IssuedAt, cn.CreatedBy, cn.Flags = p.IssuedAt, by, nil
	cn.Lines = make([]amigo.BillLine, len(orig.Lines))
	for i, l := range orig.Lines {
		l.AmountFen = -l.AmountFen
		cn.Lines[i] = l
	}
	cn.TotalFen, cn.KWh = -orig.TotalFen, -orig.KWh

	err = s.WithTx(ctx, func(tx amigo.Store) error {
		bs := []amigo.Bill{cn, re}
		written, err := tx.PutBills(ctx, bs)
		if err != nil {
			return err
		}
		if !written[0] || !written[1] {
			return amigo.Errorf(amigo.ECONFLICT, op, "bill %s is being corrected by someone else / 该账单正在被他人更正", orig.Number)
		}
		cn, re = bs[0], bs[1]
		for _, b := range bs {
			if err := postBill(ctx, tx, b); err != nil {
				return err
			}
		}
		if err := tx.AppendAudit(ctx, amigo.AuditEntry{Time: p.IssuedAt, Actor: by, Action: "bill.credit", Object: "bill " + orig.Number,
			Detail: fmt.Sprintf("credit note %s for %s yuan: %s", cn.Number, orig.TotalFen, reason)}); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, amigo.AuditEntry{Time: p.IssuedAt, Actor: by, Action: "bill.reissue", Object: "bill " + orig.Number,
			Detail: fmt.Sprintf("reissued as %s for %s yuan: %s", re.Number, re.TotalFen, reason)})
	})
	if err != nil {
		return c, err
	}
	return Correction{Credit: cn, Reissue: re}, nil
}

// tariffsAsOf is the tariff versions that were loaded at t.
func tariffsAsOf(ctx context.Context, s amigo.TariffStore, t time.Time) (*tariff.Set, error) {
	vs, err := s.ListTariffs(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("tariffs: %w", err)
	}
	var set tariff.Set
	for _, v := range vs {
		if v.CreatedAt.After(t) {
			continue
		}
		tf, err := tariff.Parse(v.Document)
		if err != nil {
			return nil, fmt.Errorf("tariff %s@%s: %w", v.Name, v.ValidFrom, err)
		}
		if err := set.Add(tf); err != nil {
			return nil, err
		}
	}
	return &set, nil
}
