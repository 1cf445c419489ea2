package loadtest

import (
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/q1376"
)

// The register model of the meters behind the virtual collectors: cheap,
// exact and deterministic, so that 100,000 of them cost nothing to hold.
// Meter i starts at baseKWh(i) on modelEpoch and draws a constant rateW(i);
// its forward total at t is base + rate·(t − epoch), split over the four
// tariffs in fixed shares; its reverse registers stay at zero. Units are
// those of the wire (A.14): 0.0001 kWh.
var modelEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// unitsPerWs: 0.0001 kWh is 360 W·s (1 kWh = 3.6e6 W·s).
const unitsPerWs = 360

func baseUnits(i int) int64 { return (1000 + int64(i*7919%5000)) * 10000 }

// rateW is 200..1100 W: far below what a 60 A meter may draw, so validation
// flags nothing.
func rateW(i int) int64 { return 200 + int64(i%10)*100 }

// forwardAt returns meter i's forward registers (total, tariffs 1..4) at t.
func forwardAt(i int, t time.Time) [5]int64 {
	secs := int64(t.Sub(modelEpoch) / time.Second)
	total := baseUnits(i) + rateW(i)*secs/unitsPerWs
	var r [5]int64
	r[0] = total
	r[1] = total * 10 / 100
	r[2] = total * 30 / 100
	r[3] = total * 35 / 100
	r[4] = total - r[1] - r[2] - r[3]
	return r
}

// indication encodes registers read at t as F129/F131/F161/F163 data.
func indication(dst []byte, regs [5]int64, t time.Time) ([]byte, error) {
	var vals [5]q1376.Value
	for k, v := range regs {
		vals[k] = q1376.Value{Decimal: dlt645.Decimal{Mant: v, Scale: 4}, Valid: true}
	}
	ind := q1376.Indication{ReadAt: dlt645.DateTimeOf(t), HasAt: true, Values: vals[:]}
	return ind.Append(dst)
}

// instant encodes F25 for meter i at t: its power and 220.0 V on phase A.
func instant(dst []byte, i int, t time.Time) ([]byte, error) {
	in := q1376.Instant{ReadAt: dlt645.DateTimeOf(t)}
	in.P[0] = q1376.Value{Decimal: dlt645.Decimal{Mant: rateW(i) * 10, Scale: 4}, Valid: true} // kW, 4 decimals
	in.U[0] = q1376.Value{Decimal: dlt645.Decimal{Mant: 2200, Scale: 1}, Valid: true}
	return in.Append(dst)
}
