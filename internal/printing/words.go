package printing

import (
	"strings"

	"github.com/amigo-metering/amigo"
)

var (
	cnDigit     = []string{"零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖"}
	cnPlace     = []string{"", "拾", "佰", "仟"}
	cnGroupUnit = []string{"", "万", "亿", "万亿"}
)

// Capital writes an amount the way Chinese receipts and bills state it in
// words (人民币大写): 13930 fen → "壹佰叁拾玖元叁角整". A negative amount is
// prefixed with 负.
func Capital(f amigo.Fen) string {
	var b strings.Builder
	n := int64(f)
	if n < 0 {
		b.WriteString("负")
		n = -n // amounts are bounded far below MinInt64
	}
	yuan, jiao, fen := n/100, n/10%10, n%10
	if yuan > 0 {
		b.WriteString(capitalInt(yuan))
		b.WriteString("元")
	}
	switch {
	case jiao == 0 && fen == 0:
		if yuan == 0 {
			b.WriteString("零元")
		}
		b.WriteString("整")
	case jiao == 0:
		if yuan > 0 {
			b.WriteString("零")
		}
		b.WriteString(cnDigit[fen] + "分")
	default:
		b.WriteString(cnDigit[jiao] + "角")
		if fen == 0 {
			b.WriteString("整")
		} else {
			b.WriteString(cnDigit[fen] + "分")
		}
	}
	return b.String()
}

// capitalInt writes n > 0 in capital numerals, four digits to a group
// (万, 亿), with one 零 for each run of zeros inside the number.
func capitalInt(n int64) string {
	var groups []int64
	for n > 0 {
		groups = append(groups, n%10000)
		n /= 10000
	}
	var b strings.Builder
	zero := false // zeros seen since the last digit written
	for g := len(groups) - 1; g >= 0; g-- {
		v := groups[g]
		if v == 0 {
			zero = b.Len() > 0
			continue
		}
		for p := 3; p >= 0; p-- {
			d := v / pow10[p] % 10
			if d == 0 {
				zero = zero || b.Len() > 0
				continue
			}
			if zero {
				b.WriteString("零")
				zero = false
			}
			b.WriteString(cnDigit[d] + cnPlace[p])
		}
		b.WriteString(cnGroupUnit[min(g, len(cnGroupUnit)-1)])
	}
	return b.String()
}

var pow10 = []int64{1, 10, 100, 1000}
