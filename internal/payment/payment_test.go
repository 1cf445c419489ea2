package payment_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/payment"
	"github.com/amigo-metering/amigo/internal/payment/wechatpay"
	"github.com/amigo-metering/amigo/internal/payment/wechatsandbox"
	"github.com/amigo-metering/amigo/internal/testdb"
)

const mchID = "1900000109"

var (
	keysOnce sync.Once
	keys     wechatsandbox.Keys
	keysErr  error
)

// testKeys generates one set of keys for the package's tests (RSA
// generation is slow).
func testKeys(t *testing.T) wechatsandbox.Keys {
	keysOnce.Do(func() { keys, keysErr = wechatsandbox.GenerateKeys() })
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keys
}

// clock is the shared station and provider clock, moved by hand.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func openSQLite(t *testing.T) amigo.Store {
	return testdb.SQLite(t)
}

func openPostgres(t *testing.T) amigo.Store {
	return testdb.Postgres(t)
}

var stores = []struct {
	name string
	open func(t *testing.T) amigo.Store
}{{"sqlite", openSQLite}, {"postgres", openPostgres}}

// rig is a station's payment service and the sandbox provider, each on a
// real TCP port, on one clock.
type rig struct {
	t        *testing.T
	store    amigo.Store
	clock    *clock
	sandbox  *wechatsandbox.Server
	sandURL  string
	svc      *payment.Service
	notify   string // the station's notify URL
	accept   atomic.Bool
	account  amigo.Account
	delivery chan int // the status of each notification the sandbox delivered

	mu       sync.Mutex
	credited []int64 // the accounts OnCredit was told of
}

func (r *rig) creditedAccounts() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.credited...)
}

var start = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC) // 10:00 in China

