package wallet

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// A trip or reconnect the station could not carry out (the meter did not
// answer until the command expired, or refused it) must not leave a
// customer in arrears supplied, nor one who paid in the dark. The wallet
// keeps the relay commands of each account's last trip or reconnect in its
// state (wallet/relay/<account>: "<type>:<id>,<id>"), and each pass asks
// again, once per failed command, for those that failed or expired, while
// the account's state still calls for them; once all succeeded, or the
// state moved on (paid, tripped again, a customer's own switch), it
// forgets them. A command's own retries and expiry pace the asking.

func relayKey(id int64) string { return fmt.Sprintf("wallet/relay/%d", id) }

// relayRecent is how long after its last control change an account that
// is not tripped is looked at for a failed reconnect.
const relayRecent = 7 * 24 * time.Hour

// remember records the relay commands a rule asked for.
func (w *Wallet) remember(ctx context.Context, a amigo.Account, typ string, cs []amigo.Command, now time.Time) error {
	if len(cs) == 0 {
		return w.store.DeleteState(ctx, relayKey(a.ID))
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = strconv.FormatInt(c.ID, 10)
	}
	if err := w.store.PutState(ctx, relayKey(a.ID), typ+":"+strings.Join(ids, ","), now); err != nil {
		return fmt.Errorf("wallet: account %s: relay commands: %w", a.Number, err)
	}
	return nil
}

// relayWanted tells whether a relay command of typ is still what the
// account's control state calls for.
func relayWanted(a amigo.Account, typ string) bool {
	if typ == amigo.CmdDisconnect {
		return a.Control == amigo.ControlTripped && a.BalanceFen <= a.CreditLimitFen
	}
	return a.Control != amigo.ControlTripped
}

// retryRelay asks again for the account's remembered relay commands that
// failed or expired, and reports how many it asked for.
func (w *Wallet) retryRelay(ctx context.Context, id int64, now time.Time) (int, error) {
	if w.cmd == nil {
		return 0, nil
	}
	w.ctl.Lock()
	defer w.ctl.Unlock()
	v, ok, err := w.store.GetState(ctx, relayKey(id))
	if err != nil || !ok {
		return 0, err
	}
	a, err := w.store.GetAccount(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("wallet: relay commands: %w", err)
	}
	typ, list, _ := strings.Cut(v, ":")
	if !relayWanted(a, typ) {
		return 0, w.store.DeleteState(ctx, relayKey(id))
	}
	var keep []amigo.Command
	asked, pending := 0, false
	for _, s := range strings.Split(list, ",") {
		cid, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			continue // not ours to read: dropped
		}
		c, err := w.store.GetCommand(ctx, cid)
		if err != nil {
			return asked, fmt.Errorf("wallet: account %s: command %d: %w", a.Number, cid, err)
		}
		switch c.Status {
		case amigo.CmdSucceeded:
			continue
		case amigo.CmdFailed, amigo.CmdExpired:
			again, err := w.cmd.Submit(ctx, c.MeterID, typ, System)
			if err != nil {
				return asked, fmt.Errorf("wallet: account %s: %s again: %w", a.Number, typ, err)
			}
			asked++
			if err := w.store.AppendEvents(ctx, amigo.Event{Time: now, Kind: amigo.EventControlRetried, Severity: "warning", SiteID: a.SiteID, MeterID: c.MeterID,
				Message: fmt.Sprintf("account %s: command %d (%s) %s; asked again as command %d / 账户%s：控制命令%d（%s）未成功（%s），已重新下发为命令%d",
					a.Number, c.ID, typ, c.Status, again.ID, a.Number, c.ID, typ, c.Status, again.ID),
				Detail: c.Result}); err != nil {
				return asked, err
			}
			c = again
		}
		pending = true
		keep = append(keep, c)
	}
	if !pending {
		return asked, w.store.DeleteState(ctx, relayKey(id))
	}
	if asked == 0 {
		return 0, nil
	}
	return asked, w.remember(ctx, a, typ, keep, now)
}
