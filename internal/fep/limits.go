package fep

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo"
)

// Defaults of the resource limits (Config fields of the same names).
const (
	DefaultMaxConns          = 4096
	DefaultMaxConnsPerSource = 64
	DefaultLoginTimeout      = 30 * time.Second
	DefaultRegisterTimeout   = 30 * time.Second
	DefaultIdleTimeout       = 10 * time.Minute
	DefaultRefusalWindow     = 10 * time.Minute
	DefaultIncumbentCheck    = 5 * time.Second
	// DefaultMaxHandshakes caps the TLS handshakes in progress (all
	// listeners together). Enough for the round trips of a fleet on
	// GPRS (256 at 0.3 s each: 850 a second), few enough that on a
	// machine short of CPU each admitted handshake gets its share and
	// finishes in well under a second instead of all of them starving
	// past their deadlines.
	DefaultMaxHandshakes = 256
	// maxRefusalSources bounds the refusal aggregator's memory: beyond it,
	// refusals from further sources are aggregated under "*".
	maxRefusalSources = 4096
)

// sourceOf returns the source IP of a remote address (the port is dropped:
// a client opening many connections is one source).
func sourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// connLimit caps the connections of one listener, in total and per source.
// It is safe for concurrent use.
type connLimit struct {
	max, perSource int
	mu             sync.Mutex
	total          int
	bySource       map[string]int
}

func newConnLimit(max, perSource int) *connLimit {
	return &connLimit{max: max, perSource: perSource, bySource: map[string]int{}}
}

// acquire takes a slot for src, or returns why not.
func (l *connLimit) acquire(src string) (reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.max:
		return reasonCapTotal
	case l.bySource[src] >= l.perSource:
		return reasonCapSource
	}
	l.total++
	l.bySource[src]++
	return ""
}

func (l *connLimit) release(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.bySource[src]--; l.bySource[src] <= 0 {
		delete(l.bySource, src)
	}
}

func (l *connLimit) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// handshakeGate caps the TLS handshakes in progress. A connection takes a
// slot after it is accepted and before its handshake, and gives it back
// when the handshake ends; one that finds every slot taken waits, in the
// order of arrival (a channel's blocked senders are served first in,
// first out), at most its login or registration timeout — and that
// connection's own deadline starts only once it has its slot, so a
// handshake admitted late is not already out of time. The waiting are
// bounded by the connection caps.
type handshakeGate struct {
	slots   chan struct{}
	waiting atomic.Int64
	// event, when set (tests), is told "wait", "enter" and "leave".
	event func(string)
}

func newHandshakeGate(n int) *handshakeGate {
	return &handshakeGate{slots: make(chan struct{}, n)}
}

