package printing

import (
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// ReceiptDoc is everything a printed payment receipt shows. The payments
// package's payment is mapped onto it by the caller.
type ReceiptDoc struct {
	Number    string    // payment (receipt) number
	Account   string    // account number (户号)
	Customer  string    // optional
	AmountFen amigo.Fen // amount paid, > 0
	Method    string    // "cash", "card", "wechat" or another word, printed as is
	Time      time.Time // when it was paid, printed in its own location
	Cashier   string    // who took it ("system" for online payments)
	Reference string    // the payment's reference; optional
	Issuer    string    // optional
}

var methodLabel = map[string]string{
	"cash":   "现金 Cash",
	"card":   "银行卡 Card",
	"wechat": "微信支付 WeChat Pay",
	"alipay": "支付宝 Alipay",
}

// Validate says which field is wrong, in Chinese and English.
func (d ReceiptDoc) Validate() error {
	switch {
	case strings.TrimSpace(d.Number) == "":
		return fieldErr("number", "收据号为空", "is empty")
	case strings.TrimSpace(d.Account) == "":
		return fieldErr("account", "户号为空", "is empty")
	case d.AmountFen <= 0:
		return fieldErr("amount_fen", "金额必须大于零", "must be more than zero")
	case d.AmountFen > maxFen:
		return fieldErr("amount_fen", "金额超出范围", "is out of range")
	case strings.TrimSpace(d.Method) == "":
		return fieldErr("method", "付款方式为空", "is empty")
	case d.Time.IsZero():
		return fieldErr("time", "付款时间未给出", "is not given")
	case strings.TrimSpace(d.Cashier) == "":
		return fieldErr("cashier", "收款员为空", "is empty")
	}
	for _, f := range []struct{ name, v string }{{"number", d.Number}, {"account", d.Account}, {"customer", d.Customer},
		{"method", d.Method}, {"cashier", d.Cashier}, {"reference", d.Reference}, {"issuer", d.Issuer}} {
		if err := textOK(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// The receipt roll: 80 mm wide, 72 mm printable.
const (
	rollW      = 80 / 25.4 * 72 // 226.77 pt
	rollMargin = 4 / 25.4 * 72  // 4 mm
)

// Receipt renders d as a PDF one 80 mm roll wide, as long as it needs.
func (r *Renderer) Receipt(d ReceiptDoc) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	method := methodLabel[d.Method]
	if method == "" {
		method = d.Method
	}
	fields := [][2]string{
		{"收据号 No.", d.Number},
		{"户号 Account", d.Account},
	}
	if d.Customer != "" {
		fields = append(fields, [2]string{"户名 Customer", d.Customer})
	}
	fields = append(fields,
		[2]string{"方式 Method", method},
		[2]string{"时间 Time", d.Time.Format("2006-01-02 15:04:05")},
		[2]string{"收款员 Cashier", d.Cashier},
	)
	if d.Reference != "" {
		fields = append(fields, [2]string{"参考号 Ref.", d.Reference})
	}
	h := 2*rollMargin + 100 + float64(len(fields))*15 + 74
	if d.Issuer != "" {
		h += 14
	}
	p := r.newPage(rollW, h, "收款收据 Receipt "+d.Number)
	x, right := rollMargin, rollW-rollMargin
	y := rollMargin + 4
	if d.Issuer != "" {
		p.size(9)
		p.center(rollW/2, y, d.Issuer)
		y += 14
	}
	p.size(14)
	p.center(rollW/2, y, "收款收据")
	y += 18
	p.size(9)
	p.center(rollW/2, y, "Payment Receipt")
	y += 18
	p.gray(0)
	p.line(x, y, right, y)
	y += 8
	for _, f := range fields {
		p.size(8)
		p.text(x, y, f[0])
		p.size(9)
		p.right(right, y, f[1])
		y += 15
	}
	p.line(x, y, right, y)
	y += 10
	p.size(9)
	p.text(x, y, "金额（元）Amount (yuan)")
	y += 14
	p.size(16)
	p.right(right, y, "¥ "+d.AmountFen.String())
	y += 24
	words := "大写 人民币" + Capital(d.AmountFen)
	size := 9.0
	for p.size(size); size > 5 && p.width(words) > right-x; size-- {
		p.size(size - 1)
	}
	p.right(right, y, words)
	y += 18
	p.line(x, y, right, y)
	y += 8
	p.size(8)
	p.center(rollW/2, y, "谢谢惠顾 Thank you")
	return p.bytes()
}
