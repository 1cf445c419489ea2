package dlt645

import (
	"bufio"
	"bytes"
	"testing"
)

func BenchmarkDecode(b *testing.B) {
	fr := ReadReply(Address{0x12, 0x90, 0x78, 0x56, 0x34, 0x12}, DIForwardActiveBlock, []byte{0x29, 1, 0, 0, 0x62, 0, 0, 0, 0x60, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0}, false)
	wire := AppendPreamble(nil)
	wire, _ = AppendFrame(wire, &fr)
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

func BenchmarkDecodeValue(b *testing.B) {
	e, _ := Lookup(DIForwardActiveBlock)
	v := []byte{0x29, 1, 0, 0, 0x62, 0, 0, 0, 0x60, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0}
	var dst [5]Decimal
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.DecodeNumbers(v, dst[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	f := ReadRequest(Address{1, 0, 0, 0, 0, 0}, DIForwardActiveBlock)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendFrame(buf[:0], &f)
	}
}

func BenchmarkSplit(b *testing.B) {
	var stream []byte
	for i := range 100 {
		f := ReadReply(Address{byte(i), 0, 0, 0, 0, 0}, DIForwardActiveTotal, []byte{0x56, 0x34, 0x12, 0}, false)
		stream = AppendPreamble(stream)
		stream, _ = AppendFrame(stream, &f)
		stream = append(stream, 0x00, 0x68) // line noise
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		sc := bufio.NewScanner(bytes.NewReader(stream))
		sc.Split(Split)
		n := 0
		for sc.Scan() {
			n++
		}
		if n != 100 {
			b.Fatalf("%d frames", n)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "frames/s")
}
