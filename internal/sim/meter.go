// Package sim is amigo's virtual meter fleet: meters that behave like real
// single- and three-phase DL/T 645-2007 meters (load by customer type, energy
// registers by time-of-use tariff, a clock, daily and monthly freezes, a relay,
// events, prepaid money), faults a test can switch on, and the transports real
// meters use: an RS-485 bus on a serial line (a pty pair or a real port), the
// same bus behind a TCP serial server, and GPRS meters dialing a station.
//
// A meter integrates its registers lazily, when it is asked or at a freeze
// boundary crossed since, so a process holds 100,000 of them.
package sim

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
)

// micro-kWh per register unit of 0.01 kWh.
const microPerCent = 10000

// step is the integration step of the load model: registers integrate on a
// grid of this step in true time, cut at the meter's midnights so that a
// daily freeze holds the registers of exactly 00:00.
const step = 5 * time.Minute

// Faults a test can switch on per meter.
type Faults struct {
	NoAnswer     bool          // the meter never answers
	Delay        time.Duration // it answers this late (real time)
	BadChecksum  bool          // its replies carry a wrong checksum
	WrongAddress bool          // it answers with another address
	Stuck        bool          // its energy registers stop while power flows
	Outage       bool          // no supply: no answer, no consumption
	ClockDrift   time.Duration // its clock gains this much per day (negative: loses)
	NoFreeze     bool          // it refuses its daily frozen data (error answer: no data)
	Theft        int           // percent of the energy that bypasses the registers (0..100), as a tampered meter
}

type dayRec struct {
	at  uint32 // freeze instant, minutes since 2000-01-01 in the meter's zone
	fwd [5]uint32
	rev [5]uint32
}

// Meter is one virtual meter. Its methods are safe for concurrent use.
type Meter struct {
	mu      sync.Mutex
	addr    dlt645.Address
	key     uint64
	seed    uint64
	profile Profile
	phases  uint8
	scale   float32
	auth    dlt645.Auth
	loc     *time.Location

	last          time.Time // true time the registers are integrated to
	clockOff      time.Duration
	fwd, rev      [5]int64 // µkWh; 0 total, 1..4 tariffs
	kw            float64  // net active power at last
	relayOpen     bool
	only1997      bool // answers DL/T 645-1997 reads only
	relayCmd      bool
	keepPower     bool
	priceFen      int64
	moneyMilliFen int64

	powerDowns, coverOpens, trips, closes uint32
	controlFrames                         uint32 // 1CH frames received (tests count commands with it)

	daily    []dayRec // newest last, at most 62
	monthly  []dayRec // settlements, newest last, at most 12
	instants []dayRec // instantaneous freezes (16H 99999999), newest last, at most 3

	faults     Faults
	pendingKWh float64 // a jump (positive) or backwards step (negative) to apply

	// The energy that really flowed (µkWh), whatever the registers show
	// (stuck, theft): what a supply meter upstream measures.
	trueFwd, trueRev int64

	// A supply (transformer) meter: the customers it measures and the
	// share of its energy lost on the way, in basis points of its own
	// energy; seenFwd/seenRev are the customers' true totals already
	// counted.
	feeds            []*Meter
	lossBP           int64
	seenFwd, seenRev int64
	supply           *Meter // a customer's supply meter; set before serving, then read-only
}

// syncSupply brings a customer's supply meter (and through it the customer)
// to now before the customer is used, so that the supply meter integrates
// every customer's energy in time order and freezes at midnight exactly
// what its customers consumed that day. Call it without holding m.mu.
func (m *Meter) syncSupply(now time.Time) {
	if s := m.supply; s != nil {
		s.mu.Lock()
		s.advance(now)
		s.mu.Unlock()
	}
}

// MeterConfig describes a meter to create.
type MeterConfig struct {
	Address  dlt645.Address
	Profile  Profile
	Phases   int     // 1 or 3
	Seed     uint64  // fleet seed; the meter's own randomness derives from it and the address
	StartKWh float64 // forward register at start (0: random by profile)
	Auth     dlt645.Auth
	Location *time.Location // the meter's clock zone; default Asia/Shanghai
	PriceFen int64          // yuan-fen per kWh for the money register; default 60
	MoneyFen int64          // remaining money at start; default 100 yuan
}

