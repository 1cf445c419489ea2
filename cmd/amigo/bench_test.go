package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
)

// TestBenchStationHelper is the child station process of TestBench (the
// test binary stands in for the amigo binary); run directly, it skips.
func TestBenchStationHelper(t *testing.T) {
	if os.Getenv("AMIGO_BENCH_STATION_HELPER") != "1" {
		t.Skip("the child station of TestBench")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	code := run(ctx, append([]string{"bench"}, args...), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// TestBench runs `amigo bench --json` end to end on a small fleet: a child
// station on a fresh SQLite store, 5 TLS collectors with 48 meters and 2
// GPRS meters, and checks that every meter's night was collected and every
// figure is there and sane. No figure is held to a time.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a station process")
	}
	old := benchStationCommand
	benchStationCommand = func(args ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestBenchStationHelper$", "--"}, args...)...)
		cmd.Env = append(os.Environ(), "AMIGO_BENCH_STATION_HELPER=1")
		return cmd
	}
	t.Cleanup(func() { benchStationCommand = old })
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"bench", "--json", "--meters", "50", "--collectors", "5", "--gprs", "2",
		"--commands", "5", "--commands-per-s", "20", "--phase-timeout", "3m", "--raw-rows", "20000", "--stop-grace", "2s", "--cpuprofile", prof}, &out, &errb)
	if code != 0 {
		t.Fatalf("amigo bench exited %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"meters", "collectors", "store", "connect_s", "nightly_collection_s", "collected", "ingest_readings_per_s",
		"raw_store_rows_per_s", "command_p50_ms", "command_p99_ms", "reconnect_s", "station_rss_mb", "rss_per_connection_kb",
		"bytes_per_reading", "readings_table_bytes_per_reading", "cpu_s"} {
		if v, ok := res[k]; !ok || v == nil {
			t.Errorf("%s missing or null in %s", k, out.String())
		}
	}
	num := func(k string) float64 { f, _ := res[k].(float64); return f }
	// 50 meters in all: 48 behind the collectors (5 collectors: 10, 10, 10,
	// 9, 9) and 2 GPRS meters; every one has its freeze of the night.
	if num("meters") != 50 || num("collectors") != 5 || num("gprs") != 2 || res["store"] != "sqlite" {
		t.Errorf("run description: %s", out.String())
	}
	if num("collected") != 50 {
		t.Errorf("collected %v meters, want all 50", res["collected"])
	}
	if num("commands_succeeded") != 5 || num("commands_failed") != 0 {
		t.Errorf("commands: %v succeeded, %v failed, want 5 and 0", res["commands_succeeded"], res["commands_failed"])
	}
	// At least one daily reading per meter (50) and one real-time reading
	// per meter behind a collector (48) are stored.
	if num("readings_stored") < 50+48 {
		t.Errorf("readings_stored %v, want at least 98", res["readings_stored"])
	}
	for _, k := range []string{"connect_s", "nightly_collection_s", "ingest_readings_per_s", "raw_store_rows_per_s", "command_p50_ms",
		"reconnect_s", "station_rss_mb", "bytes_per_reading", "readings_table_bytes_per_reading", "cpu_s"} {
		if num(k) <= 0 {
			t.Errorf("%s = %v, want > 0", k, res[k])
		}
	}
	if num("command_p50_ms") > num("command_p99_ms") {
		t.Errorf("command p50 %v > p99 %v", res["command_p50_ms"], res["command_p99_ms"])
	}
	if rss := num("station_rss_mb"); rss > 4096 {
		t.Errorf("station_rss_mb %v: not a station's size", rss)
	}
	for _, p := range []string{prof, prof + ".loadgen"} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("CPU profile %s missing or empty: %v", p, err)
		}
	}
}