// enter takes a slot, waiting at most wait; it reports whether it got one.
func (g *handshakeGate) enter(ctx context.Context, wait time.Duration) bool {
	select {
	case g.slots <- struct{}{}:
		g.note("enter")
		return true
	default:
	}
	g.waiting.Add(1)
	g.note("wait")
	t := time.NewTimer(wait)
	defer t.Stop()
	defer g.waiting.Add(-1)
	select {
	case g.slots <- struct{}{}:
		g.note("enter")
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (g *handshakeGate) leave() {
	<-g.slots
	g.note("leave")
}

func (g *handshakeGate) note(ev string) {
	if g.event != nil {
		g.event(ev)
	}
}

// Handshakes returns the TLS handshakes in progress and those waiting for
// a slot.
func (f *FEP) Handshakes() (inProgress, waiting int) {
	return len(f.hs.slots), int(f.hs.waiting.Load())
}

// Refusal reasons: the label of the refusal counter.
const (
	reasonCapTotal     = "cap_total"         // the listener's connection cap
	reasonCapSource    = "cap_source"        // the per-source connection cap
	reasonTooLong      = "too_long"          // a line or frame over the limit
	reasonDeadline     = "deadline"          // login or registration not done in time
	reasonHandshakeQ   = "handshake_queue"   // no handshake slot within the login or registration timeout
	reasonNotLogin     = "not_login"         // first frame is not a 1376.1 login
	reasonBadFrame     = "bad_frame"         // first frame does not decode
	reasonUnknown      = "unknown"           // not in the archive (or not a direct meter)
	reasonPlain        = "plain_not_allowed" // plain TCP for a terminal not marked so
	reasonCertificate  = "certificate"       // certificate for another terminal
	reasonNotReg       = "not_registration"  // first line is not a registration
	reasonRetired      = "retired"           // the meter is retired
	reasonNoCredential = "no_credential"     // the archive has no IMEI or secret for it
	reasonIMEI         = "imei"              // IMEI differs from the archive
	reasonSecret       = "secret"            // registration secret differs
	reasonAddress      = "address"           // it did not read back its address
	reasonBusy         = "busy"              // another registration for the address is being checked
	reasonDuplicate    = "duplicate"         // the address has a live, answering session
)

// counters are the front end's metrics. Safe for concurrent use.
type counters struct {
	mu         sync.Mutex
	refused    map[[2]string]int64 // (listener, reason) → count
	dropped    atomic.Int64        // GPRS replies dropped for a wrong address, function or DI
	duplicates atomic.Int64        // registrations refused because the incumbent answered
	suppressed atomic.Int64        // refusals counted but not written as their own event
	events     atomic.Int64        // refusal events written
	// statusBatches counts the batches of online marks written (status.go).
	statusBatches atomic.Int64
}

func (c *counters) refuse(listener, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused == nil {
		c.refused = map[[2]string]int64{}
	}
	c.refused[[2]string{listener, reason}]++
}

// Refused returns how many connections listener refused for reason ("" =
// every reason).
func (f *FEP) Refused(listener, reason string) int64 {
	f.stats.mu.Lock()
	defer f.stats.mu.Unlock()
	var n int64
	for k, v := range f.stats.refused {
		if k[0] == listener && (reason == "" || k[1] == reason) {
			n += v
		}
	}
	return n
}

// WriteMetrics writes the front end's counters in the Prometheus text
// format: refusals per listener and reason, open connections per listener,
// GPRS replies dropped, duplicate registrations refused, refusal events
// written and refusals folded into an aggregated event.
func (f *FEP) WriteMetrics(w io.Writer) {
	f.stats.mu.Lock()
	keys := make([][2]string, 0, len(f.stats.refused))
	for k := range f.stats.refused {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	fmt.Fprintln(w, "# TYPE amigo_fep_refused_total counter")
	for _, k := range keys {
		fmt.Fprintf(w, "amigo_fep_refused_total{listener=%q,reason=%q} %d\n", k[0], k[1], f.stats.refused[k])
	}
	f.stats.mu.Unlock()
	fmt.Fprintln(w, "# TYPE amigo_fep_connections gauge")
	for _, l := range f.listeners {
		fmt.Fprintf(w, "amigo_fep_connections{listener=%q} %d\n", l.name, l.lim.open())
	}
	fmt.Fprintf(w, "# TYPE amigo_gprs_replies_dropped_total counter\namigo_gprs_replies_dropped_total %d\n", f.stats.dropped.Load())
	fmt.Fprintf(w, "# TYPE amigo_gprs_duplicate_registrations_total counter\namigo_gprs_duplicate_registrations_total %d\n", f.stats.duplicates.Load())
	fmt.Fprintf(w, "# TYPE amigo_fep_refusal_events_total counter\namigo_fep_refusal_events_total %d\n", f.stats.events.Load())
	fmt.Fprintf(w, "# TYPE amigo_fep_refusals_aggregated_total counter\namigo_fep_refusals_aggregated_total %d\n", f.stats.suppressed.Load())
}

// refusals aggregates refusals per source: the first refusal from a source
// is written as an event at once and opens a window; refusals inside the
// window are only counted, and when it ends one event says how many there
// were (and opens the next window). So a source costs the store at most one
// event per window, however fast it connects. Safe for concurrent use.
type refusals struct {
	window time.Duration
	mu     sync.Mutex
	src    map[string]*refusalWindow
}

type refusalWindow struct {
	until    time.Time // real time
	count    int64     // refusals since the window opened, not yet written
	listener string
	last     string // the last refusal's text
}

// note records a refusal at real time now; it reports whether the caller
// should write it as an event.
func (r *refusals) note(now time.Time, src, listener, text string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.src[src]; w != nil && now.Before(w.until) {
		w.count++
		w.listener, w.last = listener, text
		return false
	}
	if _, ok := r.src[src]; !ok && len(r.src) >= maxRefusalSources {
		src = "*"
		if w := r.src[src]; w != nil {
			w.count++
			w.listener, w.last = listener, text
			return false
		}
	}
	r.src[src] = &refusalWindow{until: now.Add(r.window), listener: listener, last: text}
	return true
}

type refusalSummary struct {
	src, listener, last string
	count               int64
	window              time.Duration
}

// due returns the summaries of the windows that ended by now (all of them if
// all is set), opening a new window for each source that was refused in the
// one that ended and forgetting the quiet ones.
func (r *refusals) due(now time.Time, all bool) []refusalSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []refusalSummary
	for src, w := range r.src {
		if !all && now.Before(w.until) {
			continue
		}
		if w.count == 0 {
			delete(r.src, src)
			continue
		}
		out = append(out, refusalSummary{src: src, listener: w.listener, last: w.last, count: w.count, window: r.window})
		w.count, w.until = 0, now.Add(r.window)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].src < out[j].src })
	return out
}

// refuse counts a refusal and writes an event unless the source already had
// one in the current window; the caller closes the connection.
func (f *FEP) refuse(ctx context.Context, listener, src, who, reason, why string) {
	f.stats.refuse(listener, reason)
	text := fmt.Sprintf("%s %s refused on %s: %s / 拒绝连接", kindOfListener(listener), who, listener, why)
	if !f.agg.note(time.Now(), src, listener, text) {
		f.stats.suppressed.Add(1)
		f.cfg.Log.Debug("connection refused / 连接被拒绝", "source", src, "listener", listener, "who", who, "why", why)
		return
	}
	f.cfg.Log.Warn("connection refused / 连接被拒绝", "source", src, "listener", listener, "who", who, "why", why)
	f.stats.events.Add(1)
	if err := f.dir.AppendEvents(ctx, amigo.Event{Time: f.cfg.Now(), Kind: amigo.EventUnknownTerm, Severity: "warning",
		Message: text, Detail: "source " + src}); err != nil {
		f.cfg.Log.Warn("refusal event", "err", err)
	}
}

// flushRefusals writes one event per source whose window ended with
// refusals in it.
func (f *FEP) flushRefusals(ctx context.Context, all bool) {
	for _, s := range f.agg.due(time.Now(), all) {
		f.stats.events.Add(1)
		msg := fmt.Sprintf("%d more connections from %s refused within %s (last: %s) / 来自%s的另外%d次连接被拒绝",
			s.count, s.src, s.window, s.last, s.src, s.count)
		if err := f.dir.AppendEvents(ctx, amigo.Event{Time: f.cfg.Now(), Kind: amigo.EventUnknownTerm, Severity: "warning",
			Message: msg, Detail: "source " + s.src}); err != nil {
			f.cfg.Log.Warn("refusal event", "err", err)
		}
	}
}

func kindOfListener(name string) string {
	if name == ListenerGPRS || name == ListenerGPRSTLS {
		return "meter"
	}
	return "terminal"
}
