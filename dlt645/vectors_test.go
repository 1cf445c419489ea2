package dlt645

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
)

type vector struct {
	ID         string          `json:"id"`
	Hex        string          `json:"hex"`
	Meaning    string          `json:"meaning"`
	Kind       string          `json:"kind"`
	DI         string          `json:"di"`
	Value      json.RawMessage `json:"value"`
	Unit       string          `json:"unit"`
	ChecksumOK bool            `json:"checksum_ok"`
	Decoded    struct {
		Preamble int    `json:"preamble_fe"`
		Address  string `json:"address"`
		Control  string `json:"control"`
		Func     string `json:"func"`
		L        int    `json:"L"`
		Data     string `json:"data_minus33_wire_order"`
		DI       string `json:"DI"`
	} `json:"decoded"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/dlt645-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// valueText renders decoded values the way the vectors state them.
func valueText(vals []FieldValue) []string {
	var out []string
	for _, v := range vals {
		if v.Kind == KindNumber {
			out = append(out, v.Num.String())
		} else {
			out = append(out, v.Text)
		}
	}
	return out
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.ID, func(t *testing.T) {
			b := hexBytes(t, v.Hex)
			var f Frame
			n, err := f.Decode(b)
			if !v.ChecksumOK {
				if err == nil {
					t.Fatalf("%s: decoded a frame whose checksum is wrong", v.Meaning)
				}
				if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "checksum mismatch at byte") {
					t.Fatalf("error %q does not say checksum mismatch at byte", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if n != len(b) {
				t.Errorf("consumed %d of %d bytes", n, len(b))
			}
			if got := f.Address.String(); !strings.EqualFold(got, v.Decoded.Address) {
				t.Errorf("address %s, want %s", got, v.Decoded.Address)
			}
			if got := fmt.Sprintf("%02X", byte(f.Control)); !strings.EqualFold(got, v.Decoded.Control) {
				t.Errorf("control %s, want %s", got, v.Decoded.Control)
			}
			if got := fmt.Sprintf("%02X", byte(f.Control.Func())); !strings.EqualFold(got, v.Decoded.Func) {
				t.Errorf("func %s, want %s", got, v.Decoded.Func)
			}
			if got := strings.ToUpper(hex.EncodeToString(f.Data)); got != strings.ToUpper(v.Decoded.Data) {
				t.Errorf("data %s, want %s", got, v.Decoded.Data)
			}
			if v.Decoded.DI != "" && !f.Control.IsAbnormal() {
				di, ok := f.DI()
				if !ok || !strings.EqualFold(di.String(), v.Decoded.DI) {
					t.Errorf("DI %s (%v), want %s", di, ok, v.Decoded.DI)
				}
			}
			if f.Control.IsAbnormal() {
				e, ok := f.ErrorWord()
				if !ok || e&ErrNoData == 0 {
					t.Errorf("error word %v, want no-data", e.Names())
				}
			}
			// Re-encoding gives the same bytes (without the preamble).
			enc, err := AppendFrame(nil, &f)
			if err != nil {
				t.Fatal(err)
			}
			if want := b[v.Decoded.Preamble:]; string(enc) != string(want) {
				t.Errorf("re-encoded % X, want % X", enc, want)
			}
			checkValue(t, v, &f)
		})
	}
}

func checkValue(t *testing.T, v vector, f *Frame) {
	t.Helper()
	if len(v.Value) == 0 || string(v.Value) == "null" {
		return
	}
	var want []string
	var one any
	if err := json.Unmarshal(v.Value, &one); err != nil {
		t.Fatal(err)
	}
	switch x := one.(type) {
	case []any:
		for _, e := range x {
			want = append(want, fmt.Sprint(e))
		}
	default:
		want = []string{fmt.Sprint(x)}
	}
	switch v.Kind {
	case "read_address_response":
		if got := f.Address.String(); got != want[0] {
			t.Errorf("address %s, want %s", got, want[0])
		}
		return
	case "broadcast_time":
		tm, err := f.Time()
		if err != nil {
			t.Fatal(err)
		}
		if got := tm.String(); !strings.HasPrefix(got, want[0]) {
			t.Errorf("time %s, want %s", got, want[0])
		}
		return
	}
	vals, err := f.Values()
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	got := valueText(vals)
	if len(got) != len(want) {
		t.Fatalf("values %v, want %v", got, want)
	}
	for i := range got {
		if !sameValue(got[i], want[i]) {
			t.Errorf("value %d = %s, want %s (%s)", i, got[i], want[i], v.Meaning)
		}
	}
	if v.Unit != "" && vals[0].Unit != v.Unit {
		t.Errorf("unit %q, want %q", vals[0].Unit, v.Unit)
	}
}

// sameValue compares a decoded value with the vector's statement of it:
// numbers numerically by their digits, text by prefix (the vectors add notes
// such as "WW=1").
func sameValue(got, want string) bool {
	if got == want {
		return true
	}
	if g, ok := new(big.Rat).SetString(got); ok {
		if w, ok := new(big.Rat).SetString(want); ok && g.Cmp(w) == 0 {
			return true
		}
	}
	if strings.HasPrefix(want, got) || strings.HasPrefix(got, strings.Fields(want)[0]) && strings.Contains(want, "WW") {
		return true
	}
	// Counts: "27" against "000027".
	if strings.TrimLeft(got, "0") == strings.TrimLeft(want, "0") {
		return true
	}
	return false
}
