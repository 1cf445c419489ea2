package q1376

import (
	"slices"
	"testing"
)

// slowPns and slowFns are the plain bit-by-bit decodings the table-backed
// pnsOf and fnsOf must agree with.
func slowPns(da1, da2 byte) []uint16 {
	switch {
	case da1 == 0 && da2 == 0:
		return []uint16{0}
	case da1 == 0xFF && da2 == 0:
		return []uint16{AllPoints}
	}
	var out []uint16
	for bit := range 8 {
		if da1&(1<<bit) != 0 {
			out = append(out, uint16(da2-1)*8+uint16(bit)+1)
		}
	}
	return out
}

func slowFns(dt1, dt2 byte) []uint16 {
	var out []uint16
	for bit := range 8 {
		if dt1&(1<<bit) != 0 {
			out = append(out, uint16(dt2)*8+uint16(bit)+1)
		}
	}
	return out
}

// TestPnsFnsOfEveryByte: every DA and DT pair decodes as bit by bit, and an
// append to a decoded one-element slice leaves the shared table alone.
func TestPnsFnsOfEveryByte(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			if got, want := pnsOf(byte(a), byte(b)), slowPns(byte(a), byte(b)); !slices.Equal(got, want) {
				t.Fatalf("pnsOf(%02X, %02X) = %v, want %v", a, b, got, want)
			}
			if got, want := fnsOf(byte(a), byte(b)), slowFns(byte(a), byte(b)); !slices.Equal(got, want) {
				t.Fatalf("fnsOf(%02X, %02X) = %v, want %v", a, b, got, want)
			}
		}
	}
	p := pnsOf(0x01, 1) // pn 1
	p = append(p, 99)
	p[0] = 7 // p is a copy now: the table keeps 1
	if q := pnsOf(0x01, 1); !slices.Equal(q, []uint16{1}) || idTable[2] != 2 {
		t.Fatalf("the table changed: %v, idTable[2] = %d", q, idTable[2])
	}
}

// BenchmarkDecodeItems decodes a 32-unit real-time answer and splits its
// items, as the station does for every answer frame.
func BenchmarkDecodeItems(b *testing.B) {
	var units []Unit
	data := make([]byte, 31) // F129 with four tariffs: 5 + 1 + 5·5 bytes
	data[5] = 4
	for pn := uint16(1); pn <= 32; pn++ {
		units = append(units, NewUnit(pn, 129, data))
	}
	raw, err := AppendFrame(nil, &Frame{Control: CtlTerminalData, Address: Address{A1: 0x1101, A2: 1}, AFN: AFNClass1, Seq: Single(1, true), Units: units})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var f Frame
	for b.Loop() {
		if _, err := f.Decode(raw); err != nil {
			b.Fatal(err)
		}
		if items, err := f.Items(); err != nil || len(items) != 32 {
			b.Fatal(len(items), err)
		}
	}
}
