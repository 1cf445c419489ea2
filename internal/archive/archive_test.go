package archive

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/testdb"
)

var now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

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

// seed creates site "Campus", area "A1", collector 0171-2082.
func seed(t *testing.T, st amigo.Store) *Service {
	t.Helper()
	ctx := context.Background()
	s := New(st, func() time.Time { return now })
	if _, err := s.CreateSite(ctx, "admin", SiteInput{Name: new("Campus")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCollector(ctx, "admin", CollectorInput{Site: new("Campus"), Address: new("0171-2082"), Name: new("c1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateArea(ctx, "admin", AreaInput{Site: new("Campus"), Name: new("A1")}); err != nil {
		t.Fatal(err)
	}
	return s
}

func meterIn(addr string, pn int) MeterInput {
	return MeterInput{Address: new(addr), Site: new("Campus"), Area: new("A1"), Collector: new("0171-2082"), Port: new(1), Pn: new(pn)}
}

func wantErr(t *testing.T, err error, kind, text string) {
	t.Helper()
	if amigo.ErrorKind(err) != kind || !strings.Contains(amigo.ErrorMessage(err), text) {
		t.Fatalf("got %v (kind %s), want kind %s with %q", err, amigo.ErrorKind(err), kind, text)
	}
	if !strings.Contains(amigo.ErrorMessage(err), " / ") {
		t.Fatalf("message is not bilingual: %s", amigo.ErrorMessage(err))
	}
}

// Each bad field is refused with what was wrong, and nothing is created.
func TestValidation(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	s := seed(t, st)
	with := func(f func(*MeterInput)) MeterInput {
		in := meterIn("000000000001", 1)
		f(&in)
		return in
	}
	for _, c := range []struct {
		name string
		in   MeterInput
		kind string
		want string
	}{
		{"negative CT", with(func(m *MeterInput) { m.CT = new(-5) }), amigo.EINVALID, "CT ratio -5: want 1..10000"},
		{"CT 0 given", with(func(m *MeterInput) { m.CT = new(0) }), amigo.EINVALID, "CT ratio 0"},
		{"PT 10001", with(func(m *MeterInput) { m.PT = new(10001) }), amigo.EINVALID, "PT ratio 10001"},
		{"99 phases", with(func(m *MeterInput) { m.Phases = new(99) }), amigo.EINVALID, "phases 99: want 1 or 3"},
		{"2 phases", with(func(m *MeterInput) { m.Phases = new(2) }), amigo.EINVALID, "phases 2"},
		{"11-digit address", with(func(m *MeterInput) { m.Address = new("00000000001") }), amigo.EINVALID, "want 12 digits"},
		{"letters in address", with(func(m *MeterInput) { m.Address = new("00000000000A") }), amigo.EINVALID, "want 12 digits"},
		{"rated 1001 A", with(func(m *MeterInput) { m.RatedAmps = new(1001) }), amigo.EINVALID, "rated current 1001 A"},
		{"port 32", with(func(m *MeterInput) { m.Port = new(32) }), amigo.EINVALID, "port 32: want 1..31"},
		{"pn 2041", with(func(m *MeterInput) { m.Pn = new(2041) }), amigo.EINVALID, "measuring point (pn) 2041"},
		{"pn 0", with(func(m *MeterInput) { m.Pn = nil }), amigo.EINVALID, "measuring point (pn) 0"},
		{"password not hex", with(func(m *MeterInput) { m.Password = new("0212345G") }), amigo.EINVALID, "8 hex digits"},
		{"protocol", with(func(m *MeterInput) { m.Protocol = new("dlt645-2015") }), amigo.EINVALID, "want dlt645-2007 or dlt645-1997"},
		{"IMEI 14 digits", with(func(m *MeterInput) {
			m.Collector, m.Port, m.Pn, m.Direct, m.IMEI = nil, nil, nil, new(true), new("35000000000000")
		}), amigo.EINVALID, "IMEI"},
		{"direct with a collector", with(func(m *MeterInput) { m.Direct = new(true) }), amigo.EINVALID, "direct GPRS meter has no collector"},
		{"IMEI behind a collector", with(func(m *MeterInput) { m.IMEI = new("350000000000001") }), amigo.EINVALID, "for direct GPRS meters"},
		{"unknown site", with(func(m *MeterInput) { m.Site = new("Nowhere") }), amigo.EINVALID, `unknown site "Nowhere"`},
		{"unknown area", with(func(m *MeterInput) { m.Area = new("B9") }), amigo.EINVALID, `unknown area "B9"`},
		{"unknown collector", with(func(m *MeterInput) { m.Collector = new("0171-9") }), amigo.EINVALID, `unknown collector "0171-9"`},
		{"installed in 1990", with(func(m *MeterInput) { m.InstalledAt = new(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)) }), amigo.EINVALID, "installation time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.CreateMeter(ctx, "admin", c.in)
			wantErr(t, err, c.kind, c.want)
		})
	}
	if _, n, _ := st.ListMeters(ctx, amigo.MeterFilter{IncludeRetired: true}); n != 0 {
		t.Fatalf("%d meters created by refused requests", n)
	}
	_, err := s.CreateSite(ctx, "admin", SiteInput{Name: new("Mars"), TimeZone: new("Mars/Olympus")})
	wantErr(t, err, amigo.EINVALID, `unknown time zone "Mars/Olympus"`)
	_, err = s.CreateSite(ctx, "admin", SiteInput{Name: new(" Campus")})
	wantErr(t, err, amigo.EINVALID, "no spaces at the ends")
	_, err = s.CreateSite(ctx, "admin", SiteInput{Name: new("Campus")})
	wantErr(t, err, amigo.ECONFLICT, `a site named "Campus" exists already`)
	_, err = s.CreateCollector(ctx, "admin", CollectorInput{Site: new("Campus"), Address: new("0171-0")})
	wantErr(t, err, amigo.EINVALID, "terminal address")
	_, err = s.CreateCollector(ctx, "admin", CollectorInput{Site: new("Campus"), Address: new("0171-2082")})
	wantErr(t, err, amigo.ECONFLICT, "exists already")
	_, err = s.CreateArea(ctx, "admin", AreaInput{Site: new("Campus"), Name: new("A2"), LossLow: new(10.0), LossHigh: new(-1.0)})
	wantErr(t, err, amigo.EINVALID, "line-loss band 10..-1")
	_, err = s.CreateUser(ctx, "admin", UserInput{Username: new("ops"), Password: new("short"), Role: new("operator")})
	wantErr(t, err, amigo.EINVALID, "at least 8 characters")
	_, err = s.CreateUser(ctx, "admin", UserInput{Username: new("ops"), Password: new("long enough"), Role: new("root")})
	wantErr(t, err, amigo.EINVALID, `role "root"`)
	_, err = s.CreateUser(ctx, "admin", UserInput{Username: new("o p"), Password: new("long enough"), Role: new("viewer")})
	wantErr(t, err, amigo.EINVALID, "letters, digits")
	// The defaults: a meter named with its place only.
	m, err := s.CreateMeter(ctx, "admin", meterIn("000000000001", 1))
	if err != nil {
		t.Fatal(err)
	}
	if m.Protocol != "dlt645-2007" || m.Phases != 1 || m.CTRatio != 1 || m.PTRatio != 1 || m.RatedAmps != 60 || m.Password != "02000000" || !m.InstalledAt.Equal(now) {
		t.Fatalf("defaults %+v", m)
	}
	_, err = s.CreateMeter(ctx, "admin", meterIn("000000000002", 1))
	wantErr(t, err, amigo.ECONFLICT, "measuring point 1 of its collector is taken")
	_, err = s.CreateMeter(ctx, "admin", meterIn("000000000001", 2))
	wantErr(t, err, amigo.ECONFLICT, "in service at 000000000001 already")
}

// Changes are audited with who and what, never a password.
func TestChangesAreAudited(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	s := seed(t, st)
	in := meterIn("000000000001", 1)
	in.Password = new("02123456")
	if _, err := s.CreateMeter(ctx, "alice", in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateMeter(ctx, "bob", "000000000001", MeterInput{CT: new(50), Password: new("02654321")}); err != nil {
		t.Fatal(err)
	}
	if err := s.RetireMeter(ctx, "carol", "000000000001"); err != nil {
		t.Fatal(err)
	}
	log, _ := st.ListAudit(ctx, 3)
	if len(log) != 3 {
		t.Fatalf("audit %+v", log)
	}
	retire, update, create := log[0], log[1], log[2]
	if create.Actor != "alice" || create.Action != "meter.create" || create.Object != "meter 000000000001" || !strings.Contains(create.Detail, "password set") || !strings.Contains(create.Detail, "pn=1") {
		t.Fatalf("create %+v", create)
	}
	if update.Actor != "bob" || update.Detail != `ct: "1" -> "50", password changed` {
		t.Fatalf("update %+v", update)
	}
	if retire.Actor != "carol" || retire.Action != "meter.retire" {
		t.Fatalf("retire %+v", retire)
	}
	for _, e := range log {
		if strings.Contains(e.Detail, "02123456") || strings.Contains(e.Detail, "02654321") {
			t.Fatalf("a password in the audit: %+v", e)
		}
	}
	// A retired meter leaves the working list; its address is free.
	if _, n, _ := st.ListMeters(ctx, amigo.MeterFilter{}); n != 0 {
		t.Fatalf("%d meters in service after retirement", n)
	}
	if _, err := s.CreateMeter(ctx, "alice", meterIn("000000000001", 1)); err != nil {
		t.Fatalf("a new meter at a retired address: %v", err)
	}
}

const meterCSV = `address,site,area,collector,port,pn,phases,ct
000000000001,Campus,A1,0171-2082,1,1,1,1
000000000002,Campus,A1,0171-2082,1,2,3,50
`

// An unknown site on line 3 is named, and nothing is created; the failure
// is audited.
func TestImportNamesTheBadLineAndKeepsNothing(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			s := seed(t, st)
			for _, c := range []struct {
				name, csv, kind, want string
			}{
				{"unknown site on line 3", "address,site,collector,port,pn\n000000000001,Campus,0171-2082,1,1\n000000000002,Nowhere,0171-2082,1,2\n", amigo.EINVALID, `line 3 / 第3行: unknown site "Nowhere"`},
				{"duplicate on row 3", "address,site,collector,port,pn\n000000000001,Campus,0171-2082,1,1\n000000000002,Campus,0171-2082,1,2\n000000000001,Campus,0171-2082,1,3\n", amigo.ECONFLICT, "line 4 / 第4行: a meter is in service at 000000000001 already"},
				{"negative CT on line 2", "address,site,collector,port,pn,ct\n000000000001,Campus,0171-2082,1,1,-1\n", amigo.EINVALID, "line 2 / 第2行: meter 000000000001: CT ratio -1"},
				{"99 phases", "address,site,collector,port,pn,phases\n000000000001,Campus,0171-2082,1,1,1\n000000000002,Campus,0171-2082,1,2,99\n", amigo.EINVALID, "line 3 / 第3行: meter 000000000002: phases 99"},
				{"bad address", "address,site,collector,port,pn\n00000001,Campus,0171-2082,1,1\n", amigo.EINVALID, `line 2 / 第2行: meter address "00000001"`},
				{"not a number", "address,site,collector,port,pn\n000000000001,Campus,0171-2082,one,1\n", amigo.EINVALID, `line 2 / 第2行: column port: "one"`},
				{"unknown column", "address,site,colour\n", amigo.EINVALID, `line 1: unknown column "colour"`},
				{"missing column", "address\n", amigo.EINVALID, `lacks column "site"`},
				{"ragged row", "address,site\n000000000001\n", amigo.EINVALID, "line 2: wrong number of fields"},
			} {
				t.Run(c.name, func(t *testing.T) {
					res, err := s.Import(ctx, "ops", KindMeters, strings.NewReader(c.csv))
					wantErr(t, err, c.kind, c.want)
					if res.Created != 0 {
						t.Fatalf("created %d", res.Created)
					}
					if _, n, _ := st.ListMeters(ctx, amigo.MeterFilter{IncludeRetired: true}); n != 0 {
						t.Fatalf("%d meters left behind", n)
					}
					log, _ := st.ListAudit(ctx, 1)
					if log[0].Action != "import.meters.failed" || log[0].Actor != "ops" || !strings.Contains(log[0].Detail, amigo.ErrorMessage(err)) {
						t.Fatalf("failure audit %+v", log[0])
					}
				})
			}
			res, err := s.Import(ctx, "ops", KindMeters, strings.NewReader(meterCSV))
			if err != nil || res.Created != 2 {
				t.Fatalf("%+v %v", res, err)
			}
			m, _ := st.FindMeterByAddress(ctx, "000000000002")
			if m.Phases != 3 || m.CTRatio != 50 || m.Pn != 2 || m.AreaID == 0 {
				t.Fatalf("imported %+v", m)
			}
			log, _ := st.ListAudit(ctx, 1)
			if log[0].Action != "import.meters" || log[0].Object != "2 meters" {
				t.Fatalf("success audit %+v", log[0])
			}
		})
	}
}

