package amigo

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Energy is an exact amount of energy in units of 0.0001 kWh, so that both
// DL/T 645's 0.01 kWh and Q/GDW 1376.1's 0.0001 kWh registers are exact.
type Energy int64

// EnergyScale is the number of Energy units in a kWh.
const EnergyScale = 10000

// KWh returns an energy of whole kWh.
func KWh(n int64) Energy { return Energy(n * EnergyScale) }

// EnergyFromDecimal converts mantissa × 10^-scale kWh exactly; extra digits
// beyond four decimals are an error.
func EnergyFromDecimal(mant int64, scale int) (Energy, error) {
	switch {
	case scale > 4:
		for s := scale; s > 4; s-- {
			if mant%10 != 0 {
				return 0, fmt.Errorf("energy %de-%d kWh has more than 4 decimals", mant, scale)
			}
			mant /= 10
		}
		return Energy(mant), nil
	case scale < 0:
		return 0, fmt.Errorf("negative scale %d", scale)
	}
	for s := scale; s < 4; s++ {
		mant *= 10
	}
	return Energy(mant), nil
}

// ParseEnergy parses "1234.56" (kWh).
func ParseEnergy(s string) (Energy, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 4 || whole == "" {
		return 0, Errorf(EINVALID, "parse energy", "energy %q: want kWh with at most 4 decimals / 电量格式错误", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, Errorf(EINVALID, "parse energy", "energy %q: want kWh / 电量格式错误", s)
	}
	var f int64
	if frac != "" {
		if f, err = strconv.ParseInt(frac+strings.Repeat("0", 4-len(frac)), 10, 64); err != nil {
			return 0, Errorf(EINVALID, "parse energy", "energy %q: want kWh / 电量格式错误", s)
		}
	}
	e := Energy(w*EnergyScale + f)
	if neg {
		e = -e
	}
	return e, nil
}

// String returns kWh with at least two decimals: "1234.56", "0.0100".
func (e Energy) String() string {
	if e == math.MinInt64 { // -e overflows: as it always printed
		return "-" + fmt.Sprintf("%d.%04d", int64(e)/EnergyScale, int64(e)%EnergyScale)
	}
	neg := e < 0
	if neg {
		e = -e
	}
	// "%d.%04d" without fmt (a billing run writes millions).
	var buf [32]byte
	b := buf[:0]
	if neg {
		b = append(b, '-')
	}
	b = strconv.AppendInt(b, int64(e)/EnergyScale, 10)
	frac := int64(e) % EnergyScale
	b = append(b, '.', byte('0'+frac/1000), byte('0'+frac/100%10), byte('0'+frac/10%10), byte('0'+frac%10))
	for n := 0; n < 2 && b[len(b)-1] == '0'; n++ {
		b = b[:len(b)-1]
	}
	return string(b)
}

// MarshalText writes the kWh text: JSON carries energy as a decimal string.
func (e Energy) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText reads the kWh text.
func (e *Energy) UnmarshalText(b []byte) error {
	v, err := ParseEnergy(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// Fen is an amount of money in fen (0.01 yuan).
type Fen int64

// String returns yuan with two decimals.
func (f Fen) String() string {
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	return fmt.Sprintf("%s%d.%02d", sign, int64(f)/100, int64(f)%100)
}
