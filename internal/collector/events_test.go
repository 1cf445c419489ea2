package collector_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/q1376"
)

// AFN 05 F31 sets the collector's clock; the offset is kept, so a restart
// keeps the station's time. AFN 0C F2 reads it back.
func TestTimeSyncIsKept(t *testing.T) {
	dir := certs(t)
	station := freePort(t)
	p := newPeer(t, dir, station)
	r := startRig(t, time.Date(2026, 1, 1, 10, 0, 0, 0, cst), 1, 1, station, dir)
	<-p.login
	// The station says it is 2026-01-01 12:00:00: two hours ahead.
	want := time.Date(2026, 1, 1, 12, 0, 0, 0, cst)
	ans := p.ask(q1376.AFNControl, q1376.NewUnit(0, q1376.FnTimeSync, q1376.AppendClock(nil, q1376.ClockOf(want))))
	if ok, _ := ans[0].IsConfirm(); !ok {
		t.Fatal("time sync refused")
	}
	// The virtual clock runs at real speed: within a minute of 12:00.
	if d := r.c.Now().Sub(want); d < 0 || d > time.Minute {
		t.Fatalf("collector clock %s after the sync, want 12:00", r.c.Now())
	}
	ans = p.ask(q1376.AFNClass1, q1376.NewUnit(0, q1376.FnTerminalClock, nil))
	clk, err := q1376.ParseClock(ans[0].Units[0].Data)
	if err != nil || clk.Hour != 12 {
		t.Fatalf("terminal clock %+v %v", clk, err)
	}
	// A second collector on the same store (a restart) keeps the offset.
	c2, err := collector.New(collector.Config{Terminal: "0171-2082", Stations: []string{"127.0.0.1:1"}, PlainTCP: true, DataDir: t.TempDir(),
		Clock: r.clock, Loc: cst}, r.c.Store())
	if err != nil {
		t.Fatal(err)
	}
	if d := c2.Now().Sub(want); d < 0 || d > time.Minute {
		t.Fatalf("after a restart the clock is %s, want 12:00", c2.Now())
	}
}

// The store is bounded: with a cap of 10 readings, the oldest real-time
// data goes first, the daily data stays, and the loss is counted, logged
// and recorded as an event (ERC 250) the station can fetch.
func TestStoreCap(t *testing.T) {
	ctx := context.Background()
	st, err := colsqlite.Open(filepath.Join(t.TempDir(), "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// 3 daily readings (one delivered) and 12 real-time ones (two
	// delivered): 15 rows, 5 over the cap.
	for d := range 3 {
		st.Put(ctx, collector.Reading{Pn: 1, Kind: collector.KindDaily, T: t0.AddDate(0, 0, d), ReadAt: t0})
	}
	for i := range 12 {
		st.Put(ctx, collector.Reading{Pn: 1, Kind: collector.KindRealtime, T: t0.Add(time.Duration(i) * 15 * time.Minute), ReadAt: t0})
	}
	rt, _ := st.List(ctx, 1, collector.KindRealtime)
	dl, _ := st.List(ctx, 1, collector.KindDaily)
	st.MarkDelivered(ctx, []int64{rt[5].ID, rt[6].ID, dl[0].ID})
	losses, err := st.Trim(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	// 5 over: the 3 delivered rows go first, then the 2 oldest undelivered
	// real-time rows (00:00 and 00:15); every daily value not delivered stays.
	if len(losses) != 1 || losses[0].Kind != collector.KindRealtime || losses[0].Count != 2 ||
		!losses[0].From.Equal(t0) || !losses[0].To.Equal(t0.Add(15*time.Minute)) {
		t.Fatalf("losses %+v", losses)
	}
	rt, _ = st.List(ctx, 1, collector.KindRealtime)
	dl, _ = st.List(ctx, 1, collector.KindDaily)
	if len(rt) != 8 || len(dl) != 2 || !rt[0].T.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("left %d real-time (first %s) and %d daily", len(rt), rt[0].T, len(dl))
	}
	// Under the cap nothing goes, undelivered or not.
	if losses, err := st.Trim(ctx, 10); err != nil || len(losses) != 0 {
		t.Fatalf("second trim: %+v %v", losses, err)
	}
	// At a cap of 1 the real-time data goes before the daily data.
	losses, _ = st.Trim(ctx, 1)
	if len(losses) != 2 || losses[0].Kind != collector.KindRealtime || losses[0].Count != 8 || losses[1].Kind != collector.KindDaily || losses[1].Count != 1 {
		t.Fatalf("losses at cap 1: %+v", losses)
	}
}

// A running collector with a small cap reports what it dropped: a counter
// in its state and an ERC 250 record in its event log.
func TestStoreCapReported(t *testing.T) {
	ctx := context.Background()
	clock := vclock.NewVirtual(time.Date(2026, 5, 1, 10, 0, 0, 0, cst), 3600)
	dir := t.TempDir()
	st := openStore(t, dir)
	// A reading the station never confirmed, older than anything the
	// collector will read.
	st.Put(ctx, collector.Reading{Pn: 9, Kind: collector.KindRealtime, T: time.Date(2026, 5, 1, 0, 0, 0, 0, cst), ReadAt: time.Date(2026, 5, 1, 0, 0, 0, 0, cst)})
	c, err := collector.New(collector.Config{Terminal: "0171-2082", Stations: []string{freePort(t)}, PlainTCP: true, DataDir: dir, StoreCap: 1,
		Clock: clock, Loc: cst, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))}, st)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { c.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	// No ports, no meters: the only row is the old one, and the cap is 1;
	// so add one more and wait for the next cycle to drop the older.
	st.Put(ctx, collector.Reading{Pn: 9, Kind: collector.KindRealtime, T: time.Date(2026, 5, 1, 0, 15, 0, 0, cst), ReadAt: time.Date(2026, 5, 1, 0, 15, 0, 0, cst)})
	// reportLoss counts the loss in the state, then records the event:
	// wait for both.
	waitFor(t, "the loss to be reported", 30*time.Second, func() bool {
		v, _ := st.GetState(ctx, "lost_realtime")
		n, _ := st.EventCount(ctx, 1)
		return v == "1" && n >= 1
	})
	evs, err := st.Events(ctx, 1, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].ERC != q1376.ERCStoreLoss {
		t.Fatalf("event log %+v %v", evs, err)
	}
	e, err := q1376.ParseERC(q1376.EventRecord{ERC: evs[0].ERC, Data: evs[0].Data})
	if err != nil || e.Count != 1 || e.LostKind != q1376.LostRealtime || e.LostFrom.Hour != 0 || e.LostFrom.Minute != 0 {
		t.Fatalf("ERC 250 %+v %v", e, err)
	}
}
