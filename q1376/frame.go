// Package q1376 is a pure codec for Q/GDW 1376.1, the protocol between
// concentrators (采集终端) and the master station (主站).
//
// A frame:
//
//	68 L L 68 | C  A1 A1 A2 A2 A3  AFN  SEQ  {DA1 DA2 DT1 DT2 data}*  [PW 16] [EC 2] [Tp 6] | CS 16
//	   |      |<------------------------- user data, n = L>>2 bytes ----------------------->|
//	   L: 2 bytes little-endian, twice; D1D0 = protocol id (2 = 1376.1, 1 = Q/GDW 130)
//	C:   D7 DIR (1 = from terminal) D6 PRM (1 = initiator) D5 FCB/ACD D4 FCV D3..D0 function
//	A:   A1 region code (BCD), A2 terminal address (binary), A3 = MSA<<1 | group
//	SEQ: D7 TpV D6 FIR D5 FIN D4 CON D3..D0 PSEQ/RSEQ
//	CS:  sum of the user data mod 256
//
// PW follows the data units in downlink frames of AFN 01, 04, 05, 06, 0F and
// 10; EC follows in uplink frames with ACD set; Tp follows when SEQ.TpV is set.
//
// The package takes bytes and returns values, or appends encodings to a
// caller's buffer; it does no I/O and reads no clock.
package q1376

import (
	"errors"
	"fmt"
)

// Frame bytes.
const (
	Start = 0x68
	End   = 0x16
	// ProtocolID is the L field's protocol identifier of Q/GDW 1376.1.
	ProtocolID = 2
	// ProtocolID130 is the older Q/GDW 130-2005 identifier.
	ProtocolID130 = 1
	// MaxUserData is the largest user-data length the codec accepts.
	MaxUserData = 16383
	headerLen   = 6  // 68 L L 68
	fixedLen    = 8  // C(1) A(5) AFN(1) SEQ(1)
	pwLen       = 16 // password field
)

// AFN is the application function code.
type AFN byte

// Application functions.
const (
	AFNConfirm AFN = 0x00 // confirm / deny
	AFNReset   AFN = 0x01
	AFNLink    AFN = 0x02 // login, logout, heartbeat
	AFNSet     AFN = 0x04 // set parameters
	AFNControl AFN = 0x05
	AFNAuth    AFN = 0x06
	AFNConfig  AFN = 0x09
	AFNQuery   AFN = 0x0A // query parameters
	AFNClass1  AFN = 0x0C // real-time data
	AFNClass2  AFN = 0x0D // frozen / historical data
	AFNClass3  AFN = 0x0E // events
	AFNFile    AFN = 0x0F
	AFNForward AFN = 0x10 // data forwarding
)

// HasPW reports whether downlink frames of this AFN carry the 16-byte PW.
func (a AFN) HasPW() bool {
	switch a {
	case AFNReset, AFNSet, AFNControl, AFNAuth, AFNFile, AFNForward:
		return true
	}
	return false
}

// Control is the control field C.
type Control byte

// Function codes (C D3..D0).
const (
	FuncReset      = 1  // PRM=1
	FuncUserData   = 4  // PRM=1, send/no reply
	FuncLinkTest   = 9  // PRM=1 (login, heartbeat)
	FuncClass1     = 10 // PRM=1, request class-1 data
	FuncClass2     = 11 // PRM=1, request class-2 data
	FuncAck        = 0  // PRM=0 confirm
	FuncResponse   = 8  // PRM=0 user data
	FuncDenyNoData = 9  // PRM=0
	FuncLinkStatus = 11 // PRM=0
)

// Dir reports D7: true when the frame comes from the terminal (uplink).
func (c Control) Dir() bool { return c&0x80 != 0 }

// PRM reports D6: true when the sender initiated the exchange.
func (c Control) PRM() bool { return c&0x40 != 0 }

// ACD reports D5 of an uplink frame: an important event waits (EC present).
func (c Control) ACD() bool { return c.Dir() && c&0x20 != 0 }

// FCB reports D5 of a downlink frame.
func (c Control) FCB() bool { return !c.Dir() && c&0x20 != 0 }

// FCV reports D4 of a downlink frame.
func (c Control) FCV() bool { return !c.Dir() && c&0x10 != 0 }

// Func returns D3..D0.
func (c Control) Func() int { return int(c & 0x0F) }

