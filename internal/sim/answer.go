package sim

import (
	"math"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
)

// answer returns the meter's reply to req at true time now, or ok=false when
// a meter stays silent (broadcasts). m.mu must be held.
func (m *Meter) answer(req *dlt645.Frame, now time.Time) (dlt645.Frame, bool) {
	m.advance(now)
	fn := req.Control.Func()
	if m.only1997 && fn != dlt645.Func1997Read && fn != dlt645.FuncBroadcastTime {
		return dlt645.ErrorReply(m.addr, fn, dlt645.ErrOther), true
	}
	switch fn {
	case dlt645.FuncBroadcastTime:
		if t, err := req.Time(); err == nil {
			m.setClock(t, now)
		}
		return dlt645.Frame{}, false
	case dlt645.FuncRead:
		di, ok := req.DI()
		if !ok {
			return dlt645.ErrorReply(m.addr, fn, dlt645.ErrOther), true
		}
		if m.faults.NoFreeze && uint32(di)>>16 == 0x0506 {
			return dlt645.ErrorReply(m.addr, fn, dlt645.ErrNoData), true
		}
		v, ok := m.value(di, now)
		if !ok {
			return dlt645.ErrorReply(m.addr, fn, dlt645.ErrNoData), true
		}
		return dlt645.ReadReply(m.addr, di, v, false), true
	case dlt645.Func1997Read:
		di, ok := req.DI()
		v, found := m.value1997(uint16(di), now)
		if !ok || !found {
			return dlt645.ErrorReply(m.addr, fn, dlt645.ErrNoData), true
		}
		return dlt645.Frame{Address: m.addr, Control: dlt645.Reply(fn, false), Data: append([]byte{byte(di), byte(di >> 8)}, v...)}, true
	case dlt645.FuncReadAddress:
		return dlt645.ReadAddressReply(m.addr), true
	case dlt645.FuncWriteAddress:
		if len(req.Data) != 6 {
			return dlt645.ErrorReply(m.addr, fn, dlt645.ErrOther), true
		}
		copy(m.addr[:], req.Data)
		return dlt645.AckReply(m.addr, fn), true
	case dlt645.FuncWrite:
		return m.write(req, now), true
	case dlt645.FuncReadFollow:
		// Every value this meter has fits one frame: nothing follows.
		return dlt645.ErrorReply(m.addr, fn, dlt645.ErrNoData), true
	case dlt645.FuncFreeze:
		if len(req.Data) != 4 {
			return dlt645.ErrorReply(m.addr, fn, dlt645.ErrOther), true
		}
		if req.Data[0] == 0x99 && req.Data[1] == 0x99 && req.Data[2] == 0x99 && req.Data[3] == 0x99 {
			m.freezeInstant(m.clockAt(now))
		}
		// A timed-freeze schedule (any other mmhhDDMM) is acknowledged but
		// not kept: these meters freeze daily at 00:00 only.
		if req.Address.IsBroadcast() {
			return dlt645.Frame{}, false
		}
		return dlt645.AckReply(m.addr, fn), true
	case dlt645.FuncChangeBaud:
		if len(req.Data) != 1 || dlt645.BaudOf(req.Data[0]) == 0 {
			return dlt645.ErrorReply(m.addr, fn, dlt645.ErrBaud), true
		}
		return dlt645.Frame{Address: m.addr, Control: dlt645.Reply(fn, false), Data: []byte{req.Data[0]}}, true
	case dlt645.FuncChangePassword:
		if len(req.Data) != 12 {
			return dlt645.ErrorReply(m.addr, fn, dlt645.ErrOther), true
		}
		old := dlt645.Auth{Level: req.Data[4], Password: le24(req.Data[5:8])}
		if !m.passwordOK(old) {
			return dlt645.ErrorReply(m.addr, fn, dlt645.ErrPassword), true
		}
		m.auth.Level, m.auth.Password = req.Data[8], le24(req.Data[9:12])
		return dlt645.Frame{Address: m.addr, Control: dlt645.Reply(fn, false), Data: append([]byte(nil), req.Data[8:12]...)}, true
	case dlt645.FuncDemandClear, dlt645.FuncMeterClear, dlt645.FuncEventClear:
		if len(req.Data) < 8 {
			return dlt645.ErrorReply(m.addr, fn, dlt645.ErrOther), true
		}
		if !m.passwordOK(dlt645.Auth{Level: req.Data[0], Password: le24(req.Data[1:4])}) {
			return dlt645.ErrorReply(m.addr, fn, dlt645.ErrPassword), true
		}
		switch fn {
		case dlt645.FuncMeterClear:
			m.fwd, m.rev = [5]int64{}, [5]int64{}
			m.daily, m.monthly, m.instants = nil, nil, nil
		case dlt645.FuncEventClear:
			m.powerDowns, m.coverOpens, m.trips, m.closes = 0, 0, 0, 0
		}
		return dlt645.AckReply(m.addr, fn), true
	case dlt645.FuncControl:
		return m.control(req, now), true
	}
	return dlt645.ErrorReply(m.addr, fn, dlt645.ErrOther), true
}

