package dlt645

import (
	"encoding/hex"
	"fmt"
)

// DI is a data identifier DI3 DI2 DI1 DI0, written big-endian as in the
// standard's tables (0x00010000 is forward active total energy) and sent low
// byte first.
type DI uint32

// ParseDI parses 8 hex digits, DI3 first ("00010000"); 4 digits give a
// DL/T 645-1997 identifier ("9010").
func ParseDI(s string) (DI, error) {
	if len(s) != 8 && len(s) != 4 {
		return 0, fmt.Errorf("dlt645: data identifier %q: want 8 hex digits", s)
	}
	var b [4]byte
	n, err := hex.Decode(b[:], []byte(s))
	if err != nil {
		return 0, fmt.Errorf("dlt645: data identifier %q: %w", s, err)
	}
	var v uint32
	for _, c := range b[:n] {
		v = v<<8 | uint32(c)
	}
	return DI(v), nil
}

// String returns the 8 hex digits, DI3 first.
func (d DI) String() string { return fmt.Sprintf("%08X", uint32(d)) }

// Bytes returns DI3..DI0.
func (d DI) Bytes() (di3, di2, di1, di0 byte) {
	return byte(d >> 24), byte(d >> 16), byte(d >> 8), byte(d)
}

// AppendDI appends d in wire order (DI0 first), without the +33H offset.
func AppendDI(dst []byte, d DI) []byte {
	return append(dst, byte(d), byte(d>>8), byte(d>>16), byte(d>>24))
}

// MarshalText implements encoding.TextMarshaler.
func (d DI) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ErrBits is the error word of an abnormal reply.
type ErrBits byte

// Error-word bits of DL/T 645-2007.
const (
	ErrOther       ErrBits = 1 << 0 // 其他错误
	ErrNoData      ErrBits = 1 << 1 // 无请求数据
	ErrPassword    ErrBits = 1 << 2 // 密码错/未授权
	ErrBaud        ErrBits = 1 << 3 // 通信速率不能更改
	ErrYearZones   ErrBits = 1 << 4 // 年时区数超
	ErrDayPeriods  ErrBits = 1 << 5 // 日时段数超
	ErrTariffCount ErrBits = 1 << 6 // 费率数超
)

// errBitNames is the table of error-word bits: names in English and Chinese.
var errBitNames = [8][2]string{
	{"other", "其他错误"},
	{"no-data", "无请求数据"},
	{"password", "密码错/未授权"},
	{"baud", "通信速率不能更改"},
	{"year-zones", "年时区数超"},
	{"day-periods", "日时段数超"},
	{"tariffs", "费率数超"},
	{"reserved", "保留"},
}

// Names returns the English names of the bits set.
func (e ErrBits) Names() []string {
	var out []string
	for i := range 8 {
		if e&(1<<i) != 0 {
			out = append(out, errBitNames[i][0])
		}
	}
	return out
}

// NamesZH returns the Chinese names of the bits set.
func (e ErrBits) NamesZH() []string {
	var out []string
	for i := range 8 {
		if e&(1<<i) != 0 {
			out = append(out, errBitNames[i][1])
		}
	}
	return out
}

func (e ErrBits) Error() string { return fmt.Sprintf("dlt645: meter error %v", e.Names()) }

// ErrorWord returns the error word of an abnormal reply.
func (f *Frame) ErrorWord() (ErrBits, bool) {
	if !f.Control.IsResponse() || !f.Control.IsAbnormal() || len(f.Data) < 1 {
		return 0, false
	}
	return ErrBits(f.Data[0]), true
}
