package wallet_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sqlite"
	"github.com/amigo-metering/amigo/internal/station"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/internal/wallet"
)

// A trip whose command expired (the meter never answered) is asked for
// again on the next pass, once, with an event; a succeeded one is
// forgotten; a reconnect that failed after a payment is asked for again;
// the customer's own switch supersedes what the wallet would ask again.
// The station's engine is the commander (its commands are durable), not
// running: the test plays the executor by setting each command's outcome.
func TestFailedTripAndReconnectAreAskedAgain(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "amigo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	loc := amigo.Site{}.Location()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, loc)
	clock := vclock.NewManual(now)
	site := amigo.Site{Name: "s", TimeZone: "Asia/Shanghai"}
	if err := st.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	m := amigo.Meter{SiteID: site.ID, Address: "000000000078", Direct: true, Password: "02123456", InstalledAt: now.AddDate(0, -1, 0)}
	if err := st.CreateMeter(ctx, &m); err != nil {
		t.Fatal(err)
	}
	cu := amigo.Customer{Name: "赵六"}
	if err := st.CreateCustomer(ctx, &cu); err != nil {
		t.Fatal(err)
	}
	const doc = `{"name": "flat-1", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01", "flat_price": "1.0000"}`
	if err := st.PutTariff(ctx, amigo.TariffVersion{Name: "flat-1", ValidFrom: "2026-01-01", Document: []byte(doc), CreatedAt: now, CreatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	a := amigo.Account{Number: "P-78", CustomerID: cu.ID, SiteID: site.ID, Mode: amigo.ModePrepaid, Tariff: "flat-1", BillingDay: 1,
		LowBalanceFen: 1500, CreditLimitFen: 0, Meters: []amigo.AccountMeter{{MeterID: m.ID, From: now.AddDate(0, -1, 0)}}}
	if err := st.CreateAccount(ctx, &a); err != nil {
		t.Fatal(err)
	}
	eng := station.New(st, nil, clock, station.Config{Log: slog.New(slog.DiscardHandler)})
	w := wallet.New(st, eng, clock, wallet.Config{Log: slog.New(slog.DiscardHandler)})

	last := func() amigo.Command {
		t.Helper()
		var c amigo.Command
		for id := int64(1); ; id++ {
			x, err := st.GetCommand(ctx, id)
			if err != nil {
				return c
			}
			c = x
		}
	}
	settle := func(status string) amigo.Command {
		t.Helper()
		c := last()
		c.Status, c.Result = status, "test: "+status
		if err := st.UpdateCommand(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	pass := func() wallet.PassResult {
		t.Helper()
		clock.Advance(time.Hour)
		res, _ := w.Pass(ctx) // the days without data are held: not this test's subject
		return res
	}
	retried := func() int {
		es, _, err := st.ListEvents(ctx, amigo.EventFilter{Kind: amigo.EventControlRetried})
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}

	// Balance 0 at the credit limit 0: tripped.
	if err := w.Control(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if c := last(); c.Type != amigo.CmdDisconnect {
		t.Fatalf("first command %+v, want a disconnect", c)
	}
	if res := pass(); res.Retried != 0 {
		t.Fatalf("a pending trip asked again: %+v", res)
	}
	expired := settle(amigo.CmdExpired)
	if res := pass(); res.Retried != 1 || retried() != 1 {
		t.Fatalf("an expired trip: %+v, %d events", res, retried())
	}
	if c := last(); c.ID == expired.ID || c.Type != amigo.CmdDisconnect || c.MeterID != m.ID || c.RequestedBy != wallet.System {
		t.Fatalf("asked again as %+v", c)
	}
	if res := pass(); res.Retried != 0 {
		t.Fatalf("the trip asked again twice: %+v", res)
	}
	settle(amigo.CmdSucceeded)
	if res := pass(); res.Retried != 0 {
		t.Fatalf("after success: %+v", res)
	}
	if _, ok, _ := st.GetState(ctx, "wallet/relay/"+strconv.FormatInt(a.ID, 10)); ok {
		t.Fatal("the succeeded trip is still remembered")
	}

	// A payment: the reconnect fails, and is asked for again.
	if _, _, err := w.Pay(ctx, &amigo.Payment{AccountID: a.ID, AmountFen: 5000, Method: "cash", Reference: "desk-1", By: "cashier", Time: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := w.Control(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	rc := last()
	if rc.Type != amigo.CmdReconnect && rc.Type != amigo.CmdAlarmOff {
		t.Fatalf("after the payment: %+v", rc)
	}
	// The reconnect is the one before the alarm-off (balance above the
	// warning threshold).
	rc, _ = st.GetCommand(ctx, rc.ID-1)
	if rc.Type != amigo.CmdReconnect {
		t.Fatalf("reconnect command %+v", rc)
	}
	rc.Status, rc.Result = amigo.CmdFailed, "test: no answer"
	if err := st.UpdateCommand(ctx, rc); err != nil {
		t.Fatal(err)
	}
	if res := pass(); res.Retried != 1 || last().Type != amigo.CmdReconnect {
		t.Fatalf("a failed reconnect: %+v, last %+v", res, last())
	}
	// The customer switches off: the wallet no longer asks for its
	// reconnect, whatever becomes of it.
	if _, err := w.CustomerSwitch(ctx, a.ID, false, "acct:P-78"); err != nil {
		t.Fatal(err)
	}
	again, _ := st.GetCommand(ctx, last().ID-1)
	again.Status = amigo.CmdExpired
	st.UpdateCommand(ctx, again)
	if res := pass(); res.Retried != 0 {
		t.Fatalf("asked again against the customer's switch: %+v", res)
	}
}
