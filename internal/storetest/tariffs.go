package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// tariffs: versions are kept by name and day, listed oldest first, never
// replaced (the same day twice is a conflict and the first stays), and a
// failed transaction keeps none.
func tariffs(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if vs, err := s.ListTariffs(ctx, ""); err != nil || vs == nil || len(vs) != 0 {
		t.Fatalf("empty store: %v %v", vs, err)
	}
	put := func(name, from, doc string) error {
		return s.PutTariff(ctx, amigo.TariffVersion{Name: name, ValidFrom: from, Document: []byte(doc), CreatedAt: at, CreatedBy: "admin"})
	}
	for _, v := range [][3]string{{"zj", "2026-07-01", `{"v":2}`}, {"zj", "2026-01-01", `{"v":1,"title":"浙江"}`}, {"a", "2025-01-01", `{}`}} {
		if err := put(v[0], v[1], v[2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := put("zj", "2026-01-01", `{"v":3}`); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("same version twice: %v", err)
	}
	vs, err := s.ListTariffs(ctx, "zj")
	if err != nil || len(vs) != 2 || vs[0].ValidFrom != "2026-01-01" || string(vs[0].Document) != `{"v":1,"title":"浙江"}` ||
		vs[1].ValidFrom != "2026-07-01" || !vs[0].CreatedAt.Equal(at) || vs[0].CreatedBy != "admin" || vs[0].Name != "zj" {
		t.Fatalf("zj: %+v %v", vs, err)
	}
	if all, _ := s.ListTariffs(ctx, ""); len(all) != 3 || all[0].Name != "a" {
		t.Fatalf("all: %+v", all)
	}
	// A version stored inside a transaction that fails is not kept.
	err = s.WithTx(ctx, func(tx amigo.Store) error {
		if err := tx.PutTariff(ctx, amigo.TariffVersion{Name: "b", ValidFrom: "2026-01-01", Document: []byte(`{}`), CreatedAt: at}); err != nil {
			return err
		}
		return amigo.Errorf(amigo.EINVALID, "test", "abort")
	})
	if amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatal(err)
	}
	if vs, _ := s.ListTariffs(ctx, "b"); len(vs) != 0 {
		t.Fatalf("rolled back version kept: %+v", vs)
	}
}
