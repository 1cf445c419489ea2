package collector

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo/internal/vclock"
)

// shiftedClock is the collector's clock: the host's (or the given virtual)
// clock plus the offset the station set by AFN 05 F31, kept in the store so
// that it survives restarts.
type shiftedClock struct {
	vclock.Clock
	off atomic.Int64 // nanoseconds
}

func (s *shiftedClock) Now() time.Time { return s.Clock.Now().Add(time.Duration(s.off.Load())) }

const clockOffsetKey = "clock_offset_ns"

func loadClock(ctx context.Context, st Store, base vclock.Clock) (*shiftedClock, error) {
	c := &shiftedClock{Clock: base}
	v, err := st.GetState(ctx, clockOffsetKey)
	if err != nil {
		return nil, err
	}
	if v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("collector: stored clock offset %q: %w", v, err)
		}
		c.off.Store(n)
	}
	return c, nil
}

// Now returns the collector's time.
func (c *Collector) Now() time.Time { return c.clock.Now() }

// setClock sets the collector's time to t (AFN 05 F31): the offset from
// the underlying clock is stored first, then used.
func (c *Collector) setClock(ctx context.Context, t time.Time) error {
	off := t.Sub(c.clock.Clock.Now())
	if err := c.store.SetState(ctx, clockOffsetKey, strconv.FormatInt(int64(off), 10)); err != nil {
		return err
	}
	was := time.Duration(c.clock.off.Swap(int64(off)))
	c.log.Info("clock set by the station / 主站对时", "time", t.Format(time.RFC3339), "offset", off.String(), "was", was.String())
	return nil
}
