package archive

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Customers and accounts (docs/money.md): created through the API, `amigo
// admin import` and CSV imports like the rest of the archive, validated
// here, audited in the same transaction.

// Kinds of money table an import takes (not part of Kinds: an empty
// station's archive does not need them).
const (
	KindCustomers = "customers"
	KindAccounts  = "accounts"
)

// CustomerInput is a customer as a person writes it.
type CustomerInput struct {
	Name     *string `json:"name"`
	Phone    *string `json:"phone"`
	IDNumber *string `json:"id_number"`
}

// AccountMeterInput names a meter an account pays for from a time (default
// the next site-local midnight).
type AccountMeterInput struct {
	Address string    `json:"address"`
	From    time.Time `json:"from"`
}

// AccountInput is an account as a person writes it. A CSV row names an
// existing customer by id (Customer) or a new one by CustomerName, Phone
// and IDNumber; meters by address.
type AccountInput struct {
	Number         *string             `json:"number"`
	Customer       *int64              `json:"customer"`
	CustomerName   *string             `json:"customer_name"`
	Phone          *string             `json:"phone"`
	IDNumber       *string             `json:"id_number"`
	Site           *string             `json:"site"`
	Mode           *string             `json:"mode"`
	Tariff         *string             `json:"tariff"`
	BillingDay     *int                `json:"billing_day"`
	LowBalanceFen  *int64              `json:"low_balance_fen"`
	CreditLimitFen *int64              `json:"credit_limit_fen"`
	KeepPower      *bool               `json:"keep_power"`
	Meters         []AccountMeterInput `json:"meters"`
	// OpeningBalanceFen, for a prepaid account taken over from another
	// system: an adjustment entry "opening/<account id>".
	OpeningBalanceFen *int64 `json:"opening_balance_fen"`
}

// AccountPatch changes an account: the settings given, a meter added
// (AddMeter, from its time) and a meter's period ended (EndMeter at At, a
// move-out or a swap).
type AccountPatch struct {
	AccountInput
	AddMeter *AccountMeterInput `json:"add_meter"`
	EndMeter *struct {
		Address string    `json:"address"`
		At      time.Time `json:"at"`
	} `json:"end_meter"`
}

func customerFields(c amigo.Customer) []field {
	return []field{{name: "name", value: c.Name}, {name: "phone", value: c.Phone}, {name: "id_number", value: c.IDNumber, secret: true}}
}

func prepareCustomer(in CustomerInput) (amigo.Customer, error) {
	var c amigo.Customer
	if in.Name == nil || strings.TrimSpace(*in.Name) == "" {
		return c, invalid("customer", "name: required / 客户名称必填")
	}
	c.Name = strings.TrimSpace(*in.Name)
	if in.Phone != nil {
		c.Phone = strings.TrimSpace(*in.Phone)
	}
	if in.IDNumber != nil {
		c.IDNumber = strings.TrimSpace(*in.IDNumber)
	}
	return c, nil
}

// CreateCustomer adds a customer, audited.
func (s *Service) CreateCustomer(ctx context.Context, actor string, in CustomerInput) (amigo.Customer, error) {
	c, err := prepareCustomer(in)
	if err != nil {
		return c, err
	}
	err = s.change(ctx, actor, func(tx amigo.Store, _ *resolver) (string, string, string, error) {
		if err := tx.CreateCustomer(ctx, &c); err != nil {
			return "", "", "", err
		}
		return "customer.create", fmt.Sprintf("customer %d", c.ID), describe(customerFields(c)), nil
	})
	return c, err
}

func accountFields(a amigo.Account) []field {
	fs := []field{{name: "number", value: a.Number}, {name: "customer", value: itoa(a.CustomerID)}, {name: "site", value: itoa(a.SiteID)},
		{name: "mode", value: a.Mode}, {name: "tariff", value: a.Tariff}, {name: "billing_day", value: itoa(a.BillingDay)},
		{name: "low_balance_fen", value: itoa(int64(a.LowBalanceFen))}, {name: "credit_limit_fen", value: itoa(int64(a.CreditLimitFen))}, {name: "keep_power", value: btoa(a.KeepPower)}}
	for _, m := range a.Meters {
		fs = append(fs, field{name: "meter", value: m.Address + " from " + tstr(m.From)})
	}
	return fs
}

