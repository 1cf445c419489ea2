package dlt645

import (
	"fmt"
	"strconv"
)

// Decimal is an exact decimal: Mant × 10^-Scale. BCD digits from a meter
// become a Decimal without passing through a float.
type Decimal struct {
	Mant  int64
	Scale int8
}

// AppendText appends the decimal with exactly Scale digits after the point:
// 1234.56, -14.12, 0.000.
func (d Decimal) AppendText(dst []byte) []byte {
	m := d.Mant
	if m < 0 {
		dst = append(dst, '-')
		m = -m
	}
	var buf [24]byte
	s := strconv.AppendInt(buf[:0], m, 10)
	sc := int(d.Scale)
	if sc <= 0 {
		dst = append(dst, s...)
		for range -sc {
			dst = append(dst, '0')
		}
		return dst
	}
	for len(s) <= sc {
		s = append([]byte{'0'}, s...)
	}
	dst = append(dst, s[:len(s)-sc]...)
	dst = append(dst, '.')
	return append(dst, s[len(s)-sc:]...)
}

// String returns the decimal's text.
func (d Decimal) String() string { return string(d.AppendText(nil)) }

// MarshalJSON writes the decimal as a JSON number with the meter's digits.
func (d Decimal) MarshalJSON() ([]byte, error) { return d.AppendText(nil), nil }

// ValueError reports invalid BCD or a wrong length in a value.
type ValueError struct {
	What   string
	Offset int // byte offset within the value (or frame, where known)
	Got    byte
	Len    int // for length errors: have
	Want   int // for length errors: want
}

func (e *ValueError) Error() string {
	if e.Want != 0 {
		return fmt.Sprintf("dlt645: %s: wrong length: have %d bytes, want %d", e.What, e.Len, e.Want)
	}
	return fmt.Sprintf("dlt645: %s: invalid BCD 0x%02x at byte %d", e.What, e.Got, e.Offset)
}

// Sign says how a number's sign is carried.
type Sign uint8

// Sign rules.
const (
	Unsigned Sign = iota
	SignBit       // bit 7 of the most significant byte: 1 = negative
)

// Kind is how a field's bytes read.
type Kind uint8

// Field kinds.
const (
	KindNumber   Kind = iota // BCD digits, low byte first, Scale decimals
	KindDateWeek             // YYMMDDWW, wire WW DD MM YY
	KindTime                 // hhmmss, wire ss mm hh
	KindMinute               // YYMMDDhhmm, wire mm hh DD MM YY
	KindSecond               // YYMMDDhhmmss, wire ss mm hh DD MM YY
	KindAddress              // 12 digits, low byte first
	KindWord                 // a status or mode word, hex, low byte first
	KindASCII                // text, reversed on the wire
	KindDayHour              // DDhh, wire hh DD
)

// Format is the layout of one field: e.g. XXXXXX.XX is 4 bytes, 2 decimals.
type Format struct {
	Pattern string // as the standard writes it: "XXXXXX.XX"
	Len     int    // bytes
	Scale   int8   // decimals, for numbers
	Kind    Kind
	Sign    Sign
}

// num returns the format of a BCD number written as pattern, e.g. "XXX.XXX".
func num(pattern string, sign Sign) Format {
	digits, scale, dot := 0, 0, false
	for _, c := range pattern {
		switch c {
		case 'X', 'N':
			digits++
			if dot {
				scale++
			}
		case '.':
			dot = true
		}
	}
	return Format{Pattern: pattern, Len: (digits + 1) / 2, Scale: int8(scale), Kind: KindNumber, Sign: sign}
}