// NewControl builds a control byte.
func NewControl(up, prm, acdOrFCB, fcv bool, fn int) Control {
	c := Control(fn & 0x0F)
	if up {
		c |= 0x80
	}
	if prm {
		c |= 0x40
	}
	if acdOrFCB {
		c |= 0x20
	}
	if fcv {
		c |= 0x10
	}
	return c
}

// Common control bytes.
const (
	CtlTerminalLink  Control = 0xC9 // terminal login / heartbeat / logout
	CtlMasterConfirm Control = 0x0B // master's answer to a link frame
	CtlMasterSet     Control = 0x4A // master sets / controls (AFN 04, 05)
	CtlMasterRequest Control = 0x4B // master requests data (AFN 0A, 0C, 0D, 0E, 10)
	CtlMasterReset   Control = 0x41
	CtlTerminalData  Control = 0x88 // terminal's data response
	CtlTerminalAck   Control = 0x80 // terminal's confirm / deny
	CtlMasterAck     Control = 0x00 // master's confirm of terminal data
)

// Address is the terminal address A1 A2 A3.
type Address struct {
	A1    uint16 // region code; BCD digits, printed as 4 hex digits ("0171")
	A2    uint16 // terminal address 1..65535; FFFF with Group = broadcast
	MSA   uint8  // master station address 0..127
	Group bool   // A2 is a group address
}

// A1String returns the region code as printed: 4 hex digits.
func (a Address) A1String() string { return fmt.Sprintf("%04X", a.A1) }

// String returns "0171-2082": the form used in certificates and logs.
func (a Address) String() string { return fmt.Sprintf("%04X-%d", a.A1, a.A2) }

// IsBroadcast reports A2=FFFF with the group flag.
func (a Address) IsBroadcast() bool { return a.A2 == 0xFFFF && a.Group }

// ParseAddress parses "0171-2082".
func ParseAddress(s string) (Address, error) {
	var a1 uint16
	var a2 uint32
	if _, err := fmt.Sscanf(s, "%04X-%d", &a1, &a2); err != nil || a2 > 0xFFFF {
		return Address{}, fmt.Errorf("q1376: terminal address %q: want A1-A2 like 0171-2082", s)
	}
	return Address{A1: a1, A2: uint16(a2)}, nil
}

// Seq is the SEQ byte.
type Seq struct {
	TpV bool  // a time tag Tp is present
	FIR bool  // first frame
	FIN bool  // final frame
	CON bool  // the receiver must confirm
	Num uint8 // PSEQ/RSEQ 0..15
}

// Byte encodes the SEQ byte.
func (s Seq) Byte() byte {
	b := s.Num & 0x0F
	if s.TpV {
		b |= 0x80
	}
	if s.FIR {
		b |= 0x40
	}
	if s.FIN {
		b |= 0x20
	}
	if s.CON {
		b |= 0x10
	}
	return b
}

// ParseSeq decodes a SEQ byte.
func ParseSeq(b byte) Seq {
	return Seq{TpV: b&0x80 != 0, FIR: b&0x40 != 0, FIN: b&0x20 != 0, CON: b&0x10 != 0, Num: b & 0x0F}
}

// Single returns a single-frame SEQ (FIR and FIN) with number n.
func Single(n uint8, con bool) Seq { return Seq{FIR: true, FIN: true, CON: con, Num: n & 0x0F} }

// Tp is the time tag: start-frame counter, send time (ss mm hh DD) and the
// allowed delay in minutes (0: no check).
type Tp struct {
	PFC                       uint8
	Second, Minute, Hour, Day int
	Delay                     uint8
}

// Unit is one data unit: the points pn and functions Fn its DA/DT name, and
// its data (for several pn × Fn, the data of each pair in pn-major order).
type Unit struct {
	Pn   []uint16
	Fn   []uint16
	Data []byte
}

// Frame is one 1376.1 frame.
type Frame struct {
	Protocol uint8 // ProtocolID (default) or ProtocolID130
	Control  Control
	Address  Address
	AFN      AFN
	Seq      Seq
	Units    []Unit
	PW       []byte // 16 bytes, downlink frames of AFNs that carry it
	EC       *[2]byte
	Tp       *Tp
}

