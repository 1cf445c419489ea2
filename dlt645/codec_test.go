package dlt645

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func mustAddr(t testing.TB, s string) Address {
	t.Helper()
	a, err := ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func encode(t testing.TB, f Frame) []byte {
	t.Helper()
	b, err := AppendFrame(nil, &f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAddress(t *testing.T) {
	a := mustAddr(t, "123456789012")
	if a != (Address{0x12, 0x90, 0x78, 0x56, 0x34, 0x12}) {
		t.Fatalf("wire order % X", a[:])
	}
	if a.String() != "123456789012" {
		t.Fatal(a.String())
	}
	if _, err := ParseAddress("12345"); err == nil {
		t.Fatal("short address accepted")
	}
	if !Wildcard.Matches(a) || !mustAddr(t, "AAAAAA789012").Matches(a) || mustAddr(t, "AAAAAA789013").Matches(a) || !a.Matches(a) {
		t.Fatal("address matching")
	}
}

func TestErrorsSayWhatAndWhere(t *testing.T) {
	good := encode(t, ReadRequest(mustAddr(t, "123456789012"), DIForwardActiveTotal))
	cases := []struct {
		name string
		mut  func([]byte) []byte
		want string
		is   error
	}{
		{"checksum", func(b []byte) []byte { b[14] ^= 0xFF; return b }, "dlt645: checksum mismatch at byte 14: got 0x", ErrChecksum},
		{"end", func(b []byte) []byte { b[15] = 0x17; return b }, "dlt645: end byte 16 missing at byte 15: got 0x17, want 0x16", ErrEnd},
		{"start2", func(b []byte) []byte { b[7] = 0x00; return b }, "dlt645: second start byte 68 missing at byte 7", ErrStart2},
		{"short", func(b []byte) []byte { return b[:12] }, "dlt645: frame incomplete: need 16 bytes, have 12", ErrShort},
		{"start", func(b []byte) []byte { b[0] = 0x11; return b }, "dlt645: no start byte 68 at byte 0", ErrStart},
	}
	for _, c := range cases {
		b := c.mut(append([]byte(nil), good...))
		var f Frame
		_, err := f.Decode(b)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || !errors.Is(err, c.is) {
			t.Errorf("%s: error %v, want prefix %q", c.name, err, c.want)
		}
	}
	// Invalid BCD in a value says which field and byte.
	r := ReadReply(mustAddr(t, "123456789012"), DIForwardActiveTotal, []byte{0x56, 0x3A, 0x12, 0x00}, false)
	_, err := r.Values()
	if err == nil || !strings.Contains(err.Error(), "invalid BCD 0x3a at byte 15") {
		t.Errorf("bad BCD error: %v", err)
	}
	r = ReadReply(mustAddr(t, "123456789012"), DIForwardActiveTotal, []byte{0x56, 0x34, 0x12}, false)
	if _, err := r.Values(); err == nil || !strings.Contains(err.Error(), "wrong length: have 3 bytes, want 4") {
		t.Errorf("length error: %v", err)
	}
}

func TestSplitStream(t *testing.T) {
	a := mustAddr(t, "000000000001")
	f1 := encode(t, ReadReply(a, DIForwardActiveTotal, []byte{0x56, 0x34, 0x12, 0x00}, false))
	f2 := encode(t, ReadRequest(a, DIVoltageBlock))
	f3 := encode(t, AckReply(a, FuncControl))
	bad := append([]byte(nil), f2...)
	bad[len(bad)-2]++ // checksum broken
	var stream []byte
	stream = append(stream, 0x00, 0x68, 0x68, 0x12) // garbage with false starts
	stream = append(stream, 0xFE, 0xFE, 0xFE, 0xFE)
	stream = append(stream, f1...)
	stream = append(stream, bad...)
	stream = append(stream, 0xFE, 0xFE)
	stream = append(stream, f2...)
	stream = append(stream, f3...)
	stream = append(stream, 0x68, 0x01) // trailing partial garbage
	want := [][]byte{f1, f2, f3}
	for _, chunk := range []int{1, 2, 3, 7, 16, len(stream)} {
		r := &chunkReader{b: stream, n: chunk}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64), 1024)
		sc.Split(Split)
		var got [][]byte
		for sc.Scan() {
			got = append(got, append([]byte(nil), sc.Bytes()...))
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if len(got) != len(want) {
			t.Fatalf("chunk %d: %d frames, want %d: % X", chunk, len(got), len(want), got)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("chunk %d frame %d: % X, want % X", chunk, i, got[i], want[i])
			}
		}
	}
}

// A false start whose length byte claims a long frame must not hide a
// complete valid frame that follows it.
func TestSplitFalseStartWithLongLength(t *testing.T) {
	a := mustAddr(t, "000000000001")
	f := encode(t, ReadRequest(a, DIForwardActiveTotal))
	stream := append([]byte{0x68, 1, 2, 3, 4, 5, 6, 0x68, 0x11, 0xC8}, f...)
	adv, tok, err := Split(stream, false)
	for err == nil && tok == nil && adv > 0 {
		stream = stream[adv:]
		adv, tok, err = Split(stream, false)
	}
	if !bytes.Equal(tok, f) {
		t.Fatalf("got % X, want % X", tok, f)
	}
}

type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := min(r.n, len(p), len(r.b))
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

func TestRoundTripEveryFunction(t *testing.T) {
	a := mustAddr(t, "151230011061")
	auth := Auth{Level: 0x02, Password: 0x123456, Operator: 0x01000000}
	until := DateTime{2099, 12, 30, 0, 0, 0}
	frames := []Frame{
		BroadcastTimeRequest(Broadcast, DateTime{2026, 11, 24, 10, 0, 0}),
		ReadRequest(a, DIForwardActiveBlock),
		ReadFollowRequest(a, 0x03300001, 1),
		ReadAddressRequest(),
		ReadAddressReply(a),
		WriteRequest(a, DITime, auth, []byte{0x00, 0x30, 0x12}),
		AckReply(a, FuncWrite),
		WriteAddressRequest(a),
		FreezeRequest(a, FreezeEvery, FreezeEvery, FreezeEvery, FreezeEvery),
		FreezeRequest(Broadcast, 0, 0, FreezeEvery, FreezeEvery),
		ChangeBaudRequest(a, Baud9600),
		{Address: a, Control: Reply(FuncChangeBaud, false), Data: []byte{Baud9600}},
		ChangePasswordRequest(a, 2, 0x020637, 4, 0x111111),
		ClearRequest(a, FuncDemandClear, auth),
		ClearRequest(a, FuncMeterClear, auth),
		EventClearRequest(a, auth, 0xFFFFFFFF),
		ReadReply(a, DIForwardActiveTotal, []byte{0x56, 0x34, 0x12, 0x00}, true),
		ErrorReply(a, FuncRead, ErrNoData|ErrPassword),
		Read1997Request(a, 0xB621),
	}
	for _, ct := range []ControlType{ControlTrip, ControlAllowClose, ControlClose, ControlAlarm, ControlAlarmOff, ControlKeepPower, ControlKeepPowerOff} {
		frames = append(frames, ControlRequest(a, ControlCommand{Type: ct, Auth: auth, Until: until}), AckReply(a, FuncControl), ErrorReply(a, FuncControl, ErrPassword))
	}
	for _, f := range frames {
		b := encode(t, f)
		var g Frame
		n, err := g.Decode(append(AppendPreamble(nil), b...))
		if err != nil || n != len(b)+4 {
			t.Fatalf("%v %s: decode %v (n=%d)", f.Control.Func(), f.Address, err, n)
		}
		if g.Address != f.Address || g.Control != f.Control || !bytes.Equal(g.Data, f.Data) {
			t.Fatalf("%v: round trip %+v != %+v", f.Control.Func(), g, f)
		}
		if g.Control.Func() == FuncControl && !g.Control.IsResponse() {
			c, err := g.ControlCommand()
			if err != nil || c.Until != until || c.Auth != auth {
				t.Fatalf("control command %+v %v", c, err)
			}
		}
	}
	e, _ := frames[17].ErrorWord()
	if got := strings.Join(e.Names(), ","); got != "no-data,password" {
		t.Errorf("error names %s", got)
	}
}

func TestNumberRoundTrip(t *testing.T) {
	for _, c := range []struct {
		d Decimal
		f Format
	}{
		{Decimal{123456, 2}, fmtEnergy}, {Decimal{-1412, 3}, fmtCurrent}, {Decimal{-999, 3}, fmtPF},
		{Decimal{2352, 1}, fmtVoltage}, {Decimal{0, 4}, fmtPower}, {Decimal{99999999, 2}, fmtEnergy},
	} {
		b, err := AppendNumber(nil, c.d, c.f)
		if err != nil {
			t.Fatal(err)
		}
		d, ok, err := DecodeNumber(b, c.f)
		if err != nil || !ok || d != c.d {
			t.Errorf("%s: got %s %v %v", c.d, d, ok, err)
		}
	}
	if _, err := AppendNumber(nil, Decimal{100000000, 2}, fmtEnergy); err == nil {
		t.Error("overflow accepted")
	}
	if _, err := AppendNumber(nil, Decimal{-1, 2}, fmtEnergy); err == nil {
		t.Error("negative in unsigned field accepted")
	}
	// The sign bit: 12 94 is -14.12 for a 2-byte XX.XX signed field.
	d, _, err := DecodeNumber([]byte{0x12, 0x94}, num("XX.XX", SignBit))
	if err != nil || d.String() != "-14.12" {
		t.Errorf("sign bit: %s %v", d, err)
	}
}

func TestCatalogue(t *testing.T) {
	for _, c := range []struct {
		di    DI
		len   int
		unit  string
		first string
	}{
		{0x00010000, 4, "kWh", "forward active energy total"},
		{0x0001FF00, 20, "kWh", "forward active energy total"},
		{0x0001040C, 4, "kWh", "forward active energy tariff 4"},
		{0x05060001, 5, "", "daily freeze time"},
		{0x0506013E, 20, "kWh", "forward active energy total"},
		{0x0201FF00, 6, "V", "A-phase voltage"},
		{0x040005FF, 14, "", "status word 1"},
		{0x00900200, 4, "yuan", "remaining money"},
		{0x02800002, 2, "Hz", "grid frequency"},
	} {
		e, ok := Lookup(c.di)
		if !ok {
			t.Errorf("%s not catalogued", c.di)
			continue
		}
		if e.Len() != c.len || e.Fields[0].Unit != c.unit || e.Fields[0].Name != c.first || e.NameZH == "" {
			t.Errorf("%s: len %d unit %q first %q zh %q", c.di, e.Len(), e.Fields[0].Unit, e.Fields[0].Name, e.NameZH)
		}
	}
	if _, ok := Lookup(0x0506013F); ok {
		t.Error("daily freeze 63 should not exist (meters keep 62)")
	}
	vals, err := DecodeValue(DIStatusWord3, []byte{0x50, 0x00})
	if err != nil || vals[0].Text != "0050" || strings.Join(vals[0].Bits, ",") != "relay-open,relay-command-open" {
		t.Errorf("status word 3: %+v %v", vals, err)
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	b := encode(t, ReadReply(mustAddr(t, "123456789012"), DIForwardActiveBlock, make([]byte, 20), false))
	var f Frame
	e, _ := Lookup(DIForwardActiveBlock)
	var dst [5]Decimal
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := f.Decode(b); err != nil {
			t.Fatal(err)
		}
		v, _ := f.Value()
		if _, err := e.DecodeNumbers(v, dst[:]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("decode into a reused frame allocates %.0f times", allocs)
	}
}

func TestParseAuth(t *testing.T) {
	a, err := ParseAuth("02123456", "01000000")
	if err != nil || a.Level != 2 || a.Password != 0x123456 || a.Operator != 0x01000000 {
		t.Fatalf("%+v %v", a, err)
	}
	for _, bad := range [][2]string{{"0212345", "00000000"}, {"zz123456", "00000000"}, {"02123456", "0"}} {
		if _, err := ParseAuth(bad[0], bad[1]); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
