package analysis

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/amigo-metering/amigo"
)

// Reader is what the loaders need from a store (amigo.Store has it).
type Reader interface {
	ListMeters(ctx context.Context, f amigo.MeterFilter) ([]amigo.Meter, int, error)
	GetMeter(ctx context.Context, id int64) (amigo.Meter, error)
	ReadingsOfMeters(ctx context.Context, meterIDs []int64, kinds []string, from, to time.Time) (map[int64][]amigo.Reading, error)
}

// segmentKinds are the readings consumption is computed from.
var segmentKinds = []string{amigo.KindDaily, amigo.KindMonthly, amigo.KindManual}

// LoadSegments reads what Consumption needs for meters ms over [from, to)
// in one query per 500 meters: their daily, monthly and manual readings
// from the first instant to the last one the intervals touch. The range is
// checked (Range) before anything is read.
func LoadSegments(ctx context.Context, r Reader, ms []amigo.Meter, interval string, from, to time.Time, loc *time.Location) ([]Segment, error) {
	from, to, err := Range(interval, from, to, loc)
	if err != nil {
		return nil, err
	}
	a, b := from, to
	if interval == "month" {
		a = time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, loc)
		if b = time.Date(to.Year(), to.Month(), 1, 0, 0, 0, 0, loc); b.Before(to) {
			b = b.AddDate(0, 1, 0)
		}
	}
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	by, err := r.ReadingsOfMeters(ctx, ids, segmentKinds, a, b.Add(time.Second))
	if err != nil {
		return nil, fmt.Errorf("consumption: %w", err)
	}
	segs := make([]Segment, len(ms))
	for i, m := range ms {
		segs[i] = Segment{Meter: m, Readings: by[m.ID]}
	}
	return segs, nil
}

// LoadAreaDay reads what AreaDayLoss needs for area a on site day: every
// meter of the area (removed ones too) and the supply meter's chain, with
// their readings of the day, in two store queries plus the supply meter's
// when it is not in the area.
func LoadAreaDay(ctx context.Context, r Reader, a amigo.Area, day time.Time, loc *time.Location) (supply, customers []Segment, err error) {
	day = amigo.Day(day, loc)
	ms, _, err := r.ListMeters(ctx, amigo.MeterFilter{AreaID: a.ID, IncludeRetired: true})
	if err != nil {
		return nil, nil, fmt.Errorf("line loss: %w", err)
	}
	var chain []amigo.Meter
	if a.SupplyMeterID != 0 {
		var sm amigo.Meter
		found := false
		for _, m := range ms {
			if m.ID == a.SupplyMeterID {
				sm, found = m, true
			}
		}
		if !found {
			if sm, err = r.GetMeter(ctx, a.SupplyMeterID); err != nil {
				return nil, nil, fmt.Errorf("line loss: supply meter: %w", err)
			}
		}
		chain = SupplyChain(sm, ms)
	}
	inChain := map[int64]bool{}
	for _, m := range chain {
		inChain[m.ID] = true
	}
	var all []amigo.Meter
	all = append(all, chain...)
	for _, m := range ms {
		if !inChain[m.ID] && inService(m, day, day.AddDate(0, 0, 1)) {
			all = append(all, m)
		}
	}
	segs, err := LoadSegments(ctx, r, all, "day", day, day.AddDate(0, 0, 1), loc)
	if err != nil {
		return nil, nil, err
	}
	supply, customers = segs[:len(chain)], segs[len(chain):]
	sort.Slice(customers, func(i, j int) bool { return customers[i].Meter.ID < customers[j].Meter.ID })
	return supply, customers, nil
}

// AreaLoss is LoadAreaDay then AreaDayLoss: the one code path the API and
// the station share.
func AreaLoss(ctx context.Context, r Reader, a amigo.Area, day time.Time, loc *time.Location) (Loss, error) {
	if a.SupplyMeterID == 0 {
		return Loss{}, nil
	}
	supply, customers, err := LoadAreaDay(ctx, r, a, day, loc)
	if err != nil {
		return Loss{}, err
	}
	return AreaDayLoss(a, supply, customers, day, loc), nil
}
