package q1376

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
)

type vector struct {
	ID         string         `json:"id"`
	Hex        string         `json:"hex"`
	Meaning    string         `json:"meaning"`
	Kind       string         `json:"kind"`
	ChecksumOK bool           `json:"checksum_ok"`
	Decoded    map[string]any `json:"decoded"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/q1376-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.ID, func(t *testing.T) {
			b := unhex(t, v.Hex)
			var f Frame
			n, err := f.Decode(b)
			if !v.ChecksumOK {
				if err == nil {
					t.Fatal("accepted a frame with a wrong checksum")
				}
				return
			}
			if err != nil && strings.Contains(v.Meaning, "VARIANT") {
				// Provincial 7-byte addresses are not decoded; the
				// standard decoder must say so clearly, not crash.
				if !errors.Is(err, ErrData) {
					t.Fatalf("variant rejected unclearly: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", v.Meaning, err)
			}
			if n != len(b) {
				t.Errorf("consumed %d of %d", n, len(b))
			}
			d := v.Decoded
			want := map[string]any{
				"C": fmt.Sprintf("%02X", byte(f.Control)), "DIR": bit(f.Control.Dir()), "PRM": bit(f.Control.PRM()),
				"func": float64(f.Control.Func()), "A1": f.Address.A1String(), "A2": float64(f.Address.A2),
				"MSA": float64(f.Address.MSA), "group": bit(f.Address.Group), "AFN": fmt.Sprintf("%02X", byte(f.AFN)),
				"TpV": bit(f.Seq.TpV), "FIR": bit(f.Seq.FIR), "FIN": bit(f.Seq.FIN), "CON": bit(f.Seq.CON),
				"PSEQ_RSEQ": float64(f.Seq.Num), "proto_id": float64(f.Protocol),
			}
			if f.Control.Dir() {
				want["ACD"] = bit(f.Control.ACD())
			}
			for k, got := range want {
				if exp, ok := d[k]; ok && fmt.Sprint(exp) != fmt.Sprint(got) {
					t.Errorf("%s = %v, want %v", k, got, exp)
				}
			}
			if exp, ok := d["userdata_len"]; ok && exp != float64(len(b)-8) {
				t.Errorf("user data %d, want %v", len(b)-8, exp)
			}
			if strings.Contains(v.Meaning, "VARIANT") {
				return // 7-byte addresses: only the link fields are checked
			}
			if len(f.Units) == 0 {
				t.Fatal("no data unit")
			}
			if pns, ok := d["pn"].([]any); ok && len(pns) > 0 && fmt.Sprint(pns[0]) != fmt.Sprint(f.Units[0].Pn[0]) {
				t.Errorf("pn %v, want %v", f.Units[0].Pn, pns)
			}
			if fns, ok := d["Fn"].([]any); ok && len(fns) > 0 && fmt.Sprint(fns[0]) != fmt.Sprint(f.Units[0].Fn[0]) {
				t.Errorf("Fn %v, want %v", f.Units[0].Fn, fns)
			}
			if port, ok := d["afn10_port"]; ok {
				r, err := ParseForwardReply(f.Units[0].Data)
				if err != nil || float64(r.Port) != port || !strings.EqualFold(hex.EncodeToString(r.Content), fmt.Sprint(d["inner645_hex"])) {
					t.Errorf("forward reply %+v %v", r, err)
				}
				var inner dlt645.Frame
				if _, err := inner.Decode(r.Content); err != nil {
					t.Errorf("inner 645 frame: %v", err)
				}
			}
			// What decodes re-encodes to the same bytes.
			enc, err := AppendFrame(nil, &f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, b) {
				t.Errorf("re-encoded\n% X\nwant\n% X", enc, b)
			}
		})
	}
}

func TestVectorValues(t *testing.T) {
	byID := map[string]vector{}
	for _, v := range loadVectors(t) {
		byID[v.ID] = v
	}
	decode := func(id string) *Frame {
		f, err := Parse(unhex(t, byID[id].Hex))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return f
	}
	// 1376-07: F129 p1 at 2018-08-28 16:18, 4 tariffs, total 0.0100 kWh.
	f := decode("1376-07")
	ind, err := ParseIndication(f.Units[0].Data)
	if err != nil || ind.ReadAt.String() != "2018-08-28 16:18:00" || len(ind.Values) != 5 || ind.Values[0].String() != "0.0100" || ind.Values[1].Valid {
		t.Errorf("1376-07: %+v %v", ind, err)
	}
	// 1376-09: F25: Ua 242.7 V, PF total 100.0 %.
	f = decode("1376-09")
	in, err := ParseInstant(f.Units[0].Data)
	if err != nil || in.U[0].String() != "242.7" || in.PF[0].String() != "100.0" || in.U[1].Valid {
		t.Errorf("1376-09: %+v %v", in, err)
	}
	// 1376-19: 0D F1, Td_d 2018-08-27.
	f = decode("1376-19")
	day, err := ParseDay(f.Units[0].Data)
	if err != nil || day.String() != "2018-08-27" {
		t.Errorf("1376-19 day %v %v", day, err)
	}
	ind, err = ParseIndication(f.Units[0].Data[3:])
	if err != nil || ind.Values[0].String() != "0.0100" {
		t.Errorf("1376-19 values %+v %v", ind, err)
	}
	// 1376-49: terminal clock 2015-03-17 07:39:00, week 2.
	f = decode("1376-49")
	c, err := ParseClock(f.Units[0].Data)
	if err != nil || c.String() != "2015-03-17 07:39:00" || c.Week != 2 {
		t.Errorf("1376-49 clock %+v %v", c, err)
	}
	// 1376-41: AFN 05 F1 with PW and Tp, broadcast address.
	f = decode("1376-41")
	if !f.Address.IsBroadcast() || len(f.PW) != 16 || f.Tp == nil || len(f.Units[0].Data) != 1 {
		t.Errorf("1376-41: %+v", f)
	}
	// 1376-29: EC 11 00 and Tp.
	f = decode("1376-29")
	if f.EC == nil || f.EC[0] != 0x11 || f.Tp == nil {
		t.Errorf("1376-29 EC/Tp %+v %+v", f.EC, f.Tp)
	}
}

func TestErrorsSayWhere(t *testing.T) {
	good, _ := AppendFrame(nil, Login(Address{A1: 0x0171, A2: 2082}, 8))
	bad := append([]byte(nil), good...)
	bad[len(bad)-2]++
	if _, err := Parse(bad); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "checksum mismatch at byte 18") {
		t.Errorf("checksum: %v", err)
	}
	bad = append([]byte(nil), good...)
	bad[3] = 0x36
	if _, err := Parse(bad); !errors.Is(err, ErrLength) {
		t.Errorf("L copies: %v", err)
	}
	// A truncated data unit says which function and how much is missing.
	req := Request(Address{A1: 0x0171, A2: 1}, AFNForward, 1, nil, NewUnit(0, 1, []byte{1, 0x6B, 0x8A, 0x0A, 20, 0, 1, 2}))
	b, _ := AppendFrame(nil, req)
	if _, err := Parse(b); err == nil || !strings.Contains(err.Error(), "AFN 10 F1") {
		t.Errorf("truncated forward: %v", err)
	}
}

func TestRoundTrips(t *testing.T) {
	a := Address{A1: 0x0171, A2: 2082, MSA: 1}
	tp := &Tp{PFC: 3, Second: 5, Minute: 4, Hour: 3, Day: 24, Delay: 5}
	ind := Indication{ReadAt: DateTime{Year: 2026, Month: 11, Day: 24, Hour: 0, Minute: 5}, HasAt: true,
		Values: []Value{{Decimal{Mant: 12345600, Scale: 4}, true}, {Decimal{Mant: 1, Scale: 4}, true}, {}, {Decimal{Mant: 99, Scale: 2}, true}, {Decimal{}, true}}}
	indBytes, err := ind.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	day := Day{2026, 11, 23}
	arch, err := AppendArchive(nil, []ArchiveEntry{{Seq: 1, Pn: 1, Baud: 2400, Port: 1, Protocol: ProtoDLT645_2007, Tariffs: 4}, {Seq: 2, Pn: 2, Baud: 9600, Port: 2, Protocol: ProtoDLT645_2007}})
	if err != nil {
		t.Fatal(err)
	}
	fwd, _ := Forward{Port: 1, Control: Control2400_8E1, FrameTimeout: 10 * time.Second, ByteTimeout: 100 * time.Millisecond, Content: []byte{0x68, 1, 2}}.Append(nil)
	inst, err := Instant{ReadAt: ind.ReadAt, U: [3]Value{{Decimal{Mant: 2352, Scale: 1}, true}}, I: [3]Value{{Decimal{Mant: -1500, Scale: 3}, true}}, P: [4]Value{{Decimal{Mant: -12345, Scale: 4}, true}}}.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	per, _ := AppendItemResults(nil, AFNClass2, []ItemResult{{Pn: 1, Fn: 161}, {Pn: 9, Fn: 161, Err: 1}})
	frames := []*Frame{
		Login(a, 1), Heartbeat(a, 2), Logout(a, 3),
		Request(a, AFNClass1, 4, nil, Unit{Pn: []uint16{1, 2, 3}, Fn: []uint16{129, 131}}),
		Request(a, AFNClass2, 5, nil, NewUnit(1, 161, day.AppendTd(nil)), NewUnit(9, 177, Month{2026, 10}.AppendTd(nil))),
		Request(a, AFNControl, 6, nil, NewUnit(1, 1, []byte{0})),
		Request(a, AFNControl, 7, nil, NewUnit(1, 2, nil)),
		Request(a, AFNControl, 7, nil, NewUnit(0, 31, AppendClock(nil, ClockOf(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))))),
		Request(a, AFNSet, 8, nil, NewUnit(0, 10, arch)),
		Request(a, AFNForward, 9, nil, NewUnit(0, 1, fwd)),
		{Control: CtlTerminalData, Address: a, AFN: AFNClass1, Seq: Single(4, true), Units: []Unit{{Pn: []uint16{1, 2}, Fn: []uint16{129}, Data: append(append([]byte(nil), indBytes...), indBytes...)}, NewUnit(1, 25, inst)}, Tp: tp},
		{Control: CtlTerminalData, Address: a, AFN: AFNClass2, Seq: Seq{FIR: true, CON: true, Num: 5}, Units: []Unit{NewUnit(1, 161, append(day.AppendTd(nil), indBytes...))}},
		{Control: CtlTerminalData | 0x20, Address: a, AFN: AFNForward, Seq: Single(9, false), Units: []Unit{NewUnit(0, 1, ForwardReply{Port: 1, Content: []byte{0x68, 0x16}}.Append(nil))}, EC: &[2]byte{1, 2}},
		{Control: CtlMasterAck, Address: a, AFN: AFNConfirm, Seq: Single(5, false), Units: []Unit{NewUnit(0, 3, per)}},
	}
	for i, f := range frames {
		b, err := AppendFrame(nil, f)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		g, err := Parse(b)
		if err != nil {
			t.Fatalf("%d (AFN %02X): %v\n% X", i, byte(f.AFN), err, b)
		}
		b2, _ := AppendFrame(nil, g)
		if !bytes.Equal(b, b2) || len(g.Units) != len(f.Units) {
			t.Fatalf("%d: round trip differs\n% X\n% X", i, b, b2)
		}
	}
	// Typed data survives.
	g, _ := Parse(must(AppendFrame(nil, frames[10])))
	items, err := g.Items()
	if err != nil || len(items) != 3 || items[1].Pn != 2 {
		t.Fatalf("items %+v %v", items, err)
	}
	got, err := ParseIndication(items[1].Data)
	if err != nil || got.Values[0].String() != "1234.5600" || got.Values[2].Valid || got.Values[3].String() != "0.9900" {
		t.Fatalf("indication %+v %v", got, err)
	}
	entries, err := ParseArchive(arch)
	if err != nil || len(entries) != 2 || entries[1].Baud != 9600 || entries[1].Pn != 2 {
		t.Fatalf("archive %+v %v", entries, err)
	}
	fw, err := ParseForward(fwd)
	if err != nil || fw.FrameTimeout != 10*time.Second || fw.ByteTimeout != 100*time.Millisecond || len(fw.Content) != 3 {
		t.Fatalf("forward %+v %v", fw, err)
	}
	in, err := ParseInstant(inst)
	if err != nil || in.U[0].String() != "235.2" || in.I[0].String() != "-1.500" || in.P[0].String() != "-1.2345" {
		t.Fatalf("instant %+v %v", in, err)
	}
	ok, isConfirm := g.IsConfirm()
	if ok || isConfirm {
		t.Fatal("a data frame is not a confirm")
	}
	c, _ := Parse(must(AppendFrame(nil, frames[13])))
	if ok, isC := c.IsConfirm(); ok || !isC {
		t.Fatal("per-item confirm with an error must not count as confirmed")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestEventRecords(t *testing.T) {
	ev := Events{EC1: 3, EC2: 1, Pm: 0, Pn: 2, Records: []EventRecord{{ERC: 14, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}, {ERC: 1, Data: []byte{0x80}}}}
	b, err := ev.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &Frame{Control: CtlTerminalData, Address: Address{A1: 0x0171, A2: 1}, AFN: AFNClass3, Seq: Single(1, false), Units: []Unit{NewUnit(0, 1, b)}}
	g, err := Parse(must(AppendFrame(nil, f)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseEvents(g.Units[0].Data)
	if err != nil || got.EC1 != 3 || len(got.Records) != 2 || got.Records[0].ERC != 14 || len(got.Records[0].Data) != 10 {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := ParseEvents([]byte{1, 2, 0, 1, 14, 10, 1}); err == nil {
		t.Fatal("truncated record accepted")
	}
}

func TestSplitStream(t *testing.T) {
	a := Address{A1: 0x0171, A2: 1}
	f1, _ := AppendFrame(nil, Login(a, 1))
	f2, _ := AppendFrame(nil, Heartbeat(a, 2))
	stream := append([]byte{0x00, 0x68, 0x32, 0x00}, f1...)
	stream = append(stream, 0x68, 0x68, 0x99)
	stream = append(stream, f2...)
	for _, chunk := range []int{1, 5, len(stream)} {
		sc := bufio.NewScanner(&chunker{stream, chunk})
		sc.Split(Split)
		var got [][]byte
		for sc.Scan() {
			got = append(got, append([]byte(nil), sc.Bytes()...))
		}
		if len(got) != 2 || !bytes.Equal(got[0], f1) || !bytes.Equal(got[1], f2) {
			t.Fatalf("chunk %d: % X", chunk, got)
		}
	}
}

type chunker struct {
	b []byte
	n int
}

func (c *chunker) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, errEOF
	}
	n := min(c.n, len(p), len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}
