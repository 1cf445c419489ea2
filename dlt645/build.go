package dlt645

import (
	"encoding/hex"
	"fmt"
	"time"
)

// DateTime is a civil date and time as meters carry it (BCD fields, two-digit
// year 2000..2099). It is not tied to a clock or a time zone.
type DateTime struct {
	Year                             int // 2000..2099
	Month, Day, Hour, Minute, Second int
}

// DateTimeOf returns t's civil fields in t's location.
func DateTimeOf(t time.Time) DateTime {
	return DateTime{t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second()}
}

// In returns the instant in loc.
func (d DateTime) In(loc *time.Location) time.Time {
	return time.Date(d.Year, time.Month(d.Month), d.Day, d.Hour, d.Minute, d.Second, 0, loc)
}

// String formats as 2006-01-02 15:04:05.
func (d DateTime) String() string {
	return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", d.Year, d.Month, d.Day, d.Hour, d.Minute, d.Second)
}

// Valid reports whether the fields form a real date and time.
func (d DateTime) Valid() bool {
	if d.Year < 2000 || d.Year > 2099 || d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Hour > 23 || d.Minute > 59 || d.Second > 59 || d.Hour < 0 || d.Minute < 0 || d.Second < 0 {
		return false
	}
	return d.Day <= time.Date(d.Year, time.Month(d.Month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func bcd(v int) byte { return byte(v/10%10<<4 | v%10) }

func unbcd(b byte, off int, what string) (int, error) {
	hi, lo := b>>4, b&0x0F
	if hi > 9 || lo > 9 {
		return 0, &ValueError{What: what, Offset: off, Got: b}
	}
	return int(hi)*10 + int(lo), nil
}

// appendSSMMHHDDMMYY appends ss mm hh DD MM YY in BCD (before +33H).
func appendSSMMHHDDMMYY(dst []byte, d DateTime) []byte {
	return append(dst, bcd(d.Second), bcd(d.Minute), bcd(d.Hour), bcd(d.Day), bcd(d.Month), bcd(d.Year%100))
}

// parseSSMMHHDDMMYY reads 6 BCD bytes ss mm hh DD MM YY.
func parseSSMMHHDDMMYY(b []byte, off int) (DateTime, error) {
	var f [6]int
	names := [6]string{"second", "minute", "hour", "day", "month", "year"}
	for i := range 6 {
		v, err := unbcd(b[i], off+i, names[i])
		if err != nil {
			return DateTime{}, err
		}
		f[i] = v
	}
	return DateTime{Year: 2000 + f[5], Month: f[4], Day: f[3], Hour: f[2], Minute: f[1], Second: f[0]}, nil
}

// ReadRequest returns a read (11H) of di from the meter at a.
func ReadRequest(a Address, di DI) Frame {
	return Frame{Address: a, Control: Request(FuncRead), Data: AppendDI(make([]byte, 0, 4), di)}
}

// ReadFollowRequest returns a read follow-up (12H) of di with sequence seq.
func ReadFollowRequest(a Address, di DI, seq byte) Frame {
	return Frame{Address: a, Control: Request(FuncReadFollow), Data: append(AppendDI(make([]byte, 0, 5), di), seq)}
}

// ReadAddressRequest returns a read-address (13H) request to the wildcard.
func ReadAddressRequest() Frame {
	return Frame{Address: Wildcard, Control: Request(FuncReadAddress)}
}

// Read1997Request returns a DL/T 645-1997 read (01H) of a 2-byte DI.
func Read1997Request(a Address, di uint16) Frame {
	return Frame{Address: a, Control: Request(Func1997Read), Data: []byte{byte(di), byte(di >> 8)}}
}

// Auth is a password (level PA and 3-byte password P0..P2, given as six
// digits "123456" meaning P2P1P0) and an operator code C0..C3.
type Auth struct {
	Level    byte   // PA, e.g. 0x02
	Password uint32 // 24 bits, P2P1P0 as BCD digits: 0x123456
	Operator uint32 // C3C2C1C0
}

func (a Auth) append(dst []byte) []byte {
	return append(dst, a.Level, byte(a.Password), byte(a.Password>>8), byte(a.Password>>16),
		byte(a.Operator), byte(a.Operator>>8), byte(a.Operator>>16), byte(a.Operator>>24))
}

func parseAuth(b []byte) Auth {
	return Auth{
		Level:    b[0],
		Password: uint32(b[1]) | uint32(b[2])<<8 | uint32(b[3])<<16,
		Operator: uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24,
	}
}

// WriteRequest returns a write (14H) of value (already encoded, before +33H)
// to di.
func WriteRequest(a Address, di DI, auth Auth, value []byte) Frame {
	d := AppendDI(make([]byte, 0, 12+len(value)), di)
	d = auth.append(d)
	return Frame{Address: a, Control: Request(FuncWrite), Data: append(d, value...)}
}

// WriteAddressRequest returns a write-address (15H) request to the wildcard.
func WriteAddressRequest(newAddr Address) Frame {
	return Frame{Address: Wildcard, Control: Request(FuncWriteAddress), Data: append([]byte(nil), newAddr[:]...)}
}

// Freeze wildcard: 99 in a field means "every".
const FreezeEvery = 99

// FreezeRequest returns a freeze (16H) at minute, hour, day, month; FreezeEvery
// (99) fields are wildcards, all four 99 is an instant freeze.
func FreezeRequest(a Address, minute, hour, day, month int) Frame {
	return Frame{Address: a, Control: Request(FuncFreeze), Data: []byte{bcd(minute), bcd(hour), bcd(day), bcd(month)}}
}

// Baud-rate characteristic words (17H, 040007xx).
const (
	Baud600   byte = 0x02
	Baud1200  byte = 0x04
	Baud2400  byte = 0x08
	Baud4800  byte = 0x10
	Baud9600  byte = 0x20
	Baud19200 byte = 0x40
)

// BaudWord returns the characteristic word for a baud rate.
func BaudWord(baud int) (byte, error) {
	switch baud {
	case 600:
		return Baud600, nil
	case 1200:
		return Baud1200, nil
	case 2400:
		return Baud2400, nil
	case 4800:
		return Baud4800, nil
	case 9600:
		return Baud9600, nil
	case 19200:
		return Baud19200, nil
	}
	return 0, fmt.Errorf("dlt645: baud rate %d has no characteristic word", baud)
}

// BaudOf returns the baud rate of a characteristic word, or 0.
func BaudOf(w byte) int {
	switch w {
	case Baud600:
		return 600
	case Baud1200:
		return 1200
	case Baud2400:
		return 2400
	case Baud4800:
		return 4800
	case Baud9600:
		return 9600
	case Baud19200:
		return 19200
	}
	return 0
}

// ChangeBaudRequest returns a change-baud-rate (17H) request.
func ChangeBaudRequest(a Address, word byte) Frame {
	return Frame{Address: a, Control: Request(FuncChangeBaud), Data: []byte{word}}
}

// ChangePasswordRequest returns a change-password (18H) request for the
// password of level newLevel (DI 04000C01+level).
func ChangePasswordRequest(a Address, oldLevel byte, oldPassword uint32, newLevel byte, newPassword uint32) Frame {
	d := AppendDI(make([]byte, 0, 12), DI(0x04000C01+uint32(newLevel)))
	d = append(d, oldLevel, byte(oldPassword), byte(oldPassword>>8), byte(oldPassword>>16))
	d = append(d, newLevel, byte(newPassword), byte(newPassword>>8), byte(newPassword>>16))
	return Frame{Address: a, Control: Request(FuncChangePassword), Data: d}
}

// ClearRequest returns a demand clear (19H) or meter clear (1AH) request.
func ClearRequest(a Address, f Func, auth Auth) Frame {
	return Frame{Address: a, Control: Request(f), Data: auth.append(make([]byte, 0, 8))}
}

// EventClearRequest returns an event-clear (1BH) request; di 0xFFFFFFFF
// clears every event.
func EventClearRequest(a Address, auth Auth, di DI) Frame {
	return Frame{Address: a, Control: Request(FuncEventClear), Data: AppendDI(auth.append(make([]byte, 0, 12)), di)}
}

// BroadcastTimeRequest returns a time sync (08H) to a (normally Broadcast).
func BroadcastTimeRequest(a Address, t DateTime) Frame {
	return Frame{Address: a, Control: Request(FuncBroadcastTime), Data: appendSSMMHHDDMMYY(make([]byte, 0, 6), t)}
}

// ControlType is N1 of a remote-control (1CH) command.
type ControlType byte

// Remote-control types.
const (
	ControlTrip         ControlType = 0x1A // 跳闸
	ControlAllowClose   ControlType = 0x1B // 合闸允许
	ControlClose        ControlType = 0x1C // 直接合闸
	ControlAlarm        ControlType = 0x2A // 报警
	ControlAlarmOff     ControlType = 0x2B // 报警解除
	ControlKeepPower    ControlType = 0x3A // 保电
	ControlKeepPowerOff ControlType = 0x3B // 保电解除
)

var controlNames = map[ControlType][3]string{
	ControlTrip:         {"trip", "跳闸"},
	ControlAllowClose:   {"allow-close", "合闸允许"},
	ControlClose:        {"close", "直接合闸"},
	ControlAlarm:        {"alarm", "报警"},
	ControlAlarmOff:     {"alarm-off", "报警解除"},
	ControlKeepPower:    {"keep-power", "保电"},
	ControlKeepPowerOff: {"keep-power-off", "保电解除"},
}

// String returns the command's name, e.g. "trip".
func (c ControlType) String() string {
	if n, ok := controlNames[c]; ok {
		return n[0]
	}
	return fmt.Sprintf("control-%02X", byte(c))
}

// NameZH returns the command's Chinese name.
func (c ControlType) NameZH() string { return controlNames[c][1] }

// ParseControlType parses a name such as "trip" or "allow-close".
func ParseControlType(s string) (ControlType, error) {
	for t, n := range controlNames {
		if n[0] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("dlt645: unknown control command %q (trip, allow-close, close, alarm, alarm-off, keep-power, keep-power-off)", s)
}

// ControlCommand is the 16-byte data of a remote-control (1CH) request.
type ControlCommand struct {
	Type  ControlType
	Auth  Auth
	Until DateTime // the meter ignores the command after this
}

// ControlRequest returns a remote-control (1CH) request.
func ControlRequest(a Address, c ControlCommand) Frame {
	d := c.Auth.append(make([]byte, 0, 16))
	d = append(d, byte(c.Type), 0)
	d = appendSSMMHHDDMMYY(d, c.Until)
	return Frame{Address: a, Control: Request(FuncControl), Data: d}
}

// ControlCommand decodes the data of a 1CH request.
func (f *Frame) ControlCommand() (ControlCommand, error) {
	if f.Control.Func() != FuncControl || f.Control.IsResponse() {
		return ControlCommand{}, fmt.Errorf("dlt645: control %02X is not a remote-control request", byte(f.Control))
	}
	if len(f.Data) != 16 {
		return ControlCommand{}, fmt.Errorf("dlt645: remote-control data has %d bytes, want 16", len(f.Data))
	}
	until, err := parseSSMMHHDDMMYY(f.Data[10:16], HeaderLen+10)
	if err != nil {
		return ControlCommand{}, err
	}
	return ControlCommand{Type: ControlType(f.Data[8]), Auth: parseAuth(f.Data[:8]), Until: until}, nil
}

// Time decodes the data of a broadcast time (08H) request.
func (f *Frame) Time() (DateTime, error) {
	if f.Control.Func() != FuncBroadcastTime || len(f.Data) != 6 {
		return DateTime{}, fmt.Errorf("dlt645: not a time-sync frame with 6 bytes of data")
	}
	t, err := parseSSMMHHDDMMYY(f.Data, HeaderLen)
	if err != nil {
		return DateTime{}, err
	}
	if !t.Valid() {
		return DateTime{}, fmt.Errorf("dlt645: time-sync data %s is not a valid time", t)
	}
	return t, nil
}

// WriteData decodes a write (14H) request: its DI, authorisation and value.
func (f *Frame) WriteData() (DI, Auth, []byte, error) {
	if f.Control.Func() != FuncWrite || f.Control.IsResponse() || len(f.Data) < 12 {
		return 0, Auth{}, nil, fmt.Errorf("dlt645: not a write request with at least 12 bytes of data")
	}
	di, _ := f.DI()
	return di, parseAuth(f.Data[4:12]), f.Data[12:], nil
}

// ReadReply returns the normal reply to a read of di carrying value (already
// encoded, before +33H); follow marks more frames to come.
func ReadReply(a Address, di DI, value []byte, follow bool) Frame {
	return Frame{Address: a, Control: Reply(FuncRead, follow), Data: append(AppendDI(make([]byte, 0, 4+len(value)), di), value...)}
}

// ErrorReply returns an abnormal reply to f with error word e.
func ErrorReply(a Address, f Func, e ErrBits) Frame {
	return Frame{Address: a, Control: AbnormalReply(f), Data: []byte{byte(e)}}
}

// AckReply returns a normal reply without data (e.g. 9CH to a 1CH).
func AckReply(a Address, f Func) Frame {
	return Frame{Address: a, Control: Reply(f, false)}
}

// ReadAddressReply returns the 93H reply carrying the meter's address.
func ReadAddressReply(a Address) Frame {
	return Frame{Address: a, Control: Reply(FuncReadAddress, false), Data: append([]byte(nil), a[:]...)}
}

// Value returns the data of a normal read reply after its DI.
func (f *Frame) Value() ([]byte, bool) {
	if _, ok := f.DI(); !ok || !f.Control.IsResponse() {
		return nil, false
	}
	if f.Is1997() {
		return f.Data[2:], true
	}
	return f.Data[4:], true
}

// ParseAuth reads a password written as 8 hex digits, the level then the
// password ("02123456": level 02, password 123456), and an operator code of
// 8 hex digits — the way meters' passwords are written in archives and on
// command lines.
func ParseAuth(password, operator string) (Auth, error) {
	p, err := hex.DecodeString(password)
	if err != nil || len(p) != 4 {
		return Auth{}, fmt.Errorf("dlt645: password %q: want 8 hex digits, level then password (e.g. 02123456)", password)
	}
	o, err := hex.DecodeString(operator)
	if err != nil || len(o) != 4 {
		return Auth{}, fmt.Errorf("dlt645: operator code %q: want 8 hex digits", operator)
	}
	return Auth{Level: p[0], Password: uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]),
		Operator: uint32(o[0])<<24 | uint32(o[1])<<16 | uint32(o[2])<<8 | uint32(o[3])}, nil
}
