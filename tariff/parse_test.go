package tariff

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// The documented examples (docs/tariffs/*.json) are the package's golden
// files: each must parse and mean what docs/tariffs.md says.
func TestDocumentedExamples(t *testing.T) {
	files, err := filepath.Glob("../docs/tariffs/*.json")
	if err != nil || len(files) != 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		tr := mustParseFile(t, f)
		if want := strings.TrimSuffix(filepath.Base(f), ".json"); tr.Name != want {
			t.Errorf("%s: name %q", f, tr.Name)
		}
	}
	zj := mustParseFile(t, "../docs/tariffs/zj-residential.json")
	if zj.Ladder.Cycle != CycleYear || zj.Ladder.Thresholds[0] != amigo.KWh(2760) || zj.Ladder.Thresholds[1] != amigo.KWh(4800) ||
		zj.Ladder.Surcharges[2] != 3000 || zj.Days[0].Price != 5680 || zj.Days[1].Price != 2880 || zj.HasFlatPrice {
		t.Errorf("zj: %+v %+v", zj.Ladder, zj.Days)
	}
	gd := mustParseFile(t, "../docs/tariffs/gd-residential-tou.json")
	if len(gd.Days) != 4 || len(gd.RestDays) != 2 || len(gd.Seasons) != 1 || gd.Ladder.Cycle != CycleMonth || !gd.Holidays[Date{2026, 10, 1}] || !gd.Workdays[Date{2026, 10, 10}] {
		t.Errorf("gd: %s", gd.Summary())
	}
	sh := mustParseFile(t, "../docs/tariffs/sh-commercial-flat.json")
	if sh.HasPeriods() || sh.FlatPrice != 7280 || len(sh.Standing) != 1 || sh.Standing[0].PerMonth != 30000 || sh.Ladder != nil {
		t.Errorf("sh: %s", sh.Summary())
	}
}

func mustParseFile(t testing.TB, path string) *Tariff {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tr
}

func mustParse(t *testing.T, doc string) *Tariff {
	t.Helper()
	tr, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return tr
}

// base is the example document; the invalid cases below change one
// thing in it.
const base = `{"name": "zj-residential", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01",
 "periods": [{"name": "peak", "from": "08:00", "to": "22:00", "price": "0.5680", "registers": [1, 2, 3]},
             {"name": "valley", "from": "22:00", "to": "08:00", "price": "0.2880", "registers": [4]}],
 "ladder": {"cycle": "year", "thresholds_kwh": ["2760", "4800"], "surcharges": ["0", "0.05", "0.30"]}}`

func TestInvalidDocumentsNameTheField(t *testing.T) {
	mustParse(t, base)
	for _, c := range []struct {
		name, old, new, field string
	}{
		{"overlap", `"from": "22:00", "to": "08:00"`, `"from": "21:00", "to": "08:00"`, "periods[1].from: 21:00–08:00 overlaps periods[0] (peak)"},
		{"missing hours", `"from": "22:00", "to": "08:00"`, `"from": "23:00", "to": "08:00"`, "periods: 22:00–23:00 is in no period"},
		{"thresholds not increasing", `["2760", "4800"]`, `["2760", "2760"]`, "ladder.thresholds_kwh[1]: 2760.00 kWh is not above"},
		{"five decimals", `"0.5680"`, `"0.56801"`, "periods[0].price: \"0.56801\" has more than 4 decimals"},
		{"unknown key", `"valid_from"`, `"colour": "red", "valid_from"`, "colour: unknown key"},
		{"unknown nested key", `"price": "0.2880"`, `"price": "0.2880", "prise": "1"`, "periods[1].prise: unknown key"},
		{"register twice", `"registers": [4]`, `"registers": [3, 4]`, "periods[1].registers[0]: register 3 is already in periods[0] (peak)"},
		{"bad zone", `"Asia/Shanghai"`, `"Asia/Atlantis"`, "time_zone: \"Asia/Atlantis\" is not a known IANA time zone"},
		{"surcharge count", `["0", "0.05", "0.30"]`, `["0", "0.05"]`, "ladder.surcharges: 2 entries for 2 thresholds: want 3"},
		{"bad clock", `"to": "22:00"`, `"to": "25:00"`, "periods[0].to: \"25:00\" is not a time of day"},
		{"empty range", `"to": "22:00"`, `"to": "08:00"`, "periods[0].to: 08:00–08:00 is empty"},
		{"key twice", `"valid_from": "2026-01-01"`, `"valid_from": "2026-01-01", "valid_from": "2026-02-01"`, "valid_from: key given twice"},
		{"bad date", `"2026-01-01"`, `"2026-02-30"`, "valid_from: \"2026-02-30\" is not a date that exists"},
		{"price as object", `"price": "0.5680"`, `"price": {}`, "periods[0].price: want a decimal string"},
		{"negative price", `"0.5680"`, `"-0.5680"`, "periods[0].price: \"-0.5680\" is not a plain decimal"},
		{"exponent", `"0.5680"`, `5.68e-1`, "periods[0].price: \"5.68e-1\" is not a plain decimal"},
		{"register 5", `[4]`, `[5]`, "periods[1].registers[0]: 5 is not a whole number from 1 to 4"},
		{"bad cycle", `"year"`, `"week"`, "ladder.cycle: \"week\": want \"month\" or \"year\""},
		{"no name", `"name": "zj-residential", `, ``, "name: required"},
		{"bad name", `"zj-residential"`, `"zj/residential"`, "name: \"zj/residential\""},
		{"both from/to and hours", `"from": "08:00", "to": "22:00"`, `"from": "08:00", "to": "22:00", "hours": []`, "periods[0].hours: give either"},
		{"trailing text", `"0.30"]}}`, `"0.30"]}} x`, "(document): text after the JSON value"},
		{"truncated", `"0.30"]}}`, `"0.30"]`, "the JSON text ends early"},
		{"from 24:00", `"from": "08:00", "to": "22:00"`, `"from": "24:00", "to": "22:00"`, "periods[0].from: 24:00 can only end a range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(base, c.old, c.new, 1)
			if doc == base {
				t.Fatalf("case does not change the document")
			}
			_, err := Parse([]byte(doc))
			if err == nil {
				t.Fatalf("accepted:\n%s", doc)
			}
			if amigo.ErrorKind(err) != amigo.EINVALID || !strings.Contains(err.Error(), c.field) || !strings.Contains(amigo.ErrorMessage(err), " / ") {
				t.Fatalf("got %v\nwant it to contain %q, kind invalid, bilingual", err, c.field)
			}
		})
	}
}

