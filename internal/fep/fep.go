// Package fep is the master station's front end: it accepts collectors
// speaking Q/GDW 1376.1 over TLS 1.3 with client certificates (and, for
// terminals explicitly marked plain-TCP, without TLS), checks who they are,
// confirms logins and heartbeats, and carries the station's requests to
// them, matching answers to requests by sequence number.
package fep

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/q1376"
)

// Directory is what the front end needs to know of collectors.
type Directory interface {
	FindCollectorByAddress(ctx context.Context, address string) (amigo.Collector, error)
	SetCollectorStatus(ctx context.Context, id int64, status, reason string, at time.Time) error
	AppendEvents(ctx context.Context, es ...amigo.Event) error
}

// Config configures the front end.
type Config struct {
	TLSAddr   string      // collectors with certificates, e.g. ":7001"
	PlainAddr string      // third-party terminals marked plain-TCP; "" = off
	TLS       *tls.Config // from pki.ServerConfig
	// Heartbeat is the collectors' heartbeat interval; a collector silent
	// for three of them is offline.
	Heartbeat time.Duration
	// RequestTimeout bounds a request's wait for its answer (real time).
	RequestTimeout time.Duration
	Now            func() time.Time
	Log            *slog.Logger
	// OnLogin is called (in its own goroutine) after a collector logs in.
	OnLogin func(c amigo.Collector)
	// OnRegister is called (in its own goroutine) after a GPRS meter's
	// registration is accepted (its address read back, its session
	// installed).
	OnRegister func(m amigo.Meter)

	// Resource limits, each listener on its own; zero takes the default.
	// MaxConns caps a listener's open connections (DefaultMaxConns);
	// MaxConnsPerSource those from one IP address
	// (DefaultMaxConnsPerSource: GPRS meters behind a carrier's NAT share
	// addresses, so raise it for a large public-APN fleet).
	MaxConns, MaxConnsPerSource int
	// MaxHandshakes caps the TLS handshakes in progress, all listeners
	// together (DefaultMaxHandshakes); a connection over it waits its
	// turn (see handshakeGate).
	MaxHandshakes int
	// LoginTimeout is the absolute time from accepting a collector's
	// connection to its login (TLS handshake included); RegisterTimeout the
	// same for a GPRS registration, the address read back included. Neither
	// is renewed by arriving bytes.
	LoginTimeout, RegisterTimeout time.Duration
	// IdleTimeout drops a registered GPRS connection that sent no complete
	// line or frame for so long (DefaultIdleTimeout).
	IdleTimeout time.Duration
	// RefusalWindow: refusals from one source are written as at most one
	// event per window, with a count (DefaultRefusalWindow).
	RefusalWindow time.Duration
	// IncumbentCheck bounds the address read sent to a live GPRS session
	// when its address registers again (DefaultIncumbentCheck).
	IncumbentCheck time.Duration

	// DownlinkKey is the station's master key for commands to collectors
	// (see sign.go): with it, every frame of AFN 01, 04, 05 and 10 carries
	// a time tag and a PW keyed per terminal; without it (nil) they go
	// unsigned, as before, and a collector that has a key refuses them.
	DownlinkKey []byte
	// DownlinkDelay is the delay a command's time tag allows
	// (DefaultDownlinkDelay; whole minutes, 1..255).
	DownlinkDelay time.Duration
	// Location is the zone of the time tags' civil time when the
	// collector's site cannot be looked up (default: amigo's default zone).
	Location *time.Location
}

// Listener names, as they appear in metrics and refusal events.
const (
	ListenerTLS     = "collectors_tls"
	ListenerPlain   = "collectors_plain"
	ListenerGPRS    = "gprs"
	ListenerGPRSTLS = "gprs_tls"
)

// listener is one open port.
type listener struct {
	name string
	l    net.Listener
	tls  *tls.Config // nil: plain TCP
	lim  *connLimit
	gprs bool
}

// FEP is a running front end.
type FEP struct {
	cfg      Config
	dir      Directory
	mu       sync.Mutex
	sessions map[string]*Session
	// gen counts the changes of sessions (Generation).
	gen       atomic.Uint64
	idle      atomic.Pointer[idlePoller] // Serve's, while it runs (nil without one)
	listeners []*listener
	gprs      map[string]*MeterSession
	claiming  map[string]bool   // GPRS addresses whose incumbent is being checked
	stamps    map[string]*stamp // terminal -> its commands' last time tag
	meters    MeterDirectory
	stats     counters
	agg       refusals
	hs        *handshakeGate
	status    statusWriter // online marks of logins and heartbeats (status.go)
	// wrap, when set (tests), wraps each accepted connection.
	wrap func(net.Conn) net.Conn
}

