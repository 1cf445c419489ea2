// Command tracewait reads a Go execution trace of the station (amigo bench
// --cpuprofile FILE --trace ingest writes FILE.ingest.trace) and prints,
// per kind of goroutine, the time its goroutines ran and the time they
// were runnable but waited for a CPU, plus how long the group committer's
// waits for a CPU were. The kind is taken from the goroutine's stack
// (the outermost station function it knows).
//
//	go run . FILE.ingest.trace
//
// It is a module of its own so that the station does not depend on
// golang.org/x/exp.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// kinds maps a function name's part to the kind of goroutine running it,
// looked up from the outermost frame inwards.
var kinds = []struct{ part, kind string }{
	{"(*committer).run", "committer"},
	{"(*Engine).loop", "scheduler loop"},
	{"(*scheduler).start", "collector jobs"},
	{"(*commitSet).commit", "commit goroutines"},
	{"gcBgMarkWorker", "GC workers"},
	{"internal/fep.", "front end"},
	{"net/http.", "API"},
}

func kindOf(frames []string) string {
	for i := len(frames) - 1; i >= 0; i-- {
		for _, k := range kinds {
			if strings.Contains(frames[i], k.part) {
				return k.kind
			}
		}
	}
	return "other"
}

type gor struct {
	kind  string
	state trace.GoState
	since trace.Time
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tracewait FILE.trace")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tracewait:", err)
		os.Exit(1)
	}
}

func run(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := trace.NewReader(f)
	if err != nil {
		return err
	}
	gs := map[trace.GoID]*gor{}
	running, runnable := map[string]time.Duration{}, map[string]time.Duration{}
	// The committer's waits for a CPU, by length.
	bounds := []time.Duration{100 * time.Microsecond, time.Millisecond, 10 * time.Millisecond, 40 * time.Millisecond, 160 * time.Millisecond}
	waits := make([]time.Duration, len(bounds)+1)
	counts := make([]int, len(bounds)+1)
	var first, last trace.Time
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if first == 0 {
			first = ev.Time()
		}
		last = ev.Time()
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		_, to := st.Goroutine()
		id := st.Resource.Goroutine()
		g := gs[id]
		if g == nil {
			g = &gor{state: trace.GoUndetermined}
			gs[id] = g
		}
		if g.kind == "" {
			var frames []string
			for fr := range st.Stack.Frames() {
				frames = append(frames, fr.Func)
			}
			if len(frames) > 0 {
				g.kind = kindOf(frames)
			}
		}
		if g.since != 0 && g.kind != "" {
			d := time.Duration(ev.Time() - g.since)
			switch g.state {
			case trace.GoRunning:
				running[g.kind] += d
			case trace.GoRunnable:
				runnable[g.kind] += d
				if g.kind == "committer" {
					i := sort.Search(len(bounds), func(i int) bool { return d < bounds[i] })
					waits[i] += d
					counts[i]++
				}
			}
		}
		g.state, g.since = to, ev.Time()
	}
	var names []string
	for k := range running {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return running[names[i]] > running[names[j]] })
	fmt.Fprintf(w, "trace of %s\n\n| goroutines | running | runnable (waiting for a CPU) |\n|---|---|---|\n", time.Duration(last-first).Round(time.Millisecond))
	for _, k := range names {
		fmt.Fprintf(w, "| %s | %s | %s |\n", k, running[k].Round(time.Millisecond), runnable[k].Round(time.Millisecond))
	}
	fmt.Fprintf(w, "\nthe committer's waits for a CPU:\n\n| wait | count | in all |\n|---|---|---|\n")
	for i := range waits {
		label := ""
		switch {
		case i == 0:
			label = "< " + bounds[0].String()
		case i == len(bounds):
			label = "≥ " + bounds[i-1].String()
		default:
			label = bounds[i-1].String() + " – " + bounds[i].String()
		}
		fmt.Fprintf(w, "| %s | %d | %s |\n", label, counts[i], waits[i].Round(100*time.Microsecond))
	}
	return nil
}
