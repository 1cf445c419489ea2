package station

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// A clock off by more than 5 minutes raises one event per incident,
// however often it is reported, on later days while it stays off, and
// across a restart of the station; the readings of each day it is found off
// carry FlagClockOff, the day before does not. A check within tolerance
// closes the incident: the next time it is off is a new event.
func TestReportClockOffOncePerIncidentAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	s, reopen := openStore(t)
	site, _, ms := fixture(t, s, "Asia/Shanghai", 1)
	m := ms[0]
	loc := site.Location()
	at := time.Date(2026, 3, 10, 9, 0, 0, 0, loc)
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, loc)
	rs := []amigo.Reading{
		{MeterID: m.ID, Time: day.AddDate(0, 0, -1), Kind: amigo.KindDaily, Forward: [5]amigo.Energy{amigo.KWh(100)}, HasForward: true, ReceivedAt: at},
		{MeterID: m.ID, Time: day, Kind: amigo.KindDaily, Forward: [5]amigo.Energy{amigo.KWh(110)}, HasForward: true, ReceivedAt: at},
		{MeterID: m.ID, Time: at.Add(-15 * time.Minute), Kind: amigo.KindRealtime, Forward: [5]amigo.Energy{amigo.KWh(113)}, HasForward: true, ReceivedAt: at},
	}
	if _, err := s.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	e := newEngine(s, nil, vclock.NewManual(at))
	// 4 min 59 s is within the 5-minute tolerance: nothing.
	if err := e.reportClockOff(ctx, m, 4*time.Minute+59*time.Second, at); err != nil {
		t.Fatal(err)
	}
	if n := len(events(t, s, amigo.EventClockOff)); n != 0 {
		t.Fatalf("within tolerance: %d events", n)
	}
	// 7 min behind: one event; the collector reporting 9 min an hour later
	// raises nothing more that day.
	e.reportClockOff(ctx, m, -7*time.Minute, at)
	e.reportClockOff(ctx, m, 9*time.Minute, at.Add(time.Hour))
	if es := events(t, s, amigo.EventClockOff); len(es) != 1 || es[0].MeterID != m.ID || es[0].Message != "meter 000000000001: clock is off by 7m0s (behind / 慢), more than 5m0s / 电表时钟偏差超过5分钟" {
		t.Fatalf("events %+v", es)
	}
	// A restart: a new engine on the same store file raises nothing twice.
	s2 := reopen()
	e2 := newEngine(s2, nil, vclock.NewManual(at.Add(2*time.Hour)))
	if err := e2.reportClockOff(ctx, m, 8*time.Minute, at.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(events(t, s2, amigo.EventClockOff)); n != 1 {
		t.Fatalf("after restart: %d events, want 1", n)
	}
	got, _ := s2.ListReadings(ctx, m.ID, "", day.AddDate(0, 0, -1), day.AddDate(0, 0, 1))
	if len(got) != 3 || got[0].Flags != 0 || got[1].Flags != amigo.FlagClockOff || got[2].Flags != amigo.FlagClockOff {
		t.Fatalf("flags %d %d %d, want 0 (day before) %d %d", got[0].Flags, got[1].Flags, got[2].Flags, amigo.FlagClockOff, amigo.FlagClockOff)
	}
	// Still off the next site day: the same incident, no new event.
	e2.reportClockOff(ctx, m, 8*time.Minute, at.AddDate(0, 0, 1))
	if n := len(events(t, s2, amigo.EventClockOff)); n != 1 {
		t.Fatalf("next day, still off: %d events, want 1", n)
	}
	// Set right (a check finds 10 s): the incident closes; off again two
	// days later is a new event.
	e2.reportClockOff(ctx, m, 10*time.Second, at.AddDate(0, 0, 2))
	e2.reportClockOff(ctx, m, -6*time.Minute, at.AddDate(0, 0, 3))
	if n := len(events(t, s2, amigo.EventClockOff)); n != 2 {
		t.Fatalf("off again after being set right: %d events, want 2", n)
	}
}

// A direct GPRS meter whose clock is 12 minutes ahead: its readings of the
// pass are flagged and one event is raised; the next passes, and a
// restarted station, raise nothing more.
func TestDirectMeterClockOff(t *testing.T) {
	ctx := context.Background()
	s, reopen := openStore(t)
	loc, _ := time.LoadLocation("Asia/Shanghai")
	start := time.Date(2026, 3, 7, 12, 0, 0, 0, loc)
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, loc)
	clock := vclock.NewManual(start)
	site := amigo.Site{Name: "gprs", TimeZone: "Asia/Shanghai"}
	s.CreateSite(ctx, &site)
	m := amigo.Meter{SiteID: site.ID, Address: "000000000077", Direct: true, InstalledAt: start}
	if err := s.CreateMeter(ctx, &m); err != nil {
		t.Fatal(err)
	}
	addr, _ := dlt645.ParseAddress(m.Address)
	bus := sim.NewBus(clock, sim.NewMeter(sim.MeterConfig{Address: addr, Phases: 1, Seed: 1, Auth: sim.DefaultAuth}, start))
	clock.Set(now)
	// Set the meter's clock 12 minutes ahead with a broadcast time sync.
	ahead := dlt645.BroadcastTimeRequest(dlt645.Broadcast, dlt645.DateTimeOf(now.Add(12*time.Minute)))
	bus.Handle(&ahead, nil)
	front := directFront{m.Address: busLink{bus}}
	e := newEngine(s, front, clock)
	e.collectDirect(ctx, site)
	es := events(t, s, amigo.EventClockOff)
	if len(es) != 1 || es[0].Message != "meter 000000000077: clock is off by 12m0s (ahead / 快), more than 5m0s / 电表时钟偏差超过5分钟" {
		t.Fatalf("events %+v", es)
	}
	today := amigo.Day(now, loc)
	rs, _ := s.ListReadings(ctx, m.ID, "", today, today.AddDate(0, 0, 1))
	if len(rs) != 2 { // today's 00:00 freeze and the 08:00 real-time registers
		t.Fatalf("%d readings of today", len(rs))
	}
	for _, r := range rs {
		if r.Flags&amigo.FlagClockOff == 0 {
			t.Fatalf("%s reading of %s not flagged: %d", r.Kind, r.Time, r.Flags)
		}
	}
	old, _ := s.ListReadings(ctx, m.ID, amigo.KindDaily, start, today)
	if len(old) != 2 || old[0].Flags != 0 || old[1].Flags != 0 { // 03-09 and 03-08 00:00, read with the clock right
		t.Fatalf("earlier freezes %+v", old)
	}
	clock.Set(now.Add(15 * time.Minute))
	e.collectDirect(ctx, site)
	clock.Set(now.Add(30 * time.Minute))
	newEngine(reopen(), front, clock).collectDirect(ctx, site)
	if n := len(events(t, s, amigo.EventClockOff)); n != 1 {
		t.Fatalf("after more passes and a restart: %d events, want 1", n)
	}
}