// DefaultAuth is the password and operator code virtual meters accept unless
// told otherwise: level 02, password 123456, any operator.
var DefaultAuth = dlt645.Auth{Level: 0x02, Password: 0x123456}

// NewMeter returns a meter whose registers start at now (true time).
func NewMeter(c MeterConfig, now time.Time) *Meter {
	key := uint64(0)
	for _, b := range c.Address {
		key = key<<8 | uint64(b)
	}
	loc := c.Location
	if loc == nil {
		loc = shanghai
	}
	m := &Meter{
		addr: c.Address, key: key, seed: c.Seed, profile: c.Profile, phases: uint8(c.Phases),
		scale: float32(0.5 + unit(c.Seed, key, 1)), auth: c.Auth, loc: loc, last: now,
		priceFen: c.PriceFen, moneyMilliFen: c.MoneyFen * 1000,
	}
	if m.phases != 3 {
		m.phases = 1
	}
	if m.priceFen == 0 {
		m.priceFen = 60
	}
	if c.MoneyFen == 0 {
		m.moneyMilliFen = 100_00 * 1000
	}
	start := c.StartKWh
	if start == 0 {
		start = math.Floor(100 + 5000*unit(c.Seed, key, 2))
		if m.profile == Factory {
			start *= 40
		}
	}
	total := int64(start * 1e6)
	// Spread the starting register over the tariffs in fixed shares.
	shares := [5]int64{0, 10, 30, 35, 25}
	var sum int64
	for i := 1; i <= 4; i++ {
		m.fwd[i] = total * shares[i] / 100
		sum += m.fwd[i]
	}
	m.fwd[4] += total - sum
	m.fwd[0] = total
	if m.profile == PV {
		m.rev[0] = total / 5
		m.rev[3] = m.rev[0]
	}
	m.kw = m.powerAt(now)
	return m
}

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return l
}()

// Address returns the meter's communication address.
func (m *Meter) Address() dlt645.Address { return m.addr }

// SetFaults replaces the meter's faults from true time now on. Switching an
// outage on counts a power-down event.
func (m *Meter) SetFaults(f Faults, now time.Time) {
	m.syncSupply(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now)
	if f.Outage && !m.faults.Outage {
		m.powerDowns++
	}
	m.faults = f
}

// Faults returns the meter's faults.
func (m *Meter) Faults() Faults {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.faults
}

// Jump adds kwh to the energy registers at once (negative: backwards), as a
// faulty meter's register would.
func (m *Meter) Jump(kwh float64) {
	m.mu.Lock()
	m.pendingKWh += kwh
	m.mu.Unlock()
}

// ControlFrames returns how many control (1CH) frames the meter received,
// accepted or refused, since it was made.
func (m *Meter) ControlFrames() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.controlFrames
}

// SpeakOnly1997 makes the meter an old DL/T 645-1997 one: it answers 1997
// reads (01H) and time broadcasts, and refuses 2007 requests.
func (m *Meter) SpeakOnly1997(on bool) {
	m.mu.Lock()
	m.only1997 = on
	m.mu.Unlock()
}

// OpenCover counts a meter-cover-open event.
func (m *Meter) OpenCover() {
	m.mu.Lock()
	m.coverOpens++
	m.mu.Unlock()
}

// RelayOpen reports whether the relay is open (supply off).
func (m *Meter) RelayOpen() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.relayOpen
}

// ForwardTotal returns the forward active total in kWh at true time now.
func (m *Meter) ForwardTotal(now time.Time) dlt645.Decimal {
	m.syncSupply(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now)
	return cents(m.fwd[0])
}

