package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/serialline"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// Config describes a fleet of virtual meters and how they are reached.
type Config struct {
	Meters       int    // how many meters; default 10
	FirstAddress string // 12 digits; the others follow consecutively; default 000000000001
	Seed         uint64
	Profile      string // home, office, factory, tower, pv, or mixed (default)
	Phases       string // 1, 3 or mixed (default: 3 for factories, else 1)
	Auth         dlt645.Auth
	Location     *time.Location

	Clock vclock.Clock // default: the real clock

	Listen    string // serve the bus as a TCP serial server on this address
	Pty       bool   // serve the bus on a pty pair; PtyPath reports the tty
	Serial    string // serve the bus on a real serial device
	Baud      int
	Parity    string
	GPRS      string        // every meter dials this station address
	Heartbeat time.Duration // GPRS heartbeat (real time)
	GPRSKey   string        // each meter registers with GPRSIdentity(GPRSKey, its address)

	Faults  []string // ADDRESS:KIND[:ARG]
	Control string   // serve the HTTP control endpoint (ControlHandler) on this address

	// Supply "ADDRESS:PERCENT" makes the meter at ADDRESS the supply
	// (transformer) meter of every other meter on the bus, with PERCENT of
	// its energy lost on the line (see Meter.MakeSupply); "" = none.
	Supply string

	// State is a file that keeps the meters' registers across runs: Start
	// restores the meters from it when it exists, and writes it every
	// SaveEvery (real time; default 30 s) and when the fleet stops.
	State     string
	SaveEvery time.Duration

	Log *slog.Logger
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Meters == 0 {
		c.Meters = 10
	}
	if c.Meters < 0 || c.Meters > 10_000_000 {
		return fmt.Errorf("sim: %d meters is out of range", c.Meters)
	}
	if c.FirstAddress == "" {
		c.FirstAddress = "000000000001"
	}
	if _, err := parseDecimalAddress(c.FirstAddress); err != nil {
		return err
	}
	if c.Profile == "" {
		c.Profile = "mixed"
	}
	if c.Profile != "mixed" {
		if _, err := ParseProfile(c.Profile); err != nil {
			return err
		}
	}
	switch c.Phases {
	case "", "mixed", "1", "3":
	default:
		return fmt.Errorf("sim: phases %q: want 1, 3 or mixed", c.Phases)
	}
	if c.Auth == (dlt645.Auth{}) {
		c.Auth = DefaultAuth
	}
	if c.Clock == nil {
		c.Clock = vclock.Real{}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

// parseDecimalAddress reads a 12-digit decimal address as a number so that
// consecutive addresses can be generated.
func parseDecimalAddress(s string) (uint64, error) {
	if len(s) != 12 {
		return 0, fmt.Errorf("sim: address %q: want 12 decimal digits", s)
	}
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("sim: address %q: want 12 decimal digits", s)
		}
		n = n*10 + uint64(c-'0')
	}
	return n, nil
}

// AddressN returns the n-th consecutive address from first (n = 0 is first).
func AddressN(first string, n int) (dlt645.Address, error) {
	v, err := parseDecimalAddress(first)
	if err != nil {
		return dlt645.Address{}, err
	}
	return dlt645.ParseAddress(fmt.Sprintf("%012d", v+uint64(n)))
}

// NewFleet builds the meters of c on one bus (c must be validated).
func NewFleet(c Config) (*Bus, error) {
	now := c.Clock.Now()
	bus := NewBus(c.Clock)
	bus.log = c.Log
	for i := range c.Meters {
		a, err := AddressN(c.FirstAddress, i)
		if err != nil {
			return nil, err
		}
		p := Profile(0)
		if c.Profile == "mixed" {
			p = mixedProfile(c.Seed, i)
		} else {
			p, _ = ParseProfile(c.Profile)
		}
		phases := 1
		switch {
		case c.Phases == "3":
			phases = 3
		case c.Phases == "1":
		case p == Factory || p == Office:
			phases = 3
		}
		bus.Add(NewMeter(MeterConfig{Address: a, Profile: p, Phases: phases, Seed: c.Seed, Auth: c.Auth, Location: c.Location}, now))
	}
	if c.Supply != "" {
		if err := makeSupply(bus, c.Supply, now); err != nil {
			return nil, err
		}
	}
	for _, f := range c.Faults {
		if err := bus.ApplyFault(f); err != nil {
			return nil, err
		}
	}
	return bus, nil
}

