package printing

import (
	"time"

	"github.com/amigo-metering/amigo"
)

// SampleBill is a made-up two-period bill with a tier surcharge, for
// `amigo print sample` and the tests:
//
//	peak   180 kWh × 0.5680 = 102.2400 yuan → 10224 fen
//	valley 120 kWh × 0.2880 =  34.5600 yuan →  3456 fen
//	tier    50 kWh × 0.0500 =   2.5000 yuan →   250 fen
//	total 10224 + 3456 + 250 = 13930 fen = 139.30 yuan
func SampleBill() BillDoc {
	var usage []MonthUsage
	for m := 1; m <= 12; m++ { // 2025-11 … 2026-10: 170, 190, … 390 kWh
		usage = append(usage, MonthUsage{Month: time.Date(2025, time.Month(m)+10, 1, 0, 0, 0, 0, time.UTC).Format("2006-01"), KWh: amigo.KWh(int64(150 + 20*m))})
	}
	usage[3].Missing = true // 2026-02: no data
	kwh := func(n int64) *amigo.Energy { e := amigo.KWh(n); return &e }
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	return BillDoc{
		Number: "B2026100001", Account: "3301-0042-77", Customer: "张三 Zhang San",
		PeriodFrom: day(10, 1), PeriodTo: day(10, 31), Issued: day(11, 1), Due: day(11, 20),
		Lines: []BillLine{
			{Kind: "energy", Name: "峰 peak", KWh: kwh(180), Price: "0.5680", AmountFen: 10224},
			{Kind: "energy", Name: "谷 valley", KWh: kwh(120), Price: "0.2880", AmountFen: 3456},
			{Kind: "tier", Name: "第二档 tier 2", KWh: kwh(50), Price: "0.0500", AmountFen: 250},
		},
		TotalFen:   13930,
		Usage:      usage,
		PayPayload: "weixin://wxpay/bizpayurl?pr=B2026100001",
		Issuer:     "杭州某小区物业 Example Property Management",
	}
}

// SampleReceipt is a made-up cash payment of 200.00 yuan (20000 fen).
func SampleReceipt() ReceiptDoc {
	return ReceiptDoc{Number: "P20261126-0007", Account: "3301-0042-77", Customer: "张三", AmountFen: 20000, Method: "cash",
		Time: time.Date(2026, 11, 26, 9, 30, 5, 0, time.FixedZone("CST", 8*3600)), Cashier: "李四", Issuer: "杭州某小区物业"}
}
