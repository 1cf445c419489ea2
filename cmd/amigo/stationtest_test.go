package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/pki"
)

// testStationConfig is a station on a SQLite file in dir, its API and
// collector listener on free loopback ports, with a new CA in dir/ca and
// the station's certificate for 127.0.0.1, and admin's password
// "correct-horse-battery".
func testStationConfig(t *testing.T, dir string) StationConfig {
	t.Helper()
	ca := filepath.Join(dir, "ca")
	if err := pki.InitCA(ca, "test CA"); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssueServer(ca, ca, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	return StationConfig{Store: "sqlite:" + filepath.Join(dir, "amigo.db"), HTTP: "127.0.0.1:0", CollectorsTLS: "127.0.0.1:0",
		CAFile: filepath.Join(ca, pki.CACert), CertFile: filepath.Join(ca, "station.crt"), KeyFile: filepath.Join(ca, "station.key"),
		AdminPassword: "correct-horse-battery", log: slog.New(slog.DiscardHandler)}
}

// startStation runs the station of cfg until the test ends (a failure to
// end cleanly fails the test) and returns its addresses once it listens.
func startStation(t *testing.T, cfg StationConfig) stationAddrs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan stationAddrs, 1)
	done := make(chan error, 1)
	cfg.ready = func(a stationAddrs) { up <- a }
	go func() { done <- stationMain(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("station: %v", err)
		}
	})
	select {
	case a := <-up:
		return a
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("station not up in 30 s")
	}
	return stationAddrs{}
}