// apply sets the given fields of in on a.
func (s *Service) applyAccount(ctx context.Context, tx amigo.Store, rv *resolver, a *amigo.Account, in AccountInput) error {
	if in.Number != nil {
		a.Number = strings.TrimSpace(*in.Number)
	}
	if in.Customer != nil {
		c, err := tx.GetCustomer(ctx, *in.Customer)
		if amigo.ErrorKind(err) == amigo.ENOTFOUND {
			return invalid("account", "customer: no customer %d / 客户 %d 不存在", *in.Customer, *in.Customer)
		}
		if err != nil {
			return err
		}
		a.CustomerID = c.ID
	}
	if in.Site != nil {
		site, err := rv.site(ctx, *in.Site)
		if err != nil {
			return err
		}
		a.SiteID = site.ID
	}
	if in.Mode != nil {
		a.Mode = *in.Mode
	}
	if in.Tariff != nil {
		vs, err := tx.ListTariffs(ctx, *in.Tariff)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			return invalid("account", "tariff: no tariff named %q (load it first: POST /api/v1/tariffs) / 电价 %q 不存在", *in.Tariff, *in.Tariff)
		}
		a.Tariff = *in.Tariff
	}
	if in.BillingDay != nil {
		a.BillingDay = *in.BillingDay
	}
	if in.LowBalanceFen != nil {
		a.LowBalanceFen = amigo.Fen(*in.LowBalanceFen)
	}
	if in.CreditLimitFen != nil {
		a.CreditLimitFen = amigo.Fen(*in.CreditLimitFen)
	}
	if in.KeepPower != nil {
		a.KeepPower = *in.KeepPower
	}
	return nil
}

// accountMeter resolves an in-service meter for an account period.
func (s *Service) accountMeter(ctx context.Context, rv *resolver, in AccountMeterInput) (amigo.AccountMeter, error) {
	m, err := rv.meter(ctx, in.Address)
	if err != nil {
		return amigo.AccountMeter{}, invalid("account", "meters: %s", amigo.ErrorMessage(err))
	}
	from := in.From
	if from.IsZero() {
		// The next site-local midnight: its daily freeze opens the
		// account's first day (a period from any other instant needs a
		// reading at that instant, as a meter swap does).
		loc := amigo.Site{}.Location()
		if site, err := rv.tx.GetSite(ctx, m.SiteID); err == nil {
			loc = site.Location()
		}
		from = amigo.Day(s.now(), loc).AddDate(0, 0, 1)
	}
	if !m.InstalledAt.IsZero() && from.Before(m.InstalledAt) {
		from = m.InstalledAt
	}
	return amigo.AccountMeter{MeterID: m.ID, Address: m.Address, From: from}, nil
}

// CreateAccount adds an account with its meters (and a new customer when
// the input names one instead of an id), audited in one transaction.
func (s *Service) CreateAccount(ctx context.Context, actor string, in AccountInput) (amigo.Account, error) {
	var a amigo.Account
	err := s.change(ctx, actor, func(tx amigo.Store, rv *resolver) (string, string, string, error) {
		var err error
		a, err = s.createAccount(ctx, tx, rv, actor, in)
		if err != nil {
			return "", "", "", err
		}
		return "account.create", "account " + a.Number, describe(accountFields(a)), nil
	})
	return a, err
}

