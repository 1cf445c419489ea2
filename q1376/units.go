package q1376

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sort"
)

// AllPoints is the pn that DA1=FF DA2=00 ("all valid points") decodes to.
const AllPoints uint16 = 0xFFFF

// appendDADT appends DA1 DA2 DT1 DT2 for the points and functions, which
// must each fall in one group of eight.
func appendDADT(dst []byte, pns, fns []uint16) ([]byte, error) {
	var da1, da2 byte
	for i, pn := range pns {
		switch {
		case pn == 0:
			if len(pns) != 1 {
				return dst, fmt.Errorf("q1376: p0 cannot share a data unit with other points")
			}
		case pn == AllPoints:
			da1, da2 = 0xFF, 0
		default:
			g := byte((pn-1)/8 + 1)
			if i > 0 && g != da2 {
				return dst, fmt.Errorf("q1376: points %v are not in one group of eight", pns)
			}
			da2 = g
			da1 |= 1 << ((pn - 1) % 8)
		}
	}
	var dt1, dt2 byte
	for i, fn := range fns {
		if fn == 0 {
			return dst, fmt.Errorf("q1376: F0 does not exist")
		}
		g := byte((fn - 1) / 8)
		if i > 0 && g != dt2 {
			return dst, fmt.Errorf("q1376: functions %v are not in one group of eight", fns)
		}
		dt2 = g
		dt1 |= 1 << ((fn - 1) % 8)
	}
	return append(dst, da1, da2, dt1, dt2), nil
}

// idTable holds 0..2048: a unit of one point or one function (nearly
// every unit) gets its Pn or Fn as a one-element, capacity-capped slice of
// it instead of an allocation. The decoded slices are read-only (nothing
// writes into a parsed unit's Pn or Fn; an append copies).
var idTable = func() (t [2049]uint16) {
	for i := range t {
		t[i] = uint16(i)
	}
	return t
}()

// oneID returns the read-only slice {id}, id <= 2048.
func oneID(id uint16) []uint16 { return idTable[id : id+1 : id+1] }

// singleBit returns the bit set in b when exactly one is.
func singleBit(b byte) (int, bool) {
	if b == 0 || b&(b-1) != 0 {
		return 0, false
	}
	return bits.TrailingZeros8(b), true
}

// pnsOf decodes DA1 DA2.
func pnsOf(da1, da2 byte) []uint16 {
	switch {
	case da1 == 0 && da2 == 0:
		return oneID(0)
	case da1 == 0xFF && da2 == 0:
		return []uint16{AllPoints}
	}
	if bit, ok := singleBit(da1); ok && da2 != 0 {
		return oneID(uint16(da2-1)*8 + uint16(bit) + 1)
	}
	var out []uint16
	for bit := range 8 {
		if da1&(1<<bit) != 0 {
			out = append(out, uint16(da2-1)*8+uint16(bit)+1)
		}
	}
	return out
}

// fnsOf decodes DT1 DT2.
func fnsOf(dt1, dt2 byte) []uint16 {
	if bit, ok := singleBit(dt1); ok {
		return oneID(uint16(dt2)*8 + uint16(bit) + 1)
	}
	var out []uint16
	for bit := range 8 {
		if dt1&(1<<bit) != 0 {
			out = append(out, uint16(dt2)*8+uint16(bit)+1)
		}
	}
	return out
}

// lenFunc returns the length of one (pn, Fn) data item at the start of b, or
// -1 when the item runs to the end of the data (variable, unknown).
type lenFunc func(b []byte) (int, error)

func fixed(n int) lenFunc { return func([]byte) (int, error) { return n, nil } }

var rest lenFunc = func(b []byte) (int, error) { return -1, nil }

// tariffed is the length of "A.15 + M + (M+1) x width..." items after a
// prefix of pre bytes (a time label).
func tariffed(pre int, widths ...int) lenFunc {
	return func(b []byte) (int, error) {
		if len(b) < pre+6 {
			return 0, fmt.Errorf("need %d bytes for the time and tariff count, have %d", pre+6, len(b))
		}
		m := int(b[pre+5])
		if m == 0xEE {
			m = 0
		}
		if m > 14 {
			return 0, fmt.Errorf("tariff count %d is out of range", m)
		}
		n := pre + 6
		for _, w := range widths {
			n += (m + 1) * w
		}
		return n, nil
	}
}

// counted is the length of a 2-byte count followed by count items of size.
func counted(size int) lenFunc {
	return func(b []byte) (int, error) {
		if len(b) < 2 {
			return 0, fmt.Errorf("need the 2-byte count")
		}
		return 2 + int(binary.LittleEndian.Uint16(b))*size, nil
	}
}

func forwardDown(b []byte) (int, error) {
	if len(b) < 6 {
		return 0, fmt.Errorf("need 6 bytes of forwarding header, have %d", len(b))
	}
	return 6 + int(binary.LittleEndian.Uint16(b[4:])), nil
}

