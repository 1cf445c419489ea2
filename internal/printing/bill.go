package printing

import (
	"fmt"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// BillDoc is everything a printed bill shows, and nothing else. The
// billing package's bill is mapped onto it by the caller.
type BillDoc struct {
	Number     string    // bill number (账单号)
	Account    string    // account number (户号)
	Customer   string    // customer name (户名)
	PeriodFrom time.Time // first day of the billing period, as a date in the site's zone
	PeriodTo   time.Time // last day of the billing period (inclusive)
	Issued     time.Time // date of issue
	Due        time.Time // due date (缴费截止日期)
	Lines      []BillLine
	TotalFen   amigo.Fen // the sum of the lines' amounts (checked)
	// Usage is the account's monthly consumption, oldest first; the last
	// 12 are drawn as a bar chart.
	Usage []MonthUsage
	// PayPayload is the text of the QR code to pay (a payment provider's
	// code_url); empty draws no code.
	PayPayload string
	Issuer     string   // who issues the bill, printed at the top; optional
	Notes      []string // remarks printed under the lines (estimated reads, held bills); optional
	// Credit prints the document as a credit note (冲红通知单): its own
	// title, the total as an amount credited, no due date needed.
	Credit bool
}

// BillLine is one line item. KWh is nil for a standing charge; Price is
// the yuan/kWh text as the tariff states it ("0.5680"), empty when none.
type BillLine struct {
	Kind      string // "energy", "tier", "standing" or another word, printed as is
	Name      string // period or charge name ("peak", "峰")
	KWh       *amigo.Energy
	Price     string
	AmountFen amigo.Fen
}

// MonthUsage is one month's consumption; Missing marks a month without data
// (drawn empty, labelled "—").
type MonthUsage struct {
	Month   string // "2026-03"
	KWh     amigo.Energy
	Missing bool
}

const (
	maxFen   = 1e13 // 100 billion yuan: any amount beyond is a mistake (and sums cannot overflow)
	maxUsage = 120  // months of usage given (the last 12 are drawn)
	maxLines = 40   // line items on one A4 page
	maxText  = 200  // runes in any one field
	maxNotes = 5
)

// Validate says which field is wrong, in Chinese and English.
func (b BillDoc) Validate() error {
	switch {
	case strings.TrimSpace(b.Number) == "":
		return fieldErr("number", "账单号为空", "is empty")
	case strings.TrimSpace(b.Account) == "":
		return fieldErr("account", "户号为空", "is empty")
	case b.PeriodFrom.IsZero() || b.PeriodTo.IsZero():
		return fieldErr("period", "计费周期未给出", "is not given")
	case b.PeriodTo.Before(b.PeriodFrom):
		return fieldErr("period", "计费周期结束早于开始", "ends before it starts")
	case b.Due.IsZero() && !b.Credit:
		return fieldErr("due", "缴费截止日期未给出", "is not given")
	case len(b.Lines) == 0:
		return fieldErr("lines", "没有明细", "has no line")
	case len(b.Lines) > maxLines:
		return fieldErr("lines", fmt.Sprintf("明细超过 %d 条", maxLines), fmt.Sprintf("has more than %d lines", maxLines))
	case len(b.Usage) > maxUsage:
		return fieldErr("usage", fmt.Sprintf("超过 %d 个月", maxUsage), fmt.Sprintf("has more than %d months", maxUsage))
	case b.TotalFen > maxFen || b.TotalFen < -maxFen:
		return fieldErr("total_fen", "金额超出范围", "is out of range")
	case len(b.Notes) > maxNotes:
		return fieldErr("notes", fmt.Sprintf("备注超过 %d 条", maxNotes), fmt.Sprintf("has more than %d notes", maxNotes))
	}
	var sum amigo.Fen
	for i, l := range b.Lines {
		if err := textOK(fmt.Sprintf("lines[%d].name", i), l.Name); err != nil {
			return err
		}
		if err := textOK(fmt.Sprintf("lines[%d].price", i), l.Price); err != nil {
			return err
		}
		if err := textOK(fmt.Sprintf("lines[%d].kind", i), l.Kind); err != nil {
			return err
		}
		if l.AmountFen > maxFen || l.AmountFen < -maxFen {
			return fieldErr(fmt.Sprintf("lines[%d].amount_fen", i), "金额超出范围", "is out of range")
		}
		sum += l.AmountFen
	}
	if sum != b.TotalFen {
		return fieldErr("total_fen", fmt.Sprintf("合计 %s 元不等于明细之和 %s 元", b.TotalFen, sum),
			fmt.Sprintf("%s yuan is not the sum of the lines, %s yuan", b.TotalFen, sum))
	}
	for _, f := range []struct{ name, v string }{{"number", b.Number}, {"account", b.Account}, {"customer", b.Customer}, {"issuer", b.Issuer}, {"pay_payload", b.PayPayload}} {
		if err := textOK(f.name, f.v); err != nil {
			return err
		}
	}
	for i, m := range b.Usage {
		if err := textOK(fmt.Sprintf("usage[%d].month", i), m.Month); err != nil {
			return err
		}
	}
	for i, n := range b.Notes {
		if err := textOK(fmt.Sprintf("notes[%d]", i), n); err != nil {
			return err
		}
	}
	return nil
}

func fieldErr(field, zh, en string) error {
	return fmt.Errorf("打印：字段 %s %s / printing: field %s %s", field, zh, field, en)
}

func textOK(field, s string) error {
	if n := len([]rune(s)); n > maxText {
		return fieldErr(field, fmt.Sprintf("超过 %d 个字符", maxText), fmt.Sprintf("is longer than %d characters", maxText))
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fieldErr(field, "含控制字符", fmt.Sprintf("holds the control character U+%04X", c))
		}
	}
	return nil
}

