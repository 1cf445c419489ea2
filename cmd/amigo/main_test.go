package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the real program: with AMIGO_MAIN=1 the test
// binary is amigo itself (signals and exit codes included).
func TestMain(m *testing.M) {
	if os.Getenv("AMIGO_MAIN") == "1" {
		os.Args = append([]string{"amigo"}, strings.Fields(os.Getenv("AMIGO_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

func TestHelpGoesToStdoutAndExitsZero(t *testing.T) {
	cases := [][]string{
		{"--help"}, {"-h"}, {"help"}, {"help", "station"},
		{"station", "--help"}, {"station", "-h"}, {"demo", "--help"}, {"sim", "--help"}, {"sim", "-h"},
		{"frame", "--help"}, {"frame", "help"}, {"frame", "decode", "--help"}, {"frame", "encode", "--help"}, {"frame", "encode", "dlt645", "read", "--help"},
		{"ca", "--help"}, {"ca", "init", "--help"},
	}
	// Every registered command, and every command added later.
	for name := range commands {
		cases = append(cases, []string{name, "--help"}, []string{"help", name})
	}
	for _, args := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		if code != 0 || out.Len() == 0 || errb.Len() != 0 || !strings.Contains(out.String(), "用法") {
			t.Errorf("amigo %s: exit %d, stdout %d bytes, stderr %q", strings.Join(args, " "), code, out.Len(), errb.String())
		}
	}
	// No command: usage on stderr, exit 2.
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != 2 || out.Len() != 0 || !strings.Contains(errb.String(), "usage") {
		t.Errorf("amigo: exit %d, stdout %q", code, out.String())
	}
	// Unknown actions are named, in both languages, with exit 2.
	for _, args := range [][]string{{"frame", "explode"}, {"ca", "explode"}, {"nope"}} {
		out.Reset()
		errb.Reset()
		if code := run(context.Background(), args, &out, &errb); code != 2 || !strings.Contains(errb.String(), `"explode"`) && !strings.Contains(errb.String(), `"nope"`) || !strings.Contains(errb.String(), "未知") {
			t.Errorf("amigo %v: exit %d, stderr %q", args, code, errb.String())
		}
	}
}

func TestStationHelpListsEveryConfigKey(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"station", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, key := range jsonKeys(StationConfig{}) {
		if !strings.Contains(out.String(), "\n  "+key+" ") {
			t.Errorf("station --help does not list %q:\n%s", key, out.String())
		}
	}
	for _, flag := range []string{"-speed", "-start", "-config", "-log-format"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("station --help lacks %s", flag)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{arg}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "amigo ") || !strings.Contains(out.String(), "go1.") {
			t.Errorf("amigo %s: exit %d %q", arg, code, out.String())
		}
	}
}

// amigo sim --pty stops cleanly on SIGTERM and on Ctrl-C (SIGINT): the real
// program, in a child process.
func TestSimPtyStopsOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "AMIGO_MAIN=1", "AMIGO_ARGS=sim --pty --meters 2")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() && !strings.Contains(sc.Text(), "/dev/pts/") {
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%v: %v; stderr %s", sig, err, errb.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("amigo sim --pty did not stop on %v within 20 s", sig)
		}
	}
}

// jsonKeys returns the JSON names of v's exported fields.
func jsonKeys(v any) []string {
	var keys []string
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		keys = append(keys, name)
	}
	return keys
}
