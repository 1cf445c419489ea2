package q1376

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

var (
	testMaster = func() []byte {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(i) // 00 01 … 1F
		}
		return b
	}()
	testTerminal = Address{A1: 0x0171, A2: 2082, MSA: 1}
	cst          = time.FixedZone("CST", 8*3600)
)

// signedTrip is a master's trip of p2 at terminal 0171-2082, sent
// 2026-06-01 10:20:30 with PFC 7 and 5 minutes allowed, signed with the key
// of the terminal under the master key 00 01 … 1F.
func signedTrip(t testing.TB) *Frame {
	t.Helper()
	f := Request(testTerminal, AFNControl, 3, nil, NewUnit(2, FnRemoteTrip, []byte{0}))
	f.Tp = TpAt(7, time.Date(2026, 6, 1, 10, 20, 30, 0, cst), 5*time.Minute)
	if err := Sign(f, TerminalKey(testMaster, testTerminal)); err != nil {
		t.Fatal(err)
	}
	return f
}

// The golden values were computed apart from this code (Python's hmac):
//
//	K_t = HMAC-SHA256(00..1F, "amigo q1376 downlink key v1" 71 01 22 08)
//	    = 70497c4d…f4cb76f5
//	user data without PW: 4A | 71 01 22 08 02 | 05 | E3 (TpV FIR FIN, seq 3) |
//	    02 01 01 00 00 (p2 F1, data 00) | 07 30 20 10 01 05 (PFC 7,
//	    10:20:30 on the 1st, 5 min)
//	PW = HMAC-SHA256(K_t, that)[0:16] = 8962b3de96e5073293aad4a31a07145e
//	L = (19 + 16) << 2 | 2 = 142 = 8E 00; CS = B8.
func TestSignGolden(t *testing.T) {
	if got := hex.EncodeToString(TerminalKey(testMaster, testTerminal)); got != "70497c4d875ea5f91ad676544d95ef0169989583c9c7a00408ed9f2af4cb76f5" {
		t.Fatalf("terminal key %s", got)
	}
	// MSA and group do not change the terminal's key.
	if !bytes.Equal(TerminalKey(testMaster, Address{A1: 0x0171, A2: 2082}), TerminalKey(testMaster, testTerminal)) {
		t.Fatal("the key depends on the MSA")
	}
	got, err := AppendFrame(nil, signedTrip(t))
	if err != nil {
		t.Fatal(err)
	}
	want := "688e008e00684a710122080205e302010100008962b3de96e5073293aad4a31a07145e073020100105b816"
	if hex.EncodeToString(got) != want {
		t.Fatalf("signed frame\n got %x\nwant %s", got, want)
	}
	f, err := Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(f, TerminalKey(testMaster, testTerminal)); err != nil {
		t.Fatalf("the decoded frame does not verify: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	key := TerminalKey(testMaster, testTerminal)
	raw, _ := AppendFrame(nil, signedTrip(t))
	// Every single changed byte of the user data (PW included), with the
	// checksum mended, is refused — or no longer decodes.
	for i := 6; i < len(raw)-2; i++ {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		b[len(b)-2] += 0x01 // the sum rises by one when bit 0 was clear…
		if raw[i]&1 == 1 {
			b[len(b)-2] -= 2 // …and falls by one when it was set
		}
		f, err := Parse(b)
		if err != nil {
			continue
		}
		if err := Verify(f, key); err == nil {
			t.Errorf("byte %d changed: still verifies", i)
		}
	}
	f := signedTrip(t)
	// Another terminal's key; another master key.
	if err := Verify(f, TerminalKey(testMaster, Address{A1: 0x0171, A2: 2083})); !errors.Is(err, ErrBadPW) {
		t.Errorf("another terminal's key: %v", err)
	}
	if err := Verify(f, TerminalKey(make([]byte, 32), testTerminal)); !errors.Is(err, ErrBadPW) {
		t.Errorf("another master key: %v", err)
	}
	// The zero PW of an unsigned request.
	u := Request(testTerminal, AFNControl, 3, nil, NewUnit(2, FnRemoteTrip, []byte{0}))
	if err := Verify(u, key); !errors.Is(err, ErrBadPW) {
		t.Errorf("zero PW: %v", err)
	}
	u.PW = nil
	if err := Verify(u, key); !errors.Is(err, ErrNoPW) {
		t.Errorf("no PW: %v", err)
	}
	// Signed without a Tp (by someone else's code): the code is right, the
	// tag missing.
	u = Request(testTerminal, AFNControl, 3, nil, NewUnit(2, FnRemoteTrip, []byte{0}))
	u.PW, _ = MAC(u, key)
	if err := Verify(u, key); !errors.Is(err, ErrNoTp) {
		t.Errorf("no Tp: %v", err)
	}
	if err := Sign(u, key); !errors.Is(err, ErrNoTp) {
		t.Errorf("Sign without a Tp: %v", err)
	}
	if err := Sign(Request(testTerminal, AFNClass1, 1, nil, NewUnit(0, 2, nil)), key); err == nil {
		t.Error("an AFN 0C request was signed")
	}
}

func TestTpFresh(t *testing.T) {
	at := func(mo time.Month, d, h, mi, s int) time.Time { return time.Date(2026, mo, d, h, mi, s, 0, cst) }
	for _, tc := range []struct {
		name  string
		sent  time.Time
		delay time.Duration
		now   time.Time
		want  bool
	}{
		{"on time", at(6, 1, 10, 20, 30), 5 * time.Minute, at(6, 1, 10, 20, 31), true},
		{"at the limit: 5 min 0 s", at(6, 1, 10, 20, 30), 5 * time.Minute, at(6, 1, 10, 25, 30), true},
		{"1 s past the limit", at(6, 1, 10, 20, 30), 5 * time.Minute, at(6, 1, 10, 25, 31), false},
		{"ahead of the receiver by 4 min", at(6, 1, 10, 24, 0), 5 * time.Minute, at(6, 1, 10, 20, 0), true},
		{"ahead by 6 min", at(6, 1, 10, 26, 0), 5 * time.Minute, at(6, 1, 10, 20, 0), false},
		// Sent 31 May 23:59:00, received 1 June 00:01:00: the tag's day 31
		// is last month's.
		{"over the month's end", at(5, 31, 23, 59, 0), 5 * time.Minute, at(6, 1, 0, 1, 0), true},
		// Sent 1 July 00:00:30 by a station 1 minute ahead of a receiver at
		// 30 June 23:59:40.
		{"ahead over the month's end", at(7, 1, 0, 0, 30), 5 * time.Minute, at(6, 30, 23, 59, 40), true},
		// A day later: day 1 again, but 24 h away.
		{"a day old", at(6, 1, 10, 20, 30), 255 * time.Minute, at(6, 2, 10, 20, 30), false},
		// (A tag exactly a month old names the same day and time as now:
		// Tp cannot tell them apart. The receiver's (send time, PFC) rule
		// refuses it as not newer.)
	} {
		tp := TpAt(0, tc.sent, tc.delay)
		if got := TpFresh(*tp, tc.now); got != tc.want {
			t.Errorf("%s: fresh %v, want %v", tc.name, got, tc.want)
		}
	}
	if TpFresh(Tp{Day: 1, Delay: 0}, at(6, 1, 0, 0, 0)) {
		t.Error("a tag without a delay is fresh")
	}
	if TpFresh(Tp{Day: 31, Hour: 12, Delay: 255}, at(6, 30, 12, 0, 0)) != false {
		t.Error("31 June at noon accepted as 30 June at noon")
	}
	if _, ok := (Tp{Day: 0, Delay: 5}).SentAt(at(6, 1, 0, 0, 0)); ok {
		t.Error("day 0 named a time")
	}
	// Delays round up to whole minutes and stay within 1..255.
	for _, tc := range []struct {
		d    time.Duration
		want uint8
	}{{0, 1}, {time.Second, 1}, {61 * time.Second, 2}, {300 * time.Minute, 255}} {
		if got := TpAt(0, at(6, 1, 0, 0, 0), tc.d).Delay; got != tc.want {
			t.Errorf("TpAt delay %s = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// FuzzVerify: any bytes given to the decoder and verifier never panic, and
// the only frame that verifies under the key is the one that was signed.
func FuzzVerify(f *testing.F) {
	key := TerminalKey(testMaster, testTerminal)
	signed, _ := AppendFrame(nil, signedTrip(f))
	f.Add(signed)
	for _, v := range loadVectors(f) {
		f.Add(unhex(f, v.Hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		n, err := fr.Decode(b)
		if err != nil {
			return
		}
		if err := Verify(&fr, key); err == nil && !bytes.Equal(b[:n], signed) {
			t.Fatalf("% X verifies, but it is not the signed frame", b[:n])
		}
		if fr.Tp != nil {
			_ = TpFresh(*fr.Tp, time.Date(2026, 6, 1, 10, 21, 0, 0, cst))
		}
	})
}
