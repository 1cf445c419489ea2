package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sqlite"
)

// A reopened store knows none of the reading names another process wrote
// (each collector's source is a name of its own): readers missing them all
// at once — a restarted station's first pass — read the names table once
// between them, not once each, and every reading comes back with its
// names.
func TestNamesReadOnceByConcurrentReaders(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	site := amigo.Site{Name: "s", TimeZone: amigo.DefaultTimeZone}
	if err := s.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	const meters = 200
	at := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var ids []int64
	var rs []amigo.Reading
	for i := range meters {
		m := amigo.Meter{SiteID: site.ID, Address: fmt.Sprintf("%012d", i+1), Protocol: "dlt645-2007", Phases: 1, RatedAmps: 60, Direct: true}
		if err := s.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
		rs = append(rs, amigo.Reading{MeterID: m.ID, Time: at, Kind: amigo.KindRealtime, Forward: [5]amigo.Energy{amigo.Energy(i)}, HasForward: true,
			Quality: amigo.QualityActual, Source: fmt.Sprintf("collector 0C01-%d", i+1), ReceivedAt: at})
	}
	if res, err := s.WriteReadings(ctx, rs); err != nil || res.Inserted != meters {
		t.Fatalf("%+v %v", res, err)
	}
	s.Close()

	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, meters)
	for i, id := range ids {
		wg.Go(func() {
			got, err := s.LatestReadings(ctx, []int64{id}, amigo.KindRealtime)
			switch want := fmt.Sprintf("collector 0C01-%d", i+1); {
			case err != nil:
				errs <- err
			case got[id].Source != want:
				errs <- fmt.Errorf("meter %d: source %q, want %q", id, got[id].Source, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := s.NameLoads(); n != 1 {
		t.Fatalf("the names were read %d times by %d readers, want once", n, meters)
	}
}
