package q1376

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
)

// Decimal is an exact decimal (the dlt645 type): BCD values become decimals
// without a float.
type Decimal = dlt645.Decimal

// Value is a decimal that may be absent (EE on the wire: no data).
type Value struct {
	Decimal
	Valid bool
}

// MarshalJSON writes the number's digits, or null when absent.
func (v Value) MarshalJSON() ([]byte, error) {
	if !v.Valid {
		return []byte("null"), nil
	}
	return v.Decimal.MarshalJSON()
}

// DateTime is a civil time (A.1, A.15, A.20, A.21 fields) without a zone.
type DateTime = dlt645.DateTime

func allEE(b []byte) bool {
	for _, c := range b {
		if c != 0xEE {
			return false
		}
	}
	return true
}

func bcdOK(b []byte) bool {
	for _, c := range b {
		if c>>4 > 9 || c&0x0F > 9 {
			return false
		}
	}
	return true
}

// decodeBCD reads an unsigned or sign-bit BCD number with scale decimals.
func decodeBCD(b []byte, scale int8, signed bool) (Value, error) {
	if allEE(b) {
		return Value{}, nil
	}
	var m int64
	neg := false
	for i := len(b) - 1; i >= 0; i-- {
		c := b[i]
		if i == len(b)-1 && signed {
			neg, c = c&0x80 != 0, c&0x7F
		}
		if c>>4 > 9 || c&0x0F > 9 {
			return Value{}, fmt.Errorf("invalid BCD 0x%02x", b[i])
		}
		m = m*100 + int64(c>>4)*10 + int64(c&0x0F)
	}
	if neg {
		m = -m
	}
	return Value{Decimal{Mant: m, Scale: scale}, true}, nil
}

// appendBCD appends v as n bytes of BCD with scale decimals; absent values
// are EE.
func appendBCD(dst []byte, v Value, n int, scale int8, signed bool) ([]byte, error) {
	if !v.Valid {
		for range n {
			dst = append(dst, 0xEE)
		}
		return dst, nil
	}
	m := v.Mant
	for s := v.Scale; s < scale; s++ {
		m *= 10
	}
	for s := v.Scale; s > scale; s-- {
		m /= 10
	}
	neg := m < 0
	if neg {
		if !signed {
			return dst, fmt.Errorf("q1376: negative value %s in an unsigned field", v.Decimal)
		}
		m = -m
	}
	start := len(dst)
	for range n {
		dst = append(dst, bcd(int(m%100)))
		m /= 100
	}
	if m != 0 || (signed && dst[len(dst)-1]&0x80 != 0) {
		return dst[:start], fmt.Errorf("q1376: value %s does not fit %d bytes", v.Decimal, n)
	}
	if neg {
		dst[len(dst)-1] |= 0x80
	}
	return dst, nil
}

// Formats of appendix A used here: bytes, decimals, signed.
type format struct {
	n      int
	scale  int8
	signed bool
}

var (
	fmtA5  = format{2, 1, true}  // ±XXX.X (power factor in %)
	fmtA7  = format{2, 1, false} // XXX.X V
	fmtA9  = format{3, 4, true}  // ±XX.XXXX kW
	fmtA11 = format{4, 2, false} // XXXXXX.XX kvarh
	fmtA14 = format{5, 4, false} // XXXXXX.XXXX kWh
	fmtA25 = format{3, 3, true}  // ±XXX.XXX A
)

// A.15: mm hh DD MM YY.
func decodeA15(b []byte) (DateTime, bool, error) {
	if allEE(b[:5]) {
		return DateTime{}, false, nil
	}
	if !bcdOK(b[:5]) {
		return DateTime{}, false, fmt.Errorf("A.15 time % X is not BCD", b[:5])
	}
	return DateTime{Year: 2000 + unbcd(b[4]), Month: unbcd(b[3]), Day: unbcd(b[2]), Hour: unbcd(b[1]), Minute: unbcd(b[0])}, true, nil
}

func appendA15(dst []byte, t DateTime) []byte {
	return append(dst, bcd(t.Minute), bcd(t.Hour), bcd(t.Day), bcd(t.Month), bcd(t.Year%100))
}

// Day is a calendar day: the Td_d time label (A.20: DD MM YY).
type Day struct{ Year, Month, Day int }

// DayOf returns t's civil day in t's location.
func DayOf(t time.Time) Day { return Day{t.Year(), int(t.Month()), t.Day()} }

