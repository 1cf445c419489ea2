package amigo

import (
	"context"
	"time"
)

// MeterFilter selects meters. Removed (retired) meters are left out unless
// IncludeRetired: the scheduler never polls them, history still has them.
type MeterFilter struct {
	SiteID, AreaID, CollectorID int64
	Status                      string
	IncludeRetired              bool
	// DirectOnly keeps the direct (GPRS) meters only.
	DirectOnly bool
	// NoTotal skips counting the matching meters (a second query): the
	// total returned is then -1. For callers that page through no list.
	NoTotal bool
	// AfterID keeps the meters whose id is above it: a listing in id order
	// paged by the last id seen, each page one seek instead of the OFFSET
	// rows skipped again.
	AfterID       int64
	Limit, Offset int
}

// ArchiveFilter selects sites, areas, collectors or users for a listing:
// those in service (RetiredAt zero) unless IncludeRetired; SiteID 0 is every
// site (ignored for sites and users).
type ArchiveFilter struct {
	SiteID         int64
	IncludeRetired bool
}

// EventFilter selects events, newest first.
type EventFilter struct {
	Kind          string
	MeterID       int64
	CollectorID   int64
	Since         time.Time
	Limit, Offset int
}

// SiteStore keeps sites and areas. ListSites and ListAreas return those in
// service.
type SiteStore interface {
	CreateSite(ctx context.Context, s *Site) error
	GetSite(ctx context.Context, id int64) (Site, error)
	ListSites(ctx context.Context) ([]Site, error)
	CreateArea(ctx context.Context, a *Area) error
	ListAreas(ctx context.Context, siteID int64) ([]Area, error)
}

// CollectorStore keeps collectors. ListCollectors returns those in service;
// FindCollectorByAddress finds a retired one too (check RetiredAt).
type CollectorStore interface {
	CreateCollector(ctx context.Context, c *Collector) error
	FindCollectorByAddress(ctx context.Context, address string) (Collector, error)
	GetCollector(ctx context.Context, id int64) (Collector, error)
	ListCollectors(ctx context.Context, siteID int64) ([]Collector, error)
	SetCollectorStatus(ctx context.Context, id int64, status, reason string, at time.Time) error
}

// MeterStore keeps meters.
type MeterStore interface {
	CreateMeter(ctx context.Context, m *Meter) error
	UpdateMeter(ctx context.Context, m *Meter) error
	FindMeterByAddress(ctx context.Context, address string) (Meter, error)
	GetMeter(ctx context.Context, id int64) (Meter, error)
	ListMeters(ctx context.Context, f MeterFilter) ([]Meter, int, error)
	SetMeterStatus(ctx context.Context, id int64, status, reason string, at time.Time) error
	// SetMetersStatus is SetMeterStatus for many meters in one
	// transaction (a first pass over a collector's meters is one
	// transaction, not one per meter).
	SetMetersStatus(ctx context.Context, ids []int64, status, reason string, at time.Time) error
	SetMeterRelay(ctx context.Context, id int64, relay string) error
}

// ReadingStore keeps readings.
type ReadingStore interface {
	// WriteReadings stores a batch in one transaction, idempotently: the
	// same meter, instant and kind again is stored once; different values
	// for an existing key are not overwritten but recorded as conflict
	// events.
	WriteReadings(ctx context.Context, rs []Reading) (WriteResult, error)
	ListReadings(ctx context.Context, meterID int64, kind string, from, to time.Time) ([]Reading, error)
	LastReading(ctx context.Context, meterID int64, kind string) (Reading, error)
	// ReadingTimes returns the instants stored for meters of a kind in
	// [from, to), keyed by meter: what the scheduler needs to find gaps.
	ReadingTimes(ctx context.Context, meterIDs []int64, kind string, from, to time.Time) (map[int64][]time.Time, error)
	// ReadingsAround returns a meter's readings of kind in [from, to] plus
	// its neighbours: the last one before from and the first one after to,
	// oldest first (one query: what validation of a batch needs).
	ReadingsAround(ctx context.Context, meterID int64, kind string, from, to time.Time) ([]Reading, error)
	// LatestReadings returns the newest stored reading of kind of each of
	// meterIDs, keyed by meter; a meter with none is absent (one index seek
	// per meter: what warms validation's memory for a collector's pass).
	LatestReadings(ctx context.Context, meterIDs []int64, kind string) (map[int64]Reading, error)
	// ReadingsOfMeters returns the readings of meters whose kind is one of
	// kinds in [from, to), keyed by meter, oldest first.
	ReadingsOfMeters(ctx context.Context, meterIDs []int64, kinds []string, from, to time.Time) (map[int64][]Reading, error)
	// UpdateReadingFlags clears the bits clear, then sets the bits set, on
	// a meter's readings of kind ("" for every kind) in [from, to), and
	// returns how many readings it changed. Values are never changed.
	UpdateReadingFlags(ctx context.Context, meterID int64, kind string, from, to time.Time, set, clear int) (int, error)
}