func forwardUp(b []byte) (int, error) {
	if len(b) < 3 {
		return 0, fmt.Errorf("need 3 bytes of forwarding header, have %d", len(b))
	}
	return 3 + int(binary.LittleEndian.Uint16(b[1:])), nil
}

type fnKey struct {
	afn AFN
	up  bool
	fn  uint16
}

// FnInfo describes a function: its names and how long its data is.
type FnInfo struct {
	Name, NameZH string
	length       lenFunc
}

// fnTable is the table of the functions the codec knows, per AFN and
// direction. Data units of other functions take the rest of the frame.
var fnTable = map[fnKey]FnInfo{}

func def(afn AFN, fn uint16, name, zh string, down, up lenFunc) {
	if down != nil {
		fnTable[fnKey{afn, false, fn}] = FnInfo{name, zh, down}
	}
	if up != nil {
		fnTable[fnKey{afn, true, fn}] = FnInfo{name, zh, up}
	}
}

func init() {
	def(AFNConfirm, 1, "confirm all", "全部确认", fixed(0), fixed(0))
	def(AFNConfirm, 2, "deny all", "全部否认", fixed(0), fixed(0))
	def(AFNConfirm, 3, "confirm or deny per item", "按数据单元标识确认和否认", rest, rest)
	for fn, n := range map[uint16][2]string{1: {"hardware reset", "硬件初始化"}, 2: {"data reset", "数据区初始化"}, 3: {"parameter and data reset", "参数及全体数据区初始化"}} {
		def(AFNReset, fn, n[0], n[1], fixed(0), nil)
	}
	def(AFNLink, 1, "login", "登录", rest, rest)
	def(AFNLink, 2, "logout", "退出登录", rest, rest)
	def(AFNLink, 3, "heartbeat", "心跳", rest, rest)
	def(AFNSet, 10, "meter archive", "终端电能表/交流采样装置配置参数", counted(archiveItemLen), nil)
	def(AFNQuery, 10, "meter archive", "终端电能表/交流采样装置配置参数", counted(2), counted(archiveItemLen))
	def(AFNControl, 1, "remote trip", "遥控跳闸", fixed(1), nil)
	def(AFNControl, 2, "allow close", "允许合闸", fixed(0), nil)
	def(AFNControl, 25, "keep power on", "终端保电投入", fixed(1), nil)
	def(AFNControl, 31, "time sync", "对时命令", fixed(6), nil)
	def(AFNControl, 33, "keep power off", "终端保电解除", fixed(0), nil)
	def(AFNControl, 34, "dunning alarm off", "催费告警解除", fixed(0), nil)
	def(AFNClass1, 2, "terminal clock", "终端日历时钟", fixed(0), fixed(6))
	def(AFNClass1, 25, "instantaneous values", "当前三相及总有/无功功率、功率因数，三相电压、电流、零序电流、视在功率", fixed(0), fixed(f25Len))
	def(AFNClass1, 33, "current forward energy indications", "当前正向有/无功电能示值、一/四象限无功电能示值", fixed(0), tariffed(0, 5, 4, 4, 4))
	def(AFNClass1, 34, "current reverse energy indications", "当前反向有/无功电能示值、二/三象限无功电能示值", fixed(0), tariffed(0, 5, 4, 4, 4))
	def(AFNClass1, 129, "current forward active indication", "当前正向有功电能示值", fixed(0), tariffed(0, 5))
	def(AFNClass1, 130, "current forward reactive indication", "当前正向无功电能示值", fixed(0), tariffed(0, 4))
	def(AFNClass1, 131, "current reverse active indication", "当前反向有功电能示值", fixed(0), tariffed(0, 5))
	def(AFNClass1, 132, "current reverse reactive indication", "当前反向无功电能示值", fixed(0), tariffed(0, 4))
	def(AFNClass2, 1, "daily frozen forward indications", "日冻结正向有/无功电能示值、一/四象限无功电能示值", fixed(3), tariffed(3, 5, 4, 4, 4))
	def(AFNClass2, 2, "daily frozen reverse indications", "日冻结反向有/无功电能示值、二/三象限无功电能示值", fixed(3), tariffed(3, 5, 4, 4, 4))
	def(AFNClass2, 17, "monthly frozen forward indications", "月冻结正向有/无功电能示值、一/四象限无功电能示值", fixed(2), tariffed(2, 5, 4, 4, 4))
	def(AFNClass2, 18, "monthly frozen reverse indications", "月冻结反向有/无功电能示值、二/三象限无功电能示值", fixed(2), tariffed(2, 5, 4, 4, 4))
	def(AFNClass2, 161, "daily frozen forward active indication", "日冻结正向有功电能示值", fixed(3), tariffed(3, 5))
	def(AFNClass2, 163, "daily frozen reverse active indication", "日冻结反向有功电能示值", fixed(3), tariffed(3, 5))
	def(AFNClass2, 177, "monthly frozen forward active indication", "月冻结正向有功电能示值", fixed(2), tariffed(2, 5))
	def(AFNClass2, 179, "monthly frozen reverse active indication", "月冻结反向有功电能示值", fixed(2), tariffed(2, 5))
	def(AFNClass3, 1, "important events", "请求重要事件", fixed(2), rest)
	def(AFNClass3, 2, "normal events", "请求一般事件", fixed(2), rest)
	def(AFNForward, 1, "transparent forwarding", "透明转发", forwardDown, forwardUp)
}

