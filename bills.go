package amigo

import (
	"context"
	"time"
)

// Bill kinds.
const (
	BillKindBill   = "bill"        // a postpaid bill, or the reissue of a corrected one
	BillKindCredit = "credit_note" // cancels an issued bill in full (negative lines)
)

// Bill states.
const (
	BillIssued = "issued" // final: never changed again (a correction is a credit note plus a reissue)
	BillHeld   = "held"   // held for review: a boundary reading is missing or estimated; not charged
)

// BillLine is one line of a bill, rounded half-up to the fen on its own;
// the bill's total is the sum of its lines.
type BillLine struct {
	Kind       string  `json:"kind"` // energy, tier, standing (tariff.Kind*)
	Name       string  `json:"name"`
	Season     string  `json:"season,omitempty"`
	KWh        *Energy `json:"kwh,omitempty"`
	Price      string  `json:"price,omitempty"`     // yuan per kWh, four decimals
	PerMonth   string  `json:"per_month,omitempty"` // yuan, standing lines
	ShareDays  int     `json:"share_days,omitempty"`
	ShareOf    int     `json:"share_of,omitempty"`
	AmountFen  Fen     `json:"amount_fen"`
	FromTotals bool    `json:"from_totals,omitempty"`
	Note       string  `json:"note,omitempty"`
	Tariff     string  `json:"tariff,omitempty"` // the version that priced it: "zj-residential@2026-01-01"
	From       string  `json:"from,omitempty"`   // the site-local days the line's usage covers, YYYY-MM-DD
	To         string  `json:"to,omitempty"`     // inclusive
}

// BillFlag says why a bill is held, or something the reader must know
// (billed from totals), in English and Chinese.
type BillFlag struct {
	Code    string    `json:"code"` // missing_reading, estimated_reading, reversed, from_totals, no_tariff
	Message string    `json:"message"`
	MeterID int64     `json:"meter_id,omitempty"`
	Time    time.Time `json:"time,omitzero"`
}

// Bill is a postpaid bill, or a credit note, of one account and cycle.
// (AccountID, Cycle, Kind, Revision) is unique: a billing run run again
// never issues a second bill.
type Bill struct {
	ID            int64      `json:"id"`
	Number        string     `json:"number"`
	Kind          string     `json:"kind"`
	Status        string     `json:"status"`
	AccountID     int64      `json:"account_id"`
	AccountNumber string     `json:"account_number"`
	CustomerName  string     `json:"customer_name,omitempty"`
	SiteID        int64      `json:"site_id"`
	Cycle         string     `json:"cycle"` // YYYY-MM
	Revision      int        `json:"revision"`
	PeriodStart   time.Time  `json:"period_start"`
	PeriodEnd     time.Time  `json:"period_end"` // exclusive
	KWh           Energy     `json:"kwh"`
	Lines         []BillLine `json:"lines"`
	TotalFen      Fen        `json:"total_fen"`
	DueDate       string     `json:"due_date"` // YYYY-MM-DD, site-local
	Flags         []BillFlag `json:"flags,omitempty"`
	FromTotals    bool       `json:"from_totals,omitempty"`
	Tariffs       []string   `json:"tariffs"`            // versions used
	Corrects      int64      `json:"corrects,omitempty"` // credit note: the bill it cancels; reissue: the bill it replaces
	Reason        string     `json:"reason,omitempty"`   // of a correction
	RunID         int64      `json:"run_id,omitempty"`
	IssuedAt      time.Time  `json:"issued_at"`
	CreatedBy     string     `json:"created_by"`
}

// BillFilter selects bills, newest first.
type BillFilter struct {
	AccountID     int64
	SiteID        int64
	Cycle         string
	Status        string
	Limit, Offset int
}

// Billing run states.
const (
	RunRunning = "running"
	RunDone    = "done"
)