// A4 in points.
const (
	a4W    = 595.28
	a4H    = 841.89
	margin = 48.0
)

var kindLabel = map[string]string{
	"energy":   "电度电费 Energy",
	"tier":     "阶梯加价 Tier",
	"standing": "基本电费 Standing",
}

const dateLayout = "2006-01-02"

// Bill renders b as a one-page A4 PDF.
func (r *Renderer) Bill(b BillDoc) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	title, titleEn := "电费账单", "Electricity Bill"
	if b.Credit {
		title, titleEn = "电费冲红通知单", "Credit Note"
	}
	p := r.newPage(a4W, a4H, title+" "+titleEn+" "+b.Number)
	right := a4W - margin
	y := margin

	if b.Issuer != "" {
		p.size(10)
		p.text(margin, y, b.Issuer)
		y += 16
	}
	p.size(20)
	p.text(margin, y, title)
	p.size(12)
	p.text(margin+float64(len([]rune(title)))*20+10, y+6, titleEn)
	y += 36

	// The header fields on the left, the QR code on the right.
	qrSize := 110.0
	if b.PayPayload != "" {
		p.qr(right-qrSize, margin, qrSize, b.PayPayload)
		p.size(9)
		p.center(right-qrSize/2, margin+qrSize+2, "扫码缴费 Scan to pay")
	}
	fields := [][2]string{
		{"户号 Account No.", b.Account},
		{"户名 Customer", b.Customer},
		{"账单号 Bill No.", b.Number},
		{"计费周期 Period", b.PeriodFrom.Format(dateLayout) + " — " + b.PeriodTo.Format(dateLayout)},
		{"出账日期 Issued", dateOrDash(b.Issued)},
		{"缴费截止 Due date", dateOrDash(b.Due)},
	}
	if b.Credit {
		fields[2][0] = "通知单号 Note No."
		fields = fields[:len(fields)-1]
	}
	for _, f := range fields {
		p.size(10)
		p.gray(90)
		p.pdf.SetTextColor(90, 90, 90)
		p.text(margin, y, f[0])
		p.pdf.SetTextColor(0, 0, 0)
		p.size(12)
		p.text(margin+120, y-1, f[1])
		y += 20
	}
	y = max(y, margin+qrSize+20) + 12

	// The line items.
	cols := []struct {
		title string
		x     float64
		right bool
	}{
		{"类别 Kind", margin, false},
		{"项目 Item", margin + 120, false},
		{"电量 kWh", margin + 300, true},
		{"单价 元/kWh Price", margin + 400, true},
		{"金额 元 Amount", right, true},
	}
	p.gray(230)
	p.rect(margin, y-4, right-margin, 20)
	p.size(10)
	for _, c := range cols {
		if c.right {
			p.right(c.x-4, y, c.title)
		} else {
			p.text(c.x+4, y, c.title)
		}
	}
	y += 22
	p.gray(0)
	for _, l := range b.Lines {
		kind := kindLabel[l.Kind]
		if kind == "" {
			kind = l.Kind
		}
		kwh, price := "", l.Price
		if l.KWh != nil {
			kwh = l.KWh.String()
		}
		p.size(10)
		p.text(cols[0].x+4, y, kind)
		p.text(cols[1].x+4, y, l.Name)
		p.right(cols[2].x-4, y, kwh)
		p.right(cols[3].x-4, y, price)
		p.right(cols[4].x-4, y, l.AmountFen.String())
		y += 18
	}
	p.gray(0)
	p.line(margin, y, right, y)
	y += 8
	p.size(14)
	p.text(margin+4, y, "合计 Total")
	p.right(right-4, y, "¥ "+b.TotalFen.String())
	y += 22
	p.size(10)
	if b.Credit {
		p.text(margin+4, y, "冲减金额（元）Amount credited (yuan): "+b.TotalFen.String())
	} else {
		p.text(margin+4, y, "应缴金额（元）Amount due (yuan): "+b.TotalFen.String()+"    请于 "+b.Due.Format(dateLayout)+" 前缴纳 / due by "+b.Due.Format(dateLayout))
	}
	y += 16
	p.text(margin+4, y, "大写 In words: 人民币"+Capital(b.TotalFen))
	y += 20
	for _, n := range b.Notes {
		p.text(margin+4, y, "※ "+n)
		y += 16
	}
	y += 16

	// The usage chart.
	p.size(12)
	p.text(margin, y, "近 12 个月用电量 Usage, last 12 months (kWh)")
	y += 24
	r.chart(p, margin, y, right-margin, 180, lastMonths(b.Usage, 12))

	p.size(8)
	p.pdf.SetTextColor(120, 120, 120)
	p.text(margin, a4H-margin-12, "金额以分计算，每行四舍五入到分，合计为各行之和。本账单由 amigo 生成。")
	p.text(margin, a4H-margin, "Each line is rounded half-up to the fen; the total is the sum of the lines. Issued by amigo.")
	return p.bytes()
}

