package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/loadtest"
	"github.com/amigo-metering/amigo/internal/testdb"
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
	useBenchStationHelper(t)
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"bench", "--json", "--meters", "50", "--collectors", "5", "--gprs", "2",
		"--commands", "5", "--commands-per-s", "20", "--phase-timeout", "3m", "--raw-rows", "20000", "--stop-grace", "2s", "--cpuprofile", prof, "--trace", loadtest.PhaseIngest}, &out, &errb)
	if code != 0 {
		t.Fatalf("amigo bench exited %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"meters", "collectors", "store", "connect_s", "nightly_collection_s", "collected", "ingest_readings_per_s",
		"first_pass_readings_per_s", "raw_store_rows_per_s", "command_p50_ms", "command_p99_ms", "reconnect_s", "station_rss_mb", "rss_per_connection_kb",
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
	// At least one daily reading per meter (50) and two real-time readings
	// per meter behind a collector (48), of the first pass and of the
	// ingest phase's, the clock moved on between them, are stored.
	if num("readings_stored") < 50+2*48 {
		t.Errorf("readings_stored %v, want at least 146", res["readings_stored"])
	}
	for _, k := range []string{"connect_s", "nightly_collection_s", "ingest_readings_per_s", "raw_store_rows_per_s", "command_p50_ms",
		"reconnect_s", "station_rss_mb", "bytes_per_reading", "readings_table_bytes_per_reading", "cpu_s"} {
		if num(k) <= 0 {
			t.Errorf("%s = %v, want > 0", k, res[k])
		}
	}
	// The first pass counts from the storm's start: it holds the first
	// pass's span, which starts at the first real-time request.
	if num("first_pass_s") < num("first_pass_span_s") || num("first_pass_span_s") <= 0 {
		t.Errorf("first_pass_s %v, first_pass_span_s %v: want 0 < span <= first pass", res["first_pass_s"], res["first_pass_span_s"])
	}
	if num("ingest_span_s") <= 0 || num("ingest_start_spread_s") > num("ingest_span_s") {
		t.Errorf("ingest_span_s %v, ingest_start_spread_s %v: want 0 < spread <= span", res["ingest_span_s"], res["ingest_start_spread_s"])
	}
	if num("command_p50_ms") > num("command_p99_ms") {
		t.Errorf("command p50 %v > p99 %v", res["command_p50_ms"], res["command_p99_ms"])
	}
	if rss := num("station_rss_mb"); rss > 4096 {
		t.Errorf("station_rss_mb %v: not a station's size", rss)
	}
	// A CPU profile per phase, of the station and of the load generator,
	// each a complete profile.
	for _, phase := range []string{loadtest.PhaseStart, loadtest.PhaseStorm, loadtest.PhaseFirst, loadtest.PhaseIdle, loadtest.PhaseIngest, loadtest.PhaseNightly,
		loadtest.PhaseCommands, loadtest.PhaseStop, loadtest.PhaseRestart, loadtest.PhaseEnd} {
		checkCPUProfile(t, prof+"."+phase)
		checkCPUProfile(t, prof+"."+phase+".loadgen")
	}
	checkCPUProfile(t, prof+"."+loadtest.PhaseSetup+".loadgen")
	// --trace ingest: Go's execution trace of that phase, of both
	// processes, and of no other phase.
	for _, p := range []string{prof + "." + loadtest.PhaseIngest, prof + "." + loadtest.PhaseIngest + ".loadgen"} {
		b, err := os.ReadFile(p + ".trace")
		if err != nil {
			t.Errorf("execution trace of the ingest phase: %v", err)
		} else if !bytes.HasPrefix(b, []byte("go 1.")) || len(b) < 1024 {
			t.Errorf("%s.trace is not an execution trace (%d bytes, starts %q)", p, len(b), b[:min(len(b), 16)])
		}
	}
	if _, err := os.Stat(prof + "." + loadtest.PhaseNightly + ".trace"); err == nil {
		t.Errorf("an execution trace of the nightly phase, which was not asked for")
	}
	if _, err := os.Stat(prof + "." + loadtest.PhaseSetup); err == nil {
		t.Errorf("a station profile of the set-up, before the station started")
	}
}

// checkCPUProfile checks that path is a complete CPU profile as
// runtime/pprof writes it: a gzipped profile.proto whose string table
// names the sample types "samples"/"count" and "cpu"/"nanoseconds".
func checkCPUProfile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("CPU profile: %v", err)
		return
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Errorf("CPU profile %s: %v", path, err)
		return
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Errorf("CPU profile %s: incomplete: %v", path, err)
		return
	}
	strs := map[string]bool{}
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			t.Errorf("CPU profile %s: bad field key", path)
			return
		}
		b = b[n:]
		switch key & 7 {
		case 0: // varint
			_, n = binary.Uvarint(b)
			if n <= 0 {
				t.Errorf("CPU profile %s: bad varint", path)
				return
			}
			b = b[n:]
		case 2: // length-delimited
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				t.Errorf("CPU profile %s: bad length", path)
				return
			}
			if key>>3 == 6 { // string_table
				strs[string(b[n:n+int(l)])] = true
			}
			b = b[n+int(l):]
		default:
			t.Errorf("CPU profile %s: unexpected wire type %d", path, key&7)
			return
		}
	}
	for _, w := range []string{"samples", "count", "cpu", "nanoseconds"} {
		if !strs[w] {
			t.Errorf("CPU profile %s: no %q in its string table", path, w)
		}
	}
}

