package q1376

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestERCRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    ERC
		hex  string
	}{
		// Power down 2026-06-01 23:58, up 2026-06-02 00:03: A.15 is
		// mm hh DD MM YY, BCD; Le = 5 + 5 = 10 = 0A.
		{"power", ERC{Code: ERCPower, At: DateTime{Year: 2026, Month: 6, Day: 1, Hour: 23, Minute: 58}, PowerUp: DateTime{Year: 2026, Month: 6, Day: 2, Minute: 3}, HasUp: true},
			"0e0a 5823010626 0300020626"},
		// Not yet up: the power-up time is EE.
		{"power down only", ERC{Code: ERCPower, At: DateTime{Year: 2026, Month: 6, Day: 1, Hour: 23, Minute: 58}},
			"0e0a 5823010626 eeeeeeeeee"},
		// Meter clock off at p2, began (D15): 0x8002 little-endian = 02 80;
		// Le = 5 + 2 + 6 + 6 = 19 = 13; A.1 is ss mm hh DD (week<<5|MM) YY.
		{"clock", ERC{Code: ERCMeterClock, At: DateTime{Year: 2026, Month: 6, Day: 2, Hour: 10, Minute: 15}, Pn: 2, Began: true, HasClocks: true,
			MeterClock: DateTime{Year: 2026, Month: 6, Day: 2, Hour: 10, Minute: 27, Second: 30}, TerminalClock: DateTime{Year: 2026, Month: 6, Day: 2, Hour: 10, Minute: 15}},
			"0c13 1510020626 0280 302710020626 001510020626"},
		// Meter power-down count rose at p9 (09 00), flag D3 = 08; Le 8.
		{"fault", ERC{Code: ERCMeterFault, At: DateTime{Year: 2026, Month: 1, Day: 5, Hour: 8}, Pn: 9, Began: true, Faults: FaultPowerDown},
			"0d08 0008050126 0980 08"},
		// Relay of p3 opened: word 3 (third pair) changed bit 4 (0010) and
		// is now 0050; Le = 5 + 2 + 14 + 14 = 35 = 23.
		{"status", ERC{Code: ERCMeterStatus, At: DateTime{Year: 2026, Month: 1, Day: 5, Hour: 8}, Pn: 3, Changed: [7]uint16{2: 0x0010}, Status: [7]uint16{2: 0x0050}},
			"2123 0008050126 0300 0000000010000000000000000000 0000000050000000000000000000"},
		// Cover of p1 opened, 12 times in all: count BCD low first 12 00 00,
		// then 6 + 6 + 48 bytes EE; Le = 70 = 46.
		{"cover", ERC{Code: ERCCoverOpen, At: DateTime{Year: 2026, Month: 1, Day: 5, Hour: 8}, Pn: 1, Count: 12},
			"2546 0008050126 0100 120000" + ee(60)},
		// 300 real-time readings lost (2C 01 00 00); Le 20 = 14.
		{"loss", ERC{Code: ERCStoreLoss, At: DateTime{Year: 2026, Month: 1, Day: 5, Hour: 8}, LostKind: LostRealtime, Count: 300,
			LostFrom: DateTime{Year: 2026, Month: 1, Day: 1}, LostTo: DateTime{Year: 2026, Month: 1, Day: 3, Hour: 23, Minute: 45}},
			"fa14 0008050126 01 2c010000 0000010126 4523030126"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := hex.DecodeString(stripSpaces(tc.hex))
			if err != nil {
				t.Fatal(err)
			}
			got, err := AppendERC(nil, tc.e)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("AppendERC = % X, %v\nwant         % X", got, err, want)
			}
			back, err := ParseERC(EventRecord{ERC: got[0], Data: got[2:]})
			if err != nil || back != tc.e {
				t.Fatalf("ParseERC = %+v, %v\nwant        %+v", back, err, tc.e)
			}
		})
	}
}

func ee(n int) string {
	s := ""
	for range n {
		s += "ee"
	}
	return s
}

func stripSpaces(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)) }

