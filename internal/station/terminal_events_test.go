package station_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/sim"
)

// The collector's event log reaches the station: a meter clock found 50
// minutes fast (ERC 12), a meter cover opened (ERC 37), a meter relay that
// opened (ERC 33) and the collector's own power down and up (ERC 14)
// become one station event each, with the meter's and the collector's ids;
// a restart of the collector fetches nothing twice.
func TestCollectorEventsReachTheStation(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 6, 1, 23, 50, 0, 0, cst)
	a1, _ := sim.AddressN("000000000001", 0)
	a2, _ := sim.AddressN("000000000001", 1)
	a3, _ := sim.AddressN("000000000001", 2)
	s := startSystem(t, systemConfig{start: start, speed: 300, meters: 3})
	// The collector's first hourly pass is the meters' baseline (its
	// first clock check comes before the counters in the same cycle).
	waitFor(t, "the event counters' baseline", 30*time.Second, func() bool {
		v1, _ := s.colStore.GetState(ctx, "events_cover_open_"+a2.String())
		v2, _ := s.colStore.GetState(ctx, "relay_"+a3.String())
		return v1 != "" && v2 != ""
	})
	// Meter 1 gains 48 h a day from now: 2 minutes per virtual minute.
	// Set after the first check, however late a slow start made it, so
	// that the first check finds the clock right and the daily check
	// after 00:05 finds it off.
	if err := s.fleet.Bus.ApplyFault(a1.String() + ":drift:48h"); err != nil {
		t.Fatal(err)
	}
	m2, _ := s.fleet.Bus.Meter(a2)
	m3, _ := s.fleet.Bus.Meter(a3)
	m2.OpenCover()
	// Meter 3's relay opens by a 1CH trip on its own line (a prepayment
	// meter tripping, say): the collector learns it by reading it.
	until := dlt645.DateTimeOf(s.clock.Now().In(cst).Add(time.Hour))
	trip := dlt645.ControlRequest(a3, dlt645.ControlCommand{Type: dlt645.ControlTrip, Auth: dlt645.Auth{Level: 2, Password: 0x123456}, Until: until})
	wire, _ := dlt645.AppendFrame(nil, &trip)
	s.fleet.Bus.HandleBytes(wire, nil)
	if !m3.RelayOpen() {
		t.Fatal("the trip did not open meter 3's relay")
	}
	waitFor(t, "clock-off, cover and relay events at the station", 60*time.Second, func() bool {
		return len(s.events(amigo.EventClockOff)) > 0 && len(s.events(amigo.EventMeterCoverOpen)) > 0 && len(s.events(amigo.EventMeterRelayChanged)) > 0
	})
	// A restart of the collector is a power down and up.
	s.stopCol()
	s.startCol()
	waitFor(t, "the collector's power event", 60*time.Second, func() bool { return len(s.events(amigo.EventCollectorPowerDown)) > 0 })
	// Two more station passes after the restart: nothing arrives twice.
	passed := s.clock.Now().Add(40 * time.Minute)
	waitFor(t, "40 more minutes", 60*time.Second, func() bool { return s.clock.Now().After(passed) })
	for kind, meter := range map[string]int64{amigo.EventClockOff: s.meters[0].ID, amigo.EventMeterCoverOpen: s.meters[1].ID,
		amigo.EventMeterRelayChanged: s.meters[2].ID, amigo.EventCollectorPowerDown: 0} {
		es := s.events(kind)
		if len(es) != 1 {
			t.Errorf("%s: %d events, want 1: %+v", kind, len(es), es)
			continue
		}
		if es[0].MeterID != meter || es[0].CollectorID != s.collector.ID {
			t.Errorf("%s: meter %d collector %d, want %d and %d", kind, es[0].MeterID, es[0].CollectorID, meter, s.collector.ID)
		}
	}
	// The clock of meter 1 ran 2 min per minute from the baseline (before
	// 23:55 even on a slow start) until the check after 00:05: at least
	// 15 minutes fast, far beyond the 5 allowed.
	// reportClockOff writes the detail "offset <duration> found at <time>".
	if es := s.events(amigo.EventClockOff); len(es) == 1 {
		f := strings.Fields(es[0].Detail)
		var off time.Duration
		if len(f) >= 2 && f[0] == "offset" {
			off, _ = time.ParseDuration(f[1])
		}
		if off < 15*time.Minute {
			t.Errorf("clock-off detail %q: offset %s, want at least 15m", es[0].Detail, off)
		}
	}
	if es := s.events(amigo.EventMeterRelayChanged); len(es) == 1 && !strings.Contains(es[0].Message, "open") {
		t.Errorf("relay event %q", es[0].Message)
	}
	// Where the fetch stopped is kept: two important records (cover, relay)
	// then the power record = 3; one normal (the clock) = 1.
	if v, ok, err := s.store.GetState(ctx, "erc/"+strconv.FormatInt(s.collector.ID, 10)); err != nil || !ok || v != "3,1" {
		t.Errorf("stored pointers %q %v %v, want \"3,1\"", v, ok, err)
	}
}
