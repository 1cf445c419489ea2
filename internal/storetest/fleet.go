package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// Fleet is what a station writes for a fleet of household meters, for
// measuring a store's size and write rate: daily freezes at 00:00 (site
// zone) and real-time readings every 15 minutes, one batch per slot across
// all meters, in the order the station writes them. Each meter has its own
// consumption (3 to 25 kWh a day, ±40 % from day to day) split over four
// tariffs (sharp, peak, flat, valley) in its own proportions, registers of
// 0.01 kWh (DL/T 645) that grow by it, the total their sum (off by 0.01 kWh
// on one meter in ten); one meter in thirty has solar panels and reverse
// registers. Real-time readings carry power and voltage. The meters sit
// behind collectors of 100 meters, which are the readings' source.
type Fleet struct {
	Meters int
	Start  time.Time // day 0, 00:00 in the site's zone
	ids    []int64
	meters []fleetMeter
	srcs   []string
}

type fleetMeter struct {
	start, rev    [5]int64 // registers at day 0 (units of 0.0001 kWh)
	dayUnits      int64    // mean daily consumption
	share         [4]int64 // per mille of each tariff
	solar, offset bool
	recv          time.Duration // when its collector's nightly pass reads it
	rng           *rand.Rand
	fwd, back     [5]int64 // the registers now
}

// NewFleet creates a site, collectors and n meters in s (one
// transaction) and returns the fleet.
func NewFleet(tb testing.TB, s amigo.Store, n int) *Fleet {
	tb.Helper()
	ctx := context.Background()
	site := amigo.Site{Name: "Fleet", TimeZone: amigo.DefaultTimeZone}
	f := &Fleet{Meters: n, Start: time.Date(2026, 10, 1, 0, 0, 0, 0, site.Location())}
	err := s.WithTx(ctx, func(tx amigo.Store) error {
		if err := tx.CreateSite(ctx, &site); err != nil {
			return err
		}
		var col amigo.Collector
		for i := range n {
			if i%100 == 0 {
				col = amigo.Collector{SiteID: site.ID, Name: fmt.Sprintf("c%d", i/100), Address: fmt.Sprintf("%04d-%04d", i/100/10000, i/100%10000)}
				if err := tx.CreateCollector(ctx, &col); err != nil {
					return err
				}
				f.srcs = append(f.srcs, "collector "+col.Address)
			}
			m := amigo.Meter{SiteID: site.ID, Address: fmt.Sprintf("%012d", 100000000+i), Protocol: "dlt645-2007", Phases: 1,
				CTRatio: 1, PTRatio: 1, CollectorID: col.ID, Port: 2, Pn: i%100 + 1, RatedAmps: 60}
			if err := tx.CreateMeter(ctx, &m); err != nil {
				return err
			}
			f.ids = append(f.ids, m.ID)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		m := fleetMeter{rng: rng, dayUnits: (3 + rng.Int64N(23)) * 10000, solar: i%30 == 7, offset: i%10 == 3,
			recv: 5*time.Minute + time.Duration(i/100%40)*3*time.Minute + time.Duration(i%100)*time.Second}
		sharp, peak := 50+rng.Int64N(100), 250+rng.Int64N(150)
		flat := 200 + rng.Int64N(150)
		m.share = [4]int64{sharp, peak, flat, 1000 - sharp - peak - flat}
		years := 1 + rng.Int64N(8)
		for k := range 4 {
			m.fwd[k+1] = m.dayUnits * 365 * years * m.share[k] / 1000 / 100 * 100
		}
		f.meters = append(f.meters, m)
		f.total(i)
	}
	return f
}

// total sets meter i's total register from its tariffs.
func (f *Fleet) total(i int) {
	m := &f.meters[i]
	m.fwd[0] = m.fwd[1] + m.fwd[2] + m.fwd[3] + m.fwd[4]
	m.back[0] = m.back[1] + m.back[2] + m.back[3] + m.back[4]
	if m.offset {
		m.fwd[0] += 100
	}
}

// advance adds to meter i's registers what it uses in frac of a day.
func (f *Fleet) advance(i int, frac float64) {
	m := &f.meters[i]
	use := float64(m.dayUnits) * frac * (0.6 + 0.8*m.rng.Float64())
	for k := range 4 {
		m.fwd[k+1] += int64(use*float64(m.share[k])/1000) / 100 * 100
		if m.solar && k > 0 {
			m.back[k+1] += int64(use*0.4*float64(m.share[k])/1000) / 100 * 100
		}
	}
	f.total(i)
}

func (f *Fleet) reading(i int, t time.Time, kind string, recv time.Duration) amigo.Reading {
	m := &f.meters[i]
	r := amigo.Reading{MeterID: f.ids[i], Time: t.UTC(), Kind: kind, HasForward: true, Quality: amigo.QualityActual,
		Source: f.srcs[i/100], ReceivedAt: t.Add(recv).UTC()}
	for k := range 5 {
		r.Forward[k] = amigo.Energy(m.fwd[k])
	}
	if m.solar {
		r.HasReverse = true
		for k := range 5 {
			r.Reverse[k] = amigo.Energy(m.back[k])
		}
	}
	return r
}

// Daily returns the batch of day d's freezes (at 00:00 ending day d-1),
// read by each collector's nightly pass.
func (f *Fleet) Daily(d int, dst []amigo.Reading) []amigo.Reading {
	t := f.Start.AddDate(0, 0, d)
	for i := range f.Meters {
		f.advance(i, 1)
		dst = append(dst, f.reading(i, t, amigo.KindDaily, f.meters[i].recv))
	}
	return dst
}

// Realtime returns the batch of slot k (0..95) of day d: registers, power
// and voltage, read within a few minutes of the slot.
func (f *Fleet) Realtime(d, k int, dst []amigo.Reading) []amigo.Reading {
	t := f.Start.AddDate(0, 0, d).Add(time.Duration(k) * 15 * time.Minute)
	for i := range f.Meters {
		m := &f.meters[i]
		f.advance(i, 1.0/96)
		r := f.reading(i, t, amigo.KindRealtime, 20*time.Second+time.Duration(i%100)*2*time.Second)
		p, v := m.dayUnits/24/10*int64(50+m.rng.IntN(100))/100, int64(2150+m.rng.IntN(250))
		r.PowerW, r.VoltageDV = &p, &v
		dst = append(dst, r)
	}
	return dst
}