func TestERCBadRecords(t *testing.T) {
	for _, r := range []EventRecord{
		{ERC: 99, Data: make([]byte, 10)},                                      // unknown code
		{ERC: ERCPower, Data: []byte{0x58, 0x23, 0x01, 0x06, 0x26}},            // short
		{ERC: ERCMeterClock, Data: []byte{0x5A, 0x23, 0x01, 0x06, 0x26, 1, 0}}, // minute 5A is not BCD
		{ERC: ERCMeterClock, Data: []byte{0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 1, 0}}, // no time
	} {
		if e, err := ParseERC(r); err == nil {
			t.Errorf("ERC %d % X accepted: %+v", r.ERC, r.Data, e)
		}
	}
	if _, err := AppendERC(nil, ERC{Code: ERCCoverOpen, Count: 1_000_000}); err == nil {
		t.Error("a 7-digit cover count encoded")
	}
}

// FuzzParseERC: any record either decodes, and then encodes back to a
// record that decodes to the same value, or is refused; never a panic.
func FuzzParseERC(f *testing.F) {
	for _, e := range []ERC{
		{Code: ERCPower, At: DateTime{Year: 2026, Month: 6, Day: 1, Hour: 23, Minute: 58}},
		{Code: ERCMeterClock, At: DateTime{Year: 2026, Month: 6, Day: 2}, Pn: 2, Began: true},
		{Code: ERCCoverOpen, At: DateTime{Year: 2026, Month: 6, Day: 2}, Pn: 2, Count: 5},
		{Code: ERCMeterStatus, At: DateTime{Year: 2026, Month: 6, Day: 2}, Pn: 2},
		{Code: ERCStoreLoss, At: DateTime{Year: 2026, Month: 6, Day: 2}, LostKind: 1, Count: 3, LostFrom: DateTime{Year: 2026, Month: 1, Day: 1}, LostTo: DateTime{Year: 2026, Month: 1, Day: 1}},
	} {
		b, _ := AppendERC(nil, e)
		f.Add(b[0], b[2:])
	}
	f.Fuzz(func(t *testing.T, code byte, data []byte) {
		e, err := ParseERC(EventRecord{ERC: code, Data: data})
		if err != nil {
			return
		}
		b, err := AppendERC(nil, e)
		if err != nil {
			if e.Code == ERCCoverOpen {
				return // counts beyond 6 digits cannot come from BCD, but be safe
			}
			t.Fatalf("decoded %+v does not encode: %v", e, err)
		}
		back, err := ParseERC(EventRecord{ERC: b[0], Data: b[2:]})
		if err != nil || back != e {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, e)
		}
	})
}

// ERC 20: a refused PW 8962…145e from MSA 1, reason 3 (replay), standing for
// 2 refusals (02 00); Le = 5 + 16 + 1 + 3 = 25 = 19. Without a reason only
// the standard's 22 bytes (16) are written.
func TestERCAuth(t *testing.T) {
	e := ERC{Code: ERCAuth, At: DateTime{Year: 2026, Month: 6, Day: 1, Hour: 10, Minute: 21}, MSA: 1, AuthReason: AuthReplay, Count: 2}
	copy(e.PW[:], unhex(t, "8962b3de96e5073293aad4a31a07145e"))
	for _, tc := range []struct {
		e   ERC
		hex string
	}{
		{e, "1419 2110010626 8962b3de96e5073293aad4a31a07145e 01 03 0200"},
		{ERC{Code: ERCAuth, At: e.At, PW: e.PW, MSA: 1}, "1416 2110010626 8962b3de96e5073293aad4a31a07145e 01"},
	} {
		want := unhex(t, stripSpaces(tc.hex))
		got, err := AppendERC(nil, tc.e)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("AppendERC = % X, %v\nwant         % X", got, err, want)
		}
		back, err := ParseERC(EventRecord{ERC: got[0], Data: got[2:]})
		if err != nil || back != tc.e {
			t.Fatalf("ParseERC = %+v, %v\nwant        %+v", back, err, tc.e)
		}
	}
	if _, err := AppendERC(nil, ERC{Code: ERCAuth, AuthReason: AuthBadPW, Count: 70000}); err == nil {
		t.Error("a count of 70000 was encoded in 2 bytes")
	}
}
