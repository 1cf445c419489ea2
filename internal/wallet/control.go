package wallet

import (
	"context"

	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
)

// Automatic supply control (issue §4, docs/money.md). One rule per
// transition, each in one place, judged from the balance and the state the
// control recorded last (Account.Control):
//
//   - warn: balance below the warning threshold (and above the credit
//     limit, or at it while keep-power defers the trip), state none →
//     a low-balance notice and the meter's alarm (1CH 2AH); state warned.
//   - trip: balance at or below the credit limit, not tripped, no
//     keep-power (the account's flag, or the site's windows, weekdays and
//     holidays at this instant) → trip (1CH 1AH) of every meter the
//     account pays for now, a notice; state tripped (none recorded when
//     no meter is the account's now). Keep-power defers it
//     (one EventTripDeferred) to the first pass after the window.
//   - reconnect: tripped and the balance above the credit limit again →
//     allow-close (1BH) or direct close (1CH) by the site's policy, a
//     notice; state warned (below the threshold) or none (alarm off).
//   - clear: warned and the balance at or above the threshold → alarm off
//     (2BH); state none.
//
// Commands are the station's durable ones, requested by "system" (the
// audit says so); the relay is confirmed by the read-back the executor
// does after each relay command. Commands are asked for before the state
// is recorded: a crash between asks again (a relay command supersedes an
// older one), never forgets.

func deferredKey(id int64) string { return fmt.Sprintf("wallet/deferred/%d", id) }

// Control runs the rules for one account now.
func (w *Wallet) Control(ctx context.Context, accountID int64) error {
	return w.control(ctx, accountID)
}

func (w *Wallet) control(ctx context.Context, id int64) error {
	if w.cmd == nil {
		return nil
	}
	w.ctl.Lock()
	defer w.ctl.Unlock()
	a, err := w.store.GetAccount(ctx, id)
	if err != nil {
		return fmt.Errorf("wallet: control: %w", err)
	}
	if a.Mode != amigo.ModePrepaid {
		return nil
	}
	site, err := w.store.GetSite(ctx, a.SiteID)
	if err != nil {
		return fmt.Errorf("wallet: control: %w", err)
	}
	pol, err := w.store.GetControlPolicy(ctx, a.SiteID)
	if err != nil {
		return fmt.Errorf("wallet: control: %w", err)
	}
	now := w.clock.Now()
	bal := a.BalanceFen
	switch {
	case bal <= a.CreditLimitFen && a.Control != amigo.ControlTripped:
		if a.KeepPower || pol.KeepsPower(now, site.Location()) {
			if err := w.deferTrip(ctx, a, now); err != nil {
				return err
			}
			if a.Control == amigo.ControlNone {
				return w.warn(ctx, a, now)
			}
			return nil
		}
		return w.trip(ctx, a, now)
	case bal > a.CreditLimitFen && a.Control == amigo.ControlTripped:
		return w.reconnect(ctx, a, pol, now)
	case bal > a.CreditLimitFen && bal < a.LowBalanceFen && a.Control == amigo.ControlNone:
		return w.warn(ctx, a, now)
	case bal >= a.LowBalanceFen && a.Control == amigo.ControlWarned:
		return w.clear(ctx, a, now)
	}
	return nil
}

// needsControl reports whether an account's balance and recorded state
// call for a rule (control judges again from a fresh read); keep-power
// deferrals are looked at every pass, for the window may have ended.
func needsControl(a amigo.Account) bool {
	bal := a.BalanceFen
	switch {
	case bal <= a.CreditLimitFen:
		return a.Control != amigo.ControlTripped
	case a.Control == amigo.ControlTripped:
		return true
	case bal < a.LowBalanceFen:
		return a.Control == amigo.ControlNone
	default:
		return a.Control == amigo.ControlWarned
	}
}