func le24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }

// passwordOK checks a request's password, and its operator code when the
// meter was configured with one (0: any operator).
func (m *Meter) passwordOK(a dlt645.Auth) bool {
	if m.auth.Operator != 0 && a.Operator != m.auth.Operator {
		return false
	}
	return a.Level == m.auth.Level && a.Password == m.auth.Password
}

// setClock sets the meter's clock to read t (civil, meter zone) at true now.
func (m *Meter) setClock(t dlt645.DateTime, now time.Time) {
	m.clockOff = t.In(m.loc).Sub(now)
}

func (m *Meter) write(req *dlt645.Frame, now time.Time) dlt645.Frame {
	di, auth, v, err := req.WriteData()
	if err != nil {
		return dlt645.ErrorReply(m.addr, dlt645.FuncWrite, dlt645.ErrOther)
	}
	if !m.passwordOK(auth) {
		return dlt645.ErrorReply(m.addr, dlt645.FuncWrite, dlt645.ErrPassword)
	}
	clock := m.clockAt(now)
	d := dlt645.DateTimeOf(clock)
	switch {
	case di == dlt645.DIDateWeek && len(v) == 4:
		d.Day, d.Month, d.Year = unbcd(v[1]), unbcd(v[2]), 2000+unbcd(v[3])
	case di == dlt645.DITime && len(v) == 3:
		d.Second, d.Minute, d.Hour = unbcd(v[0]), unbcd(v[1]), unbcd(v[2])
	default:
		return dlt645.ErrorReply(m.addr, dlt645.FuncWrite, dlt645.ErrNoData)
	}
	if !d.Valid() {
		return dlt645.ErrorReply(m.addr, dlt645.FuncWrite, dlt645.ErrOther)
	}
	m.setClock(d, now)
	return dlt645.AckReply(m.addr, dlt645.FuncWrite)
}

func unbcd(b byte) int { return int(b>>4)*10 + int(b&0x0F) }

func (m *Meter) control(req *dlt645.Frame, now time.Time) dlt645.Frame {
	m.controlFrames++
	c, err := req.ControlCommand()
	if err != nil {
		return dlt645.ErrorReply(m.addr, dlt645.FuncControl, dlt645.ErrOther)
	}
	if !m.passwordOK(c.Auth) {
		return dlt645.ErrorReply(m.addr, dlt645.FuncControl, dlt645.ErrPassword)
	}
	if !c.Until.Valid() || c.Until.In(m.loc).Before(m.clockAt(now)) {
		return dlt645.ErrorReply(m.addr, dlt645.FuncControl, dlt645.ErrOther) // expired command
	}
	switch c.Type {
	case dlt645.ControlTrip:
		if m.keepPower {
			return dlt645.ErrorReply(m.addr, dlt645.FuncControl, dlt645.ErrOther)
		}
		if !m.relayOpen {
			m.trips++
		}
		m.relayOpen, m.relayCmd = true, true
	case dlt645.ControlAllowClose, dlt645.ControlClose:
		// A virtual customer presses the button at once after "allow close".
		if m.relayOpen {
			m.closes++
		}
		m.relayOpen, m.relayCmd = false, false
	case dlt645.ControlKeepPower:
		m.keepPower = true
	case dlt645.ControlKeepPowerOff:
		m.keepPower = false
	case dlt645.ControlAlarm, dlt645.ControlAlarmOff:
	default:
		return dlt645.ErrorReply(m.addr, dlt645.FuncControl, dlt645.ErrOther)
	}
	return dlt645.AckReply(m.addr, dlt645.FuncControl)
}

