package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// cancelled: a store runs nothing for a context already cancelled — a
// write keeps nothing, a read returns the context's error — whether or not
// it watches the context while a statement runs (SQLite's statements run
// without it, see sqlstore's split).
func cancelled(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	_, _, ms := Fixture(t, s, 1)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var batch []amigo.Reading
	for d := range 300 { // more than a statement's or a check's stride
		batch = append(batch, reading(ms[0].ID, at.AddDate(0, 0, d), amigo.KindDaily, int64(100+d)))
	}
	if _, err := s.WriteReadings(cctx, batch); err == nil {
		t.Fatal("readings written with a cancelled context")
	}
	if got, err := s.ListReadings(ctx, ms[0].ID, amigo.KindDaily, at, at.AddDate(1, 0, 0)); err != nil || len(got) != 0 {
		t.Fatalf("after a cancelled write: %d readings kept, %v", len(got), err)
	}
	if err := s.PutState(cctx, "cancelled/1", "x", at); err == nil {
		t.Fatal("state written with a cancelled context")
	}
	if _, ok, err := s.GetState(ctx, "cancelled/1"); err != nil || ok {
		t.Fatalf("state kept after a cancelled write: %v %v", ok, err)
	}
	if _, _, err := s.GetState(cctx, "cancelled/1"); err == nil {
		t.Fatal("a read with a cancelled context succeeded")
	}
	if _, err := s.ListSites(cctx); err == nil {
		t.Fatal("sites listed with a cancelled context")
	}
	// The store is usable afterwards.
	if _, err := s.WriteReadings(ctx, batch[:10]); err != nil {
		t.Fatal(err)
	}
}