// In returns 00:00 of the day in loc.
func (d Day) In(loc *time.Location) time.Time {
	return time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, loc)
}

func (d Day) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// AppendTd appends the A.20 label.
func (d Day) AppendTd(dst []byte) []byte {
	return append(dst, bcd(d.Day), bcd(d.Month), bcd(d.Year%100))
}

// ParseDay reads an A.20 label.
func ParseDay(b []byte) (Day, error) {
	if len(b) < 3 || !bcdOK(b[:3]) {
		return Day{}, fmt.Errorf("q1376: day label % X is not A.20 BCD", b)
	}
	d := Day{2000 + unbcd(b[2]), unbcd(b[1]), unbcd(b[0])}
	if d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > 31 {
		return Day{}, fmt.Errorf("q1376: day label %s is not a date", d)
	}
	return d, nil
}

// Month is the Td_m label (A.21: MM YY).
type Month struct{ Year, Month int }

func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, m.Month) }

// AppendTd appends the A.21 label.
func (m Month) AppendTd(dst []byte) []byte { return append(dst, bcd(m.Month), bcd(m.Year%100)) }

// ParseMonth reads an A.21 label.
func ParseMonth(b []byte) (Month, error) {
	if len(b) < 2 || !bcdOK(b[:2]) {
		return Month{}, fmt.Errorf("q1376: month label % X is not A.21 BCD", b)
	}
	m := Month{2000 + unbcd(b[1]), unbcd(b[0])}
	if m.Month < 1 || m.Month > 12 {
		return Month{}, fmt.Errorf("q1376: month label %s is not a month", m)
	}
	return m, nil
}

// Clock is the A.1 format: ss mm hh DD (week<<5 | month) YY.
type Clock struct {
	DateTime
	Week int // 1 = Monday .. 7 = Sunday, 0 = not given
}

// ParseClock reads A.1.
func ParseClock(b []byte) (Clock, error) {
	if len(b) < 6 {
		return Clock{}, fmt.Errorf("q1376: A.1 clock needs 6 bytes, have %d", len(b))
	}
	mb := b[4] & 0x1F
	c := []byte{b[0], b[1], b[2], b[3], mb, b[5]}
	if !bcdOK(c) {
		return Clock{}, fmt.Errorf("q1376: A.1 clock % X is not BCD", b[:6])
	}
	t := DateTime{Year: 2000 + unbcd(b[5]), Month: unbcd(mb), Day: unbcd(b[3]), Hour: unbcd(b[2]), Minute: unbcd(b[1]), Second: unbcd(b[0])}
	if !t.Valid() {
		return Clock{}, fmt.Errorf("q1376: A.1 clock %s is not a valid time", t)
	}
	return Clock{DateTime: t, Week: int(b[4] >> 5)}, nil
}

// AppendClock appends A.1.
func AppendClock(dst []byte, c Clock) []byte {
	return append(dst, bcd(c.Second), bcd(c.Minute), bcd(c.Hour), bcd(c.Day), byte(c.Week&7)<<5|bcd(c.Month), bcd(c.Year%100))
}

// ClockOf returns t as A.1 in t's location.
func ClockOf(t time.Time) Clock {
	w := int(t.Weekday())
	if w == 0 {
		w = 7
	}
	return Clock{DateTime: dlt645.DateTimeOf(t), Week: w}
}

// Indication is "A.15 reading time, M tariffs, (M+1) values" — the layout of
// AFN 0C F129/F131 and, after a time label, of AFN 0D F161/F163/F177/F179.
// Values[0] is the total, Values[1..M] the tariffs; energies in kWh with 4
// decimals (A.14).
type Indication struct {
	ReadAt DateTime
	HasAt  bool
	Values []Value
}

// ParseIndication reads an indication (after any time label).
func ParseIndication(b []byte) (Indication, error) {
	return ParseIndicationInto(nil, b)
}

