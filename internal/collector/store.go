package collector

import (
	"context"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
)

// Kinds of stored readings.
const (
	KindRealtime = "realtime" // current registers, every poll
	KindDaily    = "daily"    // a meter's daily freeze; T is 00:00 of the day it ends (the label day D is T minus one day)
	KindMonthly  = "monthly"  // a meter's settlement; T is 00:00 of the 1st
)

// Absent marks a register the meter did not give (e.g. the tariffs of a
// DL/T 645-1997 reverse total); it travels as "no data" (EE).
const Absent int64 = -1

// Reading is one stored reading of one measuring point.
type Reading struct {
	ID     int64
	Pn     uint16
	Kind   string
	T      time.Time // the instant the values belong to (UTC in the store)
	ReadAt time.Time // when the collector read them
	Fwd    [5]int64  // forward active total and tariffs 1..4, in 0.01 kWh (Absent: not given)
	Rev    [5]int64  // reverse active
	HasRev bool
	F25    []byte // AFN 0C F25 data for realtime readings, when read
	// FromCurrent marks a daily value taken from the current registers
	// because the meter refused (or has no) daily freeze; ReadAt is then the
	// instant the registers were read, not the freeze instant.
	FromCurrent bool
	Delivered   bool
}

// MeterEntry is one meter of the collector's archive.
type MeterEntry struct {
	Pn       uint16
	Port     uint8
	Address  dlt645.Address
	Protocol uint8 // q1376.ProtoDLT645_2007 or q1376.ProtoDLT645_1997
	Baud     int
	Auth     dlt645.Auth
}

// Retention says how long readings are kept.
type Retention struct {
	Realtime time.Duration // default 7 days
	Daily    time.Duration // default 62 days (at least 31)
	Monthly  time.Duration // default 400 days (at least 12 months)
}

// Event is one record of the collector's event log (ERC, AFN 0E).
type Event struct {
	Class uint8  // 1: important (AFN 0E F1), 2: normal (F2)
	Seq   uint64 // per class, from 0; the 1376.1 pointer is Seq mod 256
	ERC   uint8
	Data  []byte // the record's data after ERC and Le
	At    time.Time
}

// EventsKept is how many records of each class the log keeps (the 1376.1
// pointers address a ring of 256).
const EventsKept = 256

// Loss is undelivered data the store dropped to stay within its cap.
type Loss struct {
	Kind     string
	Count    int
	From, To time.Time // the instants of the oldest and newest dropped
}

// Store is what the collector keeps durably. A method returns only after
// its change is on disk. Implementations: internal/collector/colsqlite.
type Store interface {
	// Put stores r unless a reading of the same point, kind and instant is
	// stored already (the first one read wins). It reports whether r was
	// new.
	Put(ctx context.Context, r Reading) (bool, error)
	// Commit stores one poll cycle's readings and the facts noted in it in
	// one transaction (one fsync), each reading as Put does; it reports which
	// readings were new, in order. On error nothing of it is stored.
	Commit(ctx context.Context, rs []Reading, state map[string]string) ([]bool, error)
	// Has reports whether a reading exists.
	Has(ctx context.Context, pn uint16, kind string, t time.Time) (bool, error)
	// Latest returns the newest reading of a kind for a point.
	Latest(ctx context.Context, pn uint16, kind string) (Reading, bool, error)
	// At returns the reading of a kind for a point at instant t.
	At(ctx context.Context, pn uint16, kind string, t time.Time) (Reading, bool, error)
	// List returns the readings of a kind, oldest first (all points when pn
	// is 0).
	List(ctx context.Context, pn uint16, kind string) ([]Reading, error)
	// MarkDelivered marks readings delivered: the station confirmed them.
	MarkDelivered(ctx context.Context, ids []int64) error
	// Undelivered counts readings of a kind not yet confirmed.
	Undelivered(ctx context.Context, kind string) (int, error)
	// Prune deletes readings older than the retention, delivered or not.
	Prune(ctx context.Context, now time.Time, r Retention) error
	// Trim keeps at most maxRows readings: delivered ones go first (oldest
	// first), then undelivered real-time, monthly and daily data, oldest
	// first within each kind. It returns the undelivered data it dropped.
	Trim(ctx context.Context, maxRows int) ([]Loss, error)

	// SaveArchive replaces the meter archive (pushed by the station);
	// LoadArchive returns it, and whether the station ever pushed one.
	SaveArchive(ctx context.Context, ms []MeterEntry) error
	LoadArchive(ctx context.Context) ([]MeterEntry, bool, error)

	// SetState and GetState keep small facts ("" when not set).
	SetState(ctx context.Context, k, v string) error
	GetState(ctx context.Context, k string) (string, error)

	// AppendEvent adds a record to the class's log, keeping the newest
	// EventsKept, and returns it with its sequence number.
	AppendEvent(ctx context.Context, class, erc uint8, data []byte, at time.Time) (Event, error)
	// Events returns up to limit records of a class from sequence number
	// from on, oldest first.
	Events(ctx context.Context, class uint8, from uint64, limit int) ([]Event, error)
	// EventCount returns how many records the class's log ever had (the next
	// sequence number).
	EventCount(ctx context.Context, class uint8) (uint64, error)

	Close() error
}
