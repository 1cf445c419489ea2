// Package vclock provides the clocks amigo's parts read time from: the real
// clock, and a virtual clock that starts at a chosen instant and runs faster
// than real time, so that a test or a demo reaches a midnight freeze in
// seconds. Station, collectors and virtual meters of one demo share one
// virtual clock.
package vclock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Clock is the time source of every time-dependent behaviour in amigo.
type Clock interface {
	// Now returns the current (possibly virtual) time.
	Now() time.Time
	// Sleep waits for d of this clock's time, or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
	// Real converts a duration of this clock's time to real time, for I/O
	// deadlines and timers.
	Real(d time.Duration) time.Duration
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx is done.
func (Real) Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

// Real returns d.
func (Real) Real(d time.Duration) time.Duration { return d }

// Virtual is a clock that started at Start when the real clock read origin and
// runs Speed times faster than real time. It is safe for concurrent use and
// has no goroutine.
type Virtual struct {
	start  time.Time
	origin time.Time
	speed  float64
}

// NewVirtual returns a clock reading start now and running speed times faster
// than real time (speed 3600: one hour per second). A speed below or equal to
// zero means 1.
func NewVirtual(start time.Time, speed float64) *Virtual {
	if speed <= 0 {
		speed = 1
	}
	return &Virtual{start: start, origin: time.Now(), speed: speed}
}

// NewVirtualAt returns a clock that read start at the real instant origin
// and runs speed times faster than real time. Processes given the same
// start, origin and speed share one virtual clock (a trial with a station,
// a collector and a meter fleet in separate programs).
func NewVirtualAt(start, origin time.Time, speed float64) *Virtual {
	v := NewVirtual(start, speed)
	v.origin = origin
	return v
}

// Speed returns how many virtual seconds pass per real second.
func (v *Virtual) Speed() float64 { return v.speed }

// Now returns the virtual time.
func (v *Virtual) Now() time.Time {
	elapsed := time.Since(v.origin)
	return v.start.Add(time.Duration(float64(elapsed) * v.speed))
}

// Sleep waits for d of virtual time.
func (v *Virtual) Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, v.Real(d)) }

// Real converts virtual d to real time (at least a microsecond for d > 0).
func (v *Virtual) Real(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	r := time.Duration(float64(d) / v.speed)
	if r < time.Microsecond {
		r = time.Microsecond
	}
	return r
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SleepUntil waits until c reads at least t.
func SleepUntil(ctx context.Context, c Clock, t time.Time) error {
	for {
		d := t.Sub(c.Now())
		if d <= 0 {
			return nil
		}
		if err := c.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// Manual is a clock that moves only when told; for tests.
type Manual struct {
	mu     sync.Mutex
	t      time.Time
	wake   chan struct{}
	asleep int // goroutines in Sleep waiting on wake
	watch  []sleepWatch
}

// sleepWatch is a Sleeping channel waiting for n sleepers.
type sleepWatch struct {
	n  int
	ch chan struct{}
}

// NewManual returns a manual clock reading t.
func NewManual(t time.Time) *Manual { return &Manual{t: t, wake: make(chan struct{})} }

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.t
}

// Set moves the clock to t and wakes sleepers.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	m.t = t
	close(m.wake)
	m.wake = make(chan struct{})
	m.asleep = 0
	m.mu.Unlock()
}

// Advance moves the clock by d.
func (m *Manual) Advance(d time.Duration) { m.Set(m.Now().Add(d)) }

// Sleeping returns a channel closed once at least n goroutines are asleep
// on the clock at its current time (in Sleep, since the clock last moved):
// a test moves the clock once what it drives is waiting, instead of
// guessing with a real sleep.
func (m *Manual) Sleeping(n int) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := sleepWatch{n: n, ch: make(chan struct{})}
	m.watch = append(m.watch, w)
	m.notify()
	return w.ch
}