// DailyFrozen returns the n-th last daily freeze (1 = the latest): its
// instant and its forward total.
func (m *Meter) DailyFrozen(now time.Time, n int) (time.Time, dlt645.Decimal, bool) {
	m.syncSupply(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now)
	if n < 1 || n > len(m.daily) {
		return time.Time{}, dlt645.Decimal{}, false
	}
	r := m.daily[len(m.daily)-n]
	return minutesTime(r.at, m.loc), dlt645.Decimal{Mant: int64(r.fwd[0]), Scale: 2}, true
}

func cents(micro int64) dlt645.Decimal { return dlt645.Decimal{Mant: micro / microPerCent, Scale: 2} }

var epoch2000 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func minutesOf(t time.Time) uint32 {
	y, mo, d := t.Date()
	civil := time.Date(y, mo, d, t.Hour(), t.Minute(), 0, 0, time.UTC)
	return uint32(civil.Sub(epoch2000) / time.Minute)
}

func minutesTime(min uint32, loc *time.Location) time.Time {
	c := epoch2000.Add(time.Duration(min) * time.Minute)
	return time.Date(c.Year(), c.Month(), c.Day(), c.Hour(), c.Minute(), 0, 0, loc)
}

// clockAt returns the meter's own clock reading at true time t.
func (m *Meter) clockAt(t time.Time) time.Time {
	off := m.clockOff
	if m.faults.ClockDrift != 0 {
		off += time.Duration(float64(m.faults.ClockDrift) * float64(t.Sub(m.last)) / float64(24*time.Hour))
	}
	return t.Add(off).In(m.loc)
}

// powerAt is the net active power (kW) at true time t, ignoring the relay.
func (m *Meter) powerAt(t time.Time) float64 {
	lt := t.In(m.loc)
	interval := uint64(t.Unix() / 900)
	return loadKW(m.profile, lt, float64(m.scale), unit(m.seed, m.key, interval))
}

// advance integrates the registers from m.last to now in steps, freezing at
// every midnight of the meter's clock it crosses. m.mu must be held.
func (m *Meter) advance(now time.Time) {
	if m.pendingKWh != 0 {
		d := int64(m.pendingKWh * 1e6)
		m.fwd[0] += d
		m.fwd[tariffAt(m.clockAt(m.last).Hour())] += d
		m.pendingKWh = 0
	}
	for m.last.Before(now) {
		local := m.clockAt(m.last)
		next := m.last.Truncate(step).Add(step)
		y, mo, d := local.Date()
		midnight := time.Date(y, mo, d+1, 0, 0, 0, 0, m.loc)
		if cut := m.last.Add(midnight.Sub(local)); cut.Before(next) {
			next = cut
		}
		if next.After(now) {
			next = now
		}
		dt := next.Sub(m.last)
		if m.faults.ClockDrift != 0 {
			m.clockOff += time.Duration(float64(m.faults.ClockDrift) * float64(dt) / float64(24*time.Hour))
		}
		if m.feeds != nil {
			m.integrateFeeds(next, tariffAt(local.Hour()))
		} else {
			m.integrate(dt, tariffAt(local.Hour()))
		}
		m.last = next
		after := m.clockAt(next)
		if after.Day() != local.Day() || after.Month() != local.Month() {
			m.freezeDaily(after)
			if after.Day() == 1 {
				m.freezeMonthly(after)
			}
		}
	}
}

// integrate adds one step of dt of the meter's own load to its registers
// (tariff t). m.mu must be held.
func (m *Meter) integrate(dt time.Duration, t int) {
	kw := 0.0
	if !m.relayOpen && !m.faults.Outage {
		kw = m.powerAt(m.last)
	}
	m.kw = kw
	if kw == 0 {
		return
	}
	e := int64(math.Abs(kw) * dt.Hours() * 1e6)
	reg := e
	if m.faults.Stuck {
		reg = 0
	} else if m.faults.Theft > 0 {
		reg = e - e*int64(m.faults.Theft)/100
	}
	if kw > 0 {
		m.trueFwd += e
		m.fwd[0] += reg
		m.fwd[t] += reg
		m.moneyMilliFen -= reg * m.priceFen / 1000
	} else {
		m.trueRev += e
		m.rev[0] += reg
		m.rev[t] += reg
	}
}

