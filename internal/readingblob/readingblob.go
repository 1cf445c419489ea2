// Package readingblob is the compact encoding of a reading's values that the
// SQLite store keeps in one BLOB column beside its key (meter, kind code,
// instant) and its flags. It is pure: Append adds a reading's values to a
// caller's buffer, Parse reads them back; names (quality, source) travel as
// ids of the store's name table, whose first ids are fixed here.
//
// Layout (varints are Go's encoding/binary: Uvarint, and Varint for zig-zag
// signed values):
//
//	h        uvarint  the registers' scale code (2 bits), then the has* bits:
//	                  absent parts cost nothing
//	regs F   if hasFwdRegs: register block of the forward registers
//	regs R   if hasRevRegs: register block of the reverse registers
//	power    if hasPower:   varint, W
//	voltage  if hasVoltage: varint, 0.1 V
//	quality  if hasQuality: uvarint name id (absent: QualityActual)
//	edit     if hasEdit:    uvarint length + edited_by, uvarint length + edit_reason
//	source   uvarint name id
//	received uvarint |received_at - t| in seconds (recvBefore: negative)
//
//	register block: with s the scale, as varints,
//	  T1/s, T2/s, T3/s, T4/s, and total/s - (T1+T2+T3+T4)/s
//
// The scale s is the largest of 1, 10, 100 and 10,000 that every register
// divides: DL/T 645 registers hold 0.01 kWh, 100 units of amigo.Energy, so
// s is 100 for most meters and each tariff register of a household takes 3
// bytes; the total, usually the sum of the tariffs, one. The bits used by
// most readings come first, so that h is one byte for them. A daily
// reading of four tariffs with nothing else takes 17 bytes.
package readingblob

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
)

// Fixed names of the store's name table, by id. Kinds, qualities and
// sources share the table. Ids 0 and 1 cost no byte in a SQLite record: they
// go to the most frequent kinds.
var Fixed = [...]string{
	amigo.KindRealtime, amigo.KindDaily, amigo.QualityActual, amigo.KindMonthly, amigo.KindOnDemand,
	amigo.KindManual, amigo.QualityEstimated, amigo.QualityEdited, amigo.QualityFromCurrent, "gprs",
}

// QualityActual is the id of amigo.QualityActual, the quality a blob
// leaves out.
const QualityActual = 2

// Bits of h, above its scale code (the low 2 bits: an index of scales).
const (
	hasFwd     = 4 << iota // Reading.HasForward
	hasFwdRegs             // a forward register block follows (some register is not 0)
	hasPower               // PowerW is set
	hasVoltage             // VoltageDV is set
	hasRev                 // Reading.HasReverse
	hasRevRegs             // a reverse register block follows
	hasQuality             // a quality other than QualityActual
	hasEdit                // EditedBy or EditReason is set
	recvBefore             // ReceivedAt is before Time
	allBits    = recvBefore<<1 - 1
	scaleBits  = 3
)

// scales are the register scales a blob can say.
var scales = [...]int64{1, 10, 100, 10000}

// Names are the name ids of a reading's quality and source.
type Names struct{ Quality, Source int64 }

// Append appends the encoding of r's values (all but MeterID, Time, Kind
// and Flags) to dst, with its quality and source as the ids in n.
func Append(dst []byte, r *amigo.Reading, n Names) []byte {
	var h uint64
	if r.HasForward {
		h |= hasFwd
	}
	if r.HasReverse {
		h |= hasRev
	}
	if r.Forward != ([5]amigo.Energy{}) {
		h |= hasFwdRegs
	}
	if r.Reverse != ([5]amigo.Energy{}) {
		h |= hasRevRegs
	}
	if r.PowerW != nil {
		h |= hasPower
	}
	if r.VoltageDV != nil {
		h |= hasVoltage
	}
	if n.Quality != QualityActual {
		h |= hasQuality
	}
	if r.EditedBy != "" || r.EditReason != "" {
		h |= hasEdit
	}
	recv := uint64(unix(r.ReceivedAt) - unix(r.Time))
	if int64(recv) < 0 {
		h |= recvBefore
		recv = -recv
	}
	code := len(scales) - 1
	for code > 0 && !(divides(&r.Forward, scales[code]) && divides(&r.Reverse, scales[code])) {
		code--
	}
	h |= uint64(code)
	dst = binary.AppendUvarint(dst, h)
	if h&hasFwdRegs != 0 {
		dst = appendRegs(dst, &r.Forward, scales[code])
	}
	if h&hasRevRegs != 0 {
		dst = appendRegs(dst, &r.Reverse, scales[code])
	}
	if h&hasPower != 0 {
		dst = binary.AppendVarint(dst, *r.PowerW)
	}
	if h&hasVoltage != 0 {
		dst = binary.AppendVarint(dst, *r.VoltageDV)
	}
	if h&hasQuality != 0 {
		dst = binary.AppendUvarint(dst, uint64(n.Quality))
	}
	if h&hasEdit != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(r.EditedBy)))
		dst = append(dst, r.EditedBy...)
		dst = binary.AppendUvarint(dst, uint64(len(r.EditReason)))
		dst = append(dst, r.EditReason...)
	}
	dst = binary.AppendUvarint(dst, uint64(n.Source))
	return binary.AppendUvarint(dst, recv)
}

