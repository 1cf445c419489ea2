package readingblob

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

func i64(v int64) *int64 { return &v }

// cases are readings the store meets, and the edges of the encoding.
func cases() []struct {
	name string
	r    amigo.Reading
	n    Names
	size int // the blob's length; 0: not checked
} {
	t := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	daily := amigo.Reading{Time: t, HasForward: true, ReceivedAt: t.Add(47 * time.Minute),
		Forward: [5]amigo.Energy{39_001_200, 1_950_000, 13_650_100, 11_700_000, 11_701_100}}
	rt := daily
	rt.Time, rt.ReceivedAt, rt.PowerW, rt.VoltageDV = t.Add(15*time.Minute), t.Add(15*time.Minute+3*time.Second), i64(1520), i64(2231)
	pv := daily
	pv.HasReverse, pv.Reverse = true, [5]amigo.Energy{2_000_000, 0, 1_000_000, 1_000_000, 0}
	edited := daily
	edited.EditedBy, edited.EditReason = "王工", "meter swap / 换表"
	early := daily
	early.ReceivedAt = t.Add(-3 * time.Second)
	noRecv := daily
	noRecv.ReceivedAt = time.Time{}
	odd := daily
	odd.Forward = [5]amigo.Energy{math.MaxInt64, math.MinInt64, -1, math.MaxInt64, 7}
	odd.HasForward, odd.HasReverse = false, true
	return []struct {
		name string
		r    amigo.Reading
		n    Names
		size int
	}{
		{"daily of four tariffs", daily, Names{QualityActual, 12}, 17},
		{"real-time with power and voltage", rt, Names{QualityActual, 12}, 20},
		{"reverse registers", pv, Names{QualityActual, 12}, 27},
		{"edited", edited, Names{7, 5}, 0},
		{"estimated, large source id", daily, Names{6, 100_000}, 0},
		{"received before its instant", early, Names{QualityActual, 1}, 0},
		{"never received", noRecv, Names{QualityActual, 1}, 0},
		{"nothing", amigo.Reading{Time: t}, Names{QualityActual, 0}, 8},
		{"extreme registers", odd, Names{QualityActual, 3}, 0},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			b := Append(nil, &c.r, c.n)
			if c.size != 0 && len(b) != c.size {
				t.Errorf("%d bytes, want %d: % x", len(b), c.size, b)
			}
			got := amigo.Reading{Time: c.r.Time}
			n, err := Parse(b, &got)
			if err != nil {
				t.Fatal(err)
			}
			want := c.r
			want.ReceivedAt = fromUnix(unix(c.r.ReceivedAt))
			if n != c.n || !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v %+v\nwant %+v %+v", got, n, want, c.n)
			}
		})
	}
}

// TestRandom round-trips random registers, where any scale can come out.
func TestRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 10_000 {
		r := amigo.Reading{Time: t0.Add(time.Duration(rng.IntN(1e8)) * time.Second), HasForward: rng.IntN(2) == 0}
		r.ReceivedAt = r.Time.Add(time.Duration(rng.IntN(1e6)-1e5) * time.Second)
		scale := []int64{1, 10, 100, 1000, 10000, 1e5, 1e9}[rng.IntN(7)]
		for i := range 5 {
			r.Forward[i] = amigo.Energy(rng.Int64N(1e12) / scale * scale)
			if rng.IntN(3) == 0 {
				r.Reverse[i] = amigo.Energy(rng.Int64())
			}
		}
		b := Append(nil, &r, Names{int64(rng.IntN(300)), int64(rng.IntN(5000))})
		got := amigo.Reading{Time: r.Time}
		if _, err := Parse(b, &got); err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("%+v: got %+v, %v", r, got, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	good := Append(nil, &cases()[0].r, Names{QualityActual, 12})
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"unknown bit", []byte{0x80, 0x10, 0, 0}},
		{"truncated registers", []byte{hasFwdRegs, 1, 1, 1}},
		{"string overrun", append(binary.AppendUvarint(nil, hasEdit), 5, 'a')},
	} {
		var r amigo.Reading
		if _, err := Parse(c.b, &r); err == nil {
			t.Errorf("%s: % x parsed", c.name, c.b)
		}
	}
}

// FuzzParse: no input makes Parse panic, and what parses encodes to a blob
// that parses to the same reading.
func FuzzParse(f *testing.F) {
	for _, c := range cases() {
		f.Add(Append(nil, &c.r, c.n))
	}
	f.Add([]byte{0xff, 0xff, 0xff})
	t0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := amigo.Reading{Time: t0}
		n, err := Parse(b, &r)
		if err != nil {
			return
		}
		again := amigo.Reading{Time: t0}
		n2, err := Parse(Append(nil, &r, n), &again)
		if err != nil || n2 != n || !reflect.DeepEqual(again, r) {
			t.Fatalf("% x: %+v %+v, again %+v %+v %v", b, r, n, again, n2, err)
		}
	})
}
