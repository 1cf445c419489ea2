// Package storetest is the one behaviour suite every amigo.Store passes
// (SQLite and PostgreSQL alike).
package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
)

// Run runs the suite; open returns a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) amigo.Store) {
	t.Run("Entities", func(t *testing.T) { entities(t, open(t)) })
	t.Run("Readings", func(t *testing.T) { readings(t, open(t)) })
	t.Run("Cancelled", func(t *testing.T) { cancelled(t, open(t)) })
	t.Run("Commands", func(t *testing.T) { commands(t, open(t)) })
	t.Run("AuditAndEvents", func(t *testing.T) { auditAndEvents(t, open(t)) })
	t.Run("State", func(t *testing.T) { state(t, open(t)) })
	t.Run("ReadingQueries", func(t *testing.T) { readingQueries(t, open(t)) })
	t.Run("ReadingNames", func(t *testing.T) { readingNames(t, open(t)) })
	t.Run("Archive", func(t *testing.T) { runArchive(t, open) })
	t.Run("Tariffs", func(t *testing.T) { tariffs(t, open(t)) })
	t.Run("Nodes", func(t *testing.T) { runNodes(t, open) })
	t.Run("Money", func(t *testing.T) { money(t, open(t)) })
	t.Run("LedgerBatch", func(t *testing.T) { ledgerBatch(t, open(t)) })
	t.Run("PaymentOrders", func(t *testing.T) { paymentOrders(t, open(t)) })
	t.Run("Bills", func(t *testing.T) { bills(t, open(t)) })
	t.Run("BillsBatch", func(t *testing.T) { billsBatch(t, open(t)) })
	t.Run("ManyMeters", func(t *testing.T) { manyMeters(t, open(t)) })
}

