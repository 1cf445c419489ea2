package q1376

import (
	"encoding/binary"
	"fmt"
)

// ERC codes of the event records (AFN 0E) amigo's collector keeps. Each
// record is ERC (1) Le (1) data (Le); the data starts with the time it
// happened (A.15, minutes).
//
//	ERC 12 meter clock off (电能表时间超差), Le 7 [+12]:
//	    time A.15 (5) | pn D11-D0, D15 1 = began / 0 = ended (2)
//	    [amigo: meter clock A.1 (6) | terminal clock A.1 (6) — the offset]
//	ERC 13 meter fault information (电表故障信息), Le 8:
//	    time (5) | pn + D15 (2) | flags (1): D0 programming or demand reset,
//	    D1 phase break count, D2 voltage loss count, D3 power-down count
//	    changed, D4 battery low
//	ERC 14 terminal power down / up (终端停/上电), Le 10:
//	    power-down time A.15 (5) | power-up time A.15 (5, EE: not yet)
//	ERC 33 meter status word changed (电能表运行状态字变位), Le 35:
//	    time (5) | pn (2) | change flags of status words 1..7 (7 x 2) |
//	    status words 1..7 (7 x 2); word 3 bit 4 is the relay (1 = open)
//	ERC 37 meter cover opened (电能表开表盖), Le 70:
//	    time (5) | pn (2) | total count (3, BCD) | opened at A.1 (6) |
//	    closed at A.1 (6) | energies before and after (2 x 24, A.11; EE when
//	    not read)
//	ERC 20 message authentication error (消息认证错误), Le 22 [+3]:
//	    time A.15 (5) | the PW received (16) | the sender's MSA (1)
//	    [amigo: reason (1: bad PW, 2: stale or no Tp, 3: replayed) |
//	    refusals this record stands for (2, BIN; the first and those
//	    folded into it)]
//	ERC 250 data lost to the store's cap (amigo), Le 20:
//	    time (5) | kind (1: 1 real-time, 2 daily, 3 monthly) |
//	    readings (4, BIN) | oldest and newest instants lost A.15 (2 x 5)
//
// The layouts of ERC 12, 13, 14, 20, 33 and 37 are Q/GDW 1376.1-2013's; the
// two clocks after ERC 12's point, the reason and count after ERC 20's MSA
// and ERC 250 are amigo's (a reader that knows only the standard skips them
// by Le).
const (
	ERCMeterClock  = 12
	ERCMeterFault  = 13
	ERCPower       = 14
	ERCAuth        = 20
	ERCMeterStatus = 33
	ERCCoverOpen   = 37
	ERCStoreLoss   = 250
)

// Flags of ERC 13.
const (
	FaultProgramming = 1 << 0
	FaultPhaseBreak  = 1 << 1
	FaultVoltageLoss = 1 << 2
	FaultPowerDown   = 1 << 3
	FaultBattery     = 1 << 4
)

// Reasons of ERC 20 (amigo).
const (
	AuthBadPW  = 1 // the PW is not the frame's code under this terminal's key
	AuthStale  = 2 // no time tag, no delay in it, or outside its delay
	AuthReplay = 3 // not newer than a signed frame accepted before
)

// Kinds of lost data in ERC 250.
const (
	LostRealtime = 1
	LostDaily    = 2
	LostMonthly  = 3
)

// ERC is one decoded event record. Which fields mean something depends on
// Code (see the layouts above).
type ERC struct {
	Code  uint8
	At    DateTime // when it happened (minutes)
	Pn    uint16   // measuring point (0: the terminal)
	Began bool     // D15 of the point: the condition began (false: ended)

	MeterClock, TerminalClock DateTime // ERC 12, when given
	HasClocks                 bool

	Faults byte // ERC 13

	PowerUp DateTime // ERC 14 (At is the power-down time)
	HasUp   bool

	Changed, Status [7]uint16 // ERC 33

	Count uint32 // ERC 37: total openings; ERC 250: readings lost; ERC 20: refusals

	PW         [16]byte // ERC 20: the PW received
	MSA        uint8    // ERC 20: the sender's master station address
	AuthReason uint8    // ERC 20: AuthBadPW, AuthStale or AuthReplay (0: not given)

	LostKind         uint8    // ERC 250
	LostFrom, LostTo DateTime // ERC 250
}

func appendPn(dst []byte, pn uint16, began bool) []byte {
	v := pn & 0x0FFF
	if began {
		v |= 0x8000
	}
	return binary.LittleEndian.AppendUint16(dst, v)
}

func appendEE(dst []byte, n int) []byte {
	for range n {
		dst = append(dst, 0xEE)
	}
	return dst
}

func appendA15OrEE(dst []byte, t DateTime, ok bool) []byte {
	if !ok {
		return appendEE(dst, 5)
	}
	return appendA15(dst, t)
}