// Errors wrapped by decode errors.
var (
	ErrShort    = errors.New("frame incomplete")
	ErrStart    = errors.New("no start byte 68")
	ErrLength   = errors.New("length fields differ")
	ErrProtocol = errors.New("unknown protocol identifier")
	ErrChecksum = errors.New("checksum mismatch")
	ErrEnd      = errors.New("end byte 16 missing")
	ErrData     = errors.New("bad data unit")
)

// FrameError says what is wrong and at which byte.
type FrameError struct {
	Err    error
	Offset int
	Detail string
}

func (e *FrameError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("q1376: %v at byte %d: %s", e.Err, e.Offset, e.Detail)
	}
	return fmt.Sprintf("q1376: %v at byte %d", e.Err, e.Offset)
}

func (e *FrameError) Unwrap() error { return e.Err }

// FrameLen returns the length of the frame at the start of b, or an error
// when the header is not a 1376.1 header. With fewer than 6 bytes it returns
// ErrShort.
func FrameLen(b []byte) (int, error) {
	if len(b) < headerLen {
		return 0, &FrameError{Err: ErrShort, Offset: len(b), Detail: "need 6 bytes of header"}
	}
	if b[0] != Start {
		return 0, &FrameError{Err: ErrStart, Offset: 0, Detail: fmt.Sprintf("got 0x%02x", b[0])}
	}
	l1, l2 := uint16(b[1])|uint16(b[2])<<8, uint16(b[3])|uint16(b[4])<<8
	if l1 != l2 {
		return 0, &FrameError{Err: ErrLength, Offset: 3, Detail: fmt.Sprintf("first 0x%04x, second 0x%04x", l1, l2)}
	}
	if p := l1 & 3; p != ProtocolID && p != ProtocolID130 {
		return 0, &FrameError{Err: ErrProtocol, Offset: 1, Detail: fmt.Sprintf("got %d, want 2", p)}
	}
	if b[5] != Start {
		return 0, &FrameError{Err: ErrStart, Offset: 5, Detail: fmt.Sprintf("second start byte: got 0x%02x", b[5])}
	}
	n := int(l1 >> 2)
	if n < fixedLen {
		return 0, &FrameError{Err: ErrLength, Offset: 1, Detail: fmt.Sprintf("user data of %d bytes is shorter than 8", n)}
	}
	return headerLen + n + 2, nil
}

// Decode decodes the frame at the start of b and returns the bytes
// consumed. Unit data alias b.
func (f *Frame) Decode(b []byte) (int, error) {
	total, err := FrameLen(b)
	if err != nil {
		return 0, err
	}
	if len(b) < total {
		return 0, &FrameError{Err: ErrShort, Offset: len(b), Detail: fmt.Sprintf("need %d bytes", total)}
	}
	ud := b[headerLen : total-2]
	var sum byte
	for _, c := range ud {
		sum += c
	}
	if cs := b[total-2]; cs != sum {
		return 0, &FrameError{Err: ErrChecksum, Offset: total - 2, Detail: fmt.Sprintf("got 0x%02x, want 0x%02x", cs, sum)}
	}
	if b[total-1] != End {
		return 0, &FrameError{Err: ErrEnd, Offset: total - 1, Detail: fmt.Sprintf("got 0x%02x", b[total-1])}
	}
	f.Protocol = b[1] & 3
	f.Control = Control(ud[0])
	f.Address = Address{
		A1:    uint16(ud[2])<<8 | uint16(ud[1]),
		A2:    uint16(ud[3]) | uint16(ud[4])<<8,
		MSA:   ud[5] >> 1,
		Group: ud[5]&1 != 0,
	}
	f.AFN = AFN(ud[6])
	f.Seq = ParseSeq(ud[7])
	f.Units, f.PW, f.EC, f.Tp = f.Units[:0], nil, nil, nil
	// The additional fields are at the end, in the order PW, EC, Tp.
	end := len(ud)
	if f.Seq.TpV {
		if end-6 < fixedLen {
			return 0, &FrameError{Err: ErrData, Offset: headerLen + end, Detail: "no room for Tp"}
		}
		t := ud[end-6:]
		if !bcdOK(t[1:5]) {
			return 0, &FrameError{Err: ErrData, Offset: headerLen + end - 5, Detail: fmt.Sprintf("Tp time % X is not BCD", t[1:5])}
		}
		f.Tp = &Tp{PFC: t[0], Second: unbcd(t[1]), Minute: unbcd(t[2]), Hour: unbcd(t[3]), Day: unbcd(t[4]), Delay: t[5]}
		end -= 6
	}
	if f.Control.ACD() {
		if end-2 < fixedLen {
			return 0, &FrameError{Err: ErrData, Offset: headerLen + end, Detail: "no room for EC"}
		}
		f.EC = &[2]byte{ud[end-2], ud[end-1]}
		end -= 2
	}
	if !f.Control.Dir() && f.AFN.HasPW() && end-pwLen >= fixedLen+4 {
		f.PW = ud[end-pwLen : end]
		end -= pwLen
	}
	units, err := splitUnits(f.AFN, f.Control.Dir(), ud[fixedLen:end], headerLen+fixedLen, f.Units)
	f.Units = units
	if err != nil {
		return 0, err
	}
	return total, nil
}