// ParseIndicationInto is ParseIndication with the values in vals' array
// when it has room for them (a caller decoding many reuses one).
func ParseIndicationInto(vals []Value, b []byte) (Indication, error) {
	if len(b) < 6 {
		return Indication{}, fmt.Errorf("q1376: indication needs 6 bytes, have %d", len(b))
	}
	at, ok, err := decodeA15(b)
	if err != nil {
		return Indication{}, fmt.Errorf("q1376: indication: %w", err)
	}
	m := int(b[5])
	if m == 0xEE {
		m = 0
	}
	need := 6 + (m+1)*fmtA14.n
	if len(b) < need {
		return Indication{}, fmt.Errorf("q1376: indication with %d tariffs needs %d bytes, have %d", m, need, len(b))
	}
	ind := Indication{ReadAt: at, HasAt: ok, Values: slices.Grow(vals[:0], m+1)[:m+1]}
	for i := range m + 1 {
		off := 6 + i*fmtA14.n
		v, err := decodeBCD(b[off:off+fmtA14.n], fmtA14.scale, false)
		if err != nil {
			return Indication{}, fmt.Errorf("q1376: indication value %d: %w", i, err)
		}
		ind.Values[i] = v
	}
	return ind, nil
}

// Append appends the indication.
func (ind Indication) Append(dst []byte) ([]byte, error) {
	if ind.HasAt {
		dst = appendA15(dst, ind.ReadAt)
	} else {
		dst = append(dst, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE)
	}
	if len(ind.Values) == 0 || len(ind.Values) > 15 {
		return dst, fmt.Errorf("q1376: an indication has 1..15 values, not %d", len(ind.Values))
	}
	dst = append(dst, byte(len(ind.Values)-1))
	for _, v := range ind.Values {
		var err error
		if dst, err = appendBCD(dst, v, fmtA14.n, fmtA14.scale, false); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// Instant is AFN 0C F25: reading time, powers, power factors, voltages and
// currents (absent values are EE).
type Instant struct {
	ReadAt  DateTime
	P, Q, S [4]Value // total, A, B, C (kW, kvar, kVA)
	PF      [4]Value // total, A, B, C (percent)
	U       [3]Value // V
	I       [3]Value // A
	I0      Value    // zero-sequence current
}

const f25Len = 5 + 12 + 12 + 8 + 6 + 9 + 3 + 12

// ParseInstant reads AFN 0C F25 data.
func ParseInstant(b []byte) (Instant, error) {
	var in Instant
	if len(b) < f25Len {
		return in, fmt.Errorf("q1376: F25 needs %d bytes, have %d", f25Len, len(b))
	}
	at, _, err := decodeA15(b)
	if err != nil {
		return in, fmt.Errorf("q1376: F25: %w", err)
	}
	in.ReadAt = at
	off := 5
	read := func(v *Value, f format) error {
		x, err := decodeBCD(b[off:off+f.n], f.scale, f.signed)
		if err != nil {
			return fmt.Errorf("q1376: F25 at byte %d: %w", off, err)
		}
		*v = x
		off += f.n
		return nil
	}
	for _, grp := range []struct {
		vals []Value
		f    format
	}{{in.P[:], fmtA9}, {in.Q[:], fmtA9}, {in.PF[:], fmtA5}, {in.U[:], fmtA7}, {in.I[:], fmtA25}} {
		for i := range grp.vals {
			if err := read(&grp.vals[i], grp.f); err != nil {
				return in, err
			}
		}
	}
	if err := read(&in.I0, fmtA25); err != nil {
		return in, err
	}
	for i := range in.S {
		if err := read(&in.S[i], fmtA9); err != nil {
			return in, err
		}
	}
	return in, nil
}

// Append appends AFN 0C F25 data.
func (in Instant) Append(dst []byte) ([]byte, error) {
	dst = appendA15(dst, in.ReadAt)
	var err error
	for _, grp := range []struct {
		vals []Value
		f    format
	}{{in.P[:], fmtA9}, {in.Q[:], fmtA9}, {in.PF[:], fmtA5}, {in.U[:], fmtA7}, {in.I[:], fmtA25}, {[]Value{in.I0}, fmtA25}, {in.S[:], fmtA9}} {
		for _, v := range grp.vals {
			if dst, err = appendBCD(dst, v, grp.f.n, grp.f.scale, grp.f.signed); err != nil {
				return dst, err
			}
		}
	}
	return dst, nil
}

// archiveItemLen is the size of one meter in AFN 04 F10.
const archiveItemLen = 27

// Meter protocols in the archive.
const (
	ProtoDLT645_1997 = 1
	ProtoACSampling  = 2
	ProtoDLT645_2007 = 30
)

// ArchiveEntry is one meter of the AFN 04 F10 archive.
type ArchiveEntry struct {
	Seq       uint16 // 电能表/交流采样装置序号
	Pn        uint16 // measuring point
	Baud      int    // 0 = default; else 600..19200
	Port      uint8  // 1..31
	Protocol  uint8  // ProtoDLT645_2007, ...
	Address   dlt645.Address
	Password  [6]byte
	Tariffs   uint8
	Digits    uint8 // D3..D2 integer digits - 4, D1..D0 decimals - 1
	Collector dlt645.Address
	Class     uint8
}

var bauds = []int{0, 600, 1200, 2400, 4800, 7200, 9600, 19200}

// AppendArchive appends the AFN 04 F10 / 0A F10 data of entries.
func AppendArchive(dst []byte, entries []ArchiveEntry) ([]byte, error) {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(entries)))
	for _, e := range entries {
		rate := -1
		for i, b := range bauds {
			if b == e.Baud {
				rate = i
			}
		}
		if rate < 0 {
			return dst, fmt.Errorf("q1376: archive: baud %d not encodable", e.Baud)
		}
		if e.Port > 31 {
			return dst, fmt.Errorf("q1376: archive: port %d out of range", e.Port)
		}
		dst = binary.LittleEndian.AppendUint16(dst, e.Seq)
		dst = binary.LittleEndian.AppendUint16(dst, e.Pn)
		dst = append(dst, byte(rate)<<5|e.Port, e.Protocol)
		dst = append(dst, e.Address[:]...)
		dst = append(dst, e.Password[:]...)
		dst = append(dst, e.Tariffs, e.Digits)
		dst = append(dst, e.Collector[:]...)
		dst = append(dst, e.Class)
	}
	return dst, nil
}