// AppendERC appends the record e (ERC, Le and data) to dst.
func AppendERC(dst []byte, e ERC) ([]byte, error) {
	start := len(dst)
	dst = append(dst, e.Code, 0)
	switch e.Code {
	case ERCMeterClock:
		dst = appendPn(appendA15(dst, e.At), e.Pn, e.Began)
		if e.HasClocks {
			dst = AppendClock(dst, Clock{DateTime: e.MeterClock})
			dst = AppendClock(dst, Clock{DateTime: e.TerminalClock})
		}
	case ERCMeterFault:
		dst = append(appendPn(appendA15(dst, e.At), e.Pn, e.Began), e.Faults)
	case ERCPower:
		dst = appendA15OrEE(appendA15(dst, e.At), e.PowerUp, e.HasUp)
	case ERCAuth:
		dst = append(appendA15(dst, e.At), e.PW[:]...)
		dst = append(dst, e.MSA)
		if e.AuthReason != 0 {
			if e.Count > 0xFFFF {
				return dst[:start], fmt.Errorf("q1376: ERC 20 count %d exceeds 65535", e.Count)
			}
			dst = append(dst, e.AuthReason, byte(e.Count), byte(e.Count>>8))
		}
	case ERCMeterStatus:
		dst = appendPn(appendA15(dst, e.At), e.Pn, false)
		for _, w := range e.Changed {
			dst = binary.LittleEndian.AppendUint16(dst, w)
		}
		for _, w := range e.Status {
			dst = binary.LittleEndian.AppendUint16(dst, w)
		}
	case ERCCoverOpen:
		if e.Count > 999999 {
			return dst[:start], fmt.Errorf("q1376: ERC 37 count %d exceeds 6 digits", e.Count)
		}
		dst = appendPn(appendA15(dst, e.At), e.Pn, false)
		dst = append(dst, bcd(int(e.Count%100)), bcd(int(e.Count/100%100)), bcd(int(e.Count/10000)))
		dst = appendEE(dst, 6+6+48)
	case ERCStoreLoss:
		dst = append(appendA15(dst, e.At), e.LostKind)
		dst = binary.LittleEndian.AppendUint32(dst, e.Count)
		dst = appendA15(appendA15(dst, e.LostFrom), e.LostTo)
	default:
		return dst[:start], fmt.Errorf("q1376: ERC %d: no layout known", e.Code)
	}
	n := len(dst) - start - 2
	dst[start+1] = byte(n)
	return dst, nil
}

// ercLen is the least data length of each known code.
var ercLen = map[uint8]int{ERCMeterClock: 7, ERCMeterFault: 8, ERCPower: 10, ERCAuth: 22, ERCMeterStatus: 35, ERCCoverOpen: 70, ERCStoreLoss: 20}

func parsePn(b []byte) (uint16, bool) {
	v := binary.LittleEndian.Uint16(b)
	return v & 0x0FFF, v&0x8000 != 0
}

// ParseERC decodes the data of a record of a known code. Unknown codes, and
// data shorter than the code's layout, are errors; longer data is accepted
// (later versions append).
func ParseERC(r EventRecord) (ERC, error) {
	want, ok := ercLen[r.ERC]
	if !ok {
		return ERC{}, fmt.Errorf("q1376: ERC %d: no layout known", r.ERC)
	}
	b := r.Data
	if len(b) < want {
		return ERC{}, fmt.Errorf("q1376: ERC %d record of %d bytes, want at least %d", r.ERC, len(b), want)
	}
	e := ERC{Code: r.ERC}
	at, ok, err := decodeA15(b)
	if err != nil || !ok {
		return ERC{}, fmt.Errorf("q1376: ERC %d: time: %v", r.ERC, orNoTime(err))
	}
	e.At = at
	switch r.ERC {
	case ERCMeterClock:
		e.Pn, e.Began = parsePn(b[5:])
		if len(b) >= 19 {
			mc, err1 := ParseClock(b[7:13])
			tc, err2 := ParseClock(b[13:19])
			if err1 == nil && err2 == nil {
				e.MeterClock, e.TerminalClock, e.HasClocks = mc.DateTime, tc.DateTime, true
			}
		}
	case ERCMeterFault:
		e.Pn, e.Began = parsePn(b[5:])
		e.Faults = b[7]
	case ERCPower:
		up, ok, err := decodeA15(b[5:])
		if err != nil {
			return ERC{}, fmt.Errorf("q1376: ERC 14: power-up time: %w", err)
		}
		e.PowerUp, e.HasUp = up, ok
	case ERCAuth:
		copy(e.PW[:], b[5:21])
		e.MSA = b[21]
		if len(b) >= 25 && b[22] != 0 {
			e.AuthReason = b[22]
			e.Count = uint32(binary.LittleEndian.Uint16(b[23:]))
		}
	case ERCMeterStatus:
		e.Pn, _ = parsePn(b[5:])
		for i := range 7 {
			e.Changed[i] = binary.LittleEndian.Uint16(b[7+2*i:])
			e.Status[i] = binary.LittleEndian.Uint16(b[21+2*i:])
		}
	case ERCCoverOpen:
		e.Pn, _ = parsePn(b[5:])
		if !allEE(b[7:10]) {
			if !bcdOK(b[7:10]) {
				return ERC{}, fmt.Errorf("q1376: ERC 37: count % X is not BCD", b[7:10])
			}
			e.Count = uint32(unbcd(b[7])) + 100*uint32(unbcd(b[8])) + 10000*uint32(unbcd(b[9]))
		}
	case ERCStoreLoss:
		e.LostKind = b[5]
		e.Count = binary.LittleEndian.Uint32(b[6:])
		from, ok1, err1 := decodeA15(b[10:])
		to, ok2, err2 := decodeA15(b[15:])
		if err1 != nil || err2 != nil || !ok1 || !ok2 {
			return ERC{}, fmt.Errorf("q1376: ERC 250: lost instants % X", b[10:20])
		}
		e.LostFrom, e.LostTo = from, to
	}
	return e, nil
}

func orNoTime(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("no time (EE)")
}
