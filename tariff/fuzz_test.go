package tariff

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amigo-metering/amigo"
)

// FuzzParse feeds the tariff decoder arbitrary documents, seeded with the
// documented examples and the invalid cases. Whatever parses must be
// usable: a quote from its registers, totals and periods never panics, and
// its total is the sum of its lines.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../docs/tariffs/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(base))
	f.Add([]byte(strings.Replace(base, `"registers": [4]`, `"registers": [3, 4]`, 1)))
	f.Add([]byte(`{"name":"x","time_zone":"UTC","valid_from":"2026-01-01","flat_price":1,"ladder":{"cycle":"month","thresholds_kwh":[1],"surcharges":[0,1]}}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		tr, problems := Check(doc)
		if tr == nil {
			if len(problems) == 0 || len(problems) > maxProblems {
				t.Fatalf("no tariff and %d problems", len(problems))
			}
			for _, p := range problems {
				if p.Field == "" || !strings.Contains(p.Message, " / ") {
					t.Fatalf("problem without field or Chinese: %+v", p)
				}
			}
			return
		}
		_ = tr.Summary()
		d := tr.ValidFrom
		set, _, _ := tr.PeriodsOn(d)
		byName := map[string]amigo.Energy{}
		for i, p := range set {
			byName[p.Name] = amigo.Energy(12345 * (i + 1))
		}
		if len(set) == 0 {
			byName[FlatName] = 12345
		}
		for _, s := range []Span{
			{Date: d, Usage: byName},
			{Date: d, FromTotals: true, Total: 98765},
			{Date: d, Registers: []amigo.Energy{1, 2, 3, 4}},
		} {
			q, err := tr.Quote(QuoteInput{Spans: []Span{s}, CycleUsageBefore: 5, InService: Share{Days: 3, Of: 7}, Standing: Share{Days: 1, Of: 3}})
			if err != nil {
				if amigo.ErrorKind(err) != amigo.EINVALID {
					t.Fatalf("quote: %v", err)
				}
				continue
			}
			var sum amigo.Fen
			for _, l := range q.Lines {
				sum += l.AmountFen
			}
			if sum != q.TotalFen {
				t.Fatalf("total %d, lines %d", q.TotalFen, sum)
			}
			if _, err := json.Marshal(q); err != nil {
				t.Fatal(err)
			}
		}
	})
}
