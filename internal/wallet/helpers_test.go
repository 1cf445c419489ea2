package wallet

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/testdb"
)

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

var shanghai = amigo.Site{}.Location()

// local is a site-local instant.
func local(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, shanghai)
}

// fixture is a site, a customer and n meters.
type fixture struct {
	st       amigo.Store
	site     amigo.Site
	customer amigo.Customer
	meters   []amigo.Meter
}

func newFixture(t *testing.T, st amigo.Store, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{st: st, site: amigo.Site{Name: "Campus"}, customer: amigo.Customer{Name: "李四"}}
	if err := st.CreateSite(ctx, &f.site); err != nil {
		t.Fatal(err)
	}
	c := amigo.Collector{SiteID: f.site.ID, Name: "c1", Address: "0171-2082"}
	if err := st.CreateCollector(ctx, &c); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m := amigo.Meter{SiteID: f.site.ID, Address: "00000000010" + string(rune('0'+i)), CollectorID: c.ID, Port: 1, Pn: i + 1, CTRatio: 1, PTRatio: 1}
		if err := st.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		f.meters = append(f.meters, m)
	}
	if err := st.CreateCustomer(ctx, &f.customer); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) account(t *testing.T, number, tariffName string, meters ...amigo.AccountMeter) amigo.Account {
	t.Helper()
	a := amigo.Account{Number: number, CustomerID: f.customer.ID, SiteID: f.site.ID, Mode: amigo.ModePrepaid, Tariff: tariffName, BillingDay: 1,
		LowBalanceFen: 1000, CreditLimitFen: 0, Meters: meters}
	if err := f.st.CreateAccount(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *fixture) tariff(t *testing.T, doc string) {
	t.Helper()
	name, from := field(doc, "name"), field(doc, "valid_from")
	if err := f.st.PutTariff(context.Background(), amigo.TariffVersion{Name: name, ValidFrom: from, Document: []byte(doc), CreatedAt: time.Now(), CreatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
}

func field(doc, key string) string {
	_, rest, _ := strings.Cut(doc, `"`+key+`": "`)
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// read stores a reading of kind at t: total kWh and T1..T4 (nil: the
// total alone, tariffs as zeros).
func (f *fixture) read(t *testing.T, m amigo.Meter, kind string, at time.Time, total string, tariffs ...string) {
	t.Helper()
	var fwd [5]amigo.Energy
	var err error
	if fwd[0], err = amigo.ParseEnergy(total); err != nil {
		t.Fatal(err)
	}
	for i, s := range tariffs {
		if fwd[i+1], err = amigo.ParseEnergy(s); err != nil {
			t.Fatal(err)
		}
	}
	r := amigo.Reading{MeterID: m.ID, Time: at, Kind: kind, Forward: fwd, HasForward: true, Quality: amigo.QualityActual, Source: "test", ReceivedAt: at}
	if _, err := f.st.WriteReadings(context.Background(), []amigo.Reading{r}); err != nil {
		t.Fatal(err)
	}
}

// ledger returns an account's entries oldest first.
func ledger(t *testing.T, st amigo.Store, id int64) []amigo.LedgerEntry {
	t.Helper()
	es, _, err := st.ListLedger(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}

func balance(t *testing.T, st amigo.Store, id int64) amigo.Fen {
	t.Helper()
	a, err := st.GetAccount(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.BalanceFen
}

func amigoItoa(n int64) string { return strconv.FormatInt(n, 10) }