// manyMeters: SetMetersStatus over more meters than one statement takes
// sets each of them and no other; ListMeters paged by AfterID lists every
// meter once, in id order.
func manyMeters(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, c, first := Fixture(t, s, 1)
	ids := []int64{first[0].ID}
	for i := range 1202 {
		m := amigo.Meter{SiteID: site.ID, Address: fmt.Sprintf("%012d", 500000+i), CollectorID: c.ID, Port: 1, Pn: i + 2}
		if err := s.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// All but the last two.
	if err := s.SetMetersStatus(ctx, ids[:len(ids)-2], amigo.StatusOnline, "", now); err != nil {
		t.Fatal(err)
	}
	if list, total, err := s.ListMeters(ctx, amigo.MeterFilter{Status: amigo.StatusOnline, Limit: 2000}); err != nil || total != len(ids)-2 || len(list) != len(ids)-2 {
		t.Fatalf("online meters: %d listed of %d, want %d: %v", len(list), total, len(ids)-2, err)
	}
	for _, id := range ids[len(ids)-2:] {
		if m, err := s.GetMeter(ctx, id); err != nil || m.Status == amigo.StatusOnline {
			t.Fatalf("meter %d not in the batch: status %q, %v", id, m.Status, err)
		}
	}
	var got []int64
	for after := int64(0); ; {
		list, total, err := s.ListMeters(ctx, amigo.MeterFilter{SiteID: site.ID, AfterID: after, NoTotal: true, Limit: 500})
		if err != nil || total != -1 {
			t.Fatalf("page after %d: total %d, %v", after, total, err)
		}
		for _, m := range list {
			got = append(got, m.ID)
		}
		if len(list) < 500 {
			break
		}
		after = list[len(list)-1].ID
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("paged by id: %d meters listed, want the %d created in id order", len(got), len(ids))
	}
}

// state: PutStateOnce lets the first caller win; PutState overwrites;
// DeleteState forgets.
func state(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, ok, err := s.GetState(ctx, "clockoff/7"); err != nil || ok {
		t.Fatalf("unset key: ok=%v err=%v", ok, err)
	}
	if first, err := s.PutStateOnce(ctx, "clockoff/7", "a", at); err != nil || !first {
		t.Fatalf("first PutStateOnce: %v %v", first, err)
	}
	if first, err := s.PutStateOnce(ctx, "clockoff/7", "b", at); err != nil || first {
		t.Fatalf("second PutStateOnce must lose: %v %v", first, err)
	}
	if v, ok, err := s.GetState(ctx, "clockoff/7"); err != nil || !ok || v != "a" {
		t.Fatalf("after once: %q %v %v", v, ok, err)
	}
	if err := s.PutState(ctx, "clockoff/7", "c", at); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := s.GetState(ctx, "clockoff/7"); v != "c" {
		t.Fatalf("after put: %q", v)
	}
	if err := s.DeleteState(ctx, "clockoff/7"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.GetState(ctx, "clockoff/7"); ok {
		t.Fatal("deleted key still set")
	}
}

// Fixture creates a site, an area, a collector and n meters behind it.
func Fixture(t *testing.T, s amigo.Store, n int) (amigo.Site, amigo.Collector, []amigo.Meter) {
	t.Helper()
	ctx := context.Background()
	site := amigo.Site{Name: "Campus 校园"}
	if err := s.CreateSite(ctx, &site); err != nil {
		t.Fatal(err)
	}
	area := amigo.Area{SiteID: site.ID, Name: "Dorm 1 宿舍1"}
	if err := s.CreateArea(ctx, &area); err != nil {
		t.Fatal(err)
	}
	c := amigo.Collector{SiteID: site.ID, Name: "c1", Address: "0171-2082"}
	if err := s.CreateCollector(ctx, &c); err != nil {
		t.Fatal(err)
	}
	var ms []amigo.Meter
	for i := range n {
		m := amigo.Meter{SiteID: site.ID, Address: "0000000000" + string(rune('1'+i/10)) + string(rune('0'+i%10)), AreaID: area.ID, CollectorID: c.ID, Port: 1, Pn: i + 1}
		if err := s.CreateMeter(ctx, &m); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return site, c, ms
}

func entities(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	site, c, ms := Fixture(t, s, 3)
	if got, err := s.GetSite(ctx, site.ID); err != nil || got.TimeZone != "Asia/Shanghai" {
		t.Fatalf("site %+v %v", got, err)
	}
	if err := s.CreateSite(ctx, &amigo.Site{Name: "x", TimeZone: "Mars/Olympus"}); amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatalf("bad time zone: %v", err)
	}
	got, err := s.FindCollectorByAddress(ctx, "0171-2082")
	if err != nil || got.ID != c.ID {
		t.Fatalf("find collector %+v %v", got, err)
	}
	if _, err := s.FindCollectorByAddress(ctx, "9999-1"); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("unknown collector: %v", err)
	}
	if err := s.CreateCollector(ctx, &amigo.Collector{SiteID: site.ID, Address: "0171-2082"}); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("duplicate collector: %v", err)
	}
	now := time.Unix(1_800_000_000, 0).UTC()
	if err := s.SetCollectorStatus(ctx, c.ID, amigo.StatusOnline, "", now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCollectorStatus(ctx, c.ID, amigo.StatusOnline, "", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetCollector(ctx, c.ID)
	if got.Status != amigo.StatusOnline || !got.Since.Equal(now) || !got.LastSeen.Equal(now.Add(time.Hour)) {
		t.Fatalf("status since %v last seen %v", got.Since, got.LastSeen)
	}
	m, err := s.FindMeterByAddress(ctx, ms[1].Address)
	if err != nil || m.ID != ms[1].ID || m.Relay != amigo.RelayUnknown || m.Password == "" {
		t.Fatalf("find meter %+v %v", m, err)
	}
	if err := s.CreateMeter(ctx, &amigo.Meter{SiteID: site.ID, Address: "12345", CollectorID: c.ID}); amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatalf("bad address: %v", err)
	}
	if err := s.CreateMeter(ctx, &amigo.Meter{SiteID: site.ID, Address: ms[0].Address, CollectorID: c.ID}); amigo.ErrorKind(err) != amigo.ECONFLICT {
		t.Fatalf("duplicate active meter: %v", err)
	}
	s.SetMeterStatus(ctx, ms[2].ID, amigo.StatusFaulty, "no answer", now)
	list, total, err := s.ListMeters(ctx, amigo.MeterFilter{CollectorID: c.ID, Limit: 2})
	if err != nil || total != 3 || len(list) != 2 {
		t.Fatalf("list %d of %d: %v", len(list), total, err)
	}
	// NoTotal: the same page, uncounted.
	if list2, total, err := s.ListMeters(ctx, amigo.MeterFilter{CollectorID: c.ID, Limit: 2, NoTotal: true}); err != nil || total != -1 || len(list2) != 2 || list2[1].ID != list[1].ID {
		t.Fatalf("list uncounted %d of %d: %v", len(list2), total, err)
	}
	list, total, _ = s.ListMeters(ctx, amigo.MeterFilter{Status: amigo.StatusFaulty})
	if total != 1 || list[0].Reason != "no answer" {
		t.Fatalf("faulty meters %+v", list)
	}
	// The direct (GPRS) meters alone: one, among the site's four.
	gprs := amigo.Meter{SiteID: site.ID, Address: "000000009901", Direct: true}
	if err := s.CreateMeter(ctx, &gprs); err != nil {
		t.Fatal(err)
	}
	if list, total, err := s.ListMeters(ctx, amigo.MeterFilter{SiteID: site.ID, DirectOnly: true}); err != nil || total != 1 || len(list) != 1 || list[0].ID != gprs.ID {
		t.Fatalf("direct meters %d %+v %v", total, list, err)
	}
	// Many at once: the status and its reason set, since kept for a meter
	// whose status stays (meter 3 was faulty at now already).
	later := now.Add(time.Hour)
	if err := s.SetMetersStatus(ctx, []int64{ms[1].ID, ms[2].ID}, amigo.StatusFaulty, "no answer", later); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMetersStatus(ctx, nil, amigo.StatusOnline, "", later); err != nil {
		t.Fatal(err)
	}
	list, total, _ = s.ListMeters(ctx, amigo.MeterFilter{Status: amigo.StatusFaulty})
	if total != 2 {
		t.Fatalf("faulty meters after the batch %+v", list)
	}
	for _, m := range list {
		want := later
		if m.ID == ms[2].ID {
			want = now
		}
		if m.Reason != "no answer" || !m.Since.Equal(want) {
			t.Fatalf("meter %d: reason %q since %s, want since %s", m.ID, m.Reason, m.Since, want)
		}
	}
	s.SetMetersStatus(ctx, []int64{ms[1].ID}, amigo.StatusUnknown, "", now)
	if err := s.SetMeterRelay(ctx, ms[0].ID, amigo.RelayOpen); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.GetMeter(ctx, ms[0].ID); m.Relay != amigo.RelayOpen {
		t.Fatalf("relay %s", m.Relay)
	}
	// A meter swap: the old meter is removed, a new one at the same address
	// may follow.
	old := ms[0]
	old.RemovedAt = now
	if err := s.UpdateMeter(ctx, &old); err != nil {
		t.Fatal(err)
	}
	repl := amigo.Meter{SiteID: site.ID, Address: old.Address, CollectorID: c.ID, Pn: 1, InstalledAt: now}
	if err := s.CreateMeter(ctx, &repl); err != nil {
		t.Fatalf("replacement at the same address: %v", err)
	}
	if m, _ := s.FindMeterByAddress(ctx, old.Address); m.ID != repl.ID {
		t.Fatalf("find by address gives the removed meter")
	}
	u := amigo.User{Username: "admin", PasswordHash: "x", Role: amigo.RoleAdmin}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindUserByUsername(ctx, "admin"); err != nil || got.Role != amigo.RoleAdmin {
		t.Fatalf("user %+v %v", got, err)
	}
}

func reading(m int64, t time.Time, kind string, kwh int64) amigo.Reading {
	r := amigo.Reading{MeterID: m, Time: t, Kind: kind, HasForward: true, Source: "test", ReceivedAt: t}
	r.Forward[0] = amigo.KWh(kwh)
	r.Forward[1] = amigo.KWh(kwh / 2)
	return r
}

func readings(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	_, _, ms := Fixture(t, s, 2)
	loc := amigo.Site{}.Location()
	d0 := time.Date(2026, 1, 31, 0, 0, 0, 0, loc) // crosses a month boundary in UTC
	var batch []amigo.Reading
	for d := range 5 {
		if d == 2 {
			continue // a gap
		}
		batch = append(batch, reading(ms[0].ID, d0.AddDate(0, 0, d), amigo.KindDaily, int64(100+10*d)))
	}
	res, err := s.WriteReadings(ctx, batch)
	if err != nil || res.Inserted != 4 {
		t.Fatalf("first write %+v %v", res, err)
	}
	// The same again is stored once; a different value is a conflict.
	changed := reading(ms[0].ID, d0, amigo.KindDaily, 999)
	res, err = s.WriteReadings(ctx, append(batch[:2:2], changed))
	if err != nil || res.Inserted != 0 || res.Duplicates != 2 || res.Conflicts != 1 {
		t.Fatalf("second write %+v %v", res, err)
	}
	got, err := s.ListReadings(ctx, ms[0].ID, amigo.KindDaily, d0, d0.AddDate(0, 0, 10))
	if err != nil || len(got) != 4 || got[0].Forward[0] != amigo.KWh(100) || got[0].Forward[0].String() != "100.00" {
		t.Fatalf("readings %+v %v", got, err)
	}
	if got[0].Time.In(loc).Hour() != 0 || got[0].Quality != amigo.QualityActual {
		t.Fatalf("time %v quality %s", got[0].Time.In(loc), got[0].Quality)
	}
	evs, n, _ := s.ListEvents(ctx, amigo.EventFilter{Kind: amigo.EventConflict})
	if n != 1 || evs[0].MeterID != ms[0].ID {
		t.Fatalf("conflict events %+v", evs)
	}
	last, err := s.LastReading(ctx, ms[0].ID, amigo.KindDaily)
	if err != nil || last.Forward[0] != amigo.KWh(140) {
		t.Fatalf("last %+v %v", last, err)
	}
	if _, err := s.LastReading(ctx, ms[1].ID, amigo.KindDaily); amigo.ErrorKind(err) != amigo.ENOTFOUND {
		t.Fatalf("no reading: %v", err)
	}
	times, err := s.ReadingTimes(ctx, []int64{ms[0].ID, ms[1].ID}, amigo.KindDaily, d0, d0.AddDate(0, 0, 5))
	if err != nil || len(times[ms[0].ID]) != 4 || len(times[ms[1].ID]) != 0 {
		t.Fatalf("times %v %v", times, err)
	}
	if _, err := s.WriteReadings(ctx, []amigo.Reading{{MeterID: ms[0].ID}}); amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatalf("invalid reading: %v", err)
	}
	// Power and voltage are optional and exact.
	p, v := int64(1234), int64(2352)
	rt := reading(ms[1].ID, d0, amigo.KindRealtime, 5)
	rt.PowerW, rt.VoltageDV = &p, &v
	s.WriteReadings(ctx, []amigo.Reading{rt})
	last, _ = s.LastReading(ctx, ms[1].ID, amigo.KindRealtime)
	if last.PowerW == nil || *last.PowerW != 1234 || *last.VoltageDV != 2352 {
		t.Fatalf("power/voltage %+v", last)
	}
}

