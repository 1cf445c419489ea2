package fep

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/q1376"
)

// gprsTokens splits a GPRS stream as the station does; it returns the
// tokens and the scanner's error.
func gprsTokens(r *bufio.Scanner) ([][]byte, error) {
	r.Buffer(make([]byte, 0, MaxGPRSBuffer), MaxGPRSBuffer)
	r.Split(SplitGPRS)
	var out [][]byte
	for r.Scan() {
		out = append(out, append([]byte(nil), r.Bytes()...))
	}
	return out, r.Err()
}

// FuzzSplitGPRS: whatever a DTU sends, the GPRS stream decoder yields lines
// of at most MaxLine printable bytes and whole DL/T 645 frames that decode,
// never buffers more than MaxGPRSBuffer, and gives the same tokens whether
// the bytes arrive at once or one by one.
func FuzzSplitGPRS(f *testing.F) {
	a := mustAddr("000000000042")
	reply := dlt645.ReadReply(a, dlt645.DIAddress, a[:], false)
	frame, _ := dlt645.AppendFrame(dlt645.AppendPreamble(nil), &reply)
	f.Add([]byte("REG 000000000042 " + testIMEI + " " + testSecret + "\r\n"))
	f.Add(append([]byte("HB 000000000042\r\n"), frame...))
	f.Add(append(append([]byte("A\xfe"), frame...), "HB x\n"...))
	f.Add([]byte("REG " + strings.Repeat("9", 200)))
	f.Add(append([]byte{0x68, 0x42, 0, 0, 0, 0, 0, 0x68, 0x91, 0xFF}, frame...))
	f.Fuzz(func(t *testing.T, b []byte) {
		whole, err1 := gprsTokens(bufio.NewScanner(bytes.NewReader(b)))
		bytewise, err2 := gprsTokens(bufio.NewScanner(iotest.OneByteReader(bytes.NewReader(b))))
		if !errors.Is(err1, err2) && (err1 == nil || err2 == nil || err1.Error() != err2.Error()) {
			t.Fatalf("errors differ: whole %v, byte by byte %v", err1, err2)
		}
		if len(whole) != len(bytewise) {
			t.Fatalf("%d tokens whole, %d byte by byte", len(whole), len(bytewise))
		}
		for i, tok := range whole {
			if !bytes.Equal(tok, bytewise[i]) {
				t.Fatalf("token %d: % x whole, % x byte by byte", i, tok, bytewise[i])
			}
			if IsLine(tok) {
				if len(tok) >= MaxLine {
					t.Fatalf("line of %d bytes", len(tok))
				}
				for _, c := range tok {
					if c != '\r' && (c < 0x20 || c > 0x7E) {
						t.Fatalf("line with byte %02X", c)
					}
				}
				continue
			}
			var fr dlt645.Frame
			if _, err := fr.Decode(tok); err != nil {
				t.Fatalf("frame token does not decode: %v (% x)", err, tok)
			}
		}
	})
}

// FuzzParseRegistration: a registration line parses or is refused with an
// error; what parses formats back to the same registration.
func FuzzParseRegistration(f *testing.F) {
	f.Add([]byte("REG 000000000042 " + testIMEI + " " + testSecret))
	f.Add([]byte("REG 000000000042 -"))
	f.Add([]byte("REG 00000000004A 861234567890123 x"))
	f.Add([]byte("REG  000000000042\t861234567890123 \x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRegistration(b)
		if err != nil {
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("an error echoes the secret")
			}
			return
		}
		again, err := ParseRegistration([]byte("REG " + r.Address.String() + " " + r.IMEI + " " + r.Secret))
		if err != nil || again != r {
			t.Fatalf("%+v formats to %+v, %v", r, again, err)
		}
	})
}

// discard is a connection that accepts and drops every write.
type discard struct{ net.Conn }

func (discard) Write(b []byte) (int, error)      { return len(b), nil }
func (discard) SetWriteDeadline(time.Time) error { return nil }
func (discard) Close() error                     { return nil }

// FuzzCollectorInput: whatever a client sends to the collectors' ports, the
// front end's 1376.1 handling (first frame checked as a login, the
// following frames as a session's) never panics, and only a login of a
// terminal in the archive opens a session.
func FuzzCollectorInput(f *testing.F) {
	b, err := os.ReadFile("../../q1376/testdata/q1376-vectors.json")
	if err != nil {
		f.Fatal(err)
	}
	var vs []struct{ Hex string }
	json.Unmarshal(b, &vs)
	for _, v := range vs {
		raw, _ := hex.DecodeString(strings.ReplaceAll(v.Hex, " ", ""))
		f.Add(raw)
	}
	a := q1376.Address{A1: 0x0171, A2: 1}
	login, _ := q1376.AppendFrame(nil, q1376.Login(a, 1))
	hb, _ := q1376.AppendFrame(nil, q1376.Heartbeat(a, 2))
	deny, _ := q1376.AppendFrame(nil, q1376.Deny(q1376.Request(a, q1376.AFNClass1, 3, nil, q1376.NewUnit(1, 129, nil))))
	f.Add(append(append(append([]byte(nil), login...), hb...), deny...))
	other, _ := q1376.AppendFrame(nil, q1376.Login(q1376.Address{A1: 0x0171, A2: 2}, 1))
	f.Add(other)
	d := &dir{known: map[string]amigo.Collector{"0171-1": {ID: 1, Address: "0171-1", PlainTCP: true}}, status: map[int64]string{}}
	fe := New(Config{}, d)
	f.Fuzz(func(t *testing.T, b []byte) {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 4096), maxFrame)
		sc.Split(q1376.Split)
		if !sc.Scan() {
			return
		}
		login, col, who, reason, _ := fe.checkLogin(context.Background(), sc.Bytes(), "", true)
		if reason != "" {
			return
		}
		if who != "0171-1" || col.ID != 1 {
			t.Fatalf("login of %s (collector %d) accepted", who, col.ID)
		}
		s := &Session{f: fe, conn: discard{}, Address: q1376.Address{A1: login.Address.A1, A2: login.Address.A2}, Collector: col, waiting: map[uint8]*call{}}
		for sc.Scan() {
			if s.handle(context.Background(), sc.Bytes()) {
				return
			}
		}
	})
}