// submit asks for typ on every meter the account pays for now.
func (w *Wallet) submit(ctx context.Context, a amigo.Account, typ, by string, now time.Time) ([]amigo.Command, error) {
	var cs []amigo.Command
	for _, m := range a.Meters {
		if !m.Covers(now) {
			continue
		}
		c, err := w.cmd.Submit(ctx, m.MeterID, typ, by)
		if err != nil {
			return cs, fmt.Errorf("wallet: account %s: %s meter %s: %w", a.Number, typ, m.Address, err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// record sets the control state and the notice in one transaction.
func (w *Wallet) record(ctx context.Context, a amigo.Account, state, kind, msg string, now time.Time) error {
	err := w.store.WithTx(ctx, func(tx amigo.Store) error {
		if err := tx.SetAccountControl(ctx, a.ID, state, now); err != nil {
			return err
		}
		if msg == "" {
			return nil
		}
		return tx.AppendNotice(ctx, &amigo.Notice{AccountID: a.ID, Time: now, Kind: kind, Message: msg})
	})
	if err != nil {
		return fmt.Errorf("wallet: account %s: %w", a.Number, err)
	}
	return nil
}

func (w *Wallet) warn(ctx context.Context, a amigo.Account, now time.Time) error {
	if _, err := w.submit(ctx, a, amigo.CmdAlarm, System, now); err != nil {
		return err
	}
	return w.record(ctx, a, amigo.ControlWarned, amigo.NoticeLowBalance,
		fmt.Sprintf("Balance %s yuan is low: please pay soon / 余额%s元不足，请及时缴费", a.BalanceFen, a.BalanceFen), now)
}

func (w *Wallet) trip(ctx context.Context, a amigo.Account, now time.Time) error {
	cs, err := w.submit(ctx, a, amigo.CmdDisconnect, System, now)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		// No meter is the account's at this instant (its first starts
		// later, or its last has ended): nothing is cut, so nothing is
		// recorded as tripped — a later pass trips the meter once it is
		// the account's.
		w.log.Debug("wallet trip: no meter of the account now", "account", a.Number)
		return nil
	}
	if err := w.remember(ctx, a, amigo.CmdDisconnect, cs, now); err != nil {
		return err
	}
	if err := w.store.DeleteState(ctx, deferredKey(a.ID)); err != nil {
		return err
	}
	return w.record(ctx, a, amigo.ControlTripped, amigo.NoticeTrip,
		fmt.Sprintf("Balance %s yuan: the supply is cut for arrears; it is restored when you pay / 余额%s元，已欠费停电，缴费后自动复电", a.BalanceFen, a.BalanceFen), now)
}

func (w *Wallet) deferTrip(ctx context.Context, a amigo.Account, now time.Time) error {
	first, err := w.store.PutStateOnce(ctx, deferredKey(a.ID), now.Format(time.RFC3339), now)
	if err != nil || !first {
		return err
	}
	why := "site keep-power window / 站点保电时段"
	if a.KeepPower {
		why = "account keep-power / 账户保电"
	}
	return w.store.AppendEvents(ctx, amigo.Event{Time: now, Kind: amigo.EventTripDeferred, Severity: "info", SiteID: a.SiteID,
		Message: fmt.Sprintf("account %s at its credit limit (balance %s yuan) is kept on: %s / 账户%s已达跳闸金额，保电中", a.Number, a.BalanceFen, why, a.Number), Detail: why})
}

func reconnectType(pol amigo.ControlPolicy) string {
	if pol.Reconnect == amigo.ReconnectClose {
		return amigo.CmdClose
	}
	return amigo.CmdReconnect
}

func (w *Wallet) reconnect(ctx context.Context, a amigo.Account, pol amigo.ControlPolicy, now time.Time) error {
	cs, err := w.submit(ctx, a, reconnectType(pol), System, now)
	if err != nil {
		return err
	}
	if err := w.remember(ctx, a, reconnectType(pol), cs, now); err != nil {
		return err
	}
	state := amigo.ControlWarned
	if a.BalanceFen >= a.LowBalanceFen {
		if _, err := w.submit(ctx, a, amigo.CmdAlarmOff, System, now); err != nil {
			return err
		}
		state = amigo.ControlNone
	}
	msg := fmt.Sprintf("Payment received, balance %s yuan: the supply is restored / 已缴费，余额%s元，已恢复供电", a.BalanceFen, a.BalanceFen)
	if pol.Reconnect != amigo.ReconnectClose {
		msg = fmt.Sprintf("Payment received, balance %s yuan: press the meter's button to restore the supply / 已缴费，余额%s元，请按电表按钮合闸", a.BalanceFen, a.BalanceFen)
	}
	return w.record(ctx, a, state, amigo.NoticeReconnect, msg, now)
}

func (w *Wallet) clear(ctx context.Context, a amigo.Account, now time.Time) error {
	if _, err := w.submit(ctx, a, amigo.CmdAlarmOff, System, now); err != nil {
		return err
	}
	if err := w.store.DeleteState(ctx, deferredKey(a.ID)); err != nil {
		return err
	}
	return w.record(ctx, a, amigo.ControlNone, "", "", now)
}

// ErrArrears is the refusal of a customer's switch-on while the supply is
// cut for arrears (amigo.EFORBIDDEN, bilingual).
var ErrArrears = amigo.Errorf(amigo.EFORBIDDEN, "customer switch", "the supply was cut for arrears: pay first, it is restored automatically / 因欠费停电，请先缴费，缴费后自动复电")

// CustomerSwitch switches an account's supply on or off at its customer's
// request (by names the customer's user): a reconnect (by the site's
// policy) or a trip of every meter the account pays for now. Switching on
// is refused with ErrArrears while the account is tripped for arrears, or
// at or below its credit limit.
func (w *Wallet) CustomerSwitch(ctx context.Context, accountID int64, on bool, by string) ([]amigo.Command, error) {
	if w.cmd == nil {
		return nil, amigo.Errorf(amigo.EUNAVAILABLE, "customer switch", "no station engine runs here / 主站引擎未运行")
	}
	w.ctl.Lock()
	defer w.ctl.Unlock()
	a, err := w.store.GetAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if on && a.Mode == amigo.ModePrepaid && (a.Control == amigo.ControlTripped || a.BalanceFen <= a.CreditLimitFen) {
		return nil, ErrArrears
	}
	typ := amigo.CmdDisconnect
	if on {
		pol, err := w.store.GetControlPolicy(ctx, a.SiteID)
		if err != nil {
			return nil, err
		}
		typ = reconnectType(pol)
	}
	cs, err := w.submit(ctx, a, typ, by, w.clock.Now())
	if err != nil {
		return cs, err
	}
	// The customer's own choice supersedes a trip or reconnect the wallet
	// would otherwise ask again for.
	if err := w.store.DeleteState(ctx, relayKey(a.ID)); err != nil {
		return cs, err
	}
	if len(cs) == 0 {
		return nil, amigo.Errorf(amigo.ENOTFOUND, "customer switch", "account %s has no meter now / 账户当前没有电表", a.Number)
	}
	return cs, nil
}
