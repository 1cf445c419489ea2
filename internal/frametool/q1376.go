package frametool

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/q1376"
)

// Q1376 is the JSON shape of a Q/GDW 1376.1 frame.
type Q1376 struct {
	Protocol string `json:"protocol"`
	// The L field's protocol identifier (D1D0): 2 = Q/GDW 1376.1, 1 = the
	// older Q/GDW 130-2005.
	ProtocolID   int         `json:"protocol_id"`
	ProtocolName string      `json:"protocol_name"`
	Control      string      `json:"control"`
	Dir          int         `json:"dir"`
	PRM          int         `json:"prm"`
	ACD          int         `json:"acd"`
	FCB          int         `json:"fcb"`
	FCV          int         `json:"fcv"`
	Func         int         `json:"func"`
	A1           string      `json:"a1"`
	A2           int         `json:"a2"`
	MSA          int         `json:"msa"`
	Group        int         `json:"group"`
	AFN          string      `json:"afn"`
	Seq          Q1376Seq    `json:"seq"`
	Units        []Q1376Unit `json:"units"`
	PW           string      `json:"pw,omitempty"`
	EC           []int       `json:"ec,omitempty"`
	Tp           *Q1376Tp    `json:"tp,omitempty"`
	// Bytes after the data the functions define, which this tool does not
	// interpret, with a guess at what they are.
	Undecoded *Q1376Undecoded `json:"undecoded,omitempty"`
}

// Q1376Undecoded is data left over after the known data units.
type Q1376Undecoded struct {
	Bytes  int    `json:"bytes"`
	Hex    string `json:"hex"`
	Likely string `json:"likely,omitempty"`
}

// Q1376Seq is the SEQ field.
type Q1376Seq struct {
	TpV int `json:"tpv"`
	FIR int `json:"fir"`
	FIN int `json:"fin"`
	CON int `json:"con"`
	Seq int `json:"seq"`
}

// Q1376Tp is the time tag.
type Q1376Tp struct {
	PFC   int    `json:"pfc"`
	Time  string `json:"time"` // DD hh:mm:ss
	Delay int    `json:"delay_min"`
}

