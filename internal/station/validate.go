package station

import (
	"context"
	"fmt"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vee"
)

// validate flags rs in place against each meter's previous reading of the
// same kind (or the one before in the same batch) and returns the events.
func (e *Engine) validate(ctx context.Context, rs []amigo.Reading, meters map[int64]amigo.Meter) []amigo.Event {
	var evs []amigo.Event
	prev := map[string]*amigo.Reading{}
	for i := range rs {
		r := &rs[i]
		key := fmt.Sprint(r.Kind, r.MeterID)
		p := prev[key]
		if p == nil {
			last, err := e.store.LastReading(ctx, r.MeterID, r.Kind)
			if err == nil && last.Time.Before(r.Time) {
				p = &last
			}
		}
		var power *int64
		if rt, err := e.store.LastReading(ctx, r.MeterID, amigo.KindRealtime); err == nil {
			power = rt.PowerW
		}
		flags, es := vee.Check(meters[r.MeterID], p, *r, power)
		r.Flags |= flags
		evs = append(evs, es...)
		prev[key] = r
	}
	return evs
}