func (s *Service) createAccount(ctx context.Context, tx amigo.Store, rv *resolver, actor string, in AccountInput) (amigo.Account, error) {
	a := amigo.Account{BillingDay: 1, CreatedAt: s.now()}
	if in.Customer == nil {
		if in.CustomerName == nil {
			return a, invalid("account", "customer: give a customer id, or customer_name for a new customer / 需要客户编号或新客户名称")
		}
		c, err := prepareCustomer(CustomerInput{Name: in.CustomerName, Phone: in.Phone, IDNumber: in.IDNumber})
		if err != nil {
			return a, err
		}
		if err := tx.CreateCustomer(ctx, &c); err != nil {
			return a, err
		}
		if err := tx.AppendAudit(ctx, amigo.AuditEntry{Time: s.now(), Actor: actor, Action: "customer.create", Object: fmt.Sprintf("customer %d", c.ID), Detail: describe(customerFields(c))}); err != nil {
			return a, err
		}
		in.Customer = &c.ID
	}
	if in.Number == nil || in.Site == nil || in.Mode == nil || in.Tariff == nil {
		return a, invalid("account", "number, site, mode and tariff are required / 户号、站点、模式和电价必填")
	}
	if err := s.applyAccount(ctx, tx, rv, &a, in); err != nil {
		return a, err
	}
	if len(in.Meters) > 64 {
		return a, invalid("account", "meters: at most 64 / 电表最多64块")
	}
	for _, mi := range in.Meters {
		am, err := s.accountMeter(ctx, rv, mi)
		if err != nil {
			return a, err
		}
		a.Meters = append(a.Meters, am)
	}
	if err := tx.CreateAccount(ctx, &a); err != nil {
		return a, err
	}
	if in.OpeningBalanceFen != nil && *in.OpeningBalanceFen != 0 {
		if a.Mode != amigo.ModePrepaid {
			return a, invalid("account", "opening_balance_fen: only for a prepaid account / 仅预付费账户可设期初余额")
		}
		e := amigo.LedgerEntry{AccountID: a.ID, Time: s.now(), Kind: amigo.LedgerAdjustment, AmountFen: amigo.Fen(*in.OpeningBalanceFen),
			Reference: fmt.Sprintf("opening/%d", a.ID), By: actor, Detail: "opening balance / 期初余额"}
		if _, err := tx.PostLedger(ctx, &e); err != nil {
			return a, err
		}
		a.BalanceFen = e.BalanceFen
	}
	return a, nil
}

// UpdateAccount changes an account's settings and meters, audited.
func (s *Service) UpdateAccount(ctx context.Context, actor string, id int64, in AccountPatch) (amigo.Account, error) {
	var a amigo.Account
	err := s.change(ctx, actor, func(tx amigo.Store, rv *resolver) (string, string, string, error) {
		var err error
		if a, err = tx.GetAccount(ctx, id); err != nil {
			return "", "", "", err
		}
		if in.OpeningBalanceFen != nil || in.CustomerName != nil {
			return "", "", "", invalid("account", "opening_balance_fen and customer_name are for a new account only / 仅新建账户可用")
		}
		before := describe(accountFields(a))
		if err := s.applyAccount(ctx, tx, rv, &a, in.AccountInput); err != nil {
			return "", "", "", err
		}
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return "", "", "", err
		}
		if e := in.EndMeter; e != nil {
			m, err := tx.FindMeterByAddress(ctx, e.Address)
			if err != nil {
				return "", "", "", invalid("account", "end_meter: no meter %q / 电表 %q 不存在", e.Address, e.Address)
			}
			at := e.At
			if at.IsZero() {
				at = s.now()
			}
			if err := tx.EndAccountMeter(ctx, a.ID, m.ID, at); err != nil {
				return "", "", "", err
			}
		}
		if in.AddMeter != nil {
			am, err := s.accountMeter(ctx, rv, *in.AddMeter)
			if err != nil {
				return "", "", "", err
			}
			am.AccountID = a.ID
			if err := tx.AddAccountMeter(ctx, am); err != nil {
				return "", "", "", err
			}
		}
		if a, err = tx.GetAccount(ctx, id); err != nil {
			return "", "", "", err
		}
		return "account.update", "account " + a.Number, "before: " + before + "; after: " + describe(accountFields(a)), nil
	})
	return a, err
}