// A direct GPRS meter read in a slot and read again in the same slot by a
// restarted station (or another node, after the meter moved to it) keeps
// its first reading of the slot and raises no conflict, though its
// registers went on in between.
func TestDirectMeterSlotReadOnce(t *testing.T) {
	ctx := context.Background()
	s, reopen := openStore(t)
	loc, _ := time.LoadLocation("Asia/Shanghai")
	start := time.Date(2026, 3, 7, 12, 0, 0, 0, loc)
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, loc)
	clock := vclock.NewManual(start)
	site := amigo.Site{Name: "gprs", TimeZone: "Asia/Shanghai"}
	s.CreateSite(ctx, &site)
	m := amigo.Meter{SiteID: site.ID, Address: "000000000078", Direct: true, InstalledAt: start}
	if err := s.CreateMeter(ctx, &m); err != nil {
		t.Fatal(err)
	}
	addr, _ := dlt645.ParseAddress(m.Address)
	bus := sim.NewBus(clock, sim.NewMeter(sim.MeterConfig{Address: addr, Phases: 1, Seed: 1, Auth: sim.DefaultAuth, Profile: sim.Home}, start))
	front := directFront{m.Address: busLink{bus}}
	clock.Set(now.Add(time.Minute))
	newEngine(s, front, clock).collectDirect(ctx, site)
	first, _ := s.ListReadings(ctx, m.ID, amigo.KindRealtime, now, now.Add(time.Hour))
	if len(first) != 1 {
		t.Fatalf("%d real-time readings after the first pass, want 1", len(first))
	}
	clock.Set(now.Add(14 * time.Minute))
	newEngine(reopen(), front, clock).collectDirect(ctx, site)
	got, _ := s.ListReadings(ctx, m.ID, amigo.KindRealtime, now, now.Add(time.Hour))
	if len(got) != 1 || got[0].Forward != first[0].Forward {
		t.Fatalf("real-time readings after the second pass: %+v, want the first one alone %+v", got, first)
	}
	if es := events(t, s, amigo.EventConflict); len(es) != 0 {
		t.Fatalf("conflicts %+v, want none", es)
	}
}

// statusCounter counts the meter status writes.
type statusCounter struct {
	amigo.Store
	mu     sync.Mutex
	status int
}

func (c *statusCounter) SetMeterStatus(ctx context.Context, id int64, status, reason string, at time.Time) error {
	c.mu.Lock()
	c.status++
	c.mu.Unlock()
	return c.Store.SetMeterStatus(ctx, id, status, reason, at)
}

// A GPRS meter that answers pass after pass has its status written once,
// when it comes online, not every pass.
func TestDirectMeterStatusWrittenOnChange(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	loc, _ := time.LoadLocation("Asia/Shanghai")
	start := time.Date(2026, 3, 7, 12, 0, 0, 0, loc)
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, loc)
	clock := vclock.NewManual(start)
	site := amigo.Site{Name: "gprs", TimeZone: "Asia/Shanghai"}
	s.CreateSite(ctx, &site)
	m := amigo.Meter{SiteID: site.ID, Address: "000000000079", Direct: true, InstalledAt: start}
	if err := s.CreateMeter(ctx, &m); err != nil {
		t.Fatal(err)
	}
	addr, _ := dlt645.ParseAddress(m.Address)
	bus := sim.NewBus(clock, sim.NewMeter(sim.MeterConfig{Address: addr, Phases: 1, Seed: 1, Auth: sim.DefaultAuth, Profile: sim.Home}, start))
	cs := &statusCounter{Store: s}
	e := newEngine(cs, directFront{m.Address: busLink{bus}}, clock)
	for i := range 3 {
		clock.Set(now.Add(time.Duration(i) * 15 * time.Minute))
		e.collectDirect(ctx, site)
	}
	got, err := s.GetMeter(ctx, m.ID)
	if err != nil || got.Status != amigo.StatusOnline {
		t.Fatalf("meter status %q, %v; want online", got.Status, err)
	}
	rs, _ := s.ListReadings(ctx, m.ID, amigo.KindRealtime, now, now.Add(time.Hour))
	if len(rs) != 3 {
		t.Fatalf("%d real-time readings after three passes, want 3", len(rs))
	}
	if cs.status != 1 {
		t.Fatalf("%d status writes in three passes, want 1", cs.status)
	}
}
