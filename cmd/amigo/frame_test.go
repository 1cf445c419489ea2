package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func runCmd(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	var code int
	if stdin != "" {
		code = frameDecode(args[2:], strings.NewReader(stdin), &out, &errb)
	} else {
		code = run(context.Background(), args, &out, &errb)
	}
	return out.String(), errb.String(), code
}

func TestFrameDecodeDLT645(t *testing.T) {
	out, errs, code := runCmd(t, "", "frame", "decode", "FE FE 68 12 90 78 56 34 12 68 91 08 33 33 34 33 89 67 45 33 54 16")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// The value must be the JSON number 1234.56 exactly as the meter's digits.
	if !strings.Contains(out, `"value":1234.56,`) {
		t.Fatalf("value not exact: %s", out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"protocol": "dlt645", "address": "123456789012", "control": "91", "function": "read", "direction": "response", "error": false, "follow": false, "di": "00010000"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	vals := got["values"].([]any)
	if v := vals[0].(map[string]any); v["unit"] != "kWh" || v["name"] == "" {
		t.Errorf("value entry %v", v)
	}
}

func TestFrameDecodeSeveralFromStdinAndErrors(t *testing.T) {
	in := "68 12 00 00 00 10 20 68 D1 01 35 19 16\nFEFEFEFE681111111111116893064444444444446716\n"
	out, errs, code := runCmd(t, in, "frame", "decode")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"error":true,"error_bits":["no-data"]`) || !strings.Contains(lines[1], `"function":"read-address"`) {
		t.Fatalf("output:\n%s", out)
	}
	_, errs, code = runCmd(t, "", "frame", "decode", "68AAAAAAAAAAAA68910833333333343333337E16")
	if code == 0 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "checksum mismatch at byte 18: got 0x7e, want 0xfe") {
		t.Fatalf("bad checksum: exit %d, stderr %q", code, errs)
	}
}

func TestFrameEncodeDecodeRoundTrip(t *testing.T) {
	out, errs, code := runCmd(t, "", "frame", "encode", "dlt645", "read", "--address", "123456789012", "--di", "00010000")
	if code != 0 || strings.TrimSpace(out) != "68 12 90 78 56 34 12 68 11 04 33 33 34 33 68 16" {
		t.Fatalf("read: exit %d %q %s", code, out, errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"control", "--address", "151230011061", "--command", "trip", "--password", "02020637", "--until", "2099-12-30T00:00:00"}, `"command":{"type":"trip","type_zh":"跳闸","password_level":"02","password":"020637","operator":"00000000","until":"2099-12-30 00:00:00"}`},
		{[]string{"control", "--address", "151230011061", "--command", "keep-power-off", "--until", "2030-01-01T00:00:00"}, `"type":"keep-power-off"`},
		{[]string{"time-sync", "--time", "2017-06-05T10:22:51"}, `"address":"999999999999","control":"08","function":"broadcast-time","direction":"request","error":false,"follow":false,"time":"2017-06-05 10:22:51"`},
		{[]string{"read-follow", "--address", "123456789012", "--di", "03300001", "--seq", "1"}, `"seq":1`},
		{[]string{"change-baud", "--address", "123456789012", "--baud", "9600"}, `"function":"change-baud"`},
		{[]string{"write", "--address", "123456789012", "--di", "04000102", "--data", "003012"}, `"value":"12:30:00"`},
		{[]string{"meter-clear", "--address", "123456789012"}, `"function":"meter-clear"`},
	} {
		enc, errs, code := runCmd(t, "", append([]string{"frame", "encode", "dlt645"}, c.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", c.args, code, errs)
		}
		dec, errs, code := runCmd(t, "", "frame", "decode", enc)
		if code != 0 || !strings.Contains(dec, c.want) {
			t.Errorf("%v: exit %d %s\n got %s\nwant %s", c.args, code, errs, dec, c.want)
		}
	}
	if _, _, code := runCmd(t, "", "frame", "encode", "dlt645", "control", "--address", "123456789012", "--command", "explode"); code == 0 {
		t.Error("unknown control command accepted")
	}
}

func TestFrameDecodeQ1376(t *testing.T) {
	// Recognised without --protocol: a login.
	out, errs, code := runCmd(t, "", "frame", "decode", "683200320068c97101220800027800000100e016")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"protocol": "q1376", "control": "C9", "dir": 1.0, "prm": 1.0, "func": 9.0, "a1": "0171", "a2": 2082.0, "msa": 0.0, "group": 0.0, "afn": "02"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if seq := got["seq"].(map[string]any); seq["con"] != 1.0 || seq["seq"] != 8.0 || seq["fir"] != 1.0 {
		t.Errorf("seq %v", seq)
	}
	// A forwarded 645 reply is decoded inside, with its exact value.
	out, errs, code = runCmd(t, "", "frame", "decode", "--protocol", "q1376", "68 AE 00 AE 00 68 A8 00 02 34 12 04 10 E0 00 00 01 00 1F 14 00 68 61 10 01 30 12 15 68 91 08 33 33 34 33 AB 39 33 33 49 16 4F 00 00 06 50 23 21 05 AE 16")
	if code != 0 || !strings.Contains(out, `"value":6.78`) || !strings.Contains(out, `"ec":[79,0]`) || !strings.Contains(out, `"port":31`) {
		t.Fatalf("forward: exit %d %s %s", code, out, errs)
	}
	// An F129 reading: exact A.14 digits, EE as null.
	out, _, code = runCmd(t, "", "frame", "decode", "68c600c600688871012208020ca2010101101816280818040001000000eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee0239191628008c16")
	if code != 0 || !strings.Contains(out, `"total":0.0100,"tariffs":[null,null,null,null]`) || !strings.Contains(out, `"read_at":"2018-08-28 16:18:00"`) {
		t.Fatalf("F129: %s", out)
	}
	_, errs, code = runCmd(t, "", "frame", "decode", "--protocol", "q1376", "683200320068c97101220800027800000100e116")
	if code == 0 || !strings.Contains(errs, "q1376: checksum mismatch at byte 18") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("bad checksum: %d %q", code, errs)
	}
}

func TestStationExampleConfigParses(t *testing.T) {
	// runStation sets the process's schedulers (procs_per_cpu): put them
	// back for the other tests.
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	var out, errb bytes.Buffer
	// The example names a CA that does not exist here: the station must get
	// past parsing and stop at the certificate, saying so.
	code := runStation(context.Background(), []string{"--config", "../../docs/station.example.json"}, &out, &errb)
	if code == 0 || strings.Contains(errb.String(), "unknown field") || !strings.Contains(errb.String(), "pki") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

// Bytes a frame carries beyond what the tool interprets are shown, never
// dropped; the 1376.1 protocol identifier is shown.
func TestFrameDecodeShowsEveryByte(t *testing.T) {
	for _, c := range []struct {
		name, hex string
		want      []string
	}{
		// 645 read of load records (DI 06000001) from a time: DI, N = 1 block,
		// mmhhDDMMYY 30 10 02 01 26 (each byte +33H on the wire).
		{"645 read with block count and time", "68 12 90 78 56 34 12 68 11 0A 34 33 33 39 34 63 43 35 34 59 10 16",
			[]string{`"di":"06000001"`, `"blocks":1`, `"from":"2026-01-02 10:30"`}},
		// The same with only the block count N = 5.
		{"645 read with block count", "68 12 90 78 56 34 12 68 11 05 34 33 33 39 38 A7 16", []string{`"blocks":5`}},
		// A read of 00010000 with two more bytes AB CD (DE 00 on the wire).
		{"645 read with unknown bytes", "68 12 90 78 56 34 12 68 11 06 33 33 34 33 DE 00 48 16", []string{`"undecoded_hex":"ABCD"`, "未解析"}},
		// 1376.1 AFN 0C F129 request for p1: L = 12 << 2 | 2 = 0x32.
		{"1376.1 id", "6832003200684B71012208020C60010101106816", []string{`"protocol_id":2,"protocol_name":"Q/GDW 1376.1"`}},
		// The same with protocol id 1 (L = 0x31): Q/GDW 130-2005.
		{"Q/GDW 130 id", "6831003100684B71012208020C60010101106816", []string{`"protocol_id":1,"protocol_name":"Q/GDW 130-2005"`}},
		// The same request with 16 zero password bytes after the unit
		// (L = 28 << 2 | 2 = 0x72): AFN 0C carries no PW, so they are shown.
		{"1376.1 request with PW", "6872007200684B71012208020C6001010110000000000000000000000000000000006816",
			[]string{`"undecoded":{"bytes":16,"hex":"00000000000000000000000000000000","likely":"password PW (16 bytes)`}},
	} {
		out, errs, code := runCmd(t, "", "frame", "decode", c.hex)
		if code != 0 {
			t.Errorf("%s: exit %d %s", c.name, code, errs)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %s lacks %s", c.name, out, w)
			}
		}
	}
	// A frame the tool reads completely has no undecoded field.
	out, _, _ := runCmd(t, "", "frame", "decode", "6832003200684B71012208020C60010101106816")
	if strings.Contains(out, "undecoded") {
		t.Errorf("plain request shows undecoded bytes: %s", out)
	}
}