var (
	fmtEnergy       = num("XXXXXX.XX", Unsigned)
	fmtEnergySigned = num("XXXXXX.XX", SignBit)
	fmtDemand       = num("XX.XXXX", Unsigned)
	fmtVoltage      = num("XXX.X", Unsigned)
	fmtCurrent      = num("XXX.XXX", SignBit)
	fmtPower        = num("XX.XXXX", SignBit)
	fmtPowerU       = num("XX.XXXX", Unsigned)
	fmtPF           = num("X.XXX", SignBit)
	fmtAngle        = num("XXX.X", Unsigned)
	fmtPercent      = num("XX.XX", Unsigned)
	fmtFrequency    = num("XX.XX", Unsigned)
	fmtTemperature  = num("XXX.X", SignBit)
	fmtBattery      = num("XX.XX", Unsigned)
	fmtCount        = num("XXXXXX", Unsigned)
	fmtMinutes      = num("XXXXXXXX", Unsigned)
	fmtNN           = num("NN", Unsigned)
	fmtConstant     = num("XXXXXX", Unsigned)
	fmtMoney        = num("XXXXXX.XX", Unsigned)
	fmtDateWeek     = Format{Pattern: "YYMMDDWW", Len: 4, Kind: KindDateWeek}
	fmtTime         = Format{Pattern: "hhmmss", Len: 3, Kind: KindTime}
	fmtMinute       = Format{Pattern: "YYMMDDhhmm", Len: 5, Kind: KindMinute}
	fmtSecond       = Format{Pattern: "YYMMDDhhmmss", Len: 6, Kind: KindSecond}
	fmtAddress      = Format{Pattern: "NNNNNNNNNNNN", Len: 6, Kind: KindAddress}
	fmtWord         = Format{Pattern: "XXXX", Len: 2, Kind: KindWord}
	fmtByte         = Format{Pattern: "XX", Len: 1, Kind: KindWord}
	fmtASCII32      = Format{Pattern: "ASCII", Len: 32, Kind: KindASCII}
	fmtDayHour      = Format{Pattern: "DDhh", Len: 2, Kind: KindDayHour}
	// 1997 formats differ from 2007.
	fmtVoltage97  = num("XXX", Unsigned)
	fmtCurrent97  = num("XX.XX", Unsigned)
	fmtPower97    = num("XX.XXXX", Unsigned)
	fmtReactive97 = num("XX.XX", Unsigned)
	fmtPF97       = num("X.XXX", Unsigned)
)

// DecodeNumber reads a BCD number in format f from b (low byte first). It
// does not allocate. All-FF bytes (not supported / phase absent) are reported
// with ok=false and no error.
func DecodeNumber(b []byte, f Format) (d Decimal, ok bool, err error) {
	if len(b) != f.Len {
		return Decimal{}, false, &ValueError{What: f.Pattern, Len: len(b), Want: f.Len}
	}
	allFF := true
	for _, c := range b {
		if c != 0xFF {
			allFF = false
			break
		}
	}
	if allFF {
		return Decimal{}, false, nil
	}
	var m int64
	neg := false
	for i := len(b) - 1; i >= 0; i-- {
		c := b[i]
		if i == len(b)-1 && f.Sign == SignBit {
			neg = c&0x80 != 0
			c &= 0x7F
		}
		hi, lo := c>>4, c&0x0F
		if hi > 9 || lo > 9 {
			return Decimal{}, false, &ValueError{What: f.Pattern, Offset: i, Got: b[i]}
		}
		m = m*100 + int64(hi)*10 + int64(lo)
	}
	if neg {
		m = -m
	}
	return Decimal{Mant: m, Scale: f.Scale}, true, nil
}

// AppendNumber appends d in format f (BCD, low byte first), rescaling to the
// format's decimals (extra decimals are truncated). It is an error when d does
// not fit.
func AppendNumber(dst []byte, d Decimal, f Format) ([]byte, error) {
	m := d.Mant
	for s := d.Scale; s < f.Scale; s++ {
		m *= 10
	}
	for s := d.Scale; s > f.Scale; s-- {
		m /= 10
	}
	neg := m < 0
	if neg {
		if f.Sign != SignBit {
			return dst, fmt.Errorf("dlt645: %s: negative value %s in an unsigned field", f.Pattern, d)
		}
		m = -m
	}
	start := len(dst)
	for range f.Len {
		dst = append(dst, bcd(int(m%100)))
		m /= 100
	}
	if m != 0 || (f.Sign == SignBit && dst[len(dst)-1]&0x80 != 0) {
		return dst[:start], fmt.Errorf("dlt645: %s: value %s does not fit", f.Pattern, d)
	}
	if neg {
		dst[len(dst)-1] |= 0x80
	}
	return dst, nil
}

