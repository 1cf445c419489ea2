package loadtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo/internal/vclock"
)

// Segment is one stretch of the shared virtual clock: it read Start at the
// real instant Origin and runs Speed times faster than real time. The bench
// and the station it drives apply the same segments, so they read the same
// virtual time; a new segment is how the bench jumps to virtual midnight.
type Segment struct {
	Start  time.Time
	Origin time.Time
	Speed  float64
}

// String encodes the segment as one line: "clock START ORIGIN SPEED" with
// START in RFC 3339 and ORIGIN in Unix nanoseconds.
func (s Segment) String() string {
	return fmt.Sprintf("clock %s %d %g", s.Start.Format(time.RFC3339Nano), s.Origin.UnixNano(), s.Speed)
}

// ParseSegment reads what String wrote.
func ParseSegment(line string) (Segment, error) {
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "clock" {
		return Segment{}, fmt.Errorf("loadtest: clock line %q: want \"clock START ORIGIN SPEED\"", line)
	}
	start, err := time.Parse(time.RFC3339Nano, f[1])
	if err != nil {
		return Segment{}, fmt.Errorf("loadtest: clock start: %w", err)
	}
	origin, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return Segment{}, fmt.Errorf("loadtest: clock origin: %w", err)
	}
	speed, err := strconv.ParseFloat(f[3], 64)
	if err != nil || speed <= 0 || speed > 1e6 {
		return Segment{}, fmt.Errorf("loadtest: clock speed %q: want 0 < speed <= 1e6", f[3])
	}
	return Segment{Start: start, Origin: time.Unix(0, origin), Speed: speed}, nil
}

// Clock is a vclock.Clock whose segment can be replaced while it is read. It
// is safe for concurrent use.
type Clock struct {
	v atomic.Pointer[vclock.Virtual]
}

// NewClock returns a clock on segment s.
func NewClock(s Segment) *Clock {
	c := &Clock{}
	c.Set(s)
	return c
}

// Set moves the clock onto segment s.
func (c *Clock) Set(s Segment) { c.v.Store(vclock.NewVirtualAt(s.Start, s.Origin, s.Speed)) }

// Now returns the virtual time.
func (c *Clock) Now() time.Time { return c.v.Load().Now() }

// Sleep waits d of virtual time (at the speed in force when called).
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error { return c.v.Load().Sleep(ctx, d) }

// Real converts virtual d to real time.
func (c *Clock) Real(d time.Duration) time.Duration { return c.v.Load().Real(d) }

// Speed returns the current speed.
func (c *Clock) Speed() float64 { return c.v.Load().Speed() }
