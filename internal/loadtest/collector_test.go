package loadtest

import (
	"testing"
	"time"

	"github.com/amigo-metering/amigo/q1376"
)

// newTestCollector is a collector of n meters on a clock stopped at now.
func newTestCollector(n int, now time.Time) *vcollector {
	g := &generator{clock: NewClock(Segment{Start: now, Origin: time.Now(), Speed: 1e-9}), loc: time.UTC, collectorMeters: n}
	return &vcollector{g: g, addr: q1376.Address{A1: 0x1101, A2: 1}, n: n, pending: map[uint8]pendingData{}, rtSeen: [rtPasses][]bool{make([]bool, n), make([]bool, n)}}
}

// realtimeRequest is the station's real-time request for meters 1..n.
func realtimeRequest(a q1376.Address, n int) []byte {
	var units []q1376.Unit
	for pn := uint16(1); pn <= uint16(n); pn++ {
		units = append(units, q1376.Unit{Pn: []uint16{pn}, Fn: []uint16{129}}, q1376.Unit{Pn: []uint16{pn}, Fn: []uint16{131}}, q1376.NewUnit(pn, 25, nil))
	}
	a.MSA = 1
	b, err := q1376.AppendFrame(nil, q1376.Request(a, q1376.AFNClass1, 3, nil, units...))
	if err != nil {
		panic(err)
	}
	return b
}

// TestDataAnswersEveryMeter: a real-time request for 64 meters is answered
// with every meter's F129, F131 and F25, in frames of at most 32 units that
// parse back to the model's registers.
func TestDataAnswersEveryMeter(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	c := newTestCollector(64, now)
	req, err := q1376.Parse(realtimeRequest(c.addr, 64))
	if err != nil {
		t.Fatal(err)
	}
	out := c.data(req)
	if len(out) != 6 {
		t.Fatalf("%d frames, want 6 of at most 32 units", len(out))
	}
	var buf []byte
	for _, f := range out {
		if buf, err = q1376.AppendFrame(buf, f); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint16]int{}
	for len(buf) > 0 {
		var f q1376.Frame
		n, err := f.Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		buf = buf[n:]
		items, err := f.Items()
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			seen[it.Pn]++
			if it.Fn != 129 {
				continue
			}
			ind, err := q1376.ParseIndication(it.Data)
			if err != nil {
				t.Fatal(err)
			}
			want := forwardAt(int(it.Pn)-1, now.Truncate(time.Minute))
			if ind.Values[0].Mant != want[0] || ind.Values[4].Mant != want[4] {
				t.Fatalf("pn %d: %+v, want %v", it.Pn, ind.Values, want)
			}
		}
	}
	for pn := uint16(1); pn <= 64; pn++ {
		if seen[pn] != 3 {
			t.Fatalf("pn %d: %d items, want 3", pn, seen[pn])
		}
	}
	if p := c.pending[3]; len(p.rt) != 64 {
		t.Fatalf("pending %d real-time meters, want 64", len(p.rt))
	}
}

// BenchmarkDataRealtime answers one 64-meter real-time request and encodes
// the answer frames, as the load generator does for each request.
func BenchmarkDataRealtime(b *testing.B) {
	c := newTestCollector(64, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	raw := realtimeRequest(c.addr, 64)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var f q1376.Frame
		if _, err := f.Decode(raw); err != nil {
			b.Fatal(err)
		}
		buf = buf[:0]
		for _, r := range c.data(&f) {
			var err error
			if buf, err = q1376.AppendFrame(buf, r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/64, "ns/meter")
}
