// Package dlt645 is a pure codec for DL/T 645-2007 (and DL/T 645-1997 reads),
// the protocol of Chinese electricity meters on RS-485, carrier and GPRS.
//
// A frame on the wire:
//
//	[FE FE FE FE]  68  A0 A1 A2 A3 A4 A5  68  C  L  DATA(L bytes, each +33H)  CS  16
//	 preamble      |   address, low byte  |   |  |                             |   end
//	 (optional)    |   first, BCD         |   |  length of DATA               sum of 68..DATA mod 256
//	               start                  start
//	                                          control: D7 direction (1 = reply), D6 abnormal reply,
//	                                          D5 follow-up frames, D4..D0 function code
//
// The package takes bytes and returns values, or appends encodings to a
// caller's buffer; it does no I/O and reads no clock. Decoding into a reused
// Frame does not allocate.
package dlt645

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Frame bytes.
const (
	Start    = 0x68 // start of frame, twice
	End      = 0x16 // end of frame
	Preamble = 0xFE // wake-up byte before a frame
	Offset   = 0x33 // added to every data byte on the wire

	// HeaderLen is 68 + address + 68 + C + L; a frame is HeaderLen+L+2 bytes.
	HeaderLen = 10
	// MaxData is the largest L the codec accepts (one byte of length).
	MaxData = 255
)

// Address is a meter's communication address in wire order (low byte first).
// Its String is the 12 digits printed on the nameplate.
type Address [6]byte

// Broadcast (999999999999) is obeyed by every meter, which does not reply.
// Wildcard (AAAAAAAAAAAA) is answered by the only meter on a bus, with its
// real address.
var (
	Broadcast = Address{0x99, 0x99, 0x99, 0x99, 0x99, 0x99}
	Wildcard  = Address{0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA}
)

// ParseAddress parses 12 hex digits in nameplate order ("123456789012"); A is
// allowed as a wildcard nibble.
func ParseAddress(s string) (Address, error) {
	var a Address
	if len(s) != 12 {
		return a, fmt.Errorf("dlt645: address %q: want 12 digits, have %d", s, len(s))
	}
	var b [6]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return a, fmt.Errorf("dlt645: address %q: %w", s, err)
	}
	for i := range 6 {
		a[i] = b[5-i]
	}
	return a, nil
}

// String returns the 12 nameplate digits, most significant first.
func (a Address) String() string {
	var b [12]byte
	a.appendDigits(b[:0])
	return string(b[:])
}

func (a Address) appendDigits(dst []byte) []byte {
	const digits = "0123456789ABCDEF"
	for i := 5; i >= 0; i-- {
		dst = append(dst, digits[a[i]>>4], digits[a[i]&0x0F])
	}
	return dst
}

// IsBroadcast reports whether a is 999999999999.
func (a Address) IsBroadcast() bool { return a == Broadcast }

// IsWildcard reports whether a is AAAAAAAAAAAA.
func (a Address) IsWildcard() bool { return a == Wildcard }

// Matches reports whether a frame sent to a reaches the meter with address
// own: the same address, the wildcard, or an abbreviated address whose high
// nibbles are A.
func (a Address) Matches(own Address) bool {
	for i := range 6 {
		hi, lo := a[i]>>4, a[i]&0x0F
		if hi != 0x0A && hi != own[i]>>4 {
			return false
		}
		if lo != 0x0A && lo != own[i]&0x0F {
			return false
		}
	}
	return true
}