func commands(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	_, _, ms := Fixture(t, s, 1)
	now := time.Unix(1_800_000_000, 0).UTC()
	c := amigo.Command{MeterID: ms[0].ID, Type: amigo.CmdDisconnect, RequestedBy: "admin", CreatedAt: now, ExpiresAt: now.Add(time.Hour), NextAttemptAt: now}
	if err := s.CreateCommand(ctx, &c); err != nil || c.Status != amigo.CmdPending {
		t.Fatal(err)
	}
	if err := s.CreateCommand(ctx, &amigo.Command{MeterID: ms[0].ID, Type: "explode"}); amigo.ErrorKind(err) != amigo.EINVALID {
		t.Fatalf("bad type: %v", err)
	}
	due, err := s.DueCommands(ctx, now, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due %v %v", due, err)
	}
	c.Status, c.Attempts, c.NextAttemptAt = amigo.CmdSent, 1, now.Add(time.Minute)
	s.UpdateCommand(ctx, c)
	if due, _ := s.DueCommands(ctx, now, 10); len(due) != 0 {
		t.Fatal("a command is due before its next attempt")
	}
	c.Status, c.Result = amigo.CmdSucceeded, "relay open"
	s.UpdateCommand(ctx, c)
	got, err := s.GetCommand(ctx, c.ID)
	if err != nil || got.Status != amigo.CmdSucceeded || got.Result != "relay open" || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("command %+v %v", got, err)
	}
	if due, _ := s.DueCommands(ctx, now.Add(time.Hour), 10); len(due) != 0 {
		t.Fatal("a finished command is due")
	}
}

