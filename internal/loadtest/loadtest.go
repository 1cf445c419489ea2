// Package loadtest is the engine of `amigo bench`: it plays many virtual
// Q/GDW 1376.1 collectors over TLS 1.3 (each with its own certificate) and
// direct GPRS meters against a station it treats as a black box over the
// network, and measures the connection storm, the nightly frozen
// collection, real-time ingest, commands through the API and the reconnect
// storm after a restart. Readings count as committed when the station
// confirms them (AFN 00 F1), which it does only after its commit.
//
// The station itself is started, stopped and told the virtual time by the
// caller (cmd/amigo), through the Station interface.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/q1376"
)

// Addrs are a running station's listeners.
type Addrs struct {
	API  string // http://host:port
	TLS  string // collectors, 1376.1 over TLS 1.3
	GPRS string // direct GPRS meters
	// More are the other stations of a Group, in order (nil: one station).
	More []Addrs
}

// ErrNoClock is returned by Station.SetClock for a station whose clock the
// bench does not drive (an external station on the real clock).
var ErrNoClock = errors.New("loadtest: the station's clock is not driven by the bench")

// ErrKilled is wrapped by Station.Stop when the station did not end in
// time after it was asked to and was killed.
var ErrKilled = errors.New("killed")

// Station is the station under test, seen from outside.
type Station interface {
	// Start starts it (again, on the same store and addresses) on clock
	// segment seg and returns once it listens.
	Start(ctx context.Context, seg Segment) (Addrs, error)
	// SetClock moves its virtual clock onto seg.
	SetClock(seg Segment) error
	// Stop asks it to end and waits; when ctx ends first it kills it and
	// returns an error wrapping ErrKilled.
	Stop(ctx context.Context) error
	// Proc reports its running process, if it is a local one.
	Proc() (ProcStats, bool)
	// CPU is the CPU time of all its processes so far, ended ones included.
	CPU() time.Duration
}

// DefaultRealtimeEvery is Config.RealtimeEvery when unset: the station's
// own default interval.
const DefaultRealtimeEvery = 15 * time.Minute

// The phases of a run, as told to Config.Phase and PhaseProfiler.Phase.
const (
	PhaseSetup    = "setup"    // raw store rate, certificates, archive (load generator only)
	PhaseStart    = "start"    // the station starts
	PhaseStorm    = "storm"    // the connection storm
	PhaseFirst    = "first"    // the first real-time pass over every meter, during the storm
	PhaseIdle     = "idle"     // the clock held still
	PhaseIngest   = "ingest"   // a real-time pass with every collector connected and due at once
	PhaseNightly  = "nightly"  // the nightly frozen collection
	PhaseCommands = "commands" // disconnect commands through the API
	PhaseStop     = "stop"     // the station asked to end before its restart
	PhaseRestart  = "restart"  // the restarted station and the reconnect storm
	PhaseEnd      = "end"      // the load stopped, the station ended, the store counted
)

// PhaseProfiler is a Station that profiles itself phase by phase: Run
// tells it each phase as it begins (before Start too: the phase its
// processes start in), and it keeps each phase's profile apart. A process
// that ends ends its profile.
type PhaseProfiler interface {
	Phase(name string) error
}

// Config is one bench run.
type Config struct {
	Meters     int // in all, GPRS meters included
	Collectors int
	GPRS       int
	// Commands disconnect commands are sent at CommandsPerS.
	Commands     int
	CommandsPerS float64
	Speed        float64 // virtual seconds per real second
	// RealtimeEvery is the station's real-time collection interval
	// (virtual); the ingest phase moves the clock to just past the middle
	// of the next one, so that every collector's slot is due at once.
	// Default 15 min.
	RealtimeEvery time.Duration
	PhaseTimeout  time.Duration // each phase gives up after this long (real)
	RawRows       int           // rows written for the raw store rate; default 100,000
	// StopGrace is how long a restart waits for the station to end after
	// it was asked to, before killing it; default 10 s.
	StopGrace time.Duration

	Station Station
	// OpenStore opens the station's store (nil: no access, an external
	// station without --store). StoreKind is "sqlite" or "postgres";
	// StorePath the SQLite file.
	OpenStore func(ctx context.Context) (amigo.Store, error)
	StoreKind string
	StorePath string
	StoreName string // as reported
	// Scratch opens an empty store of the same kind for the raw write rate
	// and returns its clean-up (nil: not measured).
	Scratch func(ctx context.Context) (amigo.Store, func(), error)
	// Archiver, when set, creates the archive (an external station's API);
	// otherwise the store is written directly.
	Archiver func(token string) Archiver
	External bool // the station's clock is real; it cannot be restarted

	CADir    string // signs the collectors' certificates
	WorkDir  string // certificates are written here
	Username string
	Password string
	Token    string // instead of logging in with Username/Password

	// Phase, when set, is called as each phase begins (the load
	// generator's own per-phase profile); the station is told through
	// PhaseProfiler.
	Phase func(name string)

	Progress io.Writer // a progress line; nil: none
	Live     bool      // Progress is a terminal: redraw one line
	Log      *slog.Logger
}

