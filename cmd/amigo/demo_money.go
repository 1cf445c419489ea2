package main

import (
	"context"
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
)

// demoTariff is docs/tariffs/zj-residential.json (the test checks they are
// the same): the example residential tariff every demo account pays.
const demoTariff = `{
  "name": "zj-residential",
  "title": "浙江居民生活用电 峰谷 + 年阶梯（示例） / Zhejiang-style residential, peak/valley with an annual ladder (example)",
  "time_zone": "Asia/Shanghai",
  "valid_from": "2026-01-01",
  "periods": [
    {"name": "peak", "from": "08:00", "to": "22:00", "price": "0.5680", "registers": [1, 2, 3]},
    {"name": "valley", "from": "22:00", "to": "08:00", "price": "0.2880", "registers": [4]}
  ],
  "ladder": {"cycle": "year", "thresholds_kwh": ["2760", "4800"], "surcharges": ["0", "0.05", "0.30"]}
}
`

// demoPrepaid is the prepaid account the demo prints: the first GPRS
// meter's, with a small balance, so that an accelerated demo trips it.
const demoPrepaid = "D" + demoGPRSFirst

// seedMoney gives the demo's customer meters accounts once: the GPRS meters
// and every fourth meter on the bus prepaid with small opening balances,
// the others postpaid; every account on the example residential tariff,
// billed on the 1st. The supply meters (each collector's first) have none.
func seedMoney(ctx context.Context, store amigo.Store, start time.Time) error {
	if _, n, err := store.ListAccounts(ctx, amigo.AccountFilter{Limit: 1}); err != nil || n > 0 {
		return err
	}
	return store.WithTx(ctx, func(tx amigo.Store) error {
		vs, err := tx.ListTariffs(ctx, "zj-residential")
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			if err := tx.PutTariff(ctx, amigo.TariffVersion{Name: "zj-residential", ValidFrom: "2026-01-01", Document: []byte(demoTariff), CreatedAt: time.Now(), CreatedBy: "demo"}); err != nil {
				return err
			}
		}
		var ms []amigo.Meter
		for {
			page, _, err := tx.ListMeters(ctx, amigo.MeterFilter{Limit: 10000, Offset: len(ms)})
			if err != nil {
				return err
			}
			ms = append(ms, page...)
			if len(page) < 10000 {
				break
			}
		}
		// From the first midnight the meters are read at: its daily freeze
		// opens each account's first day.
		from := amigo.Day(start, amigo.Site{}.Location()).AddDate(0, 0, 1)
		n := 0
		for _, m := range ms {
			if !m.Direct && m.Pn == 1 {
				continue // a collector's first meter: its area's supply meter
			}
			n++
			prepaid := m.Direct || n%4 == 1
			c := amigo.Customer{Name: fmt.Sprintf("Demo customer %d 演示用户%d", n, n), Phone: fmt.Sprintf("138%08d", n)}
			if err := tx.CreateCustomer(ctx, &c); err != nil {
				return err
			}
			since := from
			if m.InstalledAt.After(since) {
				since = m.InstalledAt
			}
			a := amigo.Account{Number: "D" + m.Address, CustomerID: c.ID, SiteID: m.SiteID, Mode: amigo.ModePostpaid, Tariff: "zj-residential", BillingDay: 1,
				CreatedAt: start, Meters: []amigo.AccountMeter{{MeterID: m.ID, From: since}}}
			if prepaid {
				a.Mode, a.LowBalanceFen, a.CreditLimitFen = amigo.ModePrepaid, 1000, 0
			}
			if err := tx.CreateAccount(ctx, &a); err != nil {
				return err
			}
			if prepaid {
				// A few yuan: a home uses some 10 kWh a day, about 5 yuan.
				e := amigo.LedgerEntry{AccountID: a.ID, Time: start, Kind: amigo.LedgerAdjustment, AmountFen: amigo.Fen(800 + 300*(n%3)),
					Reference: fmt.Sprintf("opening/%d", a.ID), By: "demo", Detail: "opening balance / 期初余额"}
				if _, err := tx.PostLedger(ctx, &e); err != nil {
					return err
				}
			}
			if err := tx.AppendAudit(ctx, amigo.AuditEntry{Time: start, Actor: "demo", Action: "account.create", Object: "account " + a.Number, Detail: a.Mode}); err != nil {
				return err
			}
		}
		return nil
	})
}
