package q1376

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

var errEOF = io.EOF

func FuzzDecode(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(unhex(f, v.Hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		n, err := fr.Decode(b)
		if err != nil {
			return
		}
		enc, err := AppendFrame(nil, &fr)
		if err != nil {
			t.Fatalf("decoded frame does not encode: %v", err)
		}
		if !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encoded % X, want % X", enc, b[:n])
		}
		items, _ := fr.Items()
		for _, it := range items {
			_, _ = ParseIndication(it.Data)
			_, _ = ParseInstant(it.Data)
			_, _ = ParseArchive(it.Data)
			_, _ = ParseForward(it.Data)
			_, _ = ParseForwardReply(it.Data)
			_, _ = ParseClock(it.Data)
			_, _, _ = ParseItemResults(it.Data)
			_, _ = ParseEvents(it.Data)
		}
		_, _ = fr.IsConfirm()
	})
}

func FuzzSplit(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(unhex(f, v.Hex))
	}
	marker, _ := AppendFrame(nil, Heartbeat(Address{A1: 0x0171, A2: 7}, 3))
	f.Fuzz(func(t *testing.T, garbage []byte) {
		sc := bufio.NewScanner(bytes.NewReader(append(append([]byte(nil), garbage...), marker...)))
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		sc.Split(Split)
		found := false
		for sc.Scan() {
			if _, err := FrameLen(sc.Bytes()); err != nil || !linkValid(sc.Bytes()) {
				t.Fatalf("token is not a frame: % X", sc.Bytes())
			}
			// The garbage may itself start a valid frame that contains the
			// marker; then the marker was not lost but carried.
			found = found || bytes.Contains(sc.Bytes(), marker)
		}
		if sc.Err() != nil {
			t.Fatal(sc.Err())
		}
		if !found {
			t.Fatalf("frame after garbage % X lost", garbage)
		}
	})
}
