package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Group is several stations on one store (PostgreSQL), each its own node,
// seen by Run as one Station: started, clocked, stopped and measured
// together. Its Addrs are the first member's, with the others' in
// Addrs.More; the virtual collectors and GPRS meters are given them all
// and spread across them, and commands are posted to each member's API in
// turn.
type Group struct {
	Members []Station
	started bool // once: a later Start starts every member at once
}

// Start starts the members, concurrently. The first start starts the first
// member alone before the others: it is the one that creates what a fresh
// store lacks (the admin user, the API's token key), which concurrent
// first starts would race to create.
func (g *Group) Start(ctx context.Context, seg Segment) (Addrs, error) {
	if len(g.Members) == 0 {
		return Addrs{}, errors.New("loadtest: a group of no stations")
	}
	all := make([]Addrs, len(g.Members))
	errs := make([]error, len(g.Members))
	from := 0
	if !g.started {
		a, err := g.Members[0].Start(ctx, seg)
		if err != nil {
			return Addrs{}, fmt.Errorf("station 1: %w", err)
		}
		all[0], from = a, 1
	}
	var wg sync.WaitGroup
	for i := from; i < len(g.Members); i++ {
		wg.Go(func() {
			all[i], errs[i] = g.Members[i].Start(ctx, seg)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("station %d: %w", i+1, errs[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		// Those that did start are stopped: the caller stops only a
		// group that started.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		g.Stop(sctx)
		return Addrs{}, err
	}
	g.started = true
	first := all[0]
	first.More = all[1:]
	return first, nil
}

// SetClock moves every member's clock onto seg.
func (g *Group) SetClock(seg Segment) error {
	var errs []error
	for i, s := range g.Members {
		if err := s.SetClock(seg); err != nil {
			errs = append(errs, fmt.Errorf("station %d: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}

// Stop stops the members concurrently; the error wraps ErrKilled when any
// was killed.
func (g *Group) Stop(ctx context.Context) error {
	errs := make([]error, len(g.Members))
	var wg sync.WaitGroup
	for i, s := range g.Members {
		wg.Go(func() {
			if err := s.Stop(ctx); err != nil {
				errs[i] = fmt.Errorf("station %d: %w", i+1, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Phase tells every member that profiles itself the phase that begins.
func (g *Group) Phase(name string) error {
	var errs []error
	for i, s := range g.Members {
		if p, ok := s.(PhaseProfiler); ok {
			if err := p.Phase(name); err != nil {
				errs = append(errs, fmt.Errorf("station %d: %w", i+1, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Proc sums the running members' resident and peak memory and CPU time.
func (g *Group) Proc() (ProcStats, bool) {
	var sum ProcStats
	running := false
	for _, st := range g.Procs() {
		if st != nil {
			sum.RSSKB += st.RSSKB
			sum.PeakKB += st.PeakKB
			sum.CPU += st.CPU
			running = true
		}
	}
	return sum, running
}

// Procs is each member's Proc, nil for one not running.
func (g *Group) Procs() []*ProcStats {
	out := make([]*ProcStats, len(g.Members))
	for i, s := range g.Members {
		if st, ok := s.Proc(); ok {
			out[i] = &st
		}
	}
	return out
}

// CPU is the members' CPU time summed.
func (g *Group) CPU() time.Duration {
	var d time.Duration
	for _, s := range g.Members {
		d += s.CPU()
	}
	return d
}

// nodes lists a started station's listeners: the first and then those of
// the other members of a Group.
func (a Addrs) nodes() []Addrs {
	first := a
	first.More = nil
	return append([]Addrs{first}, a.More...)
}
