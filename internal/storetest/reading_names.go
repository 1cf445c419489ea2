package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// readingNames: kinds, qualities and sources are kept as written, whatever
// they are (a store that interns them must not be fooled by a transaction
// that rolled back); readings of one instant come in the order of their
// kinds' names.
func readingNames(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	_, _, ms := Fixture(t, s, 2)
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	// Names first seen in a transaction that rolls back are not kept.
	boom := errors.New("boom")
	err := s.WithTx(ctx, func(tx amigo.Store) error {
		r := reading(ms[0].ID, t0, "kind-rolled-back", 1)
		r.Source, r.Quality = "source-rolled-back", "quality-rolled-back"
		if _, err := tx.WriteReadings(ctx, []amigo.Reading{r}); err != nil {
			return err
		}
		got, err := tx.ListReadings(ctx, ms[0].ID, "kind-rolled-back", t0, t0.Add(time.Hour))
		if err != nil || len(got) != 1 || got[0].Source != "source-rolled-back" || got[0].Quality != "quality-rolled-back" {
			t.Errorf("inside the transaction: %+v %v", got, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTx: %v", err)
	}
	if got, err := s.ListReadings(ctx, ms[0].ID, "", t0, t0.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("after the rollback: %+v %v", got, err)
	}
	// New names, in and out of a transaction, come back as written.
	var want []amigo.Reading
	for i, k := range []string{amigo.KindRealtime, amigo.KindDaily, "zz-new-kind", amigo.KindManual} {
		r := reading(ms[0].ID, t0, k, int64(10+i))
		r.Source = "collector 00000000000" + string(rune('1'+i))
		r.Quality = []string{amigo.QualityActual, "quality-new", amigo.QualityEstimated, amigo.QualityEdited}[i]
		want = append(want, r)
	}
	if _, err := s.WriteReadings(ctx, want[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.WithTx(ctx, func(tx amigo.Store) error { _, err := tx.WriteReadings(ctx, want[2:]); return err }); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListReadings(ctx, ms[0].ID, "", t0, t0.Add(time.Hour))
	if err != nil || len(got) != 4 {
		t.Fatalf("list: %+v %v", got, err)
	}
	for i, k := range []int{1, 3, 0, 2} { // daily, manual, realtime, zz-new-kind
		w := want[k]
		if g := got[i]; g.Kind != w.Kind || g.Source != w.Source || g.Quality != w.Quality || g.Forward != w.Forward {
			t.Errorf("reading %d: got %s/%s/%s %v, want %s/%s/%s %v", i, g.Kind, g.Source, g.Quality, g.Forward[0], w.Kind, w.Source, w.Quality, w.Forward[0])
		}
	}
	by, err := s.ReadingsOfMeters(ctx, []int64{ms[0].ID, ms[1].ID}, []string{"zz-new-kind", amigo.KindDaily, "never-seen"}, t0, t0.Add(time.Hour))
	if err != nil || len(by[ms[0].ID]) != 2 || by[ms[0].ID][0].Kind != amigo.KindDaily || by[ms[0].ID][1].Kind != "zz-new-kind" {
		t.Fatalf("readings of meters: %+v %v", by, err)
	}
	for _, k := range []string{"never-seen", "kind-rolled-back"} {
		if rs, err := s.ListReadings(ctx, ms[0].ID, k, t0, t0.Add(time.Hour)); err != nil || len(rs) != 0 {
			t.Fatalf("kind %s: %+v %v", k, rs, err)
		}
		if _, err := s.LastReading(ctx, ms[0].ID, k); amigo.ErrorKind(err) != amigo.ENOTFOUND {
			t.Fatalf("last of kind %s: %v", k, err)
		}
		if n, err := s.UpdateReadingFlags(ctx, ms[0].ID, k, t0, t0.Add(time.Hour), amigo.FlagJump, 0); err != nil || n != 0 {
			t.Fatalf("flags of kind %s: %d %v", k, n, err)
		}
	}
	if n, err := s.UpdateReadingFlags(ctx, ms[0].ID, "zz-new-kind", t0, t0.Add(time.Hour), amigo.FlagJump, 0); err != nil || n != 1 {
		t.Fatalf("flags of a new kind: %d %v", n, err)
	}
	if last, err := s.LastReading(ctx, ms[0].ID, "zz-new-kind"); err != nil || last.Flags != amigo.FlagJump || last.Source != want[2].Source {
		t.Fatalf("last of a new kind: %+v %v", last, err)
	}
}
