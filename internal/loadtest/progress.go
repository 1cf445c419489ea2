package loadtest

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress shows the phase and its count: redrawn on one line every half
// second on a terminal, one line per phase otherwise.
type progress struct {
	w     io.Writer
	live  bool
	mu    sync.Mutex
	name  string
	state func() string
	since time.Time
	quit  chan struct{}
	done  chan struct{}
}

func newProgress(w io.Writer, live bool) *progress {
	p := &progress{w: w, live: live, quit: make(chan struct{}), done: make(chan struct{})}
	if w == nil {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		n := 0
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				n++
				if p.live {
					p.draw()
				} else if n%30 == 0 { // every 15 s in a log
					p.mu.Lock()
					if p.name != "" {
						fmt.Fprintln(p.w, p.line())
					}
					p.mu.Unlock()
				}
			}
		}
	}()
	return p
}

func (p *progress) line() string {
	s := fmt.Sprintf("bench: %s", p.name)
	if p.state != nil {
		s += ": " + p.state()
	}
	return s + fmt.Sprintf(" (%.1f s)", time.Since(p.since).Seconds())
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.name != "" {
		fmt.Fprintf(p.w, "\r%-100.100s", p.line())
	}
}

// set starts a phase; state, if not nil, says how far it got.
func (p *progress) set(name string, state func() string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.name != "" {
		if p.live {
			fmt.Fprintf(p.w, "\r%-100.100s\n", p.line())
		} else {
			fmt.Fprintln(p.w, p.line())
		}
	}
	p.name, p.state, p.since = name, state, time.Now()
}

func (p *progress) stop() {
	if p.w == nil {
		return
	}
	p.set("", nil)
	close(p.quit)
	<-p.done
}
