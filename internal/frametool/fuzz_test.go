package frametool

import (
	"encoding/hex"
	"testing"
)

// FuzzDecode feeds any bytes to both renderers: they return frames or an
// error, and what they return marshals to JSON; they never panic.
func FuzzDecode(f *testing.F) {
	for _, h := range []string{
		"6832003200684B71012208020C60010101106816",
		"6872007200684B71012208020C6001010110000000000000000000000000000000006816",
		"684A004A00684B71012208020CE0010101100530151026026A16",
		"68129078563412681105343333393838A716",
		"6812907856341268110A3433333934634335345910 16",
		"68AE00AE0068A800023412041 0E00000010 01F1400686110013012156891083333343 3AB393333491 64F0000065023210 5AE16",
	} {
		b, err := hex.DecodeString(stripSpaces(h))
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, dec := range []func([]byte) ([]any, error){DecodeQ1376, DecodeDLT645} {
			frames, _ := dec(b)
			for _, fr := range frames {
				if _, err := MarshalLine(fr); err != nil {
					t.Fatalf("%x: %v", b, err)
				}
			}
		}
	})
}

func stripSpaces(s string) string {
	out := make([]byte, 0, len(s))
	for i := range len(s) {
		if s[i] != ' ' {
			out = append(out, s[i])
		}
	}
	return string(out)
}