// Parse decodes one frame; trailing bytes are an error.
func Parse(b []byte) (*Frame, error) {
	f := &Frame{}
	n, err := f.Decode(b)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("q1376: %d bytes after the frame's end at byte %d", len(b)-n, n)
	}
	return f, nil
}

// AppendFrame appends the encoding of f to dst.
func AppendFrame(dst []byte, f *Frame) ([]byte, error) {
	start := len(dst)
	dst = append(dst, Start, 0, 0, 0, 0, Start)
	ud := len(dst)
	a1 := f.Address.A1
	a3 := f.Address.MSA << 1
	if f.Address.Group {
		a3 |= 1
	}
	seq := f.Seq
	seq.TpV = f.Tp != nil
	dst = append(dst, byte(f.Control), byte(a1), byte(a1>>8), byte(f.Address.A2), byte(f.Address.A2>>8), a3, byte(f.AFN), seq.Byte())
	for _, u := range f.Units {
		var err error
		if dst, err = appendDADT(dst, u.Pn, u.Fn); err != nil {
			return dst[:start], err
		}
		dst = append(dst, u.Data...)
	}
	if f.PW != nil {
		if len(f.PW) != pwLen {
			return dst[:start], fmt.Errorf("q1376: PW of %d bytes, want 16", len(f.PW))
		}
		dst = append(dst, f.PW...)
	}
	if f.EC != nil {
		dst = append(dst, f.EC[0], f.EC[1])
	}
	if f.Tp != nil {
		dst = append(dst, f.Tp.PFC, bcd(f.Tp.Second), bcd(f.Tp.Minute), bcd(f.Tp.Hour), bcd(f.Tp.Day), f.Tp.Delay)
	}
	n := len(dst) - ud
	if n > MaxUserData {
		return dst[:start], fmt.Errorf("q1376: user data of %d bytes exceeds %d", n, MaxUserData)
	}
	proto := f.Protocol
	if proto == 0 {
		proto = ProtocolID
	}
	l := uint16(n)<<2 | uint16(proto)
	dst[start+1], dst[start+2], dst[start+3], dst[start+4] = byte(l), byte(l>>8), byte(l), byte(l>>8)
	var sum byte
	for _, c := range dst[ud:] {
		sum += c
	}
	return append(dst, sum, End), nil
}

// Split is a bufio.SplitFunc finding 1376.1 frames in a byte stream; it
// skips garbage and resynchronises after invalid frames.
func Split(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i := 0; i < len(data); i++ {
		if data[i] != Start {
			continue
		}
		total, err := FrameLen(data[i:])
		if err != nil {
			var fe *FrameError
			if errors.As(err, &fe) && fe.Err == ErrShort {
				if atEOF {
					return len(data), nil, nil
				}
				return i, nil, nil
			}
			continue
		}
		if len(data)-i < total {
			if atEOF {
				continue
			}
			if total > 2*MaxUserData {
				continue
			}
			return i, nil, nil
		}
		if !linkValid(data[i : i+total]) {
			continue
		}
		return i + total, data[i : i+total], nil
	}
	return len(data), nil, nil
}

// linkValid checks a whole frame's link layer: checksum and end byte. The
// data units are left to Decode, so that a frame with a sound link layer and
// bad data still reaches its receiver, which can deny it.
func linkValid(b []byte) bool {
	var sum byte
	for _, c := range b[headerLen : len(b)-2] {
		sum += c
	}
	return b[len(b)-2] == sum && b[len(b)-1] == End
}

func bcd(v int) byte { return byte(v/10%10<<4 | v%10) }

func unbcd(b byte) int { return int(b>>4)*10 + int(b&0x0F) }