// cancelling wraps a store so that the import's transaction sees its
// context cancelled after half of the creates.
type cancelling struct {
	amigo.Store
	after  int
	cancel context.CancelFunc
}

type countingTx struct {
	amigo.Store
	c *cancelling
	n *int
}

func (c *cancelling) WithTx(ctx context.Context, fn func(tx amigo.Store) error) error {
	n := 0
	return c.Store.WithTx(ctx, func(tx amigo.Store) error { return fn(countingTx{tx, c, &n}) })
}

func (t countingTx) CreateMeter(ctx context.Context, m *amigo.Meter) error {
	err := t.Store.CreateMeter(ctx, m)
	if *t.n++; *t.n == t.c.after {
		t.c.cancel()
	}
	return err
}

// A cancelled import of 2,000 meters leaves none behind and is audited.
func TestCancelledImportKeepsNothing(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			seed(t, st)
			var b strings.Builder
			b.WriteString("address,site,collector,port,pn\n")
			for i := 1; i <= 2000; i++ {
				fmt.Fprintf(&b, "%012d,Campus,0171-2082,1,%d\n", i, i)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := New(&cancelling{Store: st, after: 1000, cancel: cancel}, func() time.Time { return now })
			res, err := s.Import(ctx, "ops", KindMeters, strings.NewReader(b.String()))
			wantErr(t, err, amigo.EUNAVAILABLE, "cancelled")
			if res.Created != 0 {
				t.Fatalf("created %d", res.Created)
			}
			if _, n, _ := st.ListMeters(context.Background(), amigo.MeterFilter{IncludeRetired: true}); n != 0 {
				t.Fatalf("%d meters left behind by a cancelled import", n)
			}
			log, _ := st.ListAudit(context.Background(), 1)
			if log[0].Action != "import.meters.failed" {
				t.Fatalf("audit %+v", log[0])
			}
		})
	}
}