// ParseArchive reads AFN 04 F10 / 0A F10 data.
func ParseArchive(b []byte) ([]ArchiveEntry, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("q1376: archive needs a count")
	}
	n := int(binary.LittleEndian.Uint16(b))
	if len(b) < 2+n*archiveItemLen {
		return nil, fmt.Errorf("q1376: archive of %d meters needs %d bytes, have %d", n, 2+n*archiveItemLen, len(b))
	}
	out := make([]ArchiveEntry, n)
	for i := range n {
		p := b[2+i*archiveItemLen:]
		e := &out[i]
		e.Seq = binary.LittleEndian.Uint16(p)
		e.Pn = binary.LittleEndian.Uint16(p[2:])
		e.Baud, e.Port, e.Protocol = bauds[p[4]>>5], p[4]&0x1F, p[5]
		copy(e.Address[:], p[6:12])
		copy(e.Password[:], p[12:18])
		e.Tariffs, e.Digits = p[18], p[19]
		copy(e.Collector[:], p[20:26])
		e.Class = p[26]
	}
	return out, nil
}

// Forward is AFN 10 F1 downlink data: a frame to send on a port.
type Forward struct {
	Port         uint8
	Control      byte          // baud/parity word, e.g. 0x6B = 2400 8E1
	FrameTimeout time.Duration // how long to wait for the answer
	ByteTimeout  time.Duration // gap between bytes of the answer
	Content      []byte
}

// Control word for 2400 baud, 8 data bits, even parity, 1 stop bit.
const Control2400_8E1 = 0x6B

// Append appends the forwarding request data (without PW).
func (fw Forward) Append(dst []byte) ([]byte, error) {
	if len(fw.Content) > 0xFFFF {
		return dst, fmt.Errorf("q1376: forwarded frame of %d bytes", len(fw.Content))
	}
	var ft byte
	if s := fw.FrameTimeout / time.Second; fw.FrameTimeout%time.Second == 0 && s > 0 && s < 128 || fw.FrameTimeout > 1270*time.Millisecond {
		s = min(fw.FrameTimeout/time.Second, 127)
		ft = 0x80 | byte(s)
	} else {
		ft = byte(min(fw.FrameTimeout/(10*time.Millisecond), 127))
	}
	bt := byte(min(fw.ByteTimeout/(10*time.Millisecond), 255))
	dst = append(dst, fw.Port, fw.Control, ft, bt)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(fw.Content)))
	return append(dst, fw.Content...), nil
}

// ParseForward reads AFN 10 F1 downlink data.
func ParseForward(b []byte) (Forward, error) {
	n, err := forwardDown(b)
	if err != nil {
		return Forward{}, fmt.Errorf("q1376: forward: %w", err)
	}
	if len(b) < n {
		return Forward{}, fmt.Errorf("q1376: forward: content truncated: need %d bytes, have %d", n, len(b))
	}
	fw := Forward{Port: b[0], Control: b[1], Content: b[6:n]}
	if b[2]&0x80 != 0 {
		fw.FrameTimeout = time.Duration(b[2]&0x7F) * time.Second
	} else {
		fw.FrameTimeout = time.Duration(b[2]&0x7F) * 10 * time.Millisecond
	}
	fw.ByteTimeout = time.Duration(b[3]) * 10 * time.Millisecond
	return fw, nil
}