// notify closes the Sleeping channels whose count is reached; m.mu held.
func (m *Manual) notify() {
	kept := m.watch[:0]
	for _, w := range m.watch {
		if m.asleep >= w.n {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	m.watch = kept
}

// Sleep waits until the clock has been moved d past now.
func (m *Manual) Sleep(ctx context.Context, d time.Duration) error {
	m.mu.Lock()
	until := m.t.Add(d)
	for m.t.Before(until) {
		wake := m.wake
		m.asleep++
		m.notify()
		m.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			m.mu.Lock()
			if m.wake == wake {
				m.asleep--
			}
			m.mu.Unlock()
			return ctx.Err()
		}
		m.mu.Lock()
	}
	m.mu.Unlock()
	return nil
}

// Real returns d: a manual clock's sleeps end only when it is moved.
func (m *Manual) Real(d time.Duration) time.Duration { return d }

// After returns a channel that receives c's time once d of c's time has
// passed, or is closed without a value when ctx ends first.
func After(ctx context.Context, c Clock, d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		defer close(ch)
		if c.Sleep(ctx, d) == nil {
			ch <- c.Now()
		}
	}()
	return ch
}

// Tick calls f with c's time every d of c's time until ctx ends or f returns
// false. Ticks that f is too slow for are skipped, not queued; the schedule
// does not drift (tick n is due at start + n·d).
func Tick(ctx context.Context, c Clock, d time.Duration, f func(now time.Time) bool) error {
	if d <= 0 {
		return errors.New("vclock: tick interval must be positive")
	}
	next := c.Now().Add(d)
	for {
		if err := SleepUntil(ctx, c, next); err != nil {
			return err
		}
		now := c.Now()
		if !f(now) {
			return nil
		}
		for !next.After(now) {
			next = next.Add(d)
		}
	}
}

// FromFlags returns the clock the programs' --start, --clock-origin and
// --speed flags ask for: the real clock when none is given (start and
// origin empty, speed 1), else a virtual clock that read start (RFC 3339;
// default now) at the real instant origin (RFC 3339 with any fraction of a
// second; default now) and runs speed times faster than real time.
// Programs given the same three values share one virtual clock. origin
// needs start. The errors name the flag and say what was wrong, English /
// 中文.
func FromFlags(start, origin string, speed float64) (Clock, error) {
	if speed <= 0 {
		return nil, fmt.Errorf("--speed %g: must be positive / 倍速必须为正数", speed)
	}
	if start == "" && origin == "" && speed == 1 {
		return Real{}, nil
	}
	now := time.Now()
	t, o := now, now
	if start != "" {
		var err error
		if t, err = time.Parse(time.RFC3339, start); err != nil {
			return nil, fmt.Errorf("--start %q: want RFC 3339 like 2026-01-01T23:50:00+08:00 / 起始时间格式应为 RFC 3339: %w", start, err)
		}
	}
	if origin != "" {
		if start == "" {
			return nil, fmt.Errorf("--clock-origin %q needs --start: the virtual time the clock read at that instant / --clock-origin 需要同时给出 --start", origin)
		}
		var err error
		if o, err = time.Parse(time.RFC3339Nano, origin); err != nil {
			return nil, fmt.Errorf("--clock-origin %q: want RFC 3339 like 2026-11-26T09:18:44.112384271Z / 时钟原点格式应为 RFC 3339: %w", origin, err)
		}
	}
	return NewVirtualAt(t, o, speed), nil
}

// OriginUsage is the help text of the --clock-origin flag, for every
// program that takes it.
const OriginUsage = "the real instant, RFC 3339 (e.g. 2026-11-26T09:18:44.112384271Z), at which the virtual clock read --start (default: when the program started); programs given the same --start, --clock-origin and --speed share one virtual clock / 虚拟时钟读数为 --start 时的真实时刻（默认为程序启动时）；--start、--clock-origin、--speed 相同的程序共用一个虚拟时钟"
