// Package wallet is the prepaid wallet (远程费控): the daily deduction of
// each prepaid account's consumption at that day's prices, and the
// automatic supply control that follows the balance (warning, trip,
// reconnect), both idempotent and safe to run again after a crash. The
// ledger itself (balance = sum of entries, one transaction per entry with
// its audit entry) is the store's: amigo.MoneyStore.PostLedger and Credit.
//
// The station runs one Wallet's loop (Run): after each daily pass and at
// once when a payment arrives (Paid), never in the ingest path. See
// docs/money.md.
package wallet

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/tariff"
)

// Commander asks for durable meter commands (the station engine).
type Commander interface {
	Submit(ctx context.Context, meterID int64, typ, by string) (amigo.Command, error)
}

// System is who the wallet's entries and commands are requested by.
const System = "system"

// Config tunes a Wallet.
type Config struct {
	// Every is how often Run passes over the accounts (station clock);
	// default 5 minutes.
	Every time.Duration
	// OwnsSite, when set, says whether this node does a site's wallet
	// work (several station nodes: the holder of the site's lease); nil
	// means every site.
	OwnsSite func(ctx context.Context, siteID int64) bool
	// HoldGrace is how long after a day ends its data may still be on its
	// way (the station's daily pass, a collector's catch-up) before a day
	// that cannot be deducted is reported (EventDayHeld); default 6 h.
	HoldGrace time.Duration
	Log       *slog.Logger
}

// Wallet deducts and controls prepaid accounts.
type Wallet struct {
	store amigo.Store
	cmd   Commander
	clock vclock.Clock
	cfg   Config
	log   *slog.Logger

	wake chan struct{}
	kick chan struct{}
	mu   sync.Mutex // one pass at a time
	ctl  sync.Mutex // one control decision at a time
	paid map[int64]bool
	pmu  sync.Mutex
}

// New returns a wallet over store; cmd may be nil (no control commands:
// the API's wallet when no engine runs).
func New(store amigo.Store, cmd Commander, clock vclock.Clock, cfg Config) *Wallet {
	if cfg.Every <= 0 {
		cfg.Every = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.HoldGrace <= 0 {
		cfg.HoldGrace = 6 * time.Hour
	}
	return &Wallet{store: store, cmd: cmd, clock: clock, cfg: cfg, log: cfg.Log, wake: make(chan struct{}, 1), kick: make(chan struct{}, 1), paid: map[int64]bool{}}
}

// Run passes over the accounts every cfg.Every of the station clock until
// ctx ends: the daily deduction, then control of every prepaid account; a
// payment (Paid) makes it look at that account at once.
func (w *Wallet) Run(ctx context.Context) {
	for ctx.Err() == nil {
		// The next pass is due Every after this one began: a slow pass
		// (or a clock that jumped meanwhile) makes it due at once.
		next := w.clock.Now().Add(w.cfg.Every)
		res, err := w.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("wallet pass", "err", err)
		}
		w.log.Debug("wallet pass", "at", w.clock.Now(), "accounts", res.Accounts, "deducted", res.Deducted, "held", res.Held)
		tick := vclock.After(ctx, w.clock, next.Sub(w.clock.Now()))
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick:
				break wait
			case <-w.kick:
				break wait
			case <-w.wake:
				w.pmu.Lock()
				ids := w.paid
				w.paid = map[int64]bool{}
				w.pmu.Unlock()
				for id := range ids {
					if err := w.Control(ctx, id); err != nil && ctx.Err() == nil {
						w.log.Warn("wallet control", "account", id, "err", err)
					}
				}
			}
		}
	}
}

// Kick makes the loop pass at once (the station calls it after its daily
// collection, so that a day is deducted as soon as its freezes are in).
func (w *Wallet) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Paid tells the loop that an account was credited: its control runs at
// once (a reconnect when the balance is above the credit limit again).
func (w *Wallet) Paid(accountID int64) {
	w.pmu.Lock()
	w.paid[accountID] = true
	w.pmu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Pay credits an account (store.Credit: idempotent by reference, one
// transaction with the ledger and audit entries) and tells the loop.
func (w *Wallet) Pay(ctx context.Context, p *amigo.Payment) (amigo.LedgerEntry, bool, error) {
	e, dup, err := w.store.Credit(ctx, p)
	if err == nil {
		w.Paid(p.AccountID)
	}
	return e, dup, err
}

// PassResult counts what a pass did.
type PassResult struct {
	Accounts int // prepaid accounts looked at
	Deducted int // account-days deducted
	Held     int // accounts waiting for a day's data
	Retried  int // trips and reconnects asked for again (their command failed)
}

// Pass deducts every prepaid account's complete days, then runs each
// one's control.
func (w *Wallet) Pass(ctx context.Context) (PassResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var res PassResult
	as, _, err := w.store.ListAccounts(ctx, amigo.AccountFilter{Mode: amigo.ModePrepaid})
	if err != nil {
		return res, fmt.Errorf("wallet: %w", err)
	}
	set, err := LoadTariffs(ctx, w.store)
	if err != nil {
		return res, err
	}
	sites := map[int64]amigo.Site{}
	var first error
	for _, a := range as {
		if w.cfg.OwnsSite != nil && !w.cfg.OwnsSite(ctx, a.SiteID) {
			continue
		}
		res.Accounts++
		site, ok := sites[a.SiteID]
		if !ok {
			if site, err = w.store.GetSite(ctx, a.SiteID); err != nil {
				first = cmp(first, err)
				continue
			}
			sites[a.SiteID] = site
		}
		n, held, err := w.deduct(ctx, a, site, set)
		res.Deducted += n
		if held {
			res.Held++
		}
		first = cmp(first, err)
		if n > 0 || needsControl(a) {
			if err := w.control(ctx, a.ID); err != nil {
				first = cmp(first, err)
			}
		}
		// A trip or reconnect not carried out is asked for again: looked
		// at for tripped accounts and those whose state changed lately.
		if a.Control == amigo.ControlTripped || w.clock.Now().Sub(a.ControlAt) < relayRecent {
			asked, err := w.retryRelay(ctx, a.ID, w.clock.Now())
			res.Retried += asked
			first = cmp(first, err)
		}
	}
	return res, first
}

func cmp(first, err error) error {
	if first == nil {
		return err
	}
	return first
}

// LoadTariffs reads every stored tariff version into a set.
func LoadTariffs(ctx context.Context, st amigo.TariffStore) (*tariff.Set, error) {
	vs, err := st.ListTariffs(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("wallet: tariffs: %w", err)
	}
	set := &tariff.Set{}
	for _, v := range vs {
		t, err := tariff.Parse(v.Document)
		if err != nil {
			return nil, fmt.Errorf("wallet: tariff %s from %s: %w", v.Name, v.ValidFrom, err)
		}
		if err := set.Add(t); err != nil {
			return nil, fmt.Errorf("wallet: %w", err)
		}
	}
	return set, nil
}