// makeSupply applies Config.Supply.
func makeSupply(bus *Bus, spec string, now time.Time) error {
	addr, pct, ok := strings.Cut(spec, ":")
	var loss float64
	if _, err := fmt.Sscan(pct, &loss); !ok || err != nil {
		return fmt.Errorf("sim: supply %q: want ADDRESS:PERCENT like 000000000001:4 / 总表格式应为 地址:线损百分比", spec)
	}
	a, err := dlt645.ParseAddress(addr)
	if err != nil {
		return fmt.Errorf("sim: supply %q: %w", spec, err)
	}
	s, ok := bus.Meter(a)
	if !ok {
		return fmt.Errorf("sim: supply %q: no meter %s on this bus / 总线上没有该表", spec, a)
	}
	var customers []*Meter
	for _, m := range bus.Meters() {
		if m != s {
			customers = append(customers, m)
		}
	}
	return s.MakeSupply(customers, loss, now)
}

// MixedProfile returns the profile the i-th meter of a "mixed" fleet with
// this seed gets.
func MixedProfile(seed uint64, i int) Profile { return mixedProfile(seed, i) }

// mixedProfile gives a realistic mix: mostly homes, some offices, PV homes,
// a few towers and factories.
func mixedProfile(seed uint64, i int) Profile {
	u := unit(seed, uint64(i), 7)
	switch {
	case u < 0.60:
		return Home
	case u < 0.75:
		return PV
	case u < 0.88:
		return Office
	case u < 0.95:
		return Tower
	}
	return Factory
}

// Fleet is a running fleet.
type Fleet struct {
	Bus     *Bus
	Addr    net.Addr // the TCP serial server's address, when listening
	PtyPath string   // the tty to open, when serving on a pty
	Control net.Addr // the HTTP control endpoint's address, when serving it
	done    chan error
}

// Wait returns when the fleet has stopped (its context ended, or a transport
// failed: then the first error). Call it once.
func (f *Fleet) Wait() error { return <-f.done }

// Start builds the fleet and starts serving it as configured; it runs until
// ctx ends.
func Start(ctx context.Context, c Config) (*Fleet, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	bus, err := NewFleet(c)
	if err != nil {
		return nil, err
	}
	if c.State != "" {
		st, err := LoadState(c.State)
		switch {
		case err == nil:
			n := bus.Restore(st)
			c.Log.Info("sim: meters restored / 已恢复电表状态", "file", c.State, "meters", n, "saved_at", st.SavedAt)
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
	}
	f := &Fleet{Bus: bus, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(ctx)
	started := false
	defer func() {
		if !started { // an error below: stop what already runs
			cancel()
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	run := func(fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil && !errors.Is(err, context.Canceled) {
				select {
				case errs <- err:
				default:
				}
				cancel() // one transport failed: stop the fleet
			}
		}()
	}
	if c.Listen != "" {
		l, err := net.Listen("tcp", c.Listen)
		if err != nil {
			return nil, fmt.Errorf("sim: listen %s: %w", c.Listen, err)
		}
		f.Addr = l.Addr()
		run(func() error { return bus.ServeTCP(ctx, l) })
	}
	if c.Pty {
		p, err := serialline.OpenPty()
		if err != nil {
			return nil, err
		}
		f.PtyPath = p.TTYPath
		run(func() error {
			defer p.Close()
			return serveUntilDone(ctx, bus, p.Master)
		})
	}
	if c.Serial != "" {
		line, err := serialline.Open(serialline.Config{Device: c.Serial, Baud: c.Baud, Parity: c.Parity})
		if err != nil {
			return nil, err
		}
		run(func() error { return serveUntilDone(ctx, bus, line) })
	}
	if c.Control != "" {
		l, err := net.Listen("tcp", c.Control)
		if err != nil {
			return nil, fmt.Errorf("sim: control listen %s: %w", c.Control, err)
		}
		f.Control = l.Addr()
		srv := &http.Server{Handler: bus.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
		run(func() error {
			stop := context.AfterFunc(ctx, func() { srv.Close() })
			defer stop()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("sim: control endpoint: %w", err)
			}
			return nil
		})
	}
	if c.GPRS != "" {
		for _, m := range bus.Meters() {
			imei, secret := GPRSIdentity(c.GPRSKey, m.addr.String())
			run(func() error {
				return bus.DialGPRS(ctx, m, GPRSConfig{Station: c.GPRS, Heartbeat: c.Heartbeat, IMEI: imei, Secret: secret})
			})
		}
	}
	if c.State != "" {
		every := c.SaveEvery
		if every <= 0 {
			every = 30 * time.Second
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					if err := bus.SaveState(c.State); err != nil {
						c.Log.Warn("sim: saving the meters' state / 保存电表状态失败", "err", err)
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	started = true
	go func() {
		wg.Wait()
		cancel()
		if c.State != "" {
			if err := bus.SaveState(c.State); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}
		close(errs)
		var first error
		for err := range errs {
			if first == nil {
				first = err
			}
		}
		f.done <- first
	}()
	return f, nil
}

// serveUntilDone serves a line that must stay up (a pty or a serial port).
func serveUntilDone(ctx context.Context, bus *Bus, rw io.ReadWriter) error {
	err := bus.ServeLine(ctx, rw)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