func newRig(t *testing.T, store amigo.Store, wrap func(amigo.Store) amigo.Store) *rig {
	ctx := context.Background()
	r := &rig{t: t, store: store, clock: &clock{}, delivery: make(chan int, 64)}
	r.clock.Set(start)
	r.accept.Store(true)
	k := testKeys(t)
	quiet := slog.New(slog.DiscardHandler)
	r.sandbox = wechatsandbox.New(wechatsandbox.Config{Keys: k, MchID: mchID, AppID: "wxd678efh567hg6787", Now: r.clock.Now, Log: quiet,
		Retry:      []time.Duration{20 * time.Millisecond, 50 * time.Millisecond},
		OnDelivery: func(_ string, status int, _ error) { r.delivery <- status }})
	sand := httptest.NewServer(r.sandbox)
	t.Cleanup(func() { r.sandbox.Close(); sand.Close() })
	r.sandURL = sand.URL

	client, err := wechatpay.New(wechatpay.Config{BaseURL: sand.URL, MchID: mchID, AppID: "wxd678efh567hg6787",
		MerchantKey: k.Merchant, MerchantSerial: k.MerchantSerial, PlatformKey: &k.Platform.PublicKey, PlatformSerial: k.PlatformSerial,
		APIv3Key: k.APIv3Key, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	station := httptest.NewServer(mux)
	t.Cleanup(station.Close)
	r.notify = station.URL + "/api/v1/payments/wechat/notify"
	svcStore := store
	if wrap != nil {
		svcStore = wrap(store)
	}
	r.svc, err = payment.New(payment.Config{Store: svcStore, Provider: client, NotifyURL: r.notify, Now: r.clock.Now, RefusalWindow: time.Hour, Log: quiet,
		OnCredit: func(id int64) { r.mu.Lock(); r.credited = append(r.credited, id); r.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("POST /api/v1/payments/wechat/notify", func(w http.ResponseWriter, req *http.Request) {
		if !r.accept.Load() {
			http.Error(w, `{"code":"FAIL","message":"down"}`, http.StatusServiceUnavailable)
			return
		}
		r.svc.Notify(w, req)
	})

	site := amigo.Site{Name: "Campus", TimeZone: "Asia/Shanghai"}
	if err := store.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	c := amigo.Customer{Name: "王五"}
	if err := store.CreateCustomer(ctx, &c); err != nil {
		t.Fatal(err)
	}
	r.account = amigo.Account{Number: "PP-1", CustomerID: c.ID, SiteID: site.ID, Mode: amigo.ModePrepaid, Tariff: "zj", BillingDay: 1, CreatedAt: start}
	if err := store.CreateAccount(ctx, &r.account); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitDelivery waits for the sandbox's next delivery and returns its status.
func (r *rig) waitDelivery() int {
	r.t.Helper()
	select {
	case s := <-r.delivery:
		return s
	case <-time.After(10 * time.Second):
		r.t.Fatal("no notification delivered within 10 s")
		return 0
	}
}

func (r *rig) balance() amigo.Fen {
	r.t.Helper()
	a, err := r.store.GetAccount(context.Background(), r.account.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	return a.BalanceFen
}

func (r *rig) payments() []amigo.Payment {
	r.t.Helper()
	ps, _, err := r.store.ListPayments(context.Background(), amigo.PaymentFilter{AccountID: r.account.ID})
	if err != nil {
		r.t.Fatal(err)
	}
	return ps
}

// order creates an order of fen through the service.
func (r *rig) order(fen amigo.Fen) amigo.PaymentOrder {
	r.t.Helper()
	o, err := r.svc.CreateOrder(context.Background(), r.account.ID, fen, "customer1")
	if err != nil {
		r.t.Fatal(err)
	}
	return o
}

// pay pays an order at the sandbox through its HTTP endpoint, by code_url.
func (r *rig) pay(o amigo.PaymentOrder) wechatpay.Transaction {
	r.t.Helper()
	b, _ := json.Marshal(wechatsandbox.PayRequest{CodeURL: o.CodeURL})
	resp, err := http.Post(r.sandURL+"/sandbox/pay", "application/json", bytes.NewReader(b))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tx wechatpay.Transaction
	if err := json.NewDecoder(resp.Body).Decode(&tx); err != nil || resp.StatusCode != 200 || tx.TradeState != "SUCCESS" {
		r.t.Fatalf("pay: %d %+v %v", resp.StatusCode, tx, err)
	}
	return tx
}

// post sends a notification to the station and returns the status.
func (r *rig) post(h http.Header, body []byte) int {
	r.t.Helper()
	st, err := r.sandbox.Post(context.Background(), r.notify, h, body)
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

// notification builds a genuine notification of tx signed at the clock.
func (r *rig) notification(tx wechatpay.Transaction) (http.Header, []byte) {
	r.t.Helper()
	h, b, err := r.sandbox.Notification(tx, r.clock.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	return h, b
}

func forStores(t *testing.T, fn func(t *testing.T, open func(t *testing.T) amigo.Store)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { fn(t, s.open) })
	}
}

// The full cycle over real TCP: an order stored, the sandbox asked for
// it (signed request, signed answer), the customer pays at the sandbox,
// the sandbox POSTs the encrypted, signed notification, the station
// credits the account once, answers 204, and the same notification again
// (a retry, or late) changes nothing.
func TestFullCycle(t *testing.T) {
	forStores(t, func(t *testing.T, open func(t *testing.T) amigo.Store) {
		r := newRig(t, open(t), nil)
		ctx := context.Background()
		o := r.order(5000)
		if !strings.HasPrefix(o.CodeURL, "weixin://wxpay/bizpayurl?pr=") || o.State != amigo.OrderCreated || len(o.OrderNo) != 26 {
			t.Fatalf("order %+v", o)
		}
		if st, ok := r.sandbox.Order(o.OrderNo); !ok || st.Amount.Total != 5000 || st.TradeState != "NOTPAY" {
			t.Fatalf("the sandbox's order: %+v %v", st, ok)
		}
		tx := r.pay(o)
		if st := r.waitDelivery(); st != http.StatusNoContent {
			t.Fatalf("notification answered %d, want 204", st)
		}
		if b := r.balance(); b != 5000 {
			t.Fatalf("balance %d, want 5000", b)
		}
		got, err := r.svc.Order(ctx, o.OrderNo)
		if err != nil || got.State != amigo.OrderPaid || got.TransactionID != tx.TransactionID || !got.CreditedAt.Equal(start) {
			t.Fatalf("order after the notification: %+v %v", got, err)
		}
		ps := r.payments()
		if len(ps) != 1 || ps[0].Reference != "wechat:"+tx.TransactionID || ps[0].AmountFen != 5000 || ps[0].Method != amigo.MethodWeChat {
			t.Fatalf("payments %+v", ps)
		}
		// The same notification twice more (a retry, and one late, an hour
		// on, freshly signed as the provider does): 204, nothing changes.
		for i, d := range []time.Duration{0, time.Hour} {
			r.clock.Advance(d)
			if st := r.post(r.notification(tx)); st != http.StatusNoContent {
				t.Fatalf("repeat %d answered %d", i, st)
			}
		}
		if b, n := r.balance(), len(r.payments()); b != 5000 || n != 1 {
			t.Fatalf("after repeats: balance %d, %d payments; want 5000, 1", b, n)
		}
		// The wallet was told once, after the commit.
		if got := r.creditedAccounts(); len(got) != 1 || got[0] != r.account.ID {
			t.Fatalf("OnCredit calls %v, want [%d]", got, r.account.ID)
		}
		// Paying the paid order again at the sandbox sends nothing new.
		if again := r.pay(o); again.TransactionID != tx.TransactionID {
			t.Fatalf("paid twice at the sandbox: %s", again.TransactionID)
		}
		var audit int
		es, _ := r.store.ListAudit(ctx, 100)
		for _, e := range es {
			if e.Action == "payment.online" && strings.Contains(e.Detail, tx.TransactionID) {
				audit++
			}
		}
		if audit != 1 {
			t.Fatalf("%d payment.online audit entries, want 1", audit)
		}
	})
}

// Forged, stale, unknown, mismatched and oversized notifications change
// no money; each is answered 4xx with {"code":"FAIL"} and recorded, the
// first of each reason at once, the others counted into one summary.
func TestRefusedNotifications(t *testing.T) {
	forStores(t, func(t *testing.T, open func(t *testing.T) amigo.Store) {
		r := newRig(t, open(t), nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.svc.Run(ctx); close(done) }()
		o := r.order(5000)
		r.accept.Store(false) // the genuine notification is held back
		tx := r.pay(o)
		for range 3 { // the first delivery and two retries, all refused by the "down" station
			if st := r.waitDelivery(); st != http.StatusServiceUnavailable {
				t.Fatalf("held back: %d", st)
			}
		}
		r.accept.Store(true)
		genuineH, genuineB := r.notification(tx)

		other, err := wechatsandbox.GenerateKeys()
		if err != nil {
			t.Fatal(err)
		}
		otherSandbox := wechatsandbox.New(wechatsandbox.Config{Keys: wechatsandbox.Keys{Platform: other.Platform, PlatformSerial: testKeys(t).PlatformSerial, APIv3Key: testKeys(t).APIv3Key}, MchID: mchID})
		defer otherSandbox.Close()

		type tc struct {
			name   string
			h      http.Header
			body   []byte
			status int
			reason string
		}
		var cases []tc
		// A body changed after signing.
		tampered := bytes.Replace(genuineB, []byte(`"summary":"支付成功"`), []byte(`"summary":"支付成功 "`), 1)
		cases = append(cases, tc{"tampered body", genuineH, tampered, 401, payment.RefusedSignature})
		// Signed with another key under the right serial.
		h, b, _ := otherSandbox.Notification(tx, r.clock.Now())
		cases = append(cases, tc{"another key", h, b, 401, payment.RefusedSignature})
		// The right signature under another serial.
		wrongSerial := genuineH.Clone()
		wrongSerial.Set(wechatpay.HeaderSerial, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1")
		cases = append(cases, tc{"wrong serial", wrongSerial, genuineB, 401, payment.RefusedSerial})
		// No signature headers at all.
		cases = append(cases, tc{"unsigned", http.Header{}, genuineB, 401, payment.RefusedSignature})
		// Signed 5 min 1 s before and after the station's clock.
		for _, d := range []time.Duration{-5*time.Minute - time.Second, 5*time.Minute + time.Second} {
			h, b, _ := r.sandbox.Notification(tx, r.clock.Now().Add(d))
			cases = append(cases, tc{"stale " + d.String(), h, b, 401, payment.RefusedStale})
		}
		// A different amount for the real order: 5000 - 1 fen.
		diff := tx
		diff.Amount.Total, diff.Amount.PayerTotal = 4999, 4999
		h, b = r.notification(diff)
		cases = append(cases, tc{"different amount", h, b, 409, payment.RefusedAmount})
		// An order amigo never made.
		unknown := tx
		unknown.OutTradeNo, unknown.TransactionID = "AM20261125020000999999", "4200000000000000000000000001"
		h, b = r.notification(unknown)
		cases = append(cases, tc{"unknown order", h, b, 404, payment.RefusedUnknown})
		// Encrypted under another API v3 key.
		h, b, _ = wechatsandbox.New(wechatsandbox.Config{Keys: wechatsandbox.Keys{Platform: testKeys(t).Platform, PlatformSerial: testKeys(t).PlatformSerial,
			APIv3Key: other.APIv3Key}, MchID: mchID}).Notification(tx, r.clock.Now())
		cases = append(cases, tc{"another API v3 key", h, b, 400, payment.RefusedDecrypt})
		// Not JSON, signed.
		junk := []byte("not json")
		jh, _ := r.sandbox.SignHeaders(junk, r.clock.Now())
		cases = append(cases, tc{"junk", jh, junk, 400, payment.RefusedMalformed})
		// 64 KiB + 1 byte.
		cases = append(cases, tc{"too large", genuineH, bytes.Repeat([]byte("x"), 64<<10+1), 413, payment.RefusedTooLarge})

		want := map[string]int64{}
		for _, c := range cases {
			for range 2 { // each twice: the second only counted
				req, _ := http.NewRequest(http.MethodPost, r.notify, bytes.NewReader(c.body))
				for k, v := range c.h {
					req.Header[k] = v
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var fail wechatpay.ErrorAnswer
				json.NewDecoder(resp.Body).Decode(&fail)
				resp.Body.Close()
				if resp.StatusCode != c.status || fail.Code != "FAIL" {
					t.Errorf("%s: %d %+v, want %d FAIL", c.name, resp.StatusCode, fail, c.status)
				}
			}
			want[c.reason] += 2
		}
		if b, n := r.balance(), len(r.payments()); b != 0 || n != 0 {
			t.Fatalf("after refused notifications: balance %d, %d payments; want 0, 0", b, n)
		}
		if got, _ := r.store.GetPaymentOrder(context.Background(), o.OrderNo); got.State != amigo.OrderCreated {
			t.Fatalf("order %+v", got)
		}
		refused := r.svc.Refused()
		for k, v := range want {
			if refused[k] != v {
				t.Errorf("refused %s: %d, want %d (all: %v)", k, refused[k], v, refused)
			}
		}
		// One event per reason at once; the second of each waits for the
		// window's summary.
		events := func() []amigo.Event {
			es, _, err := r.store.ListEvents(context.Background(), amigo.EventFilter{Kind: amigo.EventPaymentRefused, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return es
		}
		if n := len(events()); n != len(want) {
			t.Fatalf("%d refusal events before the summary, want %d (one per reason)", n, len(want))
		}
		// Then the genuine notification, late and out of order (after the
		// refused ones), is credited once.
		if st := r.post(r.notification(tx)); st != http.StatusNoContent {
			t.Fatalf("genuine: %d", st)
		}
		if b := r.balance(); b != 5000 {
			t.Fatalf("balance %d, want 5000", b)
		}
		cancel()
		<-done
		es := events()
		if len(es) != 2*len(want) {
			t.Fatalf("%d refusal events after the summary, want %d", len(es), 2*len(want))
		}
		// Each summary counts the refusals of its reason after the first:
		// signature 3 cases × 2 - 1 = 5, stale 2 × 2 - 1 = 3, the others
		// 2 - 1 = 1.
		var summaries int
		for _, e := range es {
			var n int64
			var reason string
			if _, err := fmt.Sscanf(e.Message, "%d more payment notifications refused: %s", &n, &reason); err != nil {
				continue
			}
			summaries++
			if reason = strings.TrimSuffix(reason, ","); n != want[reason]-1 || !strings.Contains(e.Message, " / ") {
				t.Errorf("summary %q: want %d more", e.Message, want[reason]-1)
			}
		}
		if summaries != len(want) {
			t.Fatalf("%d summaries, want %d: %+v", summaries, len(want), es)
		}
	})
}

// Two orders paid, their notifications delivered in the opposite order
// and each twice: each account credit happens once.
func TestOutOfOrder(t *testing.T) {
	r := newRig(t, openSQLite(t), nil)
	a, b := r.order(1200), r.order(3400)
	r.accept.Store(false)
	ta, tb := r.pay(a), r.pay(b)
	for range 6 { // 2 orders × (1 + 2 retries), all turned away
		r.waitDelivery()
	}
	r.accept.Store(true)
	for _, tx := range []wechatpay.Transaction{tb, ta, tb, ta} {
		if st := r.post(r.notification(tx)); st != http.StatusNoContent {
			t.Fatalf("%s: %d", tx.OutTradeNo, st)
		}
	}
	// 1200 + 3400 = 4600 fen.
	if bal, n := r.balance(), len(r.payments()); bal != 4600 || n != 2 {
		t.Fatalf("balance %d, %d payments; want 4600, 2", bal, n)
	}
}

// failingStore makes the ledger credit fail inside the notification's
// transaction while fail is set: the order's state must roll back with it.
type failingStore struct {
	amigo.Store
	fail *atomic.Bool
}

func (f failingStore) WithTx(ctx context.Context, fn func(tx amigo.Store) error) error {
	return f.Store.WithTx(ctx, func(tx amigo.Store) error { return fn(failingTx{tx, f.fail}) })
}

type failingTx struct {
	amigo.Store
	fail *atomic.Bool
}

func (f failingTx) Credit(ctx context.Context, p *amigo.Payment) (amigo.LedgerEntry, bool, error) {
	if f.fail.Load() {
		return amigo.LedgerEntry{}, false, errors.New("disk full (test)")
	}
	return f.Store.Credit(ctx, p)
}

// A credit that fails leaves the order unpaid (one transaction), the
// provider is answered 500 and retries; the retry credits it once.
func TestCreditAndOrderStateAreOneTransaction(t *testing.T) {
	forStores(t, func(t *testing.T, open func(t *testing.T) amigo.Store) {
		var fail atomic.Bool
		fail.Store(true)
		r := newRig(t, open(t), func(s amigo.Store) amigo.Store { return failingStore{s, &fail} })
		o := r.order(800)
		r.pay(o)
		if st := r.waitDelivery(); st != http.StatusInternalServerError {
			t.Fatalf("first delivery answered %d, want 500", st)
		}
		got, _ := r.store.GetPaymentOrder(context.Background(), o.OrderNo)
		if got.State != amigo.OrderCreated || got.TransactionID != "" || r.balance() != 0 || len(r.creditedAccounts()) != 0 {
			t.Fatalf("after a failed credit: order %+v, balance %d, OnCredit %v", got, r.balance(), r.creditedAccounts())
		}
		fail.Store(false)
		if st := r.waitDelivery(); st != http.StatusNoContent {
			t.Fatalf("retry answered %d, want 204", st)
		}
		if bal, n := r.balance(), len(r.payments()); bal != 800 || n != 1 {
			t.Fatalf("balance %d, %d payments; want 800, 1", bal, n)
		}
	})
}

// The reconciliation of a day: one payment in order, one paid at the
// provider whose notification never came, one the ledger has with another
// amount, one the ledger has that the provider never had; then the
// missing one is fetched by querying the order and the report is clean
// but for the two made by hand.
func TestReconcile(t *testing.T) {
	forStores(t, func(t *testing.T, open func(t *testing.T) amigo.Store) {
		r := newRig(t, open(t), nil)
		ctx := context.Background()
		ok := r.order(5000)
		r.pay(ok)
		if st := r.waitDelivery(); st != 204 {
			t.Fatalf("delivery %d", st)
		}
		r.accept.Store(false)
		missing := r.order(2000)
		txMissing := r.pay(missing)
		differs := r.order(300)
		txDiffers := r.pay(differs)
		for range 6 {
			r.waitDelivery()
		}
		// The ledger has 299 fen for the 300 fen transaction, and 100 fen
		// under a transaction the provider never had.
		for _, p := range []amigo.Payment{
			{AccountID: r.account.ID, AmountFen: 299, Method: amigo.MethodWeChat, Reference: "wechat:" + txDiffers.TransactionID, By: "test", Time: r.clock.Now()},
			{AccountID: r.account.ID, AmountFen: 100, Method: amigo.MethodWeChat, Reference: "wechat:4200FORGED", By: "test", Time: r.clock.Now()},
		} {
			if _, _, err := r.store.Credit(ctx, &p); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := r.svc.Reconcile(ctx, "2026-11-25")
		if err != nil {
			t.Fatal(err)
		}
		// Provider: 5000 + 2000 + 300 = 7300 fen in 3 orders; ledger:
		// 5000 + 299 + 100 = 5399 fen in 3 payments.
		if rep.Orders != 3 || rep.ProviderPaid != 3 || rep.ProviderFen != 7300 || rep.LedgerPayments != 3 || rep.LedgerFen != 5399 {
			t.Fatalf("totals %+v", rep)
		}
		want := []payment.Difference{
			{Kind: payment.AmountDiffers, OrderNo: differs.OrderNo, TransactionID: txDiffers.TransactionID, AccountID: r.account.ID, ProviderFen: 300, LedgerFen: 299, ProviderState: "SUCCESS", Reference: "wechat:" + txDiffers.TransactionID},
			{Kind: payment.CreditedNotPaid, AccountID: r.account.ID, LedgerFen: 100, Reference: "wechat:4200FORGED"},
			{Kind: payment.PaidNotCredited, OrderNo: missing.OrderNo, TransactionID: txMissing.TransactionID, AccountID: r.account.ID, ProviderFen: 2000, ProviderState: "SUCCESS", Reference: "wechat:" + txMissing.TransactionID},
		}
		if len(rep.Differences) != len(want) {
			t.Fatalf("differences %+v", rep.Differences)
		}
		for i := range want {
			if rep.Differences[i] != want[i] {
				t.Errorf("difference %d: %+v\nwant %+v", i, rep.Differences[i], want[i])
			}
		}
		// Looking at the missing order asks the provider, which has it
		// paid: it is credited now (the query path), once.
		got, err := r.svc.Order(ctx, missing.OrderNo)
		if err != nil || got.State != amigo.OrderPaid {
			t.Fatalf("order after query: %+v %v", got, err)
		}
		// The 300 fen order is paid at the provider; the ledger's 299 under
		// its reference makes the credit a conflict: the order stays
		// unpaid and money is not changed.
		if got, _ := r.svc.Order(ctx, differs.OrderNo); got.State != amigo.OrderCreated {
			t.Fatalf("differs: %+v", got)
		}
		// 5000 + 299 + 100 + 2000 = 7399 fen.
		if b := r.balance(); b != 7399 {
			t.Fatalf("balance %d, want 7399", b)
		}
		rep, err = r.svc.Reconcile(ctx, "2026-11-25")
		if err != nil || len(rep.Differences) != 2 || rep.Differences[0].Kind != payment.AmountDiffers || rep.Differences[1].Kind != payment.CreditedNotPaid {
			t.Fatalf("after the query: %+v %v", rep.Differences, err)
		}
		// The day before and after have nothing.
		for _, d := range []string{"2026-11-24", "2026-11-26"} {
			rep, err := r.svc.Reconcile(ctx, d)
			if err != nil || rep.ProviderPaid != 0 || rep.LedgerPayments != 0 || len(rep.Differences) != 0 {
				t.Fatalf("%s: %+v %v", d, rep, err)
			}
		}
		if _, err := r.svc.Reconcile(ctx, "2026-13-01"); amigo.ErrorKind(err) != amigo.EINVALID {
			t.Fatalf("bad day: %v", err)
		}
	})
}

// An order is refused for a bad amount or an unknown account, and stored
// before the provider is asked: a provider that is down leaves it created
// without a code, and nothing charged.
func TestCreateOrder(t *testing.T) {
	r := newRig(t, openSQLite(t), nil)
	ctx := context.Background()
	for _, fen := range []amigo.Fen{0, -1, 10_000_001} {
		if _, err := r.svc.CreateOrder(ctx, r.account.ID, fen, "u"); amigo.ErrorKind(err) != amigo.EINVALID || !strings.Contains(err.Error(), "amount_fen") {
			t.Errorf("%d fen: %v", fen, err)
		}
	}
	if _, err := r.svc.CreateOrder(ctx, r.account.ID+99, 100, "u"); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Errorf("no account: %v", err)
	}
	k := testKeys(t)
	down, _ := wechatpay.New(wechatpay.Config{BaseURL: "http://127.0.0.1:1", MchID: mchID, MerchantKey: k.Merchant, MerchantSerial: k.MerchantSerial,
		PlatformKey: &k.Platform.PublicKey, PlatformSerial: k.PlatformSerial, APIv3Key: k.APIv3Key})
	svc, _ := payment.New(payment.Config{Store: r.store, Provider: down, NotifyURL: r.notify, Now: r.clock.Now})
	o, err := svc.CreateOrder(ctx, r.account.ID, 100, "u")
	if amigo.ErrorKind(err) != amigo.EUNAVAILABLE {
		t.Fatalf("provider down: %v", err)
	}
	if got, err := r.store.GetPaymentOrder(ctx, o.OrderNo); err != nil || got.State != amigo.OrderCreated || got.CodeURL != "" {
		t.Fatalf("stored order %+v %v", got, err)
	}
}

// The same notification eight times at once: one credit, every answer 204.
func TestConcurrentDuplicates(t *testing.T) {
	forStores(t, func(t *testing.T, open func(t *testing.T) amigo.Store) {
		r := newRig(t, open(t), nil)
		o := r.order(2500)
		r.accept.Store(false)
		tx := r.pay(o)
		for range 3 {
			r.waitDelivery()
		}
		r.accept.Store(true)
		h, b := r.notification(tx)
		var wg sync.WaitGroup
		statuses := make(chan int, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := r.sandbox.Post(context.Background(), r.notify, h, b)
				if err != nil {
					t.Error(err)
				}
				statuses <- st
			}()
		}
		wg.Wait()
		close(statuses)
		for st := range statuses {
			if st != http.StatusNoContent {
				t.Errorf("answered %d, want 204", st)
			}
		}
		if bal, n := r.balance(), len(r.payments()); bal != 2500 || n != 1 {
			t.Fatalf("balance %d, %d payments; want 2500, 1", bal, n)
		}
	})
}