// value encodes the value of di (before +33H), or ok=false for no data.
func (m *Meter) value(di dlt645.DI, now time.Time) ([]byte, bool) {
	e, ok := dlt645.Lookup(di)
	if !ok {
		return nil, false
	}
	di3, di2, di1, di0 := di.Bytes()
	var nums []dlt645.Decimal
	switch {
	case di3 == 0x00 && (di2 == 0x01 || di2 == 0x02 || di2 == 0x00):
		regs, ok := m.energyAt(di2, int(di0))
		if !ok {
			return nil, false
		}
		nums = pick(regs[:], di1)
	case di3 == 0x05 && (di2 == 0x06 || di2 == 0x01) && di1 == 0x00:
		recs := m.daily
		if di2 == 0x01 {
			recs = m.instants
		}
		if int(di0) > len(recs) || di0 == 0 {
			return nil, false
		}
		t := minutesTime(recs[len(recs)-int(di0)].at, m.loc)
		return dlt645.AppendDateTime(nil, e.Fields[0].Format, dlt645.DateTimeOf(t), 0), true
	case di3 == 0x05 && (di2 == 0x06 || di2 == 0x01) && (di1 == 0x01 || di1 == 0x02):
		recs := m.daily
		if di2 == 0x01 {
			recs = m.instants
		}
		if int(di0) > len(recs) || di0 == 0 {
			return nil, false
		}
		r := recs[len(recs)-int(di0)]
		src := r.fwd
		if di1 == 0x02 {
			src = r.rev
		}
		for _, v := range src {
			nums = append(nums, dlt645.Decimal{Mant: int64(v), Scale: 2})
		}
	case di3 == 0x02:
		var ok bool
		if nums, ok = m.instant(di2, di1, di0, now); !ok {
			return nil, false
		}
	case di == dlt645.DIDateWeek || di == dlt645.DITime:
		c := m.clockAt(now)
		return dlt645.AppendDateTime(nil, e.Fields[0].Format, dlt645.DateTimeOf(c), int(c.Weekday())), true
	case di == dlt645.DIAddress || di == dlt645.DIMeterNumber:
		return append([]byte(nil), m.addr[:]...), true
	case di3 == 0x04 && di2 == 0x00 && di1 == 0x05:
		words := m.statusWords()
		if di0 == 0xFF {
			var b []byte
			for _, w := range words {
				b = append(b, byte(w), byte(w>>8))
			}
			return b, true
		}
		if di0 < 1 || di0 > 7 {
			return nil, false
		}
		w := words[di0-1]
		return []byte{byte(w), byte(w >> 8)}, true
	case di == dlt645.DIPowerDownCount:
		nums = []dlt645.Decimal{{Mant: int64(m.powerDowns)}}
	case di == dlt645.DICoverOpenCount:
		nums = []dlt645.Decimal{{Mant: int64(m.coverOpens)}}
	case di == dlt645.DITripCount:
		nums = []dlt645.Decimal{{Mant: int64(m.trips)}}
	case di == 0x1E000001:
		nums = []dlt645.Decimal{{Mant: int64(m.closes)}}
	case di == dlt645.DIRemainingMoney:
		v := m.moneyMilliFen / 1000
		if v < 0 {
			v = 0
		}
		nums = []dlt645.Decimal{{Mant: v, Scale: 2}}
	case di == 0x00900201:
		v := -m.moneyMilliFen / 1000
		if v < 0 {
			v = 0
		}
		nums = []dlt645.Decimal{{Mant: v, Scale: 2}}
	default:
		return nil, false
	}
	if len(nums) != len(e.Fields) {
		return nil, false
	}
	var b []byte
	for i, d := range nums {
		if d == absentValue { // phase absent: all FF
			for range e.Fields[i].Format.Len {
				b = append(b, 0xFF)
			}
			continue
		}
		var err error
		if b, err = dlt645.AppendNumber(b, d, e.Fields[i].Format); err != nil {
			return nil, false
		}
	}
	return b, true
}

// absentValue marks a value the meter does not have (a phase a single-phase
// meter lacks); it goes on the wire as all FF.
var absentValue = dlt645.Decimal{Mant: math.MinInt64}

// energyAt returns total + tariffs of forward (di2 1), reverse (2) or
// combined (0 = forward + reverse) active energy at settlement period p.
func (m *Meter) energyAt(di2 byte, p int) ([5]dlt645.Decimal, bool) {
	var out [5]dlt645.Decimal
	var fwd, rev [5]int64
	if p == 0 {
		for i := range 5 {
			fwd[i], rev[i] = m.fwd[i]/microPerCent, m.rev[i]/microPerCent
		}
	} else {
		if p > len(m.monthly) {
			return out, false
		}
		r := m.monthly[len(m.monthly)-p]
		for i := range 5 {
			fwd[i], rev[i] = int64(r.fwd[i]), int64(r.rev[i])
		}
	}
	for i := range 5 {
		v := fwd[i]
		switch di2 {
		case 0x02:
			v = rev[i]
		case 0x00:
			v = fwd[i] + rev[i]
		}
		out[i] = dlt645.Decimal{Mant: v, Scale: 2}
	}
	return out, true
}

// pick returns the block (di1 FF) or one register.
func pick(regs []dlt645.Decimal, di1 byte) []dlt645.Decimal {
	if di1 == 0xFF {
		return regs
	}
	if int(di1) < len(regs) {
		return regs[di1 : di1+1]
	}
	return nil
}