// Q1376Unit is one (pn, Fn) item with its data decoded where the function is
// known, else as hex.
type Q1376Unit struct {
	Pn     int    `json:"pn"`
	Fn     int    `json:"fn"`
	Name   string `json:"name,omitempty"`
	NameZH string `json:"name_zh,omitempty"`
	Data   any    `json:"data"`
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// DecodeQ1376 decodes every 1376.1 frame in b.
func DecodeQ1376(b []byte) ([]any, error) {
	var out []any
	i := 0
	for i < len(b) {
		var f q1376.Frame
		n, err := f.Decode(b[i:])
		if err != nil {
			return out, err
		}
		i += n
		out = append(out, RenderQ1376(&f))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("q1376: no frame in the input")
	}
	return out, nil
}

// RenderQ1376 returns the JSON shape of f.
func RenderQ1376(f *q1376.Frame) *Q1376 {
	c := f.Control
	out := &Q1376{
		Protocol: "q1376", ProtocolID: int(f.Protocol), ProtocolName: protocolName(f.Protocol), Control: fmt.Sprintf("%02X", byte(c)), Dir: b2i(c.Dir()), PRM: b2i(c.PRM()),
		ACD: b2i(c.ACD()), FCB: b2i(c.FCB()), FCV: b2i(c.FCV()), Func: c.Func(),
		A1: f.Address.A1String(), A2: int(f.Address.A2), MSA: int(f.Address.MSA), Group: b2i(f.Address.Group),
		AFN: fmt.Sprintf("%02X", byte(f.AFN)),
		Seq: Q1376Seq{b2i(f.Seq.TpV), b2i(f.Seq.FIR), b2i(f.Seq.FIN), b2i(f.Seq.CON), int(f.Seq.Num)},
	}
	if f.PW != nil {
		out.PW = strings.ToUpper(hex.EncodeToString(f.PW))
	}
	if f.EC != nil {
		out.EC = []int{int(f.EC[0]), int(f.EC[1])}
	}
	if f.Tp != nil {
		out.Tp = &Q1376Tp{PFC: int(f.Tp.PFC), Time: fmt.Sprintf("%02d %02d:%02d:%02d", f.Tp.Day, f.Tp.Hour, f.Tp.Minute, f.Tp.Second), Delay: int(f.Tp.Delay)}
	}
	items, err := f.Items()
	if err == nil {
		out.Undecoded = leftover(f, items)
	}
	for _, it := range items {
		u := Q1376Unit{Pn: int(it.Pn), Fn: int(it.Fn)}
		if info, ok := q1376.Info(f.AFN, c.Dir(), it.Fn); ok {
			u.Name, u.NameZH = info.Name, info.NameZH
		}
		u.Data = renderQ1376Data(f.AFN, c.Dir(), it.Fn, it.Data)
		out.Units = append(out.Units, u)
	}
	if err != nil {
		out.Units = append(out.Units, Q1376Unit{Data: map[string]string{"error": err.Error()}})
	}
	return out
}

func protocolName(id uint8) string {
	switch id {
	case q1376.ProtocolID:
		return "Q/GDW 1376.1"
	case q1376.ProtocolID130:
		return "Q/GDW 130-2005"
	}
	return "unknown / 未知"
}

// leftover returns the bytes of f's data units that no item covers (the
// codec keeps bytes a vendor appends after the last unit with that unit), or
// nil. 16 bytes at the end of a downlink frame are most likely a password PW
// the AFN does not normally carry; 2 bytes, the short PW of Q/GDW 130.
func leftover(f *q1376.Frame, items []q1376.Item) *Q1376Undecoded {
	used := 0
	for _, it := range items {
		used += len(it.Data)
	}
	total := 0
	for _, u := range f.Units {
		total += len(u.Data)
	}
	if used >= total || len(f.Units) == 0 {
		return nil
	}
	last := f.Units[len(f.Units)-1].Data
	rest := last[len(last)-min(total-used, len(last)):]
	u := &Q1376Undecoded{Bytes: len(rest), Hex: strings.ToUpper(hex.EncodeToString(rest))}
	switch {
	case !f.Control.Dir() && len(rest) == 16:
		u.Likely = fmt.Sprintf("password PW (16 bytes), which AFN %02X requests do not normally carry / 16字节密码PW（该AFN通常不带）", byte(f.AFN))
	case !f.Control.Dir() && len(rest) == 2:
		u.Likely = "a 2-byte password PW (Q/GDW 130-2005 and some vendors) / 2字节密码PW"
	default:
		u.Likely = "bytes after the last data unit / 数据单元后的多余字节"
	}
	return u
}

type indicationJSON struct {
	Day    string        `json:"day,omitempty"`
	Month  string        `json:"month,omitempty"`
	ReadAt string        `json:"read_at,omitempty"`
	Unit   string        `json:"unit"`
	Total  q1376.Value   `json:"total"`
	Tariff []q1376.Value `json:"tariffs"`
}

func indication(b []byte, pre int) any {
	var j indicationJSON
	switch pre {
	case 3:
		d, err := q1376.ParseDay(b)
		if err != nil {
			return rawData(b, err)
		}
		j.Day = d.String()
	case 2:
		m, err := q1376.ParseMonth(b)
		if err != nil {
			return rawData(b, err)
		}
		j.Month = m.String()
	}
	ind, err := q1376.ParseIndication(b[pre:])
	if err != nil {
		return rawData(b, err)
	}
	if ind.HasAt {
		j.ReadAt = ind.ReadAt.String()
	}
	j.Unit = "kWh"
	j.Total, j.Tariff = ind.Values[0], ind.Values[1:]
	return j
}

func rawData(b []byte, err error) any {
	m := map[string]string{"hex": strings.ToUpper(hex.EncodeToString(b))}
	if err != nil {
		m["error"] = err.Error()
	}
	return m
}

func renderQ1376Data(afn q1376.AFN, up bool, fn uint16, b []byte) any {
	switch {
	case afn == q1376.AFNClass1 && up && (fn == 129 || fn == 131):
		return indication(b, 0)
	case afn == q1376.AFNClass2 && up && (fn == 161 || fn == 163):
		return indication(b, 3)
	case afn == q1376.AFNClass2 && up && (fn == 177 || fn == 179):
		return indication(b, 2)
	case afn == q1376.AFNClass2 && up && (fn == 1 || fn == 2):
		return indication(b[:min(len(b), 3+6+5*int(at(b, 8)+1))], 3)
	case afn == q1376.AFNClass2 && up && (fn == 17 || fn == 18):
		return indication(b[:min(len(b), 2+6+5*int(at(b, 7)+1))], 2)
	case afn == q1376.AFNClass2 && !up && len(b) == 3:
		if d, err := q1376.ParseDay(b); err == nil {
			return map[string]string{"day": d.String()}
		}
	case afn == q1376.AFNClass2 && !up && len(b) == 2:
		if m, err := q1376.ParseMonth(b); err == nil {
			return map[string]string{"month": m.String()}
		}
	case afn == q1376.AFNClass1 && up && fn == 25:
		in, err := q1376.ParseInstant(b)
		if err != nil {
			return rawData(b, err)
		}
		return map[string]any{"read_at": in.ReadAt.String(), "p_kw": in.P, "q_kvar": in.Q, "pf_percent": in.PF, "u_v": in.U, "i_a": in.I, "i0_a": in.I0, "s_kva": in.S}
	case (afn == q1376.AFNClass1 && up && fn == 2) || (afn == q1376.AFNControl && fn == 31):
		c, err := q1376.ParseClock(b)
		if err != nil {
			return rawData(b, err)
		}
		return map[string]any{"time": c.String(), "week": c.Week}
	case (afn == q1376.AFNSet || (afn == q1376.AFNQuery && up)) && fn == 10:
		es, err := q1376.ParseArchive(b)
		if err != nil {
			return rawData(b, err)
		}
		var list []map[string]any
		for _, e := range es {
			list = append(list, map[string]any{"seq": e.Seq, "pn": e.Pn, "baud": e.Baud, "port": e.Port, "protocol": e.Protocol, "address": e.Address.String(), "tariffs": e.Tariffs})
		}
		return map[string]any{"meters": list}
	case afn == q1376.AFNForward && fn == 1 && !up:
		fw, err := q1376.ParseForward(b)
		if err != nil {
			return rawData(b, err)
		}
		return map[string]any{"port": fw.Port, "control_word": fmt.Sprintf("%02X", fw.Control), "frame_timeout_ms": fw.FrameTimeout.Milliseconds(), "byte_timeout_ms": fw.ByteTimeout.Milliseconds(), "k": len(fw.Content), "frame": inner645(fw.Content)}
	case afn == q1376.AFNForward && fn == 1 && up:
		r, err := q1376.ParseForwardReply(b)
		if err != nil {
			return rawData(b, err)
		}
		return map[string]any{"port": r.Port, "k": len(r.Content), "frame": inner645(r.Content)}
	case afn == q1376.AFNClass3 && up && (fn == 1 || fn == 2):
		ev, err := q1376.ParseEvents(b)
		if err != nil {
			return rawData(b, err)
		}
		var recs []map[string]any
		for _, r := range ev.Records {
			recs = append(recs, map[string]any{"erc": r.ERC, "data": strings.ToUpper(hex.EncodeToString(r.Data))})
		}
		return map[string]any{"ec1": ev.EC1, "ec2": ev.EC2, "pm": ev.Pm, "pn": ev.Pn, "records": recs}
	case afn == q1376.AFNClass3 && !up && len(b) == 2:
		return map[string]int{"pm": int(b[0]), "pn": int(b[1])}
	case afn == q1376.AFNConfirm && fn == 3:
		a, items, err := q1376.ParseItemResults(b)
		if err != nil {
			return rawData(b, err)
		}
		return map[string]any{"afn": fmt.Sprintf("%02X", byte(a)), "items": items}
	case afn == q1376.AFNControl && (fn == 1 || fn == 25) && len(b) == 1:
		return map[string]int{"value": int(b[0])}
	}
	if len(b) == 0 {
		return nil
	}
	return rawData(b, nil)
}

func at(b []byte, i int) byte {
	if i < len(b) && b[i] != 0xEE {
		return b[i]
	}
	return 0
}

// inner645 decodes a forwarded DL/T 645 frame, or shows why not.
func inner645(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	i := 0
	for i < len(b) && b[i] == dlt645.Preamble {
		i++
	}
	var f dlt645.Frame
	if _, err := f.Decode(b[i:]); err != nil {
		return rawData(b, err)
	}
	return RenderDLT645(&f)
}