// EventStore keeps events.
type EventStore interface {
	AppendEvents(ctx context.Context, es ...Event) error
	ListEvents(ctx context.Context, f EventFilter) ([]Event, int, error)
}

// CommandStore keeps commands durably.
type CommandStore interface {
	CreateCommand(ctx context.Context, c *Command) error
	GetCommand(ctx context.Context, id int64) (Command, error)
	UpdateCommand(ctx context.Context, c Command) error
	// DueCommands returns pending and sent commands whose next attempt is
	// due at now, oldest first.
	DueCommands(ctx context.Context, now time.Time, limit int) ([]Command, error)
}

// UserStore keeps users and customers.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error
	FindUserByUsername(ctx context.Context, username string) (User, error)
	CreateCustomer(ctx context.Context, c *Customer) error
	// CreateAccount adds an account with its meters (a.Meters), in one
	// transaction; its balance starts at 0 (an opening balance is a
	// ledger entry). EINVALID for a bad field, ECONFLICT for a number
	// taken.
	CreateAccount(ctx context.Context, a *Account) error
}

// MoneyStore keeps customers' accounts, the ledger, payments, notices and
// the sites' control policies (money.go).
type MoneyStore interface {
	GetCustomer(ctx context.Context, id int64) (Customer, error)
	// ListCustomers returns customers in id order (limit 0: all) and the total.
	ListCustomers(ctx context.Context, limit, offset int) ([]Customer, int, error)
	UpdateCustomer(ctx context.Context, c Customer) error

	// GetAccount returns an account with its meters (ENOTFOUND).
	GetAccount(ctx context.Context, id int64) (Account, error)
	FindAccountByNumber(ctx context.Context, number string) (Account, error)
	// ListAccounts returns accounts with their meters, in id order, and
	// how many match.
	ListAccounts(ctx context.Context, f AccountFilter) ([]Account, int, error)
	// UpdateAccount changes an account's settings: number, customer,
	// site, mode, tariff, billing day, thresholds, keep-power (never its
	// balance nor control state).
	UpdateAccount(ctx context.Context, a Account) error
	// AddAccountMeter starts an account's period on a meter (and sets
	// the meter's account); EINVALID when it overlaps a period of the
	// same meter.
	AddAccountMeter(ctx context.Context, m AccountMeter) error
	// EndAccountMeter ends the account's open period on the meter at at
	// (a move-out, a swap); ENOTFOUND when none is open.
	EndAccountMeter(ctx context.Context, accountID, meterID int64, at time.Time) error
	// SetAccountControl records what the automatic control did last.
	SetAccountControl(ctx context.Context, id int64, state string, at time.Time) error

	// Credit records a payment, its ledger entry (kind payment), the new
	// balance and an audit entry in one transaction, idempotent by
	// p.Reference: see money.go. It fills p (ID, Receipt, LedgerID).
	Credit(ctx context.Context, p *Payment) (entry LedgerEntry, duplicate bool, err error)
	// PostLedger appends e (Kind, AccountID, AmountFen, Reference, By,
	// Time, Detail), the new balance and an audit entry in one
	// transaction; a reference seen before for the same account and
	// amount returns the first entry in e and duplicate=true, for
	// another account or amount ECONFLICT. It fills e.ID and
	// e.BalanceFen.
	PostLedger(ctx context.Context, e *LedgerEntry) (duplicate bool, err error)
	// PostLedgers posts es as PostLedger posts each, in order, in one
	// transaction (the caller's, or one of its own) with a few
	// statements per 500 entries: a reference seen before (or earlier in
	// es) for the same account and amount is a duplicate (its entry
	// copied into es[i], duplicate[i] true); for another account or
	// amount the whole call fails with ECONFLICT and posts nothing.
	PostLedgers(ctx context.Context, es []LedgerEntry) (duplicate []bool, err error)
	// FindLedger returns the entry of a reference (ENOTFOUND).
	FindLedger(ctx context.Context, reference string) (LedgerEntry, error)
	// ListLedger returns an account's entries newest first (limit 0: all)
	// and their total count.
	ListLedger(ctx context.Context, accountID int64, limit, offset int) ([]LedgerEntry, int, error)
	// LedgerReferences returns the references of an account's entries of
	// kind made at or after since.
	LedgerReferences(ctx context.Context, accountID int64, kind string, since time.Time) ([]string, error)

	GetPayment(ctx context.Context, id int64) (Payment, error)
	FindPayment(ctx context.Context, reference string) (Payment, error)
	ListPayments(ctx context.Context, f PaymentFilter) ([]Payment, int, error)

	AppendNotice(ctx context.Context, n *Notice) error
	// ListNotices returns an account's notices newest first and their count.
	ListNotices(ctx context.Context, accountID int64, limit, offset int) ([]Notice, int, error)

	// GetControlPolicy returns a site's policy (the default, keeping no
	// power and reconnecting by allow-close, when none was set).
	GetControlPolicy(ctx context.Context, siteID int64) (ControlPolicy, error)
	// PutControlPolicy sets a site's policy (EINVALID: see Check).
	PutControlPolicy(ctx context.Context, p ControlPolicy) error
}