// MarshalText implements encoding.TextMarshaler.
func (a Address) MarshalText() ([]byte, error) { return a.appendDigits(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Address) UnmarshalText(b []byte) error {
	v, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Func is a DL/T 645 function code (control bits D4..D0).
type Func byte

// Function codes of DL/T 645-2007, and the read of DL/T 645-1997.
const (
	FuncBroadcastTime  Func = 0x08
	FuncRead           Func = 0x11
	FuncReadFollow     Func = 0x12
	FuncReadAddress    Func = 0x13
	FuncWrite          Func = 0x14
	FuncWriteAddress   Func = 0x15
	FuncFreeze         Func = 0x16
	FuncChangeBaud     Func = 0x17
	FuncChangePassword Func = 0x18
	FuncDemandClear    Func = 0x19
	FuncMeterClear     Func = 0x1A
	FuncEventClear     Func = 0x1B
	FuncControl        Func = 0x1C
	FuncSecurity       Func = 0x03

	Func1997Read       Func = 0x01
	Func1997ReadFollow Func = 0x02
)

var funcNames = map[Func]string{
	FuncBroadcastTime:  "broadcast-time",
	FuncRead:           "read",
	FuncReadFollow:     "read-follow",
	FuncReadAddress:    "read-address",
	FuncWrite:          "write",
	FuncWriteAddress:   "write-address",
	FuncFreeze:         "freeze",
	FuncChangeBaud:     "change-baud",
	FuncChangePassword: "change-password",
	FuncDemandClear:    "demand-clear",
	FuncMeterClear:     "meter-clear",
	FuncEventClear:     "event-clear",
	FuncControl:        "control",
	FuncSecurity:       "security",
	Func1997Read:       "read-1997",
	Func1997ReadFollow: "read-follow-1997",
}

// String returns the function's name, such as "read".
func (f Func) String() string {
	if n, ok := funcNames[f]; ok {
		return n
	}
	return fmt.Sprintf("func-%02X", byte(f))
}

// Control is the control byte C.
type Control byte

// Control bits.
const (
	ctlDir      = 0x80
	ctlAbnormal = 0x40
	ctlFollow   = 0x20
	ctlFunc     = 0x1F
)

// Func returns the function code.
func (c Control) Func() Func { return Func(c & ctlFunc) }

// IsResponse reports D7: the frame goes from the meter to the master.
func (c Control) IsResponse() bool { return c&ctlDir != 0 }

// IsAbnormal reports D6: an error reply whose data is the error word.
func (c Control) IsAbnormal() bool { return c&ctlAbnormal != 0 }

// HasFollow reports D5: more frames follow (read with 12H to get them).
func (c Control) HasFollow() bool { return c&ctlFollow != 0 }

// Request returns the control byte of a request for f.
func Request(f Func) Control { return Control(f) & ctlFunc }

// Reply returns the control byte of a normal reply for f; follow sets D5.
func Reply(f Func, follow bool) Control {
	c := Control(f)&ctlFunc | ctlDir
	if follow {
		c |= ctlFollow
	}
	return c
}

// AbnormalReply returns the control byte of an error reply for f.
func AbnormalReply(f Func) Control { return Control(f)&ctlFunc | ctlDir | ctlAbnormal }

// Frame is one DL/T 645 frame. Data holds the user data with the +33H offset
// already removed.
type Frame struct {
	Address Address
	Control Control
	Data    []byte
}

// Errors returned by Decode and Split; they are wrapped in a *FrameError that
// says where.
var (
	ErrShort    = errors.New("frame incomplete")
	ErrStart    = errors.New("no start byte 68")
	ErrStart2   = errors.New("second start byte 68 missing")
	ErrChecksum = errors.New("checksum mismatch")
	ErrEnd      = errors.New("end byte 16 missing")
)

// FrameError says what is wrong with a frame and at which byte (counted from
// the start of the bytes given to Decode, preamble included).
type FrameError struct {
	Err      error
	Offset   int
	Got      byte
	Want     byte
	HasBytes bool // Got and Want are meaningful
	Need     int  // for ErrShort: bytes needed in all
}

func (e *FrameError) Error() string {
	switch {
	case e.Err == ErrShort:
		return fmt.Sprintf("dlt645: frame incomplete: need %d bytes, have %d", e.Need, e.Offset)
	case e.HasBytes:
		return fmt.Sprintf("dlt645: %v at byte %d: got 0x%02x, want 0x%02x", e.Err, e.Offset, e.Got, e.Want)
	default:
		return fmt.Sprintf("dlt645: %v at byte %d", e.Err, e.Offset)
	}
}

func (e *FrameError) Unwrap() error { return e.Err }

// Decode decodes the frame at the start of b, after any FE preamble, into f.
// It returns the number of bytes consumed, preamble included. f.Data is
// appended into f.Data[:0], so a reused Frame decodes without allocating.
func (f *Frame) Decode(b []byte) (int, error) {
	i := 0
	for i < len(b) && b[i] == Preamble {
		i++
	}
	if i >= len(b) {
		return 0, &FrameError{Err: ErrShort, Offset: len(b), Need: i + HeaderLen + 2}
	}
	if b[i] != Start {
		return 0, &FrameError{Err: ErrStart, Offset: i, Got: b[i], Want: Start, HasBytes: true}
	}
	if len(b) < i+HeaderLen {
		return 0, &FrameError{Err: ErrShort, Offset: len(b), Need: i + HeaderLen + 2}
	}
	if b[i+7] != Start {
		return 0, &FrameError{Err: ErrStart2, Offset: i + 7, Got: b[i+7], Want: Start, HasBytes: true}
	}
	n := int(b[i+9])
	total := i + HeaderLen + n + 2
	if len(b) < total {
		return 0, &FrameError{Err: ErrShort, Offset: len(b), Need: total}
	}
	var sum byte
	for _, c := range b[i : i+HeaderLen+n] {
		sum += c
	}
	if cs := b[i+HeaderLen+n]; cs != sum {
		return 0, &FrameError{Err: ErrChecksum, Offset: i + HeaderLen + n, Got: cs, Want: sum, HasBytes: true}
	}
	if e := b[total-1]; e != End {
		return 0, &FrameError{Err: ErrEnd, Offset: total - 1, Got: e, Want: End, HasBytes: true}
	}
	copy(f.Address[:], b[i+1:i+7])
	f.Control = Control(b[i+8])
	f.Data = f.Data[:0]
	for _, c := range b[i+HeaderLen : i+HeaderLen+n] {
		f.Data = append(f.Data, c-Offset)
	}
	return total, nil
}

// Parse decodes one frame from b (preamble allowed); trailing bytes are an
// error.
func Parse(b []byte) (Frame, error) {
	var f Frame
	n, err := f.Decode(b)
	if err != nil {
		return Frame{}, err
	}
	if n != len(b) {
		return Frame{}, fmt.Errorf("dlt645: %d bytes after the frame's end at byte %d", len(b)-n, n)
	}
	return f, nil
}

// AppendPreamble appends the usual wake-up preamble FE FE FE FE.
func AppendPreamble(dst []byte) []byte { return append(dst, Preamble, Preamble, Preamble, Preamble) }

// AppendFrame appends the encoding of f (without preamble) to dst. Data
// longer than MaxData is an error.
func AppendFrame(dst []byte, f *Frame) ([]byte, error) {
	if len(f.Data) > MaxData {
		return dst, fmt.Errorf("dlt645: data of %d bytes exceeds %d", len(f.Data), MaxData)
	}
	start := len(dst)
	dst = append(dst, Start)
	dst = append(dst, f.Address[:]...)
	dst = append(dst, Start, byte(f.Control), byte(len(f.Data)))
	for _, c := range f.Data {
		dst = append(dst, c+Offset)
	}
	var sum byte
	for _, c := range dst[start:] {
		sum += c
	}
	return append(dst, sum, End), nil
}

// Bytes returns the encoding of f, or nil when f's data is too long.
func (f *Frame) Bytes() []byte {
	b, err := AppendFrame(make([]byte, 0, HeaderLen+2+len(f.Data)), f)
	if err != nil {
		return nil
	}
	return b
}

// Is1997 reports whether the frame uses a DL/T 645-1997 function code.
func (f *Frame) Is1997() bool {
	switch f.Control.Func() {
	case Func1997Read, Func1997ReadFollow:
		return true
	}
	return false
}

// DI returns the data identifier carried by a read, read follow-up, write or
// normal read reply, and whether there is one. 1997 frames carry a 2-byte DI,
// returned as DI(DI1<<8|DI0).
func (f *Frame) DI() (DI, bool) {
	if f.Control.IsAbnormal() {
		return 0, false
	}
	switch f.Control.Func() {
	case FuncRead, FuncReadFollow, FuncWrite:
		if len(f.Data) < 4 {
			return 0, false
		}
		return DI(uint32(f.Data[0]) | uint32(f.Data[1])<<8 | uint32(f.Data[2])<<16 | uint32(f.Data[3])<<24), true
	case FuncChangePassword:
		if f.Control.IsResponse() || len(f.Data) < 4 {
			return 0, false
		}
		return DI(uint32(f.Data[0]) | uint32(f.Data[1])<<8 | uint32(f.Data[2])<<16 | uint32(f.Data[3])<<24), true
	case Func1997Read, Func1997ReadFollow:
		if len(f.Data) < 2 {
			return 0, false
		}
		return DI(uint32(f.Data[0]) | uint32(f.Data[1])<<8), true
	}
	return 0, false
}