// Export then import into an empty station gives the same archive.
func TestExportImportRoundTrip(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			s := seed(t, st)
			if _, err := s.CreateSite(ctx, "admin", SiteInput{Name: new("Works 工厂"), TimeZone: new("Asia/Urumqi")}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateCollector(ctx, "admin", CollectorInput{Site: new("Works 工厂"), Address: new("0171-7"), PlainTCP: new(true), RegSecret: new("k3y")}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Import(ctx, "admin", KindMeters, strings.NewReader(meterCSV)); err != nil {
				t.Fatal(err)
			}
			sup := meterIn("000000000003", 3)
			sup.Supply, sup.CT, sup.Password, sup.Account = new(true), new(200), new("02ABCDEF"), new(int64(7))
			if _, err := s.CreateMeter(ctx, "admin", sup); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateMeter(ctx, "admin", MeterInput{Address: new("900000000001"), Site: new("Works 工厂"), Direct: new(true), IMEI: new("350000000000001"), RegSecret: new("dtu-1")}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateUser(ctx, "admin", UserInput{Username: new("ops"), Password: new("operator-pw"), Role: new("operator")}); err != nil {
				t.Fatal(err)
			}
			a, _ := st.FindArea(ctx, 1, "A1")
			if m, _ := st.FindMeterByAddress(ctx, "000000000003"); a.SupplyMeterID != m.ID {
				t.Fatalf("supply meter %d, want %d", a.SupplyMeterID, m.ID)
			}
			export := func(s *Service) map[string]string {
				out := map[string]string{}
				for _, k := range Kinds {
					var b bytes.Buffer
					if err := s.Export(ctx, k, &b); err != nil {
						t.Fatal(err)
					}
					out[k] = b.String()
				}
				return out
			}
			first := export(s)
			if !strings.Contains(first[KindMeters], "000000000003,Campus,A1,0171-2082,1,3,dlt645-2007,1,60,200,1,02ABCDEF,,,,7,2026-03-01T09:00:00Z,true") {
				t.Fatalf("meters export:\n%s", first[KindMeters])
			}
			fresh := New(sc.open(t), func() time.Time { return now })
			for _, k := range Kinds {
				if _, err := fresh.Import(ctx, "admin", k, strings.NewReader(first[k])); err != nil {
					t.Fatalf("import %s: %v\n%s", k, err, first[k])
				}
			}
			second := export(fresh)
			for _, k := range Kinds {
				if first[k] != second[k] {
					t.Fatalf("%s differs after the round trip:\n%s\n---\n%s", k, first[k], second[k])
				}
			}
		})
	}
}