// AuditStore is the append-only audit log.
type AuditStore interface {
	AppendAudit(ctx context.Context, e AuditEntry) error
	ListAudit(ctx context.Context, limit int) ([]AuditEntry, error)
}

// StateStore keeps the station's durable working state: what was already
// reported (so that a restart raises nothing twice) and where incremental
// fetches stopped. Keys are namespaced by their owner, e.g.
// "clockoff/<meter id>" or "erc/<collector id>".
type StateStore interface {
	// GetState returns the value of key; ok is false when it is not set.
	GetState(ctx context.Context, key string) (value string, ok bool, err error)
	// PutState sets key to value.
	PutState(ctx context.Context, key, value string, at time.Time) error
	// PutStateOnce sets key only if it is not set, and reports whether it
	// did: the first caller wins, for "report once" rules.
	PutStateOnce(ctx context.Context, key, value string, at time.Time) (bool, error)
	// DeleteState removes key (no error when it is not set).
	DeleteState(ctx context.Context, key string) error
}

// NodeStore is what several station nodes sharing one store need: leases
// on resources ("collector/<address>", "meter/<address>", "site/<id>"), so
// that one node at a time polls a collector or GPRS meter and judges its
// status, and commands claimed by one node at a time. Lease times are real
// (wall-clock) time, kept in milliseconds; command times are station time.
type NodeStore interface {
	// AcquireLease gives resource to node until now+ttl when it is free,
	// expired, or node's already, and reports whether node holds it.
	AcquireLease(ctx context.Context, resource, node string, ttl time.Duration, now time.Time) (bool, error)
	// AcquireLeases is AcquireLease for many resources in one transaction
	// (a node taking its share of a thousand collectors at once); it
	// returns the resources node holds.
	AcquireLeases(ctx context.Context, resources []string, node string, ttl time.Duration, now time.Time) ([]string, error)
	// GetStates returns the values of those of keys that are set (the
	// scheduler state of the collectors a node just took).
	GetStates(ctx context.Context, keys []string) (map[string]string, error)
	// RenewLeases extends node's live leases to now+ttl and returns the
	// resources it still holds (a lease that expired and was taken by
	// another node is not among them).
	RenewLeases(ctx context.Context, node string, ttl time.Duration, now time.Time) ([]string, error)
	// ReleaseLease gives resource up if node holds it.
	ReleaseLease(ctx context.Context, resource, node string) error
	// ReleaseLeases gives up every lease of node (a clean shutdown).
	ReleaseLeases(ctx context.Context, node string) error
	// Leases returns the live leases at now: resource -> node.
	Leases(ctx context.Context, now time.Time) (map[string]string, error)
	// ClaimCommands claims for node, until realNow+ttl, at most limit
	// pending or sent commands due at now (station time), oldest first,
	// that no other node has claimed, whose meter's line (its collector,
	// or the GPRS meter itself) node leases, or nobody leases, or that
	// expired: each command is claimed by one node at a time (PostgreSQL:
	// SELECT … FOR UPDATE SKIP LOCKED).
	ClaimCommands(ctx context.Context, node string, now, realNow time.Time, ttl time.Duration, limit int) ([]Command, error)
	// ReleaseCommand ends node's claim on command id.
	ReleaseCommand(ctx context.Context, id int64, node string) error
}

