package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// runArchive runs one subtest per archive method, each on a fresh store.
func runArchive(t *testing.T, open func(t *testing.T) amigo.Store) {
	for _, c := range []struct {
		name string
		f    func(t *testing.T, s amigo.Store)
	}{
		{"WithTx", withTx}, {"FindSiteByName", findSiteByName}, {"UpdateSite", updateSite}, {"RetireSite", retireSite},
		{"GetArea", getArea}, {"FindArea", findArea}, {"UpdateArea", updateArea}, {"RetireArea", retireArea},
		{"UpdateCollector", updateCollector}, {"RetireCollector", retireCollector},
		{"RetireMeter", retireMeter}, {"ArchiveRev", archiveRev}, {"GetUser", getUser}, {"ListUsers", listUsers}, {"UpdateUser", updateUser},
		{"RetireUser", retireUser}, {"RaiseTokenGen", raiseTokenGen},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, open(t)) })
	}
}

var at = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func kind(t *testing.T, what string, err error, want string) {
	t.Helper()
	if amigo.ErrorKind(err) != want {
		t.Fatalf("%s: got %v (kind %s), want kind %s", what, err, amigo.ErrorKind(err), want)
	}
}

func withTx(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	t.Run("commit", func(t *testing.T) {
		err := s.WithTx(ctx, func(tx amigo.Store) error {
			x := amigo.Site{Name: "kept"}
			if err := tx.CreateSite(ctx, &x); err != nil {
				return err
			}
			// Reads inside see the transaction's own writes, and a nested
			// WithTx joins it.
			return tx.WithTx(ctx, func(tx amigo.Store) error {
				_, err := tx.FindSiteByName(ctx, "kept")
				return err
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.FindSiteByName(ctx, "kept"); err != nil {
			t.Fatalf("committed site: %v", err)
		}
	})
	t.Run("error rolls back", func(t *testing.T) {
		boom := errors.New("boom")
		err := s.WithTx(ctx, func(tx amigo.Store) error {
			for _, n := range []string{"a", "b"} {
				if err := tx.CreateSite(ctx, &amigo.Site{Name: n}); err != nil {
					return err
				}
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v", err)
		}
		if got, _ := s.ListSitesBy(ctx, amigo.ArchiveFilter{IncludeRetired: true}); len(got) != 1 {
			t.Fatalf("sites after a rollback: %+v", got)
		}
	})
	t.Run("a unique conflict on the third row keeps nothing", func(t *testing.T) {
		err := s.WithTx(ctx, func(tx amigo.Store) error {
			for _, n := range []string{"c", "d", "kept"} {
				if err := tx.CreateSite(ctx, &amigo.Site{Name: n}); err != nil {
					return err
				}
			}
			return nil
		})
		kind(t, "duplicate", err, amigo.ECONFLICT)
		if _, err := s.FindSiteByName(ctx, "c"); amigo.ErrorKind(err) != amigo.ENOTFOUND {
			t.Fatalf("row 1 kept: %v", err)
		}
	})
	t.Run("cancelled halfway keeps nothing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		err := s.WithTx(cctx, func(tx amigo.Store) error {
			if err := tx.CreateSite(cctx, &amigo.Site{Name: "e"}); err != nil {
				return err
			}
			cancel()
			tx.CreateSite(cctx, &amigo.Site{Name: "f"}) // fails or not: the commit must not happen
			return nil
		})
		if err == nil {
			t.Fatal("a cancelled transaction reported success")
		}
		for _, n := range []string{"e", "f"} {
			if _, err := s.FindSiteByName(ctx, n); amigo.ErrorKind(err) != amigo.ENOTFOUND {
				t.Fatalf("site %s kept after cancel: %v", n, err)
			}
		}
		// The store is usable afterwards.
		if err := s.CreateSite(ctx, &amigo.Site{Name: "g"}); err != nil {
			t.Fatal(err)
		}
	})
}

func findSiteByName(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, _, _ := Fixture(t, s, 0)
	got, err := s.FindSiteByName(ctx, site.Name)
	if err != nil || got.ID != site.ID || got.TimeZone != amigo.DefaultTimeZone {
		t.Fatalf("%+v %v", got, err)
	}
	_, err = s.FindSiteByName(ctx, "nowhere")
	kind(t, "unknown", err, amigo.ENOTFOUND)
	kind(t, "same name", s.CreateSite(ctx, &amigo.Site{Name: site.Name}), amigo.ECONFLICT)
}

func updateSite(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, _, _ := Fixture(t, s, 0)
	site.Name, site.TimeZone = "Renamed", "Asia/Urumqi"
	if err := s.UpdateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetSite(ctx, site.ID); got.Name != "Renamed" || got.TimeZone != "Asia/Urumqi" {
		t.Fatalf("%+v", got)
	}
	kind(t, "bad zone", s.UpdateSite(ctx, amigo.Site{ID: site.ID, Name: "x", TimeZone: "Mars/Olympus"}), amigo.EINVALID)
	kind(t, "unknown id", s.UpdateSite(ctx, amigo.Site{ID: 999, Name: "x"}), amigo.ENOTFOUND)
	other := amigo.Site{Name: "Other"}
	s.CreateSite(ctx, &other)
	other.Name = "Renamed"
	kind(t, "taken name", s.UpdateSite(ctx, other), amigo.ECONFLICT)
}

func retireSite(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, _, _ := Fixture(t, s, 0)
	if err := s.RetireSite(ctx, site.ID, at); err != nil {
		t.Fatal(err)
	}
	kind(t, "twice", s.RetireSite(ctx, site.ID, at), amigo.ECONFLICT)
	kind(t, "unknown", s.RetireSite(ctx, 999, at), amigo.ENOTFOUND)
	if got, _ := s.ListSites(ctx); len(got) != 0 {
		t.Fatalf("retired site listed: %+v", got)
	}
	all, _ := s.ListSitesBy(ctx, amigo.ArchiveFilter{IncludeRetired: true})
	if len(all) != 1 || !all[0].RetiredAt.Equal(at) {
		t.Fatalf("with retired: %+v", all)
	}
	// The name is free again.
	if err := s.CreateSite(ctx, &amigo.Site{Name: site.Name}); err != nil {
		t.Fatal(err)
	}
}

func getArea(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, _, _ := Fixture(t, s, 0)
	as, _ := s.ListAreas(ctx, site.ID)
	got, err := s.GetArea(ctx, as[0].ID)
	if err != nil || got.Name != "Dorm 1 宿舍1" || got.LossLow != -1 || got.LossHigh != 10 {
		t.Fatalf("%+v %v", got, err)
	}
	_, err = s.GetArea(ctx, 999)
	kind(t, "unknown", err, amigo.ENOTFOUND)
}

func findArea(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, _, _ := Fixture(t, s, 0)
	got, err := s.FindArea(ctx, site.ID, "Dorm 1 宿舍1")
	if err != nil || got.SiteID != site.ID {
		t.Fatalf("%+v %v", got, err)
	}
	_, err = s.FindArea(ctx, site.ID+1, "Dorm 1 宿舍1")
	kind(t, "other site", err, amigo.ENOTFOUND)
	kind(t, "same name in the site", s.CreateArea(ctx, &amigo.Area{SiteID: site.ID, Name: "Dorm 1 宿舍1"}), amigo.ECONFLICT)
	other := amigo.Site{Name: "Other"}
	s.CreateSite(ctx, &other)
	if err := s.CreateArea(ctx, &amigo.Area{SiteID: other.ID, Name: "Dorm 1 宿舍1"}); err != nil {
		t.Fatalf("same name in another site: %v", err)
	}
}

func updateArea(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, _, ms := Fixture(t, s, 1)
	a, _ := s.FindArea(ctx, site.ID, "Dorm 1 宿舍1")
	a.SupplyMeterID, a.LossLow, a.LossHigh = ms[0].ID, 2, 6.5
	if err := s.UpdateArea(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetArea(ctx, a.ID); got.SupplyMeterID != ms[0].ID || got.LossLow != 2 || got.LossHigh != 6.5 {
		t.Fatalf("%+v", got)
	}
	kind(t, "unknown", s.UpdateArea(ctx, amigo.Area{ID: 999, SiteID: site.ID, Name: "x"}), amigo.ENOTFOUND)
	kind(t, "no name", s.UpdateArea(ctx, amigo.Area{ID: a.ID, SiteID: site.ID}), amigo.EINVALID)
}

func retireArea(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, _, _ := Fixture(t, s, 0)
	a, _ := s.FindArea(ctx, site.ID, "Dorm 1 宿舍1")
	if err := s.RetireArea(ctx, a.ID, at); err != nil {
		t.Fatal(err)
	}
	kind(t, "twice", s.RetireArea(ctx, a.ID, at), amigo.ECONFLICT)
	if got, _ := s.ListAreas(ctx, site.ID); len(got) != 0 {
		t.Fatalf("retired area listed: %+v", got)
	}
	if got, _ := s.ListAreasBy(ctx, amigo.ArchiveFilter{SiteID: site.ID, IncludeRetired: true}); len(got) != 1 || !got[0].RetiredAt.Equal(at) {
		t.Fatalf("with retired: %+v", got)
	}
	_, err := s.FindArea(ctx, site.ID, a.Name)
	kind(t, "find retired", err, amigo.ENOTFOUND)
}

func updateCollector(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	_, c, _ := Fixture(t, s, 0)
	c.Name, c.PlainTCP, c.RegSecret, c.Address = "renamed", true, "s3cret", "0171-2083"
	if err := s.UpdateCollector(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindCollectorByAddress(ctx, "0171-2083")
	if err != nil || got.Name != "renamed" || !got.PlainTCP || got.RegSecret != "s3cret" || got.Status != amigo.StatusUnknown {
		t.Fatalf("%+v %v", got, err)
	}
	other := amigo.Collector{SiteID: c.SiteID, Address: "0171-1"}
	s.CreateCollector(ctx, &other)
	other.Address = "0171-2083"
	kind(t, "address taken", s.UpdateCollector(ctx, other), amigo.ECONFLICT)
	kind(t, "unknown", s.UpdateCollector(ctx, amigo.Collector{ID: 999, SiteID: c.SiteID, Address: "1-1"}), amigo.ENOTFOUND)
}

func retireCollector(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, c, _ := Fixture(t, s, 0)
	if err := s.RetireCollector(ctx, c.ID, at); err != nil {
		t.Fatal(err)
	}
	kind(t, "twice", s.RetireCollector(ctx, c.ID, at), amigo.ECONFLICT)
	if got, _ := s.ListCollectors(ctx, site.ID); len(got) != 0 {
		t.Fatalf("the scheduler's list has a retired collector: %+v", got)
	}
	if got, _ := s.ListCollectorsBy(ctx, amigo.ArchiveFilter{IncludeRetired: true}); len(got) != 1 || !got[0].RetiredAt.Equal(at) {
		t.Fatalf("with retired: %+v", got)
	}
	if got, err := s.FindCollectorByAddress(ctx, c.Address); err != nil || got.RetiredAt.IsZero() {
		t.Fatalf("find a retired collector: %+v %v", got, err)
	}
}

func retireMeter(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	_, c, ms := Fixture(t, s, 2)
	if err := s.RetireMeter(ctx, ms[0].ID, at); err != nil {
		t.Fatal(err)
	}
	kind(t, "twice", s.RetireMeter(ctx, ms[0].ID, at), amigo.ECONFLICT)
	kind(t, "unknown", s.RetireMeter(ctx, 999, at), amigo.ENOTFOUND)
	list, total, _ := s.ListMeters(ctx, amigo.MeterFilter{CollectorID: c.ID})
	if total != 1 || list[0].ID != ms[1].ID {
		t.Fatalf("in service: %d %+v", total, list)
	}
	list, total, _ = s.ListMeters(ctx, amigo.MeterFilter{CollectorID: c.ID, IncludeRetired: true})
	if total != 2 || !list[0].RemovedAt.Equal(at) {
		t.Fatalf("with retired: %d %+v", total, list)
	}
}

// A collector's archive revision counts every change to its meters'
// archive, whoever makes it, and not a status or relay write.
func archiveRev(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, c, ms := Fixture(t, s, 2)
	other := amigo.Collector{SiteID: site.ID, Name: "other", Address: "0171-7"}
	if err := s.CreateCollector(ctx, &other); err != nil {
		t.Fatal(err)
	}
	rev := func(id int64) int64 {
		t.Helper()
		got, err := s.GetCollector(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return got.ArchiveRev
	}
	step := func(what string, wantC, wantOther int64, f func() error) {
		t.Helper()
		c0, o0 := rev(c.ID), rev(other.ID)
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if dc, do := rev(c.ID)-c0, rev(other.ID)-o0; dc != wantC || do != wantOther {
			t.Fatalf("%s: revisions went up by %d and %d, want %d and %d", what, dc, do, wantC, wantOther)
		}
	}
	if rev(c.ID) < 1 {
		t.Fatalf("a collector with two meters created has revision %d", rev(c.ID))
	}
	step("status of both meters", 0, 0, func() error {
		return s.SetMetersStatus(ctx, []int64{ms[0].ID, ms[1].ID}, amigo.StatusOnline, "", at)
	})
	step("status of one meter", 0, 0, func() error { return s.SetMeterStatus(ctx, ms[0].ID, amigo.StatusOffline, "test", at) })
	step("relay", 0, 0, func() error { return s.SetMeterRelay(ctx, ms[0].ID, amigo.RelayOpen) })
	step("a meter created behind the other", 0, 1, func() error {
		return s.CreateMeter(ctx, &amigo.Meter{SiteID: site.ID, CollectorID: other.ID, Port: 1, Pn: 1, Address: "000000000777", Password: "02123456"})
	})
	m := ms[0]
	m.CTRatio = 40
	step("a CT ratio changed", 1, 0, func() error { return s.UpdateMeter(ctx, &m) })
	m.CollectorID, m.Pn = other.ID, 2
	step("a meter moved to the other", 1, 1, func() error { return s.UpdateMeter(ctx, &m) })
	step("a meter retired", 1, 0, func() error { return s.RetireMeter(ctx, ms[1].ID, at) })
}

func getUser(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	u := amigo.User{Username: "ops", PasswordHash: "h", Role: amigo.RoleOperator}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx, u.ID)
	if err != nil || got.Username != "ops" || got.Role != amigo.RoleOperator || got.TokenGen != 0 || !got.RetiredAt.IsZero() {
		t.Fatalf("%+v %v", got, err)
	}
	_, err = s.GetUser(ctx, 999)
	kind(t, "unknown", err, amigo.ENOTFOUND)
	kind(t, "same name", s.CreateUser(ctx, &amigo.User{Username: "ops", PasswordHash: "h", Role: amigo.RoleViewer}), amigo.ECONFLICT)
}

func listUsers(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		s.CreateUser(ctx, &amigo.User{Username: n, PasswordHash: "h", Role: amigo.RoleViewer})
	}
	b, _ := s.FindUserByUsername(ctx, "b")
	s.RetireUser(ctx, b.ID, at)
	got, err := s.ListUsers(ctx, amigo.ArchiveFilter{})
	if err != nil || len(got) != 2 || got[0].Username != "a" || got[1].Username != "c" {
		t.Fatalf("%+v %v", got, err)
	}
	if got, _ := s.ListUsers(ctx, amigo.ArchiveFilter{IncludeRetired: true}); len(got) != 3 {
		t.Fatalf("with retired: %+v", got)
	}
}

func updateUser(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	u := amigo.User{Username: "ops", PasswordHash: "h1", Role: amigo.RoleOperator}
	s.CreateUser(ctx, &u)
	// A role change keeps the tokens; a password change ends them.
	u.Role = amigo.RoleViewer
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetUser(ctx, u.ID); got.Role != amigo.RoleViewer || got.TokenGen != 0 {
		t.Fatalf("role change: %+v", got)
	}
	u.PasswordHash = "h2"
	s.UpdateUser(ctx, u)
	if got, _ := s.GetUser(ctx, u.ID); got.PasswordHash != "h2" || got.TokenGen != 1 {
		t.Fatalf("password change: %+v", got)
	}
	kind(t, "unknown", s.UpdateUser(ctx, amigo.User{ID: 999, PasswordHash: "h", Role: "viewer"}), amigo.ENOTFOUND)
}

func retireUser(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	u := amigo.User{Username: "ops", PasswordHash: "h", Role: amigo.RoleOperator}
	s.CreateUser(ctx, &u)
	if err := s.RetireUser(ctx, u.ID, at); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetUser(ctx, u.ID); !got.RetiredAt.Equal(at) || got.TokenGen != 1 {
		t.Fatalf("%+v", got)
	}
	kind(t, "twice", s.RetireUser(ctx, u.ID, at), amigo.ECONFLICT)
}

func raiseTokenGen(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	u := amigo.User{Username: "ops", PasswordHash: "h", Role: amigo.RoleOperator}
	s.CreateUser(ctx, &u)
	s.RaiseTokenGen(ctx, u.ID)
	s.RaiseTokenGen(ctx, u.ID)
	if got, _ := s.GetUser(ctx, u.ID); got.TokenGen != 2 {
		t.Fatalf("token generation %d, want 2", got.TokenGen)
	}
	kind(t, "unknown", s.RaiseTokenGen(ctx, 999), amigo.ENOTFOUND)
}
