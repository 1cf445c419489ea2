package dlt645

import (
	"bufio"
	"bytes"
	"testing"
)

func seedVectors(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(hexBytes(f, v.Hex))
	}
}

// FuzzDecode: Decode never panics; what decodes re-encodes to the same bytes
// and its values decode without panicking.
func FuzzDecode(f *testing.F) {
	seedVectors(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		n, err := fr.Decode(b)
		if err != nil {
			return
		}
		i := 0
		for b[i] == Preamble {
			i++
		}
		enc, err := AppendFrame(nil, &fr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, b[i:n]) {
			t.Fatalf("re-encoded % X, want % X", enc, b[i:n])
		}
		_, _ = fr.Values()
		_, _ = fr.ControlCommand()
		_, _ = fr.Time()
		_, _, _, _ = fr.WriteData()
	})
}

// FuzzSplit: splitting never panics, every token is a valid frame, and a
// valid frame appended after arbitrary garbage is always found.
func FuzzSplit(f *testing.F) {
	seedVectors(f)
	f.Add([]byte{0x68, 0x68, 0xFE, 0x68})
	marker := encode(f, ReadReply(Address{1, 2, 3, 4, 5, 6}, DIForwardActiveTotal, []byte{1, 2, 3, 4}, false))
	f.Fuzz(func(t *testing.T, garbage []byte) {
		stream := append(append([]byte(nil), garbage...), marker...)
		sc := bufio.NewScanner(bytes.NewReader(stream))
		sc.Buffer(make([]byte, 0, 512), 4096)
		sc.Split(Split)
		found := false
		for sc.Scan() {
			var fr Frame
			if _, err := fr.Decode(sc.Bytes()); err != nil {
				t.Fatalf("token % X does not decode: %v", sc.Bytes(), err)
			}
			// The garbage may start a valid frame that carries the marker.
			if bytes.Contains(sc.Bytes(), marker) {
				found = true
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if !found {
			t.Fatalf("valid frame after garbage % X lost", garbage)
		}
	})
}