// ArchiveStore is the archive (档案) beyond what the engines need: look-ups
// by name, changes, retirement, listings that may include retired rows, and
// transactions spanning many changes. Retired rows stay for history.
//
// Errors: ENOTFOUND for an id or name that is not there, ECONFLICT for a
// unique rule broken (a collector address; an in-service meter address; an
// in-service site name; an in-service area name within its site; a
// username), EINVALID for a row the store cannot keep, EINTERNAL otherwise.
type ArchiveStore interface {
	// WithTx runs fn in one transaction: what fn does through tx is
	// committed when fn returns nil, and none of it when fn returns an
	// error, panics, or ctx ends first. tx.WithTx joins the same
	// transaction; tx.Close does nothing. tx must not be used after fn
	// returns.
	WithTx(ctx context.Context, fn func(tx Store) error) error

	// FindSiteByName returns the in-service site of that name.
	FindSiteByName(ctx context.Context, name string) (Site, error)
	// UpdateSite changes a site's name and time zone.
	UpdateSite(ctx context.Context, s Site) error
	// RetireSite marks a site retired at at (ENOTFOUND, or ECONFLICT when
	// it is retired already).
	RetireSite(ctx context.Context, id int64, at time.Time) error
	ListSitesBy(ctx context.Context, f ArchiveFilter) ([]Site, error)

	GetArea(ctx context.Context, id int64) (Area, error)
	// FindArea returns the in-service area of that name in a site.
	FindArea(ctx context.Context, siteID int64, name string) (Area, error)
	// UpdateArea changes an area's site, name, supply meter and loss band.
	UpdateArea(ctx context.Context, a Area) error
	RetireArea(ctx context.Context, id int64, at time.Time) error
	ListAreasBy(ctx context.Context, f ArchiveFilter) ([]Area, error)

	// UpdateCollector changes a collector's site, name, address, plain-TCP
	// flag and registration secret (not its status).
	UpdateCollector(ctx context.Context, c Collector) error
	RetireCollector(ctx context.Context, id int64, at time.Time) error
	ListCollectorsBy(ctx context.Context, f ArchiveFilter) ([]Collector, error)

	// RetireMeter sets a meter's removed_at (ECONFLICT when removed
	// already): it leaves the working lists.
	RetireMeter(ctx context.Context, id int64, at time.Time) error

	GetUser(ctx context.Context, id int64) (User, error)
	ListUsers(ctx context.Context, f ArchiveFilter) ([]User, error)
	// UpdateUser changes a user's role, password hash and customer; a
	// changed password hash raises the token generation.
	UpdateUser(ctx context.Context, u User) error
	// RetireUser marks a user retired and raises the token generation.
	RetireUser(ctx context.Context, id int64, at time.Time) error
	// RaiseTokenGen ends every token issued to the user so far (logout).
	RaiseTokenGen(ctx context.Context, id int64) error
}

// Store is everything the station keeps. Engines accept the small interface
// they need.
type Store interface {
	SiteStore
	CollectorStore
	MeterStore
	ReadingStore
	EventStore
	CommandStore
	UserStore
	AuditStore
	StateStore
	ArchiveStore
	TariffStore
	MoneyStore
	PaymentStore
	BillStore
	Close() error
}