// Info returns what the codec knows of a function.
func Info(afn AFN, uplink bool, fn uint16) (FnInfo, bool) {
	i, ok := fnTable[fnKey{afn, uplink, fn}]
	return i, ok
}

// Functions lists the known functions of an AFN in one direction.
func Functions(afn AFN, uplink bool) []uint16 {
	var out []uint16
	for k := range fnTable {
		if k.afn == afn && k.up == uplink {
			out = append(out, k.fn)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// splitUnits splits the data units of a frame. off is the offset of b in the
// frame, for errors.
func splitUnits(afn AFN, up bool, b []byte, off int, dst []Unit) ([]Unit, error) {
	i := 0
	for i < len(b) {
		if len(b)-i < 4 {
			if len(dst) > 0 {
				// Trailing bytes after the last unit: vendors add some.
				last := &dst[len(dst)-1]
				last.Data = b[i-len(last.Data) : len(b)]
				return dst, nil
			}
			return dst, &FrameError{Err: ErrData, Offset: off + i, Detail: fmt.Sprintf("%d bytes cannot hold a DA/DT", len(b)-i)}
		}
		da1, da2 := b[i], b[i+1]
		if ((da1 == 0) != (da2 == 0) && !(da1 == 0xFF && da2 == 0)) || b[i+2] == 0 {
			if len(dst) > 0 {
				// Vendors append bytes (often zeros) after the last
				// unit; they stay with it so nothing is lost.
				last := &dst[len(dst)-1]
				last.Data = b[i-len(last.Data):]
				return dst, nil
			}
			return dst, &FrameError{Err: ErrData, Offset: off + i, Detail: fmt.Sprintf("DA/DT %02X %02X %02X %02X names no point or no function", da1, da2, b[i+2], b[i+3])}
		}
		pns, fns := pnsOf(b[i], b[i+1]), fnsOf(b[i+2], b[i+3])
		i += 4
		start := i
		for range pns {
			for _, fn := range fns {
				info, ok := fnTable[fnKey{afn, up, fn}]
				n := -1
				if ok {
					var err error
					if n, err = info.length(b[i:]); err != nil {
						return dst, &FrameError{Err: ErrData, Offset: off + i, Detail: fmt.Sprintf("AFN %02X F%d: %v", byte(afn), fn, err)}
					}
				}
				if n < 0 {
					n = len(b) - i
				}
				if n > len(b)-i {
					return dst, &FrameError{Err: ErrData, Offset: off + i, Detail: fmt.Sprintf("AFN %02X F%d: data unit truncated: need %d bytes, have %d", byte(afn), fn, n, len(b)-i)}
				}
				i += n
			}
		}
		dst = append(dst, Unit{Pn: pns, Fn: fns, Data: b[start:i]})
	}
	return dst, nil
}

// Items returns the (pn, Fn, data) items of a unit in pn-major, Fn-minor
// order, splitting its data with the function table.
func (u Unit) Items(afn AFN, uplink bool) ([]Item, error) {
	return u.appendItems(nil, afn, uplink)
}

// appendItems appends the unit's items to out.
func (u Unit) appendItems(out []Item, afn AFN, uplink bool) ([]Item, error) {
	b := u.Data
	for _, pn := range u.Pn {
		for _, fn := range u.Fn {
			n := -1
			if info, ok := fnTable[fnKey{afn, uplink, fn}]; ok {
				var err error
				if n, err = info.length(b); err != nil {
					return out, fmt.Errorf("q1376: AFN %02X F%d: %w", byte(afn), fn, err)
				}
			}
			if n < 0 || n > len(b) {
				n = len(b)
			}
			out = append(out, Item{Pn: pn, Fn: fn, Data: b[:n]})
			b = b[n:]
		}
	}
	return out, nil
}

// Item is the data of one point and one function.
type Item struct {
	Pn   uint16
	Fn   uint16
	Data []byte
}

// Items returns every (pn, Fn, data) item of the frame.
func (f *Frame) Items() ([]Item, error) {
	n := 0
	for _, u := range f.Units {
		n += len(u.Pn) * len(u.Fn)
	}
	out := make([]Item, 0, n)
	for _, u := range f.Units {
		before := len(out)
		var err error
		if out, err = u.appendItems(out, f.AFN, f.Control.Dir()); err != nil {
			return out[:before], err // the items of the units before it
		}
	}
	return out, nil
}

// NewUnit returns a unit of one point and one function.
func NewUnit(pn, fn uint16, data []byte) Unit {
	return Unit{Pn: []uint16{pn}, Fn: []uint16{fn}, Data: data}
}