// integrateFeeds is integrate for a supply meter: it brings every customer
// to next and adds what really flowed to them since the last step, grossed
// up by the loss: supply = Σ customers / (1 − loss). Imports and exports are
// counted separately, as the station's line loss compares forward energy.
// m.mu must be held; it takes each customer's lock in turn (customers never
// take a supply meter's lock, so the order is fixed).
func (m *Meter) integrateFeeds(next time.Time, t int) {
	var f, r int64
	for _, c := range m.feeds {
		c.mu.Lock()
		c.advance(next)
		f += c.trueFwd
		r += c.trueRev
		c.mu.Unlock()
	}
	df, dr := f-m.seenFwd, r-m.seenRev
	m.seenFwd, m.seenRev = f, r
	gross := func(e int64) int64 { return e * 10000 / (10000 - m.lossBP) }
	ef, er := gross(df), gross(dr)
	m.kw = float64(ef-er) / 1e6 / max(next.Sub(m.last).Hours(), 1e-9)
	if m.faults.Outage || m.relayOpen {
		return
	}
	m.trueFwd += ef
	m.trueRev += er
	if m.faults.Stuck {
		return
	}
	m.fwd[0] += ef
	m.fwd[t] += ef
	m.rev[0] += er
	m.rev[t] += er
}

// MakeSupply turns m into the supply (transformer) meter of customers: from
// true time now on its registers grow by what really flows to them (stolen
// or unregistered energy included) plus lossPercent of its own energy lost
// on the line, so an area's daily line loss is lossPercent while every
// customer meter registers correctly. lossPercent must be in [0, 50).
func (m *Meter) MakeSupply(customers []*Meter, lossPercent float64, now time.Time) error {
	if lossPercent < 0 || lossPercent >= 50 {
		return fmt.Errorf("sim: supply loss %g%%: want 0 to 50 / 线损率应在 0 到 50 之间", lossPercent)
	}
	for _, c := range customers {
		if c == m {
			return fmt.Errorf("sim: supply meter %s cannot measure itself / 总表不能计量自身", m.addr)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now)
	m.feeds = customers
	m.lossBP = int64(math.Round(lossPercent * 100))
	m.seenFwd, m.seenRev = 0, 0
	for _, c := range customers {
		c.mu.Lock()
		c.supply = m
		c.advance(now)
		m.seenFwd += c.trueFwd
		m.seenRev += c.trueRev
		c.mu.Unlock()
	}
	return nil
}

func (m *Meter) record(at time.Time) dayRec {
	midnight := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, at.Location())
	return m.recordAt(midnight)
}

func (m *Meter) recordAt(at time.Time) dayRec {
	r := dayRec{at: minutesOf(at)}
	for i := range 5 {
		r.fwd[i] = uint32(m.fwd[i] / microPerCent)
		r.rev[i] = uint32(m.rev[i] / microPerCent)
	}
	return r
}

func (m *Meter) freezeDaily(at time.Time) {
	if len(m.daily) == dlt645.DailyFreezeDays {
		copy(m.daily, m.daily[1:])
		m.daily = m.daily[:len(m.daily)-1]
	}
	m.daily = append(m.daily, m.record(at))
}

func (m *Meter) freezeMonthly(at time.Time) {
	if len(m.monthly) == 12 {
		copy(m.monthly, m.monthly[1:])
		m.monthly = m.monthly[:len(m.monthly)-1]
	}
	m.monthly = append(m.monthly, m.record(at))
}

// freezeInstant records the registers now (meter clock at).
func (m *Meter) freezeInstant(at time.Time) {
	if len(m.instants) == 3 {
		copy(m.instants, m.instants[1:])
		m.instants = m.instants[:2]
	}
	m.instants = append(m.instants, m.recordAt(at))
}

// String describes the meter for logs.
func (m *Meter) String() string {
	return fmt.Sprintf("meter %s (%s, %d-phase)", m.addr, m.profile, m.phases)
}