// BillingRun is one run of a site's cycle: its cursor (the last account
// id whose bill was written) is durable, so a killed run resumes there.
type BillingRun struct {
	ID         int64     `json:"id"`
	SiteID     int64     `json:"site_id"`
	Cycle      string    `json:"cycle"`
	Status     string    `json:"status"`
	Total      int       `json:"total"` // accounts to bill
	Done       int       `json:"done"`  // accounts past the cursor
	Issued     int       `json:"issued"`
	Held       int       `json:"held"`
	Skipped    int       `json:"skipped"` // billed before (by an earlier run)
	NotDue     int       `json:"not_due"` // cycle not ended yet (a later billing day): left for a later run
	TotalFen   Fen       `json:"total_fen"`
	Cursor     int64     `json:"cursor"`
	StartedBy  string    `json:"started_by"`
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// BillStore keeps bills and billing runs.
//
// Errors: ENOTFOUND for an id that is not there, ECONFLICT for a bill
// whose key exists already issued, EINTERNAL otherwise.
type BillStore interface {
	// PutBills writes bills (IDs set on return): a new key is inserted; a
	// key held before is replaced by the new content (held or issued); a
	// key issued before is left as it is and its bill not written
	// (written[i] false). Inside WithTx it joins the transaction.
	PutBills(ctx context.Context, bs []Bill) (written []bool, err error)
	GetBill(ctx context.Context, id int64) (Bill, error)
	// ListBills returns bills of f, newest first, and how many match.
	ListBills(ctx context.Context, f BillFilter) ([]Bill, int, error)
	// BillStates returns the status of each account's bill (kind bill,
	// revision 0) for cycle, keyed by account: what a run skips.
	BillStates(ctx context.Context, cycle string, accountIDs []int64) (map[int64]string, error)

	CreateBillingRun(ctx context.Context, r *BillingRun) error
	GetBillingRun(ctx context.Context, id int64) (BillingRun, error)
	// ListBillingRuns returns the newest runs first, at most limit, of a
	// site when siteID is not 0.
	ListBillingRuns(ctx context.Context, siteID int64, limit int) ([]BillingRun, error)
	// OpenBillingRun returns the unfinished run of a site's cycle, if any
	// (ENOTFOUND otherwise).
	OpenBillingRun(ctx context.Context, siteID int64, cycle string) (BillingRun, error)
	UpdateBillingRun(ctx context.Context, r BillingRun) error
	// AdvanceBillingRun writes a run's progress only if its cursor is
	// still from (ECONFLICT otherwise: another process advanced it), so
	// that two processes working on one run count each batch once.
	AdvanceBillingRun(ctx context.Context, r BillingRun, from int64) error

	// ReadingsAtInstants returns the daily, monthly and manual readings
	// of meters at exactly the given instants, keyed by meter: the
	// boundaries a bill needs, without the days between. Only the
	// forward registers, the reverse total, quality and flags are filled.
	ReadingsAtInstants(ctx context.Context, meterIDs []int64, instants []time.Time) (map[int64][]Reading, error)
	// BillingAccounts returns at most limit postpaid accounts of a site
	// with ids above after, in id order, with their customers' names and
	// meters; CountBillingAccounts how many postpaid accounts it has.
	BillingAccounts(ctx context.Context, siteID, after int64, limit int) ([]BillingAccount, error)
	CountBillingAccounts(ctx context.Context, siteID int64) (int, error)
}

// BillingAccount is a postpaid account as a billing run reads it: the
// account with its meter periods, its customer's name, and the meters of
// those periods (MeterRows[i] is the meter of Account.Meters[i]). Of a
// meter only what a bill uses is filled: id, site, address, protocol,
// phases, CT and PT ratios, direct, rated current, account, installed
// and removed; not its secrets (password, operator, registration
// secret, IMEI), status or wiring (area, collector, port, pn).
type BillingAccount struct {
	Account
	CustomerName string
	MeterRows    []Meter
}
