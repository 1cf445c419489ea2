package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/collector"
	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// BenchmarkThousandMeters runs the real collector program in a child
// process on 1,000 virtual meters behind 8 TCP serial servers (125 a
// line), at full speed: real-time data every virtual minute at 600x, so
// every line is busy all the time. It reports the child's peak resident
// memory (VmHWM), how long the first cycles take to read the 30 daily
// freezes each meter holds and the collector lacks, and then the real-time
// readings committed per second per line.
//
//	go test -run '^$' -bench ThousandMeters -benchtime 1x ./cmd/amigo-collector
func BenchmarkThousandMeters(b *testing.B) {
	const lines, perLine = 8, 125
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Date(2026, 6, 1, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	// The meters are made 30 days before: at the first request they
	// catch up the days and hold 30 daily freezes the collector lacks.
	clock := &shifted{Clock: vclock.NewVirtual(start, 600)}
	clock.off.Store(int64(-30 * 24 * time.Hour))
	var ports []map[string]any
	var meters []map[string]any
	for k := range lines {
		first := fmt.Sprintf("%012d", k*perLine+1)
		fl, err := sim.Start(ctx, sim.Config{Meters: perLine, FirstAddress: first, Listen: "127.0.0.1:0", Seed: uint64(k + 1), Clock: clock, Location: start.Location()})
		if err != nil {
			b.Fatal(err)
		}
		ports = append(ports, map[string]any{"number": k + 1, "address": fl.Addr.String()})
		for i := range perLine {
			a, _ := sim.AddressN(first, i)
			meters = append(meters, map[string]any{"address": a.String(), "port": k + 1, "pn": k*perLine + i + 1})
		}
	}
	clock.off.Store(0)
	dir := b.TempDir()
	cfg := map[string]any{
		"terminal": "0171-78", "stations": []string{"127.0.0.1:1"}, "plain_tcp": true,
		"realtime_every": "1m", "timeout": "1s", "reconnect_max": "1s",
		"ports": ports, "meters": meters,
	}
	raw, _ := json.Marshal(cfg)
	conf := filepath.Join(dir, "collector.json")
	if err := os.WriteFile(conf, raw, 0o644); err != nil {
		b.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	args := fmt.Sprintf("--config %s --data %s --log-level warn --speed 600 --start %s", conf, data, start.Format(time.RFC3339))
	cmd, _ := runChild(b, args)
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}()

	// Count the committed real-time readings from outside (WAL: readers
	// do not stop the writer).
	var st *colsqlite.Store
	count := func(kind string) int {
		if st == nil {
			if _, err := os.Stat(filepath.Join(data, "collector.db")); err != nil {
				return 0
			}
			s, err := colsqlite.Open(filepath.Join(data, "collector.db"))
			if err != nil {
				return 0
			}
			st = s
		}
		n, _ := st.Undelivered(ctx, kind)
		return n
	}
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	waitCount := func(kind string, n int) time.Time {
		deadline := time.Now().Add(5 * time.Minute)
		for count(kind) < n {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d %s readings in 5 minutes", count(kind), n, kind)
			}
			<-tick.C
		}
		return time.Now()
	}
	t0 := time.Now()
	// The first cycles read 30 days of daily freezes of every meter.
	catchUp := waitCount(collector.KindDaily, 30*lines*perLine).Sub(t0)
	c1 := count(collector.KindRealtime)
	t1 := time.Now()
	t2 := waitCount(collector.KindRealtime, c1+10*lines*perLine)
	c2 := count(collector.KindRealtime)
	perSec := float64(c2-c1) / t2.Sub(t1).Seconds() / lines
	b.Logf("stored: %d daily, %d monthly, %d real-time", count(collector.KindDaily), count(collector.KindMonthly), count(collector.KindRealtime))
	hwm, rss := procStatus(b, cmd.Process.Pid, "VmHWM"), procStatus(b, cmd.Process.Pid, "VmRSS")
	b.ReportMetric(hwm/1024, "peak-RSS-MB")
	b.ReportMetric(rss/1024, "RSS-MB")
	b.ReportMetric(perSec, "readings/s/line")
	b.ReportMetric(catchUp.Seconds(), "30-day-catch-up-s")
	b.Logf("30 days of freezes of 1,000 meters read in %.1f s; then %d real-time readings in %.1f s: %.0f per second per line; VmHWM %.1f MB, VmRSS %.1f MB",
		catchUp.Seconds(), c2-c1, t2.Sub(t1).Seconds(), perSec, hwm/1024, rss/1024)
}

// shifted is a clock off by a settable offset.
type shifted struct {
	vclock.Clock
	off atomic.Int64
}

func (s *shifted) Now() time.Time { return s.Clock.Now().Add(time.Duration(s.off.Load())) }

// procStatus returns a kB figure of /proc/PID/status.
func procStatus(tb testing.TB, pid int, field string) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
