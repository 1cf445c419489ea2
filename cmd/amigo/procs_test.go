package main

import (
	"io"
	"log/slog"
	"runtime"
	"testing"
)

// The station runs procs_per_cpu schedulers per CPU (2 by default), unless
// the environment's GOMAXPROCS says otherwise.
func TestSetProcs(t *testing.T) {
	cpus := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(cpus) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Setenv("GOMAXPROCS", "")
	setProcs(0, log)
	if got := runtime.GOMAXPROCS(0); got != 2*cpus {
		t.Fatalf("GOMAXPROCS %d with the default, want %d", got, 2*cpus)
	}
	runtime.GOMAXPROCS(cpus)
	setProcs(3, log)
	if got := runtime.GOMAXPROCS(0); got != 3*cpus {
		t.Fatalf("GOMAXPROCS %d with procs_per_cpu 3, want %d", got, 3*cpus)
	}
	runtime.GOMAXPROCS(cpus)
	setProcs(1000, log)
	if got := runtime.GOMAXPROCS(0); got != maxProcsPerCPU*cpus {
		t.Fatalf("GOMAXPROCS %d with procs_per_cpu 1000, want it capped at %d", got, maxProcsPerCPU*cpus)
	}
	runtime.GOMAXPROCS(cpus)
	t.Setenv("GOMAXPROCS", "1")
	setProcs(0, log)
	if got := runtime.GOMAXPROCS(0); got != cpus {
		t.Fatalf("GOMAXPROCS %d though the environment sets it, want it left at %d", got, cpus)
	}
}