// instant returns the variables of DI3=02 at true time now.
func (m *Meter) instant(di2, di1, di0 byte, now time.Time) ([]dlt645.Decimal, bool) {
	kw := m.kw
	noise := unit(m.seed, m.key, uint64(now.Unix()/60))
	volts := [3]float64{}
	for i := range 3 {
		volts[i] = 220 + 6*(unit(m.seed, m.key+uint64(i), uint64(now.Unix()/60))-0.5)
	}
	pf := 0.92 + 0.06*noise
	if m.faults.Outage {
		volts = [3]float64{}
	}
	phases := int(m.phases)
	perPhase := kw / float64(phases)
	d := func(v float64, scale int8) dlt645.Decimal {
		return dlt645.Decimal{Mant: int64(math.Round(v * math.Pow10(int(scale)))), Scale: scale}
	}
	phaseVals := func(f func(i int) dlt645.Decimal) []dlt645.Decimal {
		out := make([]dlt645.Decimal, 3)
		for i := range 3 {
			if i < phases {
				out[i] = f(i)
			} else {
				out[i] = absentValue
			}
		}
		return out
	}
	var vals []dlt645.Decimal // for DI1 = FF: total (where present) then A, B, C
	hasTotal := false
	switch di2 {
	case 0x01:
		vals = phaseVals(func(i int) dlt645.Decimal { return d(volts[i], 1) })
	case 0x02:
		vals = phaseVals(func(i int) dlt645.Decimal {
			if volts[i] == 0 {
				return d(0, 3)
			}
			return d(perPhase*1000/(volts[i]*pf), 3)
		})
	case 0x03:
		hasTotal = true
		vals = append([]dlt645.Decimal{d(kw, 4)}, phaseVals(func(int) dlt645.Decimal { return d(perPhase, 4) })...)
	case 0x04:
		q := math.Abs(kw) * math.Tan(math.Acos(pf))
		hasTotal = true
		vals = append([]dlt645.Decimal{d(q, 4)}, phaseVals(func(int) dlt645.Decimal { return d(q/float64(phases), 4) })...)
	case 0x05:
		s := math.Abs(kw) / pf
		hasTotal = true
		vals = append([]dlt645.Decimal{d(s, 4)}, phaseVals(func(int) dlt645.Decimal { return d(s/float64(phases), 4) })...)
	case 0x06:
		hasTotal = true
		vals = append([]dlt645.Decimal{d(pf, 3)}, phaseVals(func(int) dlt645.Decimal { return d(pf, 3) })...)
	case 0x80:
		if di1 != 0x00 {
			return nil, false
		}
		switch di0 {
		case 0x01:
			return []dlt645.Decimal{d(0, 3)}, true
		case 0x02:
			return []dlt645.Decimal{d(50+0.06*(noise-0.5), 2)}, true
		case 0x03, 0x04:
			return []dlt645.Decimal{d(kw, 4)}, true
		case 0x07:
			return []dlt645.Decimal{d(28+5*noise, 1)}, true
		}
		return nil, false
	default:
		return nil, false
	}
	if di0 != 0 {
		return nil, false
	}
	var out []dlt645.Decimal
	switch {
	case di1 == 0xFF:
		out = vals
	case di1 == 0x00 && hasTotal:
		out = vals[:1]
	case di1 >= 1 && di1 <= 3:
		i := int(di1) - 1
		if hasTotal {
			i++
		}
		out = vals[i : i+1]
	default:
		return nil, false
	}
	return out, true
}

// statusWords returns running status words 1..7.
func (m *Meter) statusWords() [7]uint16 {
	var w [7]uint16
	if m.kw < 0 {
		w[0] |= 1 << 4
		w[1] |= 1
	}
	if m.relayOpen {
		w[2] |= dlt645.Status3RelayOpen
	}
	if m.relayCmd {
		w[2] |= dlt645.Status3RelayCommand
	}
	if m.faults.Outage {
		w[6] |= 1 << 5
	}
	return w
}

// value1997 answers the DL/T 645-1997 reads a collector makes of an old
// meter, from the same registers (the 1997 formats of these items are the
// 2007 ones).
func (m *Meter) value1997(di uint16, now time.Time) ([]byte, bool) {
	var of dlt645.DI
	switch di {
	case 0x901F:
		of = dlt645.DIForwardActiveBlock
	case 0x9010:
		of = dlt645.DIForwardActiveBlock
	case 0x9020:
		of = dlt645.DIReverseActiveBlock
	case 0xC010:
		of = dlt645.DIDateWeek
	case 0xC011:
		of = dlt645.DITime
	default:
		return nil, false
	}
	v, ok := m.value(of, now)
	if ok && (di == 0x9010 || di == 0x9020) && len(v) >= 4 {
		v = v[:4] // the total only
	}
	return v, ok
}