// AppendDateTime appends a date-time field of kind KindDateWeek, KindTime,
// KindMinute or KindSecond in wire order (weekday computed by the caller for
// KindDateWeek: pass it as week).
func AppendDateTime(dst []byte, f Format, t DateTime, week int) []byte {
	switch f.Kind {
	case KindDateWeek:
		return append(dst, bcd(week), bcd(t.Day), bcd(t.Month), bcd(t.Year%100))
	case KindTime:
		return append(dst, bcd(t.Second), bcd(t.Minute), bcd(t.Hour))
	case KindMinute:
		return append(dst, bcd(t.Minute), bcd(t.Hour), bcd(t.Day), bcd(t.Month), bcd(t.Year%100))
	case KindSecond:
		return appendSSMMHHDDMMYY(dst, t)
	case KindDayHour:
		return append(dst, bcd(t.Hour), bcd(t.Day))
	}
	return dst
}

// FieldValue is one decoded field of a reply, ready to print.
type FieldValue struct {
	Name   string
	NameZH string
	Unit   string
	Kind   Kind
	Num    Decimal // KindNumber
	Absent bool    // all FF: not supported or phase absent
	Text   string  // other kinds: "2016-01-11", "18:53:32", "0050", an address
	Bits   []string
}

// decodeField decodes one field; off is the field's offset for errors.
func decodeField(b []byte, fd *Field, off int) (FieldValue, error) {
	v := FieldValue{Name: fd.Name, NameZH: fd.NameZH, Unit: fd.Unit, Kind: fd.Format.Kind}
	f := fd.Format
	if len(b) != f.Len {
		return v, &ValueError{What: fd.Name, Len: len(b), Want: f.Len}
	}
	bcdAt := func(i int, what string) (int, error) {
		n, err := unbcd(b[i], off+i, what)
		return n, err
	}
	switch f.Kind {
	case KindNumber:
		d, ok, err := DecodeNumber(b, f)
		if err != nil {
			var ve *ValueError
			if asValueError(err, &ve) {
				ve.What = fd.Name + " (" + f.Pattern + ")"
				ve.Offset += off
			}
			return v, err
		}
		v.Num, v.Absent = d, !ok
	case KindDateWeek, KindTime, KindMinute, KindSecond, KindDayHour:
		var fields []int
		for i := range b {
			n, err := bcdAt(i, fd.Name+" ("+f.Pattern+")")
			if err != nil {
				return v, err
			}
			fields = append(fields, n)
		}
		switch f.Kind {
		case KindDateWeek:
			v.Text = fmt.Sprintf("20%02d-%02d-%02d", fields[3], fields[2], fields[1])
			v.Bits = []string{fmt.Sprintf("week=%d", fields[0])}
		case KindTime:
			v.Text = fmt.Sprintf("%02d:%02d:%02d", fields[2], fields[1], fields[0])
		case KindMinute:
			v.Text = fmt.Sprintf("20%02d-%02d-%02d %02d:%02d", fields[4], fields[3], fields[2], fields[1], fields[0])
		case KindSecond:
			v.Text = fmt.Sprintf("20%02d-%02d-%02d %02d:%02d:%02d", fields[5], fields[4], fields[3], fields[2], fields[1], fields[0])
		case KindDayHour:
			v.Text = fmt.Sprintf("day %02d %02d:00", fields[1], fields[0])
		}
	case KindAddress:
		var a Address
		copy(a[:], b)
		v.Text = a.String()
	case KindWord:
		var w uint32
		for i := len(b) - 1; i >= 0; i-- {
			w = w<<8 | uint32(b[i])
		}
		v.Text = fmt.Sprintf("%0*X", 2*len(b), w)
		for i, name := range fd.Bits {
			if name != "" && w&(1<<i) != 0 {
				v.Bits = append(v.Bits, name)
			}
		}
	case KindASCII:
		r := make([]byte, 0, len(b))
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				r = append(r, b[i])
			}
		}
		v.Text = string(r)
	}
	return v, nil
}