func (c *Config) validate() error {
	switch {
	case c.Meters < 1 || c.Meters > 1_000_000:
		return fmt.Errorf("--meters %d: want 1..1000000 / 电表数应为1..1000000", c.Meters)
	case c.GPRS < 0 || c.GPRS > c.Meters:
		return fmt.Errorf("--gprs %d: want 0..meters / GPRS电表数应在0与电表总数之间", c.GPRS)
	case c.Collectors < 0 || c.Collectors > 60000:
		return fmt.Errorf("--collectors %d: want 0..60000 / 采集器数应为0..60000", c.Collectors)
	case c.Collectors == 0 && c.GPRS < c.Meters:
		return fmt.Errorf("meters behind collectors need --collectors >= 1 / 需要至少一个采集器")
	case c.Collectors > 0 && c.Meters-c.GPRS < c.Collectors:
		return fmt.Errorf("--collectors %d exceeds the %d meters behind collectors / 采集器多于电表", c.Collectors, c.Meters-c.GPRS)
	case (c.Meters-c.GPRS+c.Collectors-1)/max(c.Collectors, 1) > 2000:
		return fmt.Errorf("more than 2,000 meters per collector: add collectors / 每个采集器最多2000块表")
	case c.CommandsPerS <= 0 || c.CommandsPerS > 10000:
		return fmt.Errorf("--commands-per-s %g: want 0 < R <= 10000 / 命令速率无效", c.CommandsPerS)
	case c.Commands < 0:
		return fmt.Errorf("--commands %d: want >= 0 / 命令数无效", c.Commands)
	case c.Speed <= 0 || c.Speed > 100000:
		return fmt.Errorf("--speed %g: want 0 < X <= 100000 / 倍速无效", c.Speed)
	case c.Station == nil:
		return errors.New("loadtest: no station")
	}
	if c.RawRows <= 0 {
		c.RawRows = 100_000
	}
	if c.RealtimeEvery <= 0 {
		c.RealtimeEvery = DefaultRealtimeEvery
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 10 * time.Second
	}
	if c.PhaseTimeout <= 0 {
		c.PhaseTimeout = 10 * time.Minute
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Terminal addresses of the virtual collectors are benchA1-1, benchA1-2...
const benchA1 = 0x0B01

// The virtual day: the station starts at noon of benchDay; the bench jumps
// to just after the following midnight for the nightly collection.
var benchDay = time.Date(2026, 3, 2, 0, 0, 0, 0, shanghai)

var shanghai = amigo.Site{}.Location()

// The real-time passes a run measures: the first, during the connection
// storm, and the ingest pass, every collector connected.
const (
	passFirst = iota
	passIngest
	rtPasses
)

// passStats is what one real-time pass measured.
type passStats struct {
	firstReq, allAt  atomic.Int64 // real Unix ns: the pass's first request, the commit that completed every meter
	meters, readings atomic.Int64
}

type generator struct {
	cfg             Config
	clock           *Clock
	loc             *time.Location
	addrs           Addrs
	nodes           []Addrs // every station: addrs, then addrs.More
	targetDay       q1376.Day
	collectorMeters int
	cols            []*vcollector
	gprs            []*vgprs

	// rtPass is the real-time pass a request belongs to: passFirst until
	// the ingest phase moves the clock on, then passIngest.
	rtPass atomic.Int32
	stats  struct {
		rt                                 [rtPasses]passStats
		dayAllAt                           atomic.Int64 // real Unix ns
		dayMeters, dailyReadings, archives atomic.Int64
		// logins and resumed: collector logins confirmed, and those of
		// them whose TLS handshake resumed a session from a ticket.
		logins, resumed atomic.Int64
	}

	statusMu   sync.Mutex
	statusWait map[string]chan struct{}

	// dialing bounds the collectors between dial and login (maxDialing).
	dialing chan struct{}
	// sources are the local addresses dialed from (source.go); nil: any.
	sources []*net.TCPAddr
}

// maxDialing is how many virtual collectors may be between their dial and
// their login at once. They share the machine (often with the station):
// nineteen thousand handshakes started at once would each get a sliver of
// CPU and run out their dial timeout together; a real fleet has a CPU per
// collector. Above the station's own handshake cap (fep), so that the
// station always has handshakes to serve.
const maxDialing = 512

func (g *generator) debug(msg string, args ...any) { g.cfg.Log.Debug(msg, args...) }

// meterAddress is the address of the i-th meter behind the collectors.
func (g *generator) meterAddress(i int) dlt645.Address {
	a, _ := sim.AddressN("100000000001", i)
	return a
}

func gprsAddress(k int) dlt645.Address {
	a, _ := sim.AddressN("900000000001", k)
	return a
}

// expectStatus returns a channel closed when a virtual meter answers the
// status word 3 read-back of address.
func (g *generator) expectStatus(address string) <-chan struct{} {
	g.statusMu.Lock()
	defer g.statusMu.Unlock()
	ch := make(chan struct{})
	g.statusWait[address] = ch
	return ch
}

func (g *generator) statusRead(address string) {
	g.statusMu.Lock()
	defer g.statusMu.Unlock()
	if ch, ok := g.statusWait[address]; ok {
		close(ch)
		delete(g.statusWait, address)
	}
}

// stationIndex is the station the i-th collector (or GPRS meter) dials on its
// attempt-th connection: with several, it starts with station i mod N and
// goes on to the next after each session or failed attempt, as a real
// collector goes down its list of station addresses (internal/collector/
// uplink: Config.Stations, tried in turn).
func (g *generator) stationIndex(i, attempt int) int {
	return (i + attempt) % len(g.nodes)
}

// collectorOf returns the collector of the i-th meter behind the
// collectors.
func (g *generator) collectorOf(i int) *vcollector {
	j := sort.Search(len(g.cols), func(j int) bool { return g.cols[j].first+g.cols[j].n > i })
	return g.cols[min(j, len(g.cols)-1)]
}