func divides(v *[5]amigo.Energy, s int64) bool {
	return int64(v[0])%s == 0 && int64(v[1])%s == 0 && int64(v[2])%s == 0 && int64(v[3])%s == 0 && int64(v[4])%s == 0
}

func appendRegs(dst []byte, v *[5]amigo.Energy, s int64) []byte {
	// The total's residue is taken in the scaled domain, where wrapping
	// arithmetic undoes itself exactly.
	var sum int64
	for i := 1; i < 5; i++ {
		x := int64(v[i]) / s
		sum += x
		dst = binary.AppendVarint(dst, x)
	}
	return binary.AppendVarint(dst, int64(v[0])/s-sum)
}

// Parse decodes b, the values of a reading whose Time is set already, into
// r and returns the name ids of its quality and source; r.Quality and
// r.Source are left for the caller to name. It fails on a blob that is
// truncated, too long, or has bits it does not know.
func Parse(b []byte, r *amigo.Reading) (Names, error) {
	d := decoder{b: b}
	var n Names
	h := d.uvarint("header")
	if h&^allBits != 0 && d.err == nil {
		d.err = fmt.Errorf("readingblob: unknown header bits %#x", h&^allBits)
	}
	r.HasForward, r.HasReverse = h&hasFwd != 0, h&hasRev != 0
	r.Forward, r.Reverse = [5]amigo.Energy{}, [5]amigo.Energy{}
	scale := scales[h&scaleBits]
	if h&hasFwdRegs != 0 {
		d.regs(&r.Forward, scale, "forward registers")
	}
	if h&hasRevRegs != 0 {
		d.regs(&r.Reverse, scale, "reverse registers")
	}
	r.PowerW, r.VoltageDV = nil, nil
	if h&hasPower != 0 {
		p := d.varint("power")
		r.PowerW = &p
	}
	if h&hasVoltage != 0 {
		v := d.varint("voltage")
		r.VoltageDV = &v
	}
	n.Quality = QualityActual
	if h&hasQuality != 0 {
		n.Quality = d.id("quality")
	}
	r.EditedBy, r.EditReason = "", ""
	if h&hasEdit != 0 {
		r.EditedBy = d.str("edited_by")
		r.EditReason = d.str("edit_reason")
	}
	n.Source = d.id("source")
	recv := int64(d.uvarint("received_at"))
	if h&recvBefore != 0 {
		recv = -recv
	}
	if d.err == nil && d.i != len(b) {
		d.err = fmt.Errorf("readingblob: %d bytes after the end at byte %d", len(b)-d.i, d.i)
	}
	if d.err != nil {
		return n, d.err
	}
	r.ReceivedAt = fromUnix(unix(r.Time) + recv)
	return n, nil
}

// decoder reads varints from b, keeping the first error.
type decoder struct {
	b   []byte
	i   int
	err error
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.err = fmt.Errorf("readingblob: bad or truncated %s at byte %d", what, d.i)
		return 0
	}
	d.i += n
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.err = fmt.Errorf("readingblob: bad or truncated %s at byte %d", what, d.i)
		return 0
	}
	d.i += n
	return v
}

func (d *decoder) id(what string) int64 {
	at := d.i
	v := d.uvarint(what)
	if v > 1<<62 && d.err == nil {
		d.err = fmt.Errorf("readingblob: %s id %d out of range at byte %d", what, v, at)
	}
	return int64(v)
}

func (d *decoder) str(what string) string {
	at := d.i
	n := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)-d.i) {
		d.err = fmt.Errorf("readingblob: %s of %d bytes at byte %d overruns the blob", what, n, at)
		return ""
	}
	s := string(d.b[d.i : d.i+int(n)])
	d.i += int(n)
	return s
}

func (d *decoder) regs(v *[5]amigo.Energy, s int64, what string) {
	var sum int64
	for i := 1; i < 5; i++ {
		x := d.varint(what)
		sum += x
		v[i] = amigo.Energy(x * s)
	}
	v[0] = amigo.Energy((d.varint(what) + sum) * s)
}

// unix and fromUnix are the store's: the zero time is 0.
func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}
