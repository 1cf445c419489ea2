package wallet_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/sqlite"
	"github.com/amigo-metering/amigo/internal/station"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/internal/wallet"
)

// busLink is a direct GPRS meter's link served by a virtual meter bus.
type busLink struct{ bus *sim.Bus }

func (l busLink) Exchange(ctx context.Context, req dlt645.Frame, timeout time.Duration) (dlt645.Frame, error) {
	raw, err := dlt645.AppendFrame(nil, &req)
	if err != nil {
		return dlt645.Frame{}, err
	}
	out := l.bus.HandleBytes(raw, nil)
	if len(out) == 0 {
		return dlt645.Frame{}, errors.New("no answer")
	}
	f, _, err := dlt645.FindFrame(out)
	if err != nil {
		return dlt645.Frame{}, err
	}
	return dlt645.Parse(f)
}

type directFront map[string]station.MeterLink

func (directFront) Terminal(string) (station.Terminal, bool) { return nil, false }
func (f directFront) Meter(a string) (station.MeterLink, bool) {
	l, ok := f[a]
	return l, ok
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-deadline.C:
			t.Fatalf("not within %s: %s", d, what)
		case <-tick.C:
		}
	}
}

// TestPrepaidTripAndReconnect runs the station engine and the wallet's loop
// on a virtual GPRS meter over virtual days: the prepaid balance runs out
// day by day, the trip is deferred while the site's keep-power window
// (00:00–08:00) lasts and sent when it ends, and the relay reads back open;
// a desk payment reconnects (allow-close) and the relay reads back closed;
// the customer cannot switch on while tripped for arrears. Every command is
// requested by "system".
func TestPrepaidTripAndReconnect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "amigo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	loc := amigo.Site{}.Location()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, loc)
	clock := vclock.NewManual(start.Add(-48 * time.Hour))
	site := amigo.Site{Name: "gprs", TimeZone: "Asia/Shanghai"}
	if err := st.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	m := amigo.Meter{SiteID: site.ID, Address: "000000000077", Direct: true, Password: "02123456", Protocol: "dlt645-2007", Phases: 1,
		RatedAmps: 60, InstalledAt: start.Add(-48 * time.Hour)}
	if err := st.CreateMeter(ctx, &m); err != nil {
		t.Fatal(err)
	}
	addr, _ := dlt645.ParseAddress(m.Address)
	vm := sim.NewMeter(sim.MeterConfig{Address: addr, Phases: 1, Seed: 3, Auth: sim.DefaultAuth, Profile: sim.Home}, clock.Now())
	bus := sim.NewBus(clock, vm)
	const doc = `{"name": "flat-1", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01", "flat_price": "1.0000"}`
	if err := st.PutTariff(ctx, amigo.TariffVersion{Name: "flat-1", ValidFrom: "2026-01-01", Document: []byte(doc), CreatedAt: start, CreatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	cu := amigo.Customer{Name: "王五"}
	if err := st.CreateCustomer(ctx, &cu); err != nil {
		t.Fatal(err)
	}
	a := amigo.Account{Number: "P-77", CustomerID: cu.ID, SiteID: site.ID, Mode: amigo.ModePrepaid, Tariff: "flat-1", BillingDay: 1,
		LowBalanceFen: 1500, CreditLimitFen: 0, Meters: []amigo.AccountMeter{{MeterID: m.ID, From: start}}}
	if err := st.CreateAccount(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if err := st.PutControlPolicy(ctx, amigo.ControlPolicy{SiteID: site.ID, KeepPowerWindows: []amigo.TimeWindow{{From: "00:00", To: "08:00"}}, Reconnect: amigo.ReconnectAllowClose}); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var logBuf syncBuffer
	eng := station.New(st, directFront{m.Address: busLink{bus}}, clock, station.Config{Log: log})
	w := wallet.New(st, eng, clock, wallet.Config{Every: time.Hour, Log: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	// 50.00 yuan at the desk on the first day, paid before the wallet
	// runs: its first pass, on the empty account at 00:00 (in the
	// keep-power window), would note a low balance and defer a trip.
	p := amigo.Payment{AccountID: a.ID, AmountFen: 5000, Method: amigo.MethodCash, Reference: "desk-0001", By: "cashier1", Time: start.Add(9 * time.Hour)}
	if _, _, err := w.Pay(ctx, &p); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { eng.Run(ctx); done <- struct{}{} }()
	go func() { w.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })

	account := func() amigo.Account {
		x, err := st.GetAccount(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	dayDeducted := func(d time.Time) bool {
		_, err := st.FindLedger(ctx, amigo.DailyReference(a.ID, d))
		return err == nil
	}
	// commands returns the commands asked for the meter, by type.
	commands := func() map[string][]amigo.Command {
		out := map[string][]amigo.Command{}
		for id := int64(1); ; id++ {
			c, err := st.GetCommand(ctx, id)
			if err != nil {
				return out
			}
			out[c.Type] = append(out[c.Type], c)
		}
	}

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("wallet log:\n%s", logBuf.String())
			bg := context.Background()
			x, _ := st.GetAccount(bg, a.ID)
			t.Logf("clock %s account %+v", clock.Now(), x)
			for id := int64(1); ; id++ {
				c, err := st.GetCommand(bg, id)
				if err != nil {
					break
				}
				t.Logf("command %+v", c)
			}
			es, _, _ := st.ListEvents(context.Background(), amigo.EventFilter{})
			for _, e := range es {
				t.Logf("event %s %s", e.Kind, e.Message)
			}
		}
	})
	clock.Set(start.Add(9 * time.Hour))
	// Day by day: at 00:30 the engine reads yesterday's freeze, at 02:30
	// (two wallet passes later) the day is deducted; within the window
	// the trip waits.
	var day time.Time
	for d := 1; ; d++ {
		if d > 40 {
			t.Fatalf("the balance did not run out in 40 days: %d fen", account().BalanceFen)
		}
		day = start.AddDate(0, 0, d)
		clock.Set(day.Add(30 * time.Minute))
		eng.Wake()
		waitFor(t, "the freeze of "+day.Format(time.DateOnly), 20*time.Second, func() bool {
			rs, _ := st.ListReadings(ctx, m.ID, amigo.KindDaily, day, day.Add(time.Second))
			return len(rs) == 1
		})
		clock.Set(day.Add(150 * time.Minute))
		w.Kick()
		waitFor(t, "the deduction of "+day.AddDate(0, 0, -1).Format(time.DateOnly), 20*time.Second, func() bool { return dayDeducted(day.AddDate(0, 0, -1)) })
		if account().BalanceFen <= 0 {
			break
		}
	}
	ac := account()
	t.Logf("balance %d fen after %s", ac.BalanceFen, day.AddDate(0, 0, -1).Format(time.DateOnly))
	if len(commands()[amigo.CmdAlarm]) != 1 || ac.Control != amigo.ControlWarned {
		t.Fatalf("at %d fen: control %q, alarms %+v", ac.BalanceFen, ac.Control, commands()[amigo.CmdAlarm])
	}
	// 02:30 is inside the keep-power window: no trip yet, one event.
	waitFor(t, "the deferred trip reported", 20*time.Second, func() bool {
		_, n, _ := st.ListEvents(ctx, amigo.EventFilter{Kind: amigo.EventTripDeferred})
		return n == 1
	})
	if n := len(commands()[amigo.CmdDisconnect]); n != 0 || vm.RelayOpen() {
		t.Fatalf("%d trips inside the keep-power window", n)
	}
	// The window ends at 08:00: the pass after it trips.
	clock.Set(day.Add(8*time.Hour + 30*time.Minute))
	w.Kick()
	// The wallet records the state after the station ran the command:
	// both are waited for.
	waitFor(t, "the trip confirmed by the relay read-back and recorded", 20*time.Second, func() bool {
		cs := commands()[amigo.CmdDisconnect]
		return len(cs) == 1 && cs[0].Status == amigo.CmdSucceeded && account().Control == amigo.ControlTripped
	})
	trip := commands()[amigo.CmdDisconnect][0]
	mm, _ := st.GetMeter(ctx, m.ID)
	if !vm.RelayOpen() || mm.Relay != amigo.RelayOpen || trip.RequestedBy != wallet.System || account().Control != amigo.ControlTripped {
		t.Fatalf("after the trip: relay open %v, stored %s, by %s, control %s", vm.RelayOpen(), mm.Relay, trip.RequestedBy, account().Control)
	}
	// The customer cannot switch the supply on while tripped for arrears.
	if _, err := w.CustomerSwitch(ctx, a.ID, true, "customer:p77"); !errors.Is(err, wallet.ErrArrears) || amigo.ErrorKind(err) != amigo.EFORBIDDEN {
		t.Fatalf("customer switch-on in arrears: %v", err)
	}
	// A desk payment reconnects at once (allow-close; the virtual
	// customer presses the button), confirmed by the read-back.
	clock.Set(day.Add(10 * time.Hour))
	pay := amigo.Payment{AccountID: a.ID, AmountFen: 10000, Method: amigo.MethodCard, Reference: "desk-0002", By: "cashier1", Time: clock.Now()}
	if _, _, err := w.Pay(ctx, &pay); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reconnect confirmed and recorded", 20*time.Second, func() bool {
		cs := commands()[amigo.CmdReconnect]
		return len(cs) == 1 && cs[0].Status == amigo.CmdSucceeded && account().Control != amigo.ControlTripped
	})
	mm, _ = st.GetMeter(ctx, m.ID)
	if vm.RelayOpen() || mm.Relay != amigo.RelayClosed || commands()[amigo.CmdReconnect][0].RequestedBy != wallet.System {
		t.Fatalf("after the payment: relay open %v, stored %s", vm.RelayOpen(), mm.Relay)
	}
	// The same payment again changes nothing.
	again := pay
	if _, dup, err := w.Pay(ctx, &again); err != nil || !dup {
		t.Fatalf("payment again: %v %v", dup, err)
	}
	if ac := account(); ac.Control == amigo.ControlTripped {
		t.Fatalf("control %s after the payment", ac.Control)
	}
	ns, _, _ := st.ListNotices(ctx, a.ID, 0, 0)
	kinds := map[string]int{}
	for _, n := range ns {
		kinds[n.Kind]++
	}
	if kinds[amigo.NoticeLowBalance] != 1 || kinds[amigo.NoticeTrip] != 1 || kinds[amigo.NoticeReconnect] != 1 {
		t.Fatalf("notices %+v", ns)
	}
	// The ledger: two payments and one entry per day, summing to the balance.
	es, _, _ := st.ListLedger(ctx, a.ID, 0, 0)
	var sum amigo.Fen
	for _, e := range es {
		sum += e.AmountFen
	}
	if sum != account().BalanceFen {
		t.Fatalf("entries sum to %d, balance %d", sum, account().BalanceFen)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// rig is the station engine and a running wallet over one virtual GPRS
// meter and one prepaid account on a flat 1.0000 yuan/kWh tariff.
type rig struct {
	t     *testing.T
	ctx   context.Context
	st    amigo.Store
	clock *vclock.Manual
	vm    *sim.Meter
	meter amigo.Meter
	acct  amigo.Account
	w     *wallet.Wallet
}

func newRig(t *testing.T, a amigo.Account, pol amigo.ControlPolicy) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "amigo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, amigo.Site{}.Location()) // a Monday
	r := &rig{t: t, ctx: ctx, st: st, clock: vclock.NewManual(start)}
	site := amigo.Site{Name: "gprs", TimeZone: "Asia/Shanghai"}
	if err := st.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	r.meter = amigo.Meter{SiteID: site.ID, Address: "000000000078", Direct: true, Password: "02123456", Protocol: "dlt645-2007", Phases: 1, RatedAmps: 60, InstalledAt: start.Add(-time.Hour)}
	if err := st.CreateMeter(ctx, &r.meter); err != nil {
		t.Fatal(err)
	}
	addr, _ := dlt645.ParseAddress(r.meter.Address)
	r.vm = sim.NewMeter(sim.MeterConfig{Address: addr, Phases: 1, Seed: 4, Auth: sim.DefaultAuth, Profile: sim.Home}, start)
	const doc = `{"name": "flat-1", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01", "flat_price": "1.0000"}`
	if err := st.PutTariff(ctx, amigo.TariffVersion{Name: "flat-1", ValidFrom: "2026-01-01", Document: []byte(doc), CreatedAt: start, CreatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	cu := amigo.Customer{Name: "赵六"}
	if err := st.CreateCustomer(ctx, &cu); err != nil {
		t.Fatal(err)
	}
	a.Number, a.CustomerID, a.SiteID, a.Mode, a.Tariff, a.BillingDay = "P-78", cu.ID, site.ID, amigo.ModePrepaid, "flat-1", 1
	from := r.meter.InstalledAt
	if len(a.Meters) == 1 && !a.Meters[0].From.IsZero() {
		from = a.Meters[0].From // the test's own start of the meter's period
	}
	a.Meters = []amigo.AccountMeter{{MeterID: r.meter.ID, From: from}}
	if err := st.CreateAccount(ctx, &a); err != nil {
		t.Fatal(err)
	}
	r.acct = a
	pol.SiteID = site.ID
	if err := st.PutControlPolicy(ctx, pol); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := station.New(st, directFront{r.meter.Address: busLink{sim.NewBus(r.clock, r.vm)}}, r.clock, station.Config{Log: log})
	r.w = wallet.New(st, eng, r.clock, wallet.Config{Every: time.Hour, Log: log})
	done := make(chan struct{}, 2)
	go func() { eng.Run(ctx); done <- struct{}{} }()
	go func() { r.w.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return r
}

func (r *rig) account() amigo.Account {
	r.t.Helper()
	a, err := r.st.GetAccount(r.ctx, r.acct.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

// command returns the last command of a type, once it has ended.
func (r *rig) ended(typ string) amigo.Command {
	r.t.Helper()
	var last amigo.Command
	waitFor(r.t, typ+" ended", 20*time.Second, func() bool {
		for id := int64(1); ; id++ {
			c, err := r.st.GetCommand(r.ctx, id)
			if err != nil {
				break
			}
			if c.Type == typ {
				last = c
			}
		}
		return last.Status == amigo.CmdSucceeded || last.Status == amigo.CmdFailed || last.Status == amigo.CmdExpired
	})
	return last
}

func (r *rig) pay(ref string, fen amigo.Fen) {
	r.t.Helper()
	p := amigo.Payment{AccountID: r.acct.ID, AmountFen: fen, Method: amigo.MethodCash, Reference: ref, By: "cashier1", Time: r.clock.Now()}
	if _, _, err := r.w.Pay(r.ctx, &p); err != nil {
		r.t.Fatal(err)
	}
}

// TestKeepPowerFlagAndDirectClose: an account with the keep-power flag at
// its credit limit is not tripped (warned only); with the flag cleared the
// next pass trips it (relay read back open); on a site whose policy is
// direct close, a payment above the threshold closes the relay (1CH 1CH,
// read back closed), turns the alarm off and clears the state; a customer
// may switch a paid-up supply off and on. Every automatic command is
// audited as requested by "system".
func TestKeepPowerFlagAndDirectClose(t *testing.T) {
	r := newRig(t, amigo.Account{LowBalanceFen: 1000, CreditLimitFen: 0, KeepPower: true}, amigo.ControlPolicy{Reconnect: amigo.ReconnectClose})
	// Balance 0, at the credit limit: kept on by the flag.
	if err := r.w.Control(r.ctx, r.acct.ID); err != nil {
		t.Fatal(err)
	}
	if c := r.ended(amigo.CmdAlarm); c.Status != amigo.CmdSucceeded || r.account().Control != amigo.ControlWarned || r.vm.RelayOpen() {
		t.Fatalf("kept on: alarm %s, control %s, relay open %v", c.Status, r.account().Control, r.vm.RelayOpen())
	}
	if _, n, _ := r.st.ListEvents(r.ctx, amigo.EventFilter{Kind: amigo.EventTripDeferred}); n != 1 {
		t.Fatalf("%d deferred events", n)
	}
	a := r.account()
	a.KeepPower = false
	if err := r.st.UpdateAccount(r.ctx, a); err != nil {
		t.Fatal(err)
	}
	r.w.Kick()
	if c := r.ended(amigo.CmdDisconnect); c.Status != amigo.CmdSucceeded || !r.vm.RelayOpen() || c.RequestedBy != wallet.System {
		t.Fatalf("trip: %+v, relay open %v", c, r.vm.RelayOpen())
	}
	// 20.00 yuan: above the 10.00 threshold.
	r.pay("desk-1", 2000)
	if c := r.ended(amigo.CmdClose); c.Status != amigo.CmdSucceeded || r.vm.RelayOpen() || c.Result != "relay closed" {
		t.Fatalf("direct close: %+v, relay open %v", c, r.vm.RelayOpen())
	}
	if c := r.ended(amigo.CmdAlarmOff); c.Status != amigo.CmdSucceeded {
		t.Fatalf("alarm off: %+v", c)
	}
	waitFor(t, "the control state cleared", 20*time.Second, func() bool { return r.account().Control == amigo.ControlNone })
	if m, _ := r.st.GetMeter(r.ctx, r.meter.ID); m.Relay != amigo.RelayClosed {
		t.Fatalf("stored relay %s", m.Relay)
	}
	// Paid up, the customer may switch the supply off and on.
	if _, err := r.w.CustomerSwitch(r.ctx, r.acct.ID, false, "customer:p78"); err != nil {
		t.Fatal(err)
	}
	if c := r.ended(amigo.CmdDisconnect); c.RequestedBy != "customer:p78" || !r.vm.RelayOpen() {
		t.Fatalf("customer off: %+v", c)
	}
	if _, err := r.w.CustomerSwitch(r.ctx, r.acct.ID, true, "customer:p78"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the customer's close", 20*time.Second, func() bool { return !r.vm.RelayOpen() })
	au, _ := r.st.ListAudit(r.ctx, 100)
	by := map[string]string{}
	for _, e := range au {
		if strings.HasPrefix(e.Action, "command.") {
			by[e.Action] += e.Actor + " "
		}
	}
	if by["command.alarm"] != "system " || !strings.Contains(by["command.disconnect"], "system") || !strings.Contains(by["command.close"], "system") || !strings.Contains(by["command.close"], "customer:p78") {
		t.Fatalf("audit of commands %v", by)
	}
}

// An account at its credit limit before its meter is its own (the period
// starts at 11:00) is not recorded as tripped with nothing cut: no command
// is asked for, and once the meter is the account's a pass trips it. (The
// wallet used to record "tripped" with no meter covered, and then never
// cut the meter: the customer test's account, set to owe before midnight,
// stayed on.)
func TestNoTripBeforeTheMetersPeriod(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, amigo.Site{}.Location())
	r := newRig(t, amigo.Account{LowBalanceFen: 1000, CreditLimitFen: 0, Meters: []amigo.AccountMeter{{From: start.Add(2 * time.Hour)}}}, amigo.ControlPolicy{})
	if err := r.w.Control(r.ctx, r.acct.ID); err != nil {
		t.Fatal(err)
	}
	for id := int64(1); ; id++ {
		c, err := r.st.GetCommand(r.ctx, id)
		if err != nil {
			break
		}
		if c.Type == amigo.CmdDisconnect {
			t.Fatalf("a trip asked for before the meter is the account's: %+v", c)
		}
	}
	if c := r.account().Control; c == amigo.ControlTripped {
		t.Fatalf("recorded %s with no meter cut", c)
	}
	r.clock.Set(start.Add(3 * time.Hour))
	if err := r.w.Control(r.ctx, r.acct.ID); err != nil {
		t.Fatal(err)
	}
	if c := r.ended(amigo.CmdDisconnect); c.Status != amigo.CmdSucceeded || !r.vm.RelayOpen() {
		t.Fatalf("the trip once the meter is the account's: %+v, relay open %v", c, r.vm.RelayOpen())
	}
	if c := r.account().Control; c != amigo.ControlTripped {
		t.Fatalf("control %s after the trip", c)
	}
}