// New returns a front end; Listen opens its ports.
func New(cfg Config, dir Directory) *FEP {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Minute
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.LoginTimeout, DefaultLoginTimeout)
	def(&cfg.RegisterTimeout, DefaultRegisterTimeout)
	def(&cfg.IdleTimeout, DefaultIdleTimeout)
	def(&cfg.RefusalWindow, DefaultRefusalWindow)
	def(&cfg.IncumbentCheck, DefaultIncumbentCheck)
	def(&cfg.DownlinkDelay, DefaultDownlinkDelay)
	if cfg.Location == nil {
		cfg.Location = amigo.Site{}.Location()
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConnsPerSource <= 0 {
		cfg.MaxConnsPerSource = DefaultMaxConnsPerSource
	}
	if cfg.MaxHandshakes <= 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	return &FEP{cfg: cfg, dir: dir, sessions: map[string]*Session{}, gprs: map[string]*MeterSession{}, claiming: map[string]bool{}, stamps: map[string]*stamp{},
		agg: refusals{window: cfg.RefusalWindow, src: map[string]*refusalWindow{}}, hs: newHandshakeGate(cfg.MaxHandshakes), status: statusWriter{wake: make(chan struct{}, 1)}}
}

func (f *FEP) addListener(name string, l net.Listener, tc *tls.Config) {
	f.listeners = append(f.listeners, &listener{name: name, l: l, tls: tc, lim: newConnLimit(f.cfg.MaxConns, f.cfg.MaxConnsPerSource),
		gprs: name == ListenerGPRS || name == ListenerGPRSTLS})
}

func (f *FEP) addr(name string) net.Addr {
	for _, l := range f.listeners {
		if l.name == name {
			return l.l.Addr()
		}
	}
	return nil
}

// Listen opens the collectors' listeners. The TLS handshake happens on the
// connection's own goroutine, under the login deadline.
func (f *FEP) Listen() error {
	if f.cfg.TLSAddr != "" {
		if f.cfg.TLS == nil {
			return errors.New("fep: TLS listener without a TLS configuration")
		}
		l, err := net.Listen("tcp", f.cfg.TLSAddr)
		if err != nil {
			return fmt.Errorf("fep: listen %s: %w", f.cfg.TLSAddr, err)
		}
		f.addListener(ListenerTLS, l, f.cfg.TLS)
	}
	if f.cfg.PlainAddr != "" {
		l, err := net.Listen("tcp", f.cfg.PlainAddr)
		if err != nil {
			return fmt.Errorf("fep: listen %s: %w", f.cfg.PlainAddr, err)
		}
		f.addListener(ListenerPlain, l, nil)
	}
	return nil
}

// TLSAddr returns the collectors' TLS listener's address.
func (f *FEP) TLSAddr() net.Addr { return f.addr(ListenerTLS) }

// PlainAddr returns the collectors' plain-TCP listener's address.
func (f *FEP) PlainAddr() net.Addr { return f.addr(ListenerPlain) }

// Serve accepts collectors and meters until ctx ends. It returns when every
// connection it served has ended; then it writes the refusal counts still
// held by the aggregator.
func (f *FEP) Serve(ctx context.Context) error {
	// The status writer outlives the connections: the marks of the last
	// ones are written before Serve returns.
	sctx, stopStatus := context.WithCancel(context.WithoutCancel(ctx))
	statusDone := make(chan struct{})
	go func() { defer close(statusDone); f.runStatus(sctx) }()
	defer func() { stopStatus(); <-statusDone }()
	// Idle sessions wait on the poller, not on a goroutine each; without
	// one (not Linux, or epoll refused) they keep their goroutine.
	poll, err := newIdlePoller()
	if err != nil {
		f.cfg.Log.Warn("idle poller", "err", err)
		poll = nil
	}
	f.idle.Store(poll)
	defer poll.stop()
	var wg sync.WaitGroup
	for _, ln := range f.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			context.AfterFunc(ctx, func() { ln.l.Close() })
			f.accept(ctx, ln, poll, &wg)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(min(f.cfg.RefusalWindow/4, time.Minute))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f.flushRefusals(ctx, false)
			}
		}
	}()
	wg.Wait()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	f.flushRefusals(fctx, true)
	return nil
}