// ForwardReply is AFN 10 F1 uplink data: the meter's answer (empty when it
// did not answer).
type ForwardReply struct {
	Port    uint8
	Content []byte
}

// Append appends the reply data.
func (r ForwardReply) Append(dst []byte) []byte {
	dst = append(dst, r.Port)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(r.Content)))
	return append(dst, r.Content...)
}

// ParseForwardReply reads AFN 10 F1 uplink data.
func ParseForwardReply(b []byte) (ForwardReply, error) {
	n, err := forwardUp(b)
	if err != nil {
		return ForwardReply{}, fmt.Errorf("q1376: forward reply: %w", err)
	}
	if len(b) < n {
		return ForwardReply{}, fmt.Errorf("q1376: forward reply: content truncated: need %d bytes, have %d", n, len(b))
	}
	return ForwardReply{Port: b[0], Content: b[3:n]}, nil
}

// ItemResult is one entry of an AFN 00 F3 per-item confirm.
type ItemResult struct {
	Pn, Fn uint16
	Err    byte // 0 = OK
}

// AppendItemResults appends AFN 00 F3 data: the confirmed AFN then the items.
func AppendItemResults(dst []byte, afn AFN, items []ItemResult) ([]byte, error) {
	dst = append(dst, byte(afn))
	for _, it := range items {
		var err error
		if dst, err = appendDADT(dst, []uint16{it.Pn}, []uint16{it.Fn}); err != nil {
			return dst, err
		}
		dst = append(dst, it.Err)
	}
	return dst, nil
}

// ParseItemResults reads AFN 00 F3 data.
func ParseItemResults(b []byte) (AFN, []ItemResult, error) {
	if len(b) < 1 || (len(b)-1)%5 != 0 {
		return 0, nil, fmt.Errorf("q1376: per-item confirm of %d bytes is not AFN + n x 5", len(b))
	}
	afn := AFN(b[0])
	var out []ItemResult
	for p := b[1:]; len(p) >= 5; p = p[5:] {
		pns, fns := pnsOf(p[0], p[1]), fnsOf(p[2], p[3])
		for _, pn := range pns {
			for _, fn := range fns {
				out = append(out, ItemResult{Pn: pn, Fn: fn, Err: p[4]})
			}
		}
	}
	return afn, out, nil
}

// EventRecord is one ERC record of AFN 0E: its code and data.
type EventRecord struct {
	ERC  uint8
	Data []byte
}

// Events is AFN 0E F1/F2 uplink data: the event counters EC1 (important)
// and EC2 (normal), the pointers pm and pn of the records sent, and the
// records.
type Events struct {
	EC1, EC2 uint8
	Pm, Pn   uint8
	Records  []EventRecord
}

// Append appends the data.
func (e Events) Append(dst []byte) ([]byte, error) {
	dst = append(dst, e.EC1, e.EC2, e.Pm, e.Pn)
	for _, r := range e.Records {
		if len(r.Data) > 255 {
			return dst, fmt.Errorf("q1376: ERC %d record of %d bytes", r.ERC, len(r.Data))
		}
		dst = append(dst, r.ERC, byte(len(r.Data)))
		dst = append(dst, r.Data...)
	}
	return dst, nil
}

// ParseEvents reads AFN 0E F1/F2 uplink data.
func ParseEvents(b []byte) (Events, error) {
	if len(b) < 4 {
		return Events{}, fmt.Errorf("q1376: event data needs 4 bytes of counters and pointers, have %d", len(b))
	}
	e := Events{EC1: b[0], EC2: b[1], Pm: b[2], Pn: b[3]}
	for p := b[4:]; len(p) > 0; {
		if len(p) < 2 || len(p) < 2+int(p[1]) {
			return Events{}, fmt.Errorf("q1376: ERC record truncated at byte %d", len(b)-len(p))
		}
		e.Records = append(e.Records, EventRecord{ERC: p[0], Data: p[2 : 2+int(p[1])]})
		p = p[2+int(p[1]):]
	}
	return e, nil
}
