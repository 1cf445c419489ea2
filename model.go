package amigo

import (
	"sync"
	"time"
)

// Site is a residential compound, a factory, a campus...
type Site struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	TimeZone  string    `json:"time_zone"`           // IANA name; default Asia/Shanghai
	RetiredAt time.Time `json:"retired_at,omitzero"` // zero: in service
}

// DefaultTimeZone is the zone of a site that names none.
const DefaultTimeZone = "Asia/Shanghai"

// Location returns the site's time zone.
func (s Site) Location() *time.Location {
	tz := s.TimeZone
	if tz == "" {
		tz = DefaultTimeZone
	}
	loc, err := LoadZone(tz)
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}

// zones caches the time zones loaded: time.LoadLocation reads and parses
// the zone file on every call, and the station asks for a site's zone on
// every scheduler pass (it was most of an idle station's CPU). A Location
// is immutable, so one is shared by all.
var zones sync.Map // name -> *time.Location

// LoadZone is time.LoadLocation, each zone read once.
func LoadZone(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}

// Day returns 00:00 of t's calendar day in loc.
func Day(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

// Area is a transformer area (台区) or a building: the unit of line loss.
type Area struct {
	ID            int64     `json:"id"`
	SiteID        int64     `json:"site_id"`
	Name          string    `json:"name"`
	SupplyMeterID int64     `json:"supply_meter_id,omitempty"` // 0: none
	LossLow       float64   `json:"loss_low_percent"`          // band outside which line loss is flagged
	LossHigh      float64   `json:"loss_high_percent"`
	RetiredAt     time.Time `json:"retired_at,omitzero"` // zero: in service
}

// Status of a collector or meter.
const (
	StatusUnknown = "unknown"
	StatusOnline  = "online"
	StatusOffline = "offline"
	StatusFaulty  = "faulty"
)

// Collector is a concentrator (采集器) the station talks Q/GDW 1376.1 to.
type Collector struct {
	ID       int64     `json:"id"`
	SiteID   int64     `json:"site_id"`
	Name     string    `json:"name"`
	Address  string    `json:"address"` // terminal address A1-A2, e.g. "0171-2082"
	PlainTCP bool      `json:"plain_tcp"`
	Status   string    `json:"status"`
	Since    time.Time `json:"since"`
	Reason   string    `json:"reason,omitempty"`
	LastSeen time.Time `json:"last_seen"`
	// RegSecret is the registration secret of a collector on a GPRS or
	// plain-TCP link ("" when it authenticates by certificate only).
	RegSecret string    `json:"-"`
	RetiredAt time.Time `json:"retired_at,omitzero"` // zero: in service
	// ArchiveRev counts the changes to the meters behind the collector,
	// whoever made them (the store counts them): a station keeps the
	// meters it listed while it stays.
	ArchiveRev int64 `json:"-"`
}

// Relay states.
const (
	RelayClosed  = "closed"
	RelayOpen    = "open"
	RelayUnknown = "unknown"
)

// Meter is an electricity meter at a service point.
type Meter struct {
	ID          int64     `json:"id"`
	SiteID      int64     `json:"site_id"`
	Address     string    `json:"address"`  // 12 digits
	Protocol    string    `json:"protocol"` // "dlt645-2007" or "dlt645-1997"
	Phases      int       `json:"phases"`
	CTRatio     int       `json:"ct_ratio"`
	PTRatio     int       `json:"pt_ratio"`
	AreaID      int64     `json:"area_id,omitempty"`
	CollectorID int64     `json:"collector_id,omitempty"` // 0 for direct GPRS meters
	Port        int       `json:"port,omitempty"`
	Pn          int       `json:"pn,omitempty"`
	Direct      bool      `json:"direct"` // a GPRS meter dialing the station itself
	Password    string    `json:"-"`      // DL/T 645 level+password, 8 hex digits; never logged or shown
	Operator    string    `json:"-"`
	RatedAmps   int       `json:"rated_amps"` // Imax, for jump validation
	AccountID   int64     `json:"account_id,omitempty"`
	InstalledAt time.Time `json:"installed_at"`
	RemovedAt   time.Time `json:"removed_at,omitzero"`
	Status      string    `json:"status"`
	Since       time.Time `json:"since"`
	Reason      string    `json:"reason,omitempty"`
	Relay       string    `json:"relay"`
	// IMEI is the GPRS modem's identity (direct meters); RegSecret the
	// per-meter registration secret its DTU sends. Never shown.
	IMEI      string `json:"imei,omitempty"`
	RegSecret string `json:"-"`
}

// Customer and Account: who pays for a service point.
type Customer struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Phone    string `json:"phone,omitempty"`
	IDNumber string `json:"id_number,omitempty"` // 身份证号, optional
}