func auditAndEvents(t *testing.T, s amigo.Store) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0).UTC()
	for i := range 3 {
		if err := s.AppendAudit(ctx, amigo.AuditEntry{Time: now, Actor: "admin", Action: "command.create", Object: "meter 1", Detail: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	log, err := s.ListAudit(ctx, 10)
	if err != nil || len(log) != 3 || log[0].Detail != "c" {
		t.Fatalf("audit %+v %v", log, err)
	}
	for i := range 5 {
		s.AppendEvents(ctx, amigo.Event{Time: now.Add(time.Duration(i) * time.Minute), Kind: amigo.EventJump, MeterID: 7, Message: "jump"})
	}
	evs, total, err := s.ListEvents(ctx, amigo.EventFilter{MeterID: 7, Limit: 2, Offset: 1})
	if err != nil || total != 5 || len(evs) != 2 || !evs[0].Time.After(evs[1].Time) {
		t.Fatalf("events %+v %d %v", evs, total, err)
	}
}

// BenchWrite measures WriteReadings with batches of 1000 readings (one day
// of 1000 meters per batch) and reports readings per second.
func BenchWrite(b *testing.B, s amigo.Store) { BenchWriteN(b, s, 1000) }

// BenchWriteN writes batches of n new daily readings (n meters, one day per
// batch), one transaction each, and reports readings/s.
func BenchWriteN(b *testing.B, s amigo.Store, n int) {
	ctx := context.Background()
	site := amigo.Site{Name: "bench"}
	s.CreateSite(ctx, &site)
	c := amigo.Collector{SiteID: site.ID, Address: "0001-1"}
	s.CreateCollector(ctx, &c)
	batch := make([]amigo.Reading, n)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 0
	b.ResetTimer()
	for b.Loop() {
		for i := range batch {
			batch[i] = reading(int64(i+1), start.AddDate(0, 0, day), amigo.KindDaily, int64(day*10+i))
		}
		day++
		res, err := s.WriteReadings(ctx, batch)
		if err != nil || res.Inserted != len(batch) {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "readings/s")
}