// Retiring what still has rows in service is refused; the last admin
// stays.
func TestRetirementRules(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	s := seed(t, st)
	s.CreateMeter(ctx, "admin", meterIn("000000000001", 1))
	wantErr(t, s.RetireCollector(ctx, "admin", "0171-2082"), amigo.ECONFLICT, "still has 1 meters in service")
	wantErr(t, s.RetireSite(ctx, "admin", "Campus"), amigo.ECONFLICT, "still has 1 collectors")
	if err := s.RetireMeter(ctx, "admin", "000000000001"); err != nil {
		t.Fatal(err)
	}
	if err := s.RetireCollector(ctx, "admin", "0171-2082"); err != nil {
		t.Fatal(err)
	}
	if cs, _ := st.ListCollectors(ctx, 0); len(cs) != 0 {
		t.Fatalf("the scheduler still sees %+v", cs)
	}
	a, _ := st.FindArea(ctx, 1, "A1")
	if err := s.RetireArea(ctx, "admin", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RetireSite(ctx, "admin", "Campus"); err != nil {
		t.Fatal(err)
	}
	s.CreateUser(ctx, "root", UserInput{Username: new("boss"), Password: new("boss-password"), Role: new("admin")})
	wantErr(t, s.RetireUser(ctx, "boss", "boss"), amigo.ECONFLICT, "last admin")
	_, err := s.UpdateUser(ctx, "boss", "boss", UserInput{Role: new("viewer")})
	wantErr(t, err, amigo.ECONFLICT, "last admin")
}
