// Package frametool renders decoded protocol frames as JSON objects for the
// `amigo frame` command and for logs and APIs that show frames to people.
package frametool

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/amigo-metering/amigo/dlt645"
)

// Value is one named value of a frame. V is a dlt645.Decimal (a JSON number
// with exactly the meter's digits) or a string.
type Value struct {
	Name   string   `json:"name"`
	NameZH string   `json:"name_zh,omitempty"`
	V      any      `json:"value"`
	Unit   string   `json:"unit"`
	Bits   []string `json:"bits,omitempty"`
}

// DLT645 is the JSON shape of a DL/T 645 frame.
type DLT645 struct {
	Protocol    string   `json:"protocol"`
	Address     string   `json:"address"`
	Control     string   `json:"control"`
	Function    string   `json:"function"`
	Direction   string   `json:"direction"`
	Error       bool     `json:"error"`
	ErrorBits   []string `json:"error_bits,omitempty"`
	ErrorBitsZH []string `json:"error_bits_zh,omitempty"`
	Follow      bool     `json:"follow"`
	DI          string   `json:"di,omitempty"`
	Name        string   `json:"name,omitempty"`
	NameZH      string   `json:"name_zh,omitempty"`
	Values      []Value  `json:"values,omitempty"`
	Command     *Command `json:"command,omitempty"`
	Time        string   `json:"time,omitempty"`
	Seq         *int     `json:"seq,omitempty"`
	Blocks      *int     `json:"blocks,omitempty"`        // a read request's block count N (load records)
	From        string   `json:"from,omitempty"`          // a read request's start time mmhhDDMMYY (load records)
	Undecoded   string   `json:"undecoded_hex,omitempty"` // request bytes after the DI this tool does not interpret
	Raw         string   `json:"data_hex,omitempty"`
	Note        string   `json:"note,omitempty"`
}

// Command is the content of a 1CH remote-control request.
type Command struct {
	Type          string `json:"type"`
	TypeZH        string `json:"type_zh"`
	PasswordLevel string `json:"password_level"`
	Password      string `json:"password"`
	Operator      string `json:"operator"`
	Until         string `json:"until"`
}

// DecodeDLT645 decodes every DL/T 645 frame in b (FE preambles allowed
// between frames). A frame that does not decode is an error that says what and
// where; the frames before it are returned too.
func DecodeDLT645(b []byte) ([]any, error) {
	var out []any
	i := 0
	for i < len(b) {
		for i < len(b) && b[i] == dlt645.Preamble {
			i++
		}
		if i >= len(b) {
			break
		}
		var f dlt645.Frame
		n, err := f.Decode(b[i:])
		if err != nil {
			return out, shift(err, i)
		}
		i += n
		out = append(out, RenderDLT645(&f))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dlt645: no frame in the input")
	}
	return out, nil
}

// shift moves a frame error's offset to count from the start of the input.
func shift(err error, by int) error {
	if fe, ok := err.(*dlt645.FrameError); ok && by > 0 {
		c := *fe
		c.Offset += by
		if c.Err == dlt645.ErrShort {
			c.Need += by
		}
		return &c
	}
	return err
}