// accept runs one listener's accept loop. A connection over the caps is
// closed before anything is read from it.
func (f *FEP) accept(ctx context.Context, ln *listener, poll *idlePoller, wg *sync.WaitGroup) {
	var backoff time.Duration
	for {
		c, err := ln.l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			f.cfg.Log.Warn("accept", "listener", ln.name, "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		src := sourceOf(c.RemoteAddr())
		if reason := ln.lim.acquire(src); reason != "" {
			// Counted before the close, so that a client that sees the
			// close sees the count too.
			f.refuse(ctx, ln.name, src, "?", reason, "too many connections")
			c.Close()
			continue
		}
		if f.wrap != nil {
			c = f.wrap(c)
		}
		c = poll.conn(c)
		wg.Add(1)
		go f.serve(ctx, c, ln, src, func() { ln.lim.release(src); wg.Done() })
	}
}

// serve takes an accepted connection through its handshake and login (or
// registration) and then runs its session on a fresh goroutine: the deep
// stack of the handshake and of the archive look-ups is not kept while the
// session idles, and an idle session is that one goroutine, parked with a
// small stack and no read buffer (reader.go). end is called once the
// connection is closed.
func (f *FEP) serve(ctx context.Context, c net.Conn, ln *listener, src string, end func()) {
	raw := c
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	closed := func() { stop(); raw.Close(); end() }
	if ln.tls != nil {
		c = tls.Server(c, ln.tls)
	}
	var run func(done func())
	if ln.gprs {
		run = f.registerGPRS(ctx, c, ln, src)
	} else {
		run = f.login(ctx, c, ln, src)
	}
	if run == nil {
		closed()
		return
	}
	// The session's loop; with the idle poller this goroutine ends at the
	// session's first wait.
	run(closed)
}

// Generation changes whenever a collector's session starts or ends: while
// it stays, Session answers as it did (the scheduler keeps its lookups).
func (f *FEP) Generation() uint64 { return f.gen.Load() }

// handshakeSlot takes a slot of the handshake gate for a TLS connection c
// (plain ones need none), waiting at most wait; a connection that gets
// none in time is refused (the caller closes it). The caller gives the
// slot back when the handshake ends.
func (f *FEP) handshakeSlot(ctx context.Context, c net.Conn, ln *listener, src string, wait time.Duration) bool {
	if _, ok := c.(*tls.Conn); !ok {
		return true
	}
	if f.hs.enter(ctx, wait) {
		return true
	}
	if ctx.Err() == nil {
		f.refuse(ctx, ln.name, src, "?", reasonHandshakeQ, "no TLS handshake slot in time")
	}
	return false
}

// Session returns the logged-in session of a terminal address ("0171-2082").
func (f *FEP) Session(address string) (*Session, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[address]
	return s, ok
}

// maxFrame bounds a 1376.1 frame in the scanner's buffer: the largest user
// data length the splitter waits for (2*MaxUserData), with the link header.
const maxFrame = 2*q1376.MaxUserData + 64

// checkLogin checks a collector's first frame: a login (AFN 02 F1) from a
// terminal in the archive, over TLS with its own certificate (cn) or over
// plain TCP when the archive allows it. It returns the login frame and the
// collector, or the refusal's reason and text.
func (f *FEP) checkLogin(ctx context.Context, raw []byte, cn string, plain bool) (login *q1376.Frame, col amigo.Collector, who, reason, why string) {
	login, err := q1376.Parse(raw)
	if err != nil {
		return nil, col, "?", reasonBadFrame, "first frame does not decode: " + err.Error()
	}
	addr := q1376.Address{A1: login.Address.A1, A2: login.Address.A2}
	who = addr.String()
	if fn, ok := login.IsLink(); !ok || fn != 1 {
		return nil, col, who, reasonNotLogin, "first frame is not a login"
	}
	col, err = f.dir.FindCollectorByAddress(ctx, who)
	switch {
	case err != nil:
		return nil, col, who, reasonUnknown, "not in the archive"
	case !col.RetiredAt.IsZero():
		return nil, col, who, reasonRetired, "the terminal is retired"
	case plain && !col.PlainTCP:
		return nil, col, who, reasonPlain, "plain TCP is not allowed for this terminal"
	case !plain && cn != who:
		return nil, col, who, reasonCertificate, fmt.Sprintf("certificate is for %q", cn)
	}
	return login, col, who, "", ""
}

// login takes a collector's connection through the TLS handshake and its
// login; it returns the session's loop, which calls done at its end, or
// nil when the connection is refused (the caller closes it).
func (f *FEP) login(ctx context.Context, c net.Conn, ln *listener, src string) (run func(done func())) {
	// One absolute deadline from the handshake's slot (handshakeGate) to
	// login: handshake and first frame. Bytes trickling in do not extend
	// it.
	if !f.handshakeSlot(ctx, c, ln, src, f.cfg.LoginTimeout) {
		return nil
	}
	loginBy := time.Now().Add(f.cfg.LoginTimeout)
	c.SetDeadline(loginBy)
	cn := ""
	if tc, ok := c.(*tls.Conn); ok {
		err := tc.HandshakeContext(ctx)
		f.hs.leave()
		if err != nil {
			f.cfg.Log.Debug("TLS handshake failed", "remote", c.RemoteAddr(), "err", err)
			if isTimeout(err) {
				f.refuse(ctx, ln.name, src, "?", reasonDeadline, "TLS handshake not done in time")
			}
			return nil
		}
		// Only the name is kept of the peer's certificate.
		cn = pki.PeerName(tc.ConnectionState())
	}
	sc := newFrameReader(c, q1376.Split, maxFrame)
	sc.setDeadline(loginBy)
	// The first frame must be a login.
	if !sc.Scan() {
		switch err := sc.Err(); {
		case errors.Is(err, bufio.ErrTooLong):
			f.refuse(ctx, ln.name, src, "?", reasonTooLong, "frame over the 1376.1 limit")
		case isTimeout(err):
			f.refuse(ctx, ln.name, src, "?", reasonDeadline, "no login in time")
		}
		return nil
	}
	login, col, who, reason, why := f.checkLogin(ctx, sc.Bytes(), cn, ln.tls == nil)
	if reason != "" {
		f.refuse(ctx, ln.name, src, who, reason, why)
		return nil
	}
	addr := q1376.Address{A1: login.Address.A1, A2: login.Address.A2}
	s := &Session{f: f, conn: c, Address: addr, Collector: col, waiting: map[uint8]*call{}}
	f.prepareSigning(ctx, s)
	// Register the session before confirming the login: once the terminal
	// sees the confirmation, the station can reach it.
	f.mu.Lock()
	if old := f.sessions[who]; old != nil {
		old.conn.Close() // a new login replaces a stale connection
	}
	f.sessions[who] = s
	f.gen.Add(1)
	f.mu.Unlock()
	if err := s.write(q1376.Confirm(login)); err != nil {
		s.ended()
		return nil
	}
	c.SetWriteDeadline(time.Time{})
	f.status.mark(col.ID, f.cfg.Now())
	f.cfg.Log.Info("collector logged in / 采集器登录", "terminal", who, "remote", c.RemoteAddr())
	if f.cfg.OnLogin != nil {
		go f.cfg.OnLogin(col)
	}
	return func(done func()) { s.run(ctx, sc, done) }
}

// run reads the logged-in collector's frames until the connection ends or
// it logs out; then it forgets the session and calls done.
func (s *Session) run(ctx context.Context, sc *frameReader, done func()) {
	sc.serve(3*s.f.cfg.Heartbeat+10*time.Second, func(tok []byte) bool { return s.handle(ctx, tok) }, func() {
		s.ended()
		done()
	})
}

// ended forgets the session and fails the requests waiting on it.
func (s *Session) ended() {
	f, who := s.f, s.Address.String()
	f.mu.Lock()
	if f.sessions[who] == s {
		delete(f.sessions, who)
		f.gen.Add(1)
	}
	f.mu.Unlock()
	s.failAll(errors.New("connection closed"))
	f.cfg.Log.Info("collector disconnected / 采集器断开", "terminal", who)
}

// handle takes one frame from a logged-in collector: a link frame
// (heartbeat, logout) is confirmed, anything else is matched with the
// request waiting for it. It reports whether the collector logged out.
func (s *Session) handle(ctx context.Context, raw []byte) (logout bool) {
	f := s.f
	// The frame's units alias what they were parsed from, and the reader's
	// buffer goes back to its pool (or is read into) after this frame: an
	// answer outlives it, so it is parsed from a copy.
	fr, err := q1376.Parse(bytes.Clone(raw))
	if err != nil {
		f.cfg.Log.Warn("bad frame from a collector", "terminal", s.Address, "err", err)
		return false
	}
	if fr.Address.A1 != s.Address.A1 || fr.Address.A2 != s.Address.A2 {
		f.cfg.Log.Warn("frame for another terminal dropped", "terminal", s.Address, "frame", fr.Address)
		return false
	}
	if fn, ok := fr.IsLink(); ok {
		s.write(q1376.Confirm(fr))
		if fn == 2 { // logout
			return true
		}
		f.status.mark(s.Collector.ID, f.cfg.Now())
		return false
	}
	s.deliver(fr)
	return false
}

// Session is one logged-in collector.
type Session struct {
	f         *FEP
	conn      net.Conn
	Address   q1376.Address
	Collector amigo.Collector

	wmu     sync.Mutex
	seq     uint8
	mu      sync.Mutex
	waiting map[uint8]*call
	signer  signer // signs commands (sign.go); its stamp is guarded by wmu
}

type call struct {
	frames []*q1376.Frame
	done   chan error
}

func (s *Session) write(fr *q1376.Frame) error {
	b, err := q1376.AppendFrame(nil, fr)
	if err != nil {
		return err
	}
	return s.writeBytes(b)
}

// writeBytes writes encoded frames.
func (s *Session) writeBytes(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := s.conn.Write(b)
	return err
}

func (s *Session) deliver(fr *q1376.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.waiting[fr.Seq.Num]
	if c == nil {
		return // a late answer to a request given up on
	}
	c.frames = append(c.frames, fr)
	if fr.Seq.FIN || fr.AFN == q1376.AFNConfirm {
		delete(s.waiting, fr.Seq.Num)
		c.done <- nil
	}
}

func (s *Session) failAll(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.waiting {
		delete(s.waiting, k)
		c.done <- err
	}
}

// Request sends a request to the collector and returns its answer frames.
// A command (AFN 01, 04, 05, 10) is signed when the front end has a
// downlink key, its time tag allowing Config.DownlinkDelay.
func (s *Session) Request(ctx context.Context, afn q1376.AFN, units ...q1376.Unit) ([]*q1376.Frame, error) {
	return s.RequestWithin(ctx, 0, afn, units...)
}

// RequestWithin is Request with a command's time tag allowing delay
// instead (0: Config.DownlinkDelay) — for a clock setting to a collector
// whose clock is known to be off by more than the usual delay.
func (s *Session) RequestWithin(ctx context.Context, delay time.Duration, afn q1376.AFN, units ...q1376.Unit) ([]*q1376.Frame, error) {
	s.mu.Lock()
	var num uint8
	for range 16 {
		s.seq = (s.seq + 1) & 0x0F
		if s.waiting[s.seq] == nil {
			break
		}
	}
	num = s.seq
	c := &call{done: make(chan error, 1)}
	s.waiting[num] = c
	s.mu.Unlock()
	a := s.Address
	a.MSA = 1
	if err := s.writeCommand(q1376.Request(a, afn, num, nil, units...), delay); err != nil {
		s.mu.Lock()
		delete(s.waiting, num)
		s.mu.Unlock()
		return nil, fmt.Errorf("fep: %s: %w", s.Address, err)
	}
	t := time.NewTimer(s.f.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case err := <-c.done:
		if err != nil {
			return nil, fmt.Errorf("fep: %s: %w", s.Address, err)
		}
		return c.frames, nil
	case <-t.C:
	case <-ctx.Done():
	}
	s.mu.Lock()
	delete(s.waiting, num)
	s.mu.Unlock()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("fep: %s: no answer to AFN %02X within %s", s.Address, byte(afn), s.f.cfg.RequestTimeout)
}

// Confirm tells the collector its answer was committed (AFN 00 F1 echoing
// the answer's sequence number); only then does it mark the data delivered.
func (s *Session) Confirm(resp *q1376.Frame) error {
	return s.ConfirmAll([]*q1376.Frame{resp})
}

// ConfirmAll confirms answers as Confirm does each, the confirmations
// written back to back in one write (one TLS record, one system call).
func (s *Session) ConfirmAll(resps []*q1376.Frame) error {
	a := s.Address
	a.MSA = 1
	var b []byte
	for _, resp := range resps {
		var err error
		b, err = q1376.AppendFrame(b, &q1376.Frame{Control: q1376.CtlMasterAck, Address: a, AFN: q1376.AFNConfirm, Seq: q1376.Single(resp.Seq.Num, false), Units: []q1376.Unit{q1376.NewUnit(0, 1, nil)}})
		if err != nil {
			return err
		}
	}
	return s.writeBytes(b)
}
