package q1376

import (
	"reflect"
	"testing"
)

func benchFrame(b testing.TB) []byte {
	ind := Indication{HasAt: true, ReadAt: DateTime{Year: 2026, Month: 11, Day: 24, Minute: 5}, Values: make([]Value, 5)}
	for i := range ind.Values {
		ind.Values[i] = Value{Decimal{Mant: int64(1234560 + i), Scale: 4}, true}
	}
	data := Day{2026, 11, 23}.AppendTd(nil)
	data, _ = ind.Append(data)
	f := &Frame{Control: CtlTerminalData, Address: Address{A1: 0x0171, A2: 2082}, AFN: AFNClass2, Seq: Single(3, true), Units: []Unit{NewUnit(1, 161, data)}}
	out, err := AppendFrame(nil, f)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func BenchmarkDecodeDailyFrozen(b *testing.B) {
	wire := benchFrame(b)
	var f Frame
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Decode(wire); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

func BenchmarkParseIndication(b *testing.B) {
	wire := benchFrame(b)
	var f Frame
	f.Decode(wire)
	data := f.Units[0].Data[3:]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseIndication(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeLogin(b *testing.B) {
	wire, _ := AppendFrame(nil, Login(Address{A1: 0x0171, A2: 2082}, 1))
	var f Frame
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Decode(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendRequest(b *testing.B) {
	day := Day{2026, 11, 23}.AppendTd(nil)
	f := Request(Address{A1: 0x0171, A2: 2082, MSA: 1}, AFNClass2, 1, nil, Unit{Pn: []uint16{1, 2, 3, 4, 5, 6, 7, 8}, Fn: []uint16{161}, Data: append(append(append(append(append(append(append(append([]byte(nil), day...), day...), day...), day...), day...), day...), day...), day...)})
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendFrame(buf[:0], f)
	}
}

// ParseIndicationInto reuses the caller's array: decoding an answer's
// indications allocates nothing per indication.
func TestParseIndicationIntoAllocatesNothing(t *testing.T) {
	wire := benchFrame(t)
	var f Frame
	if _, err := f.Decode(wire); err != nil {
		t.Fatal(err)
	}
	data := f.Units[0].Data[3:]
	want, err := ParseIndication(data)
	if err != nil {
		t.Fatal(err)
	}
	var vals [15]Value
	got, err := ParseIndicationInto(vals[:], data)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v %v, want %+v", got, err, want)
	}
	if n := testing.AllocsPerRun(20, func() { ParseIndicationInto(vals[:], data) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