// RenderDLT645 returns the JSON shape of f.
func RenderDLT645(f *dlt645.Frame) *DLT645 {
	c := f.Control
	out := &DLT645{
		Protocol:  "dlt645",
		Address:   f.Address.String(),
		Control:   fmt.Sprintf("%02X", byte(c)),
		Function:  c.Func().String(),
		Direction: "request",
		Follow:    c.HasFollow(),
	}
	if c.IsResponse() {
		out.Direction = "response"
	}
	if e, ok := f.ErrorWord(); ok {
		out.Error = true
		out.ErrorBits = e.Names()
		out.ErrorBitsZH = e.NamesZH()
		return out
	}
	if di, ok := f.DI(); ok {
		if f.Is1997() {
			out.DI = fmt.Sprintf("%04X", uint32(di))
			if e, ok := dlt645.Lookup1997(uint16(di)); ok {
				out.Name, out.NameZH = e.Name, e.NameZH
			}
		} else {
			out.DI = di.String()
			if e, ok := dlt645.Lookup(di); ok {
				out.Name, out.NameZH = e.Name, e.NameZH
			}
		}
	}
	switch fn := c.Func(); {
	case fn == dlt645.FuncReadFollow && !c.IsResponse() && len(f.Data) == 5:
		s := int(f.Data[4])
		out.Seq = &s
	case fn == dlt645.FuncRead && !c.IsResponse() && len(f.Data) > 4:
		readRequestExtra(out, f.Data[4:])
	case fn == dlt645.FuncReadAddress && c.IsResponse():
		out.Values = []Value{{Name: "communication address", NameZH: "通信地址", V: f.Address.String()}}
	case fn == dlt645.FuncWriteAddress && !c.IsResponse() && len(f.Data) == 6:
		var a dlt645.Address
		copy(a[:], f.Data)
		out.Values = []Value{{Name: "new address", NameZH: "新通信地址", V: a.String()}}
	case fn == dlt645.FuncBroadcastTime:
		if t, err := f.Time(); err == nil {
			out.Time = t.String()
		} else {
			out.Note = err.Error()
			out.Raw = strings.ToUpper(hex.EncodeToString(f.Data))
		}
	case fn == dlt645.FuncControl && !c.IsResponse():
		if cmd, err := f.ControlCommand(); err == nil {
			out.Command = &Command{
				Type:          cmd.Type.String(),
				TypeZH:        cmd.Type.NameZH(),
				PasswordLevel: fmt.Sprintf("%02X", cmd.Auth.Level),
				Password:      fmt.Sprintf("%06X", cmd.Auth.Password),
				Operator:      fmt.Sprintf("%08X", cmd.Auth.Operator),
				Until:         cmd.Until.String(),
			}
		} else {
			out.Note = err.Error()
		}
	case (fn == dlt645.FuncRead || fn == dlt645.FuncReadFollow || fn == dlt645.Func1997Read || fn == dlt645.Func1997ReadFollow) && c.IsResponse():
		vals, err := f.Values()
		if err != nil {
			v, _ := f.Value()
			out.Raw = strings.ToUpper(hex.EncodeToString(v))
			out.Note = err.Error()
			break
		}
		out.Values = renderValues(vals)
	case fn == dlt645.FuncWrite && !c.IsResponse():
		di, auth, v, err := f.WriteData()
		if err != nil {
			break
		}
		out.Command = &Command{Type: "write", TypeZH: "写数据", PasswordLevel: fmt.Sprintf("%02X", auth.Level), Password: fmt.Sprintf("%06X", auth.Password), Operator: fmt.Sprintf("%08X", auth.Operator)}
		if vals, err := dlt645.DecodeValue(di, v); err == nil {
			out.Values = renderValues(vals)
		} else {
			out.Raw = strings.ToUpper(hex.EncodeToString(v))
		}
	default:
		if len(f.Data) > 0 && out.DI == "" {
			out.Raw = strings.ToUpper(hex.EncodeToString(f.Data))
		}
	}
	return out
}

// readRequestExtra shows what a read request carries after its DI: a block
// count N (1 byte, binary), then optionally the start time mmhhDDMMYY (5 bytes BCD),
// as load-record reads do; anything else is shown as undecoded hex.
func readRequestExtra(out *DLT645, b []byte) {
	if len(b) == 1 || len(b) == 6 {
		n := int(b[0]) // binary, as the NN of other DIs
		out.Blocks = &n
		if len(b) == 6 && bcdOK(b[1:6]) {
			t := b[1:6] // mm hh DD MM YY, low byte first
			out.From = fmt.Sprintf("20%02d-%02d-%02d %02d:%02d", bcd(t[4]), bcd(t[3]), bcd(t[2]), bcd(t[1]), bcd(t[0]))
			return
		}
		if len(b) == 1 {
			return
		}
		b = b[1:]
	}
	out.Undecoded = strings.ToUpper(hex.EncodeToString(b))
	out.Note = fmt.Sprintf("%d bytes after the data identifier are not interpreted / 数据标识后有 %d 字节未解析", len(b), len(b))
}

func bcd(b byte) int { return int(b>>4)*10 + int(b&0x0F) }

func bcdOK(b []byte) bool {
	for _, c := range b {
		if c>>4 > 9 || c&0x0F > 9 {
			return false
		}
	}
	return true
}

func renderValues(vals []dlt645.FieldValue) []Value {
	out := make([]Value, 0, len(vals))
	for _, v := range vals {
		r := Value{Name: v.Name, NameZH: v.NameZH, Unit: v.Unit, Bits: v.Bits}
		switch {
		case v.Kind == dlt645.KindNumber && v.Absent:
			r.V = nil
		case v.Kind == dlt645.KindNumber:
			r.V = v.Num
		default:
			r.V = v.Text
		}
		out = append(out, r)
	}
	return out
}

// MarshalLine returns v as one line of JSON.
func MarshalLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("frametool: %w", err)
	}
	return append(b, '\n'), nil
}