func TestShapesAndCalendars(t *testing.T) {
	gd := mustParseFile(t, "../docs/tariffs/gd-residential-tou.json")
	for _, c := range []struct {
		day    Date
		season string
		rest   bool
		names  string
	}{
		{Date{2026, 6, 30}, "", false, "sharp peak flat valley"},       // Tuesday
		{Date{2026, 6, 14}, "", true, "flat valley"},                   // Sunday
		{Date{2026, 7, 1}, "summer", false, "sharp peak flat valley"},  // Wednesday, summer starts
		{Date{2026, 9, 30}, "summer", false, "sharp peak flat valley"}, // last day of summer (inclusive)
		{Date{2026, 10, 1}, "", true, "flat valley"},                   // National Day, a Thursday
		{Date{2026, 10, 10}, "", false, "sharp peak flat valley"},      // Saturday made a workday (调休)
		{Date{2026, 9, 20}, "summer", false, "sharp peak flat valley"}, // Sunday made a workday, in summer
		{Date{2026, 10, 12}, "", false, "sharp peak flat valley"},      // Monday
	} {
		set, season, rest := gd.PeriodsOn(c.day)
		if got := strings.Join(set.Names(), " "); got != c.names || season != c.season || rest != c.rest {
			t.Errorf("%s: %s season %q rest %v, want %s %q %v", c.day, got, season, rest, c.names, c.season, c.rest)
		}
	}
	sh := time.FixedZone("CST", 8*3600)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 6, 30, 19, 0, 0, 0, sh), "sharp"},         // range start is inclusive
		{time.Date(2026, 6, 30, 20, 59, 0, 0, sh), "sharp"},        //
		{time.Date(2026, 6, 30, 21, 0, 0, 0, sh), "peak"},          // range end is exclusive
		{time.Date(2026, 6, 30, 23, 30, 0, 0, sh), "flat"},         // 22:00–24:00
		{time.Date(2026, 6, 30, 0, 0, 0, 0, sh), "valley"},         //
		{time.Date(2026, 6, 29, 23, 59, 0, 0, time.UTC), "valley"}, // 23:59 UTC is 07:59 on the 30th in Shanghai
		{time.Date(2026, 10, 1, 12, 0, 0, 0, sh), "flat"},          // holiday: rest-day periods
	} {
		p, ok := gd.PeriodAt(c.at)
		if !ok || p.Name != c.want {
			t.Errorf("%v: %s %v, want %s", c.at, p.Name, ok, c.want)
		}
	}
	// Wrapping midnight: the valley of zj is 22:00–08:00.
	zj := mustParseFile(t, "../docs/tariffs/zj-residential.json")
	for h, want := range map[int]string{21: "peak", 22: "valley", 0: "valley", 7: "valley", 8: "peak"} {
		if p, _ := zj.PeriodAt(time.Date(2026, 3, 3, h, 0, 0, 0, sh)); p.Name != want {
			t.Errorf("zj %02d:00: %s, want %s", h, p.Name, want)
		}
	}
}

func timeMonth(m int) time.Month { return time.Month(m) }