// useBenchStationHelper makes the bench start TestBenchStationHelper (this
// test binary) as its station processes until the test ends.
func useBenchStationHelper(t *testing.T) {
	old := benchStationCommand
	benchStationCommand = func(args ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestBenchStationHelper$", "--"}, args...)...)
		cmd.Env = append(os.Environ(), "AMIGO_BENCH_STATION_HELPER=1")
		return cmd
	}
	t.Cleanup(func() { benchStationCommand = old })
}

// TestBenchStations runs `amigo bench --stations 3` on a PostgreSQL
// database of its own: three station processes, each its own node, with 6
// collectors (294 meters) and 6 GPRS meters spread across them, and checks
// that every meter's freeze of the night is stored exactly once (no second,
// different one kept aside as a conflict), that every command succeeded, some of
// them posted to a station other than the one holding the meter's
// collector, and that each station's own figures are there.
func TestBenchStations(t *testing.T) {
	dsn := testdb.PostgresDSN(t)
	if testing.Short() {
		t.Skip("starts three station processes")
	}
	useBenchStationHelper(t)
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"bench", "--json", "--stations", "3", "--store", dsn, "--meters", "300", "--collectors", "6", "--gprs", "6",
		"--commands", "6", "--commands-per-s", "20", "--phase-timeout", "2m", "--raw-rows", "10000", "--stop-grace", "5s"}, &out, &errb)
	if code != 0 {
		t.Fatalf("amigo bench exited %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	var res struct {
		Stations, Meters, Collected int
		CommandsOK                  int  `json:"commands_succeeded"`
		CommandsFailed              int  `json:"commands_failed"`
		CommandsRouted              *int `json:"commands_routed"`
		Notes                       []string
		PerStation                  []struct {
			Node  int
			RSSMB *float64 `json:"station_rss_mb"`
			CPUS  *float64 `json:"cpu_s"`
		} `json:"per_station"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	if res.Stations != 3 || res.Meters != 300 {
		t.Errorf("run description: %s", out.String())
	}
	if res.Collected != 300 {
		t.Errorf("collected %d meters, want all 300\n%s", res.Collected, out.String())
	}
	if res.CommandsOK != 6 || res.CommandsFailed != 0 {
		t.Errorf("commands: %d succeeded, %d failed, want 6 and 0\n%s", res.CommandsOK, res.CommandsFailed, out.String())
	}
	// Command k goes to meter 50k behind collector k, which dials station k
	// mod 3 first; it is posted to station (k + k/3) mod 3: commands 3, 4
	// and 5 are posted to a station not holding the collector.
	if res.CommandsRouted == nil || *res.CommandsRouted < 1 {
		t.Errorf("commands_routed %v, want at least 1\n%s", res.CommandsRouted, out.String())
	}
	if len(res.PerStation) != 3 {
		t.Fatalf("per_station has %d entries, want 3\n%s", len(res.PerStation), out.String())
	}
	for i, s := range res.PerStation {
		if s.Node != i+1 || s.RSSMB == nil || *s.RSSMB <= 0 || s.CPUS == nil || *s.CPUS <= 0 {
			t.Errorf("per_station[%d] = %+v, want node %d with memory and CPU", i, s, i+1)
		}
	}
	if len(res.Notes) > 0 {
		t.Errorf("notes: %q", res.Notes)
	}

	// What the store holds: one freeze per meter, no conflict, and the
	// commands carried out by more than one node.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, meters, conflicts, nodes, succeeded int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT meter_id) FROM readings WHERE kind = $1`, amigo.KindDaily).Scan(&rows, &meters); err != nil {
		t.Fatal(err)
	}
	if rows != 300 || meters != 300 {
		t.Errorf("daily readings: %d rows of %d meters, want 300 of 300", rows, meters)
	}
	// A second, different freeze of the night would be kept aside as a
	// conflict (amigo.EventConflict, "a second, different daily reading").
	if err := db.QueryRow(`SELECT count(*) FROM events WHERE kind = $1 AND message LIKE '%daily reading%'`, amigo.EventConflict).Scan(&conflicts); err != nil {
		t.Fatal(err)
	}
	if conflicts != 0 {
		t.Errorf("%d conflicting daily readings kept aside, want none", conflicts)
	}
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT node) FROM commands WHERE status = $1`, amigo.CmdSucceeded).Scan(&succeeded, &nodes); err != nil {
		t.Fatal(err)
	}
	if succeeded != 6 || nodes < 2 {
		t.Errorf("commands in the store: %d succeeded, carried out by %d nodes; want 6 by at least 2", succeeded, nodes)
	}
}

// --stations above 1 needs a PostgreSQL store, and no external station:
// the bench says so in both languages before it starts anything.
func TestBenchStationsNeedsPostgres(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--stations", "3"}, "--stations 3 needs --store postgres://"},
		{[]string{"--stations", "2", "--store", "sqlite:" + filepath.Join(t.TempDir(), "a.db")}, "多个主站只能共用 PostgreSQL 存储"},
		{[]string{"--stations", "0"}, "--stations 0: want 1..64 / 主站数应为1..64"},
		{[]string{"--stations", "2", "--station", "http://127.0.0.1:1"}, "--stations cannot be used with --station"},
	} {
		var out, errb bytes.Buffer
		if code := run(t.Context(), append([]string{"bench"}, tc.args...), &out, &errb); code != 1 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("amigo bench %q: exit %d, stderr %q; want 1 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}