// Account is a customer's account (money.go); its meters change over time
// (a meter swap keeps the account's consumption continuous).
type Account struct {
	ID         int64  `json:"id"`
	Number     string `json:"number"` // unique, what the customer quotes
	CustomerID int64  `json:"customer_id"`
	SiteID     int64  `json:"site_id"`
	Mode       string `json:"mode"`   // ModePrepaid or ModePostpaid
	Tariff     string `json:"tariff"` // a tariff name (its version in force each day applies)
	BillingDay int    `json:"billing_day"`
	// LowBalanceFen: below it the customer is warned (prepaid).
	LowBalanceFen Fen `json:"low_balance_fen"`
	// CreditLimitFen: at or below it the supply is tripped (prepaid; 0 or
	// negative for an allowed overdraft).
	CreditLimitFen Fen  `json:"credit_limit_fen"`
	KeepPower      bool `json:"keep_power"` // 保电: never tripped automatically
	// BalanceFen is the sum of the account's ledger entries (the store
	// keeps it with each entry; nothing else writes it).
	BalanceFen Fen            `json:"balance_fen"`
	Control    string         `json:"control"` // ControlNone, ControlWarned, ControlTripped
	ControlAt  time.Time      `json:"control_at,omitzero"`
	CreatedAt  time.Time      `json:"created_at"`
	Meters     []AccountMeter `json:"meters"`
}

// Reading kinds.
const (
	KindRealtime = "realtime"
	KindDaily    = "daily" // Time is 00:00 (site zone) ending the day the values close
	KindMonthly  = "monthly"
	KindOnDemand = "ondemand"
	KindManual   = "manual"
)

// Qualities.
const (
	QualityActual    = "actual"
	QualityEstimated = "estimated"
	QualityEdited    = "edited"
	// QualityFromCurrent: a daily value taken from the meter's current
	// registers because it gave no daily freeze (its collector says so).
	QualityFromCurrent = "from-current"
)

// Reading flags set by validation.
const (
	FlagReversed = 1 << iota // lower than the previous reading
	FlagJump                 // more than the meter's rating allows
	FlagStopped              // no advance while power flows
	FlagClockOff             // the meter's clock is off by more than 5 minutes
)

// Reading is one set of a meter's registers at an instant.
type Reading struct {
	MeterID    int64     `json:"meter_id"`
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"`
	Forward    [5]Energy `json:"-"` // total, tariffs 1..4
	HasForward bool      `json:"-"`
	Reverse    [5]Energy `json:"-"`
	HasReverse bool      `json:"-"`
	PowerW     *int64    `json:"power_w,omitempty"`    // total active power, W
	VoltageDV  *int64    `json:"voltage_dv,omitempty"` // phase A voltage, 0.1 V
	Quality    string    `json:"quality"`
	EditedBy   string    `json:"edited_by,omitempty"`
	EditReason string    `json:"edit_reason,omitempty"`
	Flags      int       `json:"flags"`
	Source     string    `json:"source"`
	ReceivedAt time.Time `json:"received_at"`
}

