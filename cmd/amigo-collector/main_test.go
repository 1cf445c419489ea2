package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/collector/colsqlite"
	"github.com/amigo-metering/amigo/internal/sim"
	"github.com/amigo-metering/amigo/internal/vclock"
)

func TestMain(m *testing.M) {
	if os.Getenv("AMIGO_COLLECTOR_CHILD") == "1" {
		os.Exit(Main(context.Background(), strings.Fields(os.Getenv("AMIGO_COLLECTOR_ARGS")), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

type storedLine struct {
	Msg  string    `json:"msg"`
	Pn   uint16    `json:"pn"`
	Kind string    `json:"kind"`
	T    time.Time `json:"t"`
}

// runChild starts the real collector program in a child process and returns
// it with the readings it reports stored, as they come.
func runChild(t testing.TB, args string) (*exec.Cmd, chan storedLine) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AMIGO_COLLECTOR_CHILD=1", "AMIGO_COLLECTOR_ARGS="+args)
	out, err := cmd.StderrPipe() // the log, JSON lines
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = os.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan storedLine, 10000)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l storedLine
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "stored" {
				ch <- l
			}
		}
		close(ch)
	}()
	return cmd, ch
}

// kill -9 of the collector in the middle of a read cycle loses nothing it
// reported stored, and a restart does not store a day twice.
func TestKill9LosesNothingStored(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Date(2026, 4, 1, 23, 30, 0, 0, time.FixedZone("CST", 8*3600))
	fl, err := sim.Start(ctx, sim.Config{Meters: 20, Listen: "127.0.0.1:0", Seed: 4, Clock: vclock.NewVirtual(start, 600)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := map[string]any{
		"terminal": "0171-77", "stations": []string{"127.0.0.1:1"}, "plain_tcp": true,
		"realtime_every": "1m", "timeout": "1s", "reconnect_max": "1s",
		"ports": []map[string]any{{"number": 1, "address": fl.Addr.String()}},
	}
	var meters []map[string]any
	for i := range 20 {
		a, _ := sim.AddressN("000000000001", i)
		meters = append(meters, map[string]any{"address": a.String(), "port": 1, "pn": i + 1})
	}
	cfg["meters"] = meters
	b, _ := json.Marshal(cfg)
	conf := filepath.Join(dir, "collector.json")
	os.WriteFile(conf, b, 0o644)
	data := filepath.Join(dir, "data")
	args := fmt.Sprintf("--config %s --data %s --log-level debug --speed 600 --start %s", conf, data, start.Format(time.RFC3339))

	var reported []storedLine
	for round := range 2 {
		cmd, ch := runChild(t, args)
		// Kill it hard in the middle of a cycle: after some readings,
		// while more are being read.
		want := 25 + round*10
		deadline := time.After(30 * time.Second)
		for n := 0; n < want; {
			select {
			case l, ok := <-ch:
				if !ok {
					t.Fatal("the collector exited")
				}
				reported = append(reported, l)
				n++
			case <-deadline:
				t.Fatalf("only %d readings stored in 30 s", n)
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		for l := range ch {
			reported = append(reported, l) // lines written before the kill
		}
	}
	st, err := colsqlite.Open(filepath.Join(data, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[string]bool{}
	for _, l := range reported {
		ok, err := st.Has(context.Background(), l.Pn, l.Kind, l.T)
		if err != nil || !ok {
			t.Errorf("reported stored but lost: p%d %s %s (%v)", l.Pn, l.Kind, l.T, err)
		}
		key := fmt.Sprint(l.Pn, l.Kind, l.T.Unix())
		if seen[key] {
			t.Errorf("stored twice: %s", key)
		}
		seen[key] = true
	}
	t.Logf("%d readings reported stored across two kill -9s, all present once", len(reported))
	if len(reported) < 35 {
		t.Fatalf("only %d readings reported", len(reported))
	}
}

func TestHelpAndBadFlags(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		var out, errb strings.Builder
		if code := Main(context.Background(), []string{arg}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--config") || !strings.Contains(out.String(), "用法") || errb.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, code, out.String(), errb.String())
		}
	}
	var out, errb strings.Builder
	if code := Main(context.Background(), []string{"--log-level", "loud"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--log-level") {
		t.Errorf("bad level: exit %d %q", code, errb.String())
	}
}