func dateOrDash(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Format(dateLayout)
}

func lastMonths(u []MonthUsage, n int) []MonthUsage {
	if len(u) > n {
		return u[len(u)-n:]
	}
	return u
}

// chart draws one bar per month in the box (x, y, w, h): the value in
// whole kWh above each bar, the month under it.
func (r *Renderer) chart(p *page, x, y, w, h float64, months []MonthUsage) {
	const labelH = 14.0
	base := y + h - labelH
	p.gray(0)
	p.line(x, base, x+w, base)
	if len(months) == 0 {
		p.size(10)
		p.text(x+4, y+h/2, "无数据 No data")
		return
	}
	var top amigo.Energy
	for _, m := range months {
		if !m.Missing && m.KWh > top {
			top = m.KWh
		}
	}
	slot := w / 12
	barW := slot * 0.6
	plotH := h - 2*labelH - 4
	for i, m := range months {
		cx := x + slot*float64(i) + slot/2
		p.size(8)
		p.pdf.SetTextColor(0, 0, 0)
		p.center(cx, base+3, shortMonth(m.Month))
		if m.Missing {
			p.center(cx, base-labelH, "—")
			continue
		}
		bh := 0.0
		if top > 0 {
			bh = plotH * float64(m.KWh) / float64(top)
		}
		p.gray(110)
		p.rect(cx-barW/2, base-bh, barW, bh)
		p.center(cx, base-bh-labelH+2, wholeKWh(m.KWh))
	}
	p.gray(0)
}

// shortMonth turns "2026-03" into "26-03", which fits under a bar.
func shortMonth(m string) string {
	if len(m) == 7 && m[4] == '-' {
		return m[2:]
	}
	return m
}

// wholeKWh rounds half-up to a whole kWh for a chart label.
func wholeKWh(e amigo.Energy) string {
	n := (int64(e) + amigo.EnergyScale/2) / amigo.EnergyScale
	if e < 0 {
		n = -((-int64(e) + amigo.EnergyScale/2) / amigo.EnergyScale)
	}
	return fmt.Sprint(n)
}
