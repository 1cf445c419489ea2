package tariff

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/amigo-metering/amigo"
)

// Price is a price in units of 0.0001 yuan (per kWh for energy prices and
// surcharges): "0.5680" yuan/kWh is Price(5680). It is exact; no float is
// ever involved.
type Price int64

// PriceScale is the number of Price units in a yuan.
const PriceScale = 10000

// Bounds on what a tariff and a quote may carry, so that every product fits
// (checked before any arithmetic).
const (
	MaxPrice   Price        = 100 * PriceScale                  // 100 yuan/kWh
	MaxEnergy  amigo.Energy = 1_000_000_000 * amigo.EnergyScale // 10⁹ kWh in one quote or one threshold
	MaxMonthly amigo.Fen    = 1_000_000_000                     // 10⁷ yuan of standing charge a month
)

// String returns yuan with exactly four decimals: "0.5680".
func (p Price) String() string {
	if p < 0 && -p < 0 { // -p overflows: as fmt always printed it
		return fmt.Sprintf("-%d.%04d", int64(p)/PriceScale, int64(p)%PriceScale)
	}
	// "%d.%04d" without fmt: a billing run prints millions.
	var buf [32]byte
	b := buf[:0]
	if p < 0 {
		b, p = append(b, '-'), -p
	}
	b = strconv.AppendInt(b, int64(p)/PriceScale, 10)
	f := int64(p) % PriceScale
	b = append(b, '.', byte('0'+f/1000), byte('0'+f/100%10), byte('0'+f/10%10), byte('0'+f%10))
	return string(b)
}

// MarshalText writes the four-decimal text: JSON carries prices as strings.
func (p Price) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// ParsePrice reads a non-negative price in yuan with at most four decimals
// ("0.568", "0.5680", "1"). Anything else (a sign, an exponent, a fifth
// decimal, more than 100 yuan) is an error naming what was wrong.
func ParsePrice(s string) (Price, error) {
	v, err := parseDecimal(s, 4)
	if err != nil {
		return 0, err
	}
	if v > int64(MaxPrice) {
		return 0, fmt.Errorf("%q is more than %s yuan / 超过上限", s, MaxPrice)
	}
	return Price(v), nil
}

// ParseKWh reads a non-negative energy in kWh with at most four decimals
// ("12.34"), up to MaxEnergy; no sign, no exponent.
func ParseKWh(s string) (amigo.Energy, error) {
	v, err := parseDecimal(s, 4)
	if err != nil {
		return 0, err
	}
	if v > int64(MaxEnergy) {
		return 0, fmt.Errorf("%q is more than %s kWh / 超过上限", s, MaxEnergy)
	}
	return amigo.Energy(v), nil
}

// parseYuan reads a non-negative amount of yuan with at most two decimals
// into fen.
func parseYuan(s string) (amigo.Fen, error) {
	v, err := parseDecimal(s, 2)
	if err != nil {
		return 0, err
	}
	if v > int64(MaxMonthly) {
		return 0, fmt.Errorf("%q is more than %s yuan / 超过上限", s, MaxMonthly)
	}
	return amigo.Fen(v), nil
}

// parseDecimal reads digits with an optional point and at most places
// decimals, as an integer of 10^-places units. Only plain decimal text is
// accepted: no sign, no exponent, no spaces, at most 12 whole digits.
func parseDecimal(s string, places int) (int64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	switch {
	case s == "":
		return 0, fmt.Errorf("empty number / 数值为空")
	case !digits(whole) || whole == "" || dot && frac == "" || frac != "" && !digits(frac):
		return 0, fmt.Errorf("%q is not a plain decimal number / 不是十进制数", s)
	case len(frac) > places:
		return 0, fmt.Errorf("%q has more than %d decimals / 小数位超过 %d 位", s, places, places)
	case len(whole) > 12:
		return 0, fmt.Errorf("%q is too large / 数值过大", s)
	}
	v, err := strconv.ParseInt(whole+frac+strings.Repeat("0", places-len(frac)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a plain decimal number / 不是十进制数", s)
	}
	return v, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// amount returns energy × price in fen, rounded half-up (a remainder of
// exactly half a fen goes up): e units of 0.0001 kWh times p units of
// 0.0001 yuan/kWh is e·p·10⁻⁸ yuan = e·p·10⁻⁶ fen. The product is computed
// in 128 bits, so it is exact; callers keep e and p within [0, 10¹⁸] and
// [0, MaxPrice] (then the quotient fits and Div64 cannot fault).
func amount(e amigo.Energy, p Price) amigo.Fen {
	if e < 0 || p < 0 || p > MaxPrice {
		return 0
	}
	hi, lo := bits.Mul64(uint64(e), uint64(p))
	lo, carry := bits.Add64(lo, 500_000, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, 1_000_000)
	return amigo.Fen(q)
}

// prorate returns v × num / den rounded half-up; v, num ≥ 0, den > 0, and
// v·num must fit in int64 (callers bound v and num).
func prorate(v, num, den int64) int64 {
	return (v*num*2 + den) / (2 * den)
}