// Same reports whether two readings of the same key carry the same values.
func (r Reading) Same(o Reading) bool {
	return r.Forward == o.Forward && r.HasForward == o.HasForward && r.Reverse == o.Reverse && r.HasReverse == o.HasReverse
}

// WriteResult counts what a batch write did.
type WriteResult struct {
	Inserted   int
	Duplicates int // the same values again: stored once
	Conflicts  int // different values for an existing key: kept as events
}

// Event kinds.
const (
	EventReversed      = "reading.reversed"
	EventRechecked     = "reading.rechecked" // a stored reading's flags changed by a late neighbour
	EventJump          = "reading.jump"
	EventStopped       = "reading.stopped"
	EventClockOff      = "meter.clock_off"
	EventMissingDay    = "reading.missing_day"
	EventConflict      = "reading.conflict"
	EventCollectorDown = "collector.offline"
	EventCollectorUp   = "collector.online"
	EventUnknownTerm   = "terminal.unknown"
	EventDuplicateReg  = "gprs.duplicate_registration"
	EventLineLoss      = "lineloss.out_of_band"
	EventCommandFailed = "command.failed"
	// EventControlRetried: the wallet asked again for a trip or reconnect
	// whose command failed or expired.
	EventControlRetried = "account.control_retried"
	EventMeterNoAnswer  = "meter.no_answer"
	// Reported by collectors (their ERC event log).
	EventMeterCoverOpen     = "meter.cover_open"
	EventMeterPowerDown     = "meter.power_down"
	EventMeterRelayChanged  = "meter.relay_changed"
	EventCollectorPowerDown = "collector.power_down"      // with the time it came back
	EventCollectorDataLost  = "collector.data_lost"       // its store dropped undelivered data at its cap
	EventCommandRefused     = "collector.command_refused" // it refused a command it could not authenticate (ERC 20)
)

// Event is something the station noticed.
type Event struct {
	ID          int64     `json:"id"`
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"`
	Severity    string    `json:"severity"` // info, warning, alarm
	SiteID      int64     `json:"site_id,omitempty"`
	AreaID      int64     `json:"area_id,omitempty"`
	CollectorID int64     `json:"collector_id,omitempty"`
	MeterID     int64     `json:"meter_id,omitempty"`
	Message     string    `json:"message"`
	Detail      string    `json:"detail,omitempty"`
}

// Command types and states.
const (
	CmdDisconnect = "disconnect"
	CmdReconnect  = "reconnect"
	CmdRead       = "read"
	CmdTimeSync   = "time-sync"
	CmdAlarm      = "alarm"     // 645 1CH 2AH: the meter warns (low balance)
	CmdAlarmOff   = "alarm-off" // 2BH
	CmdClose      = "close"     // 1CH: closed directly (a reconnect by site policy)

	CmdPending   = "pending"
	CmdSent      = "sent"
	CmdSucceeded = "succeeded"
	CmdFailed    = "failed"
	CmdExpired   = "expired"
)

// Command is a durable request to a meter.
type Command struct {
	ID            int64     `json:"id"`
	MeterID       int64     `json:"meter_id"`
	Type          string    `json:"type"`
	Status        string    `json:"status"`
	Reason        string    `json:"reason,omitempty"`
	Result        string    `json:"result,omitempty"`
	RequestedBy   string    `json:"requested_by"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// User roles.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleCashier  = "cashier"
	RoleViewer   = "viewer"
	RoleCustomer = "customer"
)

// User is a person who logs in.
type User struct {
	ID           int64  `json:"id"`
	Username     string `json:"username"`
	PasswordHash string `json:"-"`
	Role         string `json:"role"`
	CustomerID   int64  `json:"customer_id,omitempty"`
	// RetiredAt ends the user's tokens at once; TokenGen is raised by
	// logout, password change and retirement, and a token is valid only for
	// the generation it was issued under.
	RetiredAt time.Time `json:"retired_at,omitzero"`
	TokenGen  int64     `json:"-"`
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Object string    `json:"object"`
	Detail string    `json:"detail,omitempty"`
}
