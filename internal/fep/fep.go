// Package fep is the master station's front end: it accepts collectors
// speaking Q/GDW 1376.1 over TLS 1.3 with client certificates (and, for
// terminals explicitly marked plain-TCP, without TLS), checks who they are,
// confirms logins and heartbeats, and carries the station's requests to
// them, matching answers to requests by sequence number.
package fep

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
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
}

// FEP is a running front end.
type FEP struct {
	cfg      Config
	dir      Directory
	mu       sync.Mutex
	sessions map[string]*Session
	tlsL     net.Listener
	plainL   net.Listener
	gprsL    net.Listener
	gprs     map[string]*MeterSession
	meters   MeterDirectory
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
	return &FEP{cfg: cfg, dir: dir, sessions: map[string]*Session{}, gprs: map[string]*MeterSession{}}
}

// Listen opens the listeners.
func (f *FEP) Listen() error {
	if f.cfg.TLSAddr != "" {
		if f.cfg.TLS == nil {
			return errors.New("fep: TLS listener without a TLS configuration")
		}
		l, err := tls.Listen("tcp", f.cfg.TLSAddr, f.cfg.TLS)
		if err != nil {
			return fmt.Errorf("fep: listen %s: %w", f.cfg.TLSAddr, err)
		}
		f.tlsL = l
	}
	if f.cfg.PlainAddr != "" {
		l, err := net.Listen("tcp", f.cfg.PlainAddr)
		if err != nil {
			return fmt.Errorf("fep: listen %s: %w", f.cfg.PlainAddr, err)
		}
		f.plainL = l
	}
	return nil
}

// TLSAddr returns the TLS listener's address.
func (f *FEP) TLSAddr() net.Addr {
	if f.tlsL == nil {
		return nil
	}
	return f.tlsL.Addr()
}

// PlainAddr returns the plain-TCP listener's address (nil when off).
func (f *FEP) PlainAddr() net.Addr {
	if f.plainL == nil {
		return nil
	}
	return f.plainL.Addr()
}

// Serve accepts collectors until ctx ends.
func (f *FEP) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, l := range []net.Listener{f.tlsL, f.plainL, f.gprsL} {
		if l == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			context.AfterFunc(ctx, func() { l.Close() })
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if l == f.gprsL {
						f.serveGPRS(ctx, c)
						return
					}
					f.serveConn(ctx, c, l == f.plainL)
				}()
			}
		}()
	}
	wg.Wait()
	return nil
}

// Session returns the logged-in session of a terminal address ("0171-2082").
func (f *FEP) Session(address string) (*Session, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[address]
	return s, ok
}

func (f *FEP) refuse(ctx context.Context, c net.Conn, who, why string) {
	f.cfg.Log.Warn("terminal refused / 终端被拒绝", "remote", c.RemoteAddr(), "terminal", who, "why", why)
	f.dir.AppendEvents(ctx, amigo.Event{Time: f.cfg.Now(), Kind: amigo.EventUnknownTerm, Severity: "warning",
		Message: fmt.Sprintf("terminal %s refused: %s / 终端被拒绝", who, why), Detail: c.RemoteAddr().String()})
	c.Close()
}

func (f *FEP) serveConn(ctx context.Context, c net.Conn, plain bool) {
	defer c.Close()
	cn := ""
	if tc, ok := c.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.HandshakeContext(ctx); err != nil {
			f.cfg.Log.Warn("TLS handshake failed", "remote", c.RemoteAddr(), "err", err)
			return
		}
		cn = pki.PeerName(tc.ConnectionState())
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	sc.Split(q1376.Split)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	// The first frame must be a login.
	if !sc.Scan() {
		return
	}
	login, err := q1376.Parse(sc.Bytes())
	if err != nil {
		f.refuse(ctx, c, "?", "first frame does not decode: "+err.Error())
		return
	}
	if fn, ok := login.IsLink(); !ok || fn != 1 {
		f.refuse(ctx, c, login.Address.String(), "first frame is not a login")
		return
	}
	addr := q1376.Address{A1: login.Address.A1, A2: login.Address.A2}
	col, err := f.dir.FindCollectorByAddress(ctx, addr.String())
	switch {
	case err != nil:
		f.refuse(ctx, c, addr.String(), "not in the archive")
		return
	case plain && !col.PlainTCP:
		f.refuse(ctx, c, addr.String(), "plain TCP is not allowed for this terminal")
		return
	case !plain && cn != addr.String():
		f.refuse(ctx, c, addr.String(), fmt.Sprintf("certificate is for %q", cn))
		return
	}
	s := &Session{f: f, conn: c, Address: addr, Collector: col, waiting: map[uint8]*call{}}
	if err := s.write(q1376.Confirm(login)); err != nil {
		return
	}
	f.mu.Lock()
	if old := f.sessions[addr.String()]; old != nil {
		old.conn.Close() // a new login replaces a stale connection
	}
	f.sessions[addr.String()] = s
	f.mu.Unlock()
	f.dir.SetCollectorStatus(ctx, col.ID, amigo.StatusOnline, "", f.cfg.Now())
	f.cfg.Log.Info("collector logged in / 采集器登录", "terminal", addr, "remote", c.RemoteAddr())
	if f.cfg.OnLogin != nil {
		go f.cfg.OnLogin(col)
	}
	defer func() {
		f.mu.Lock()
		if f.sessions[addr.String()] == s {
			delete(f.sessions, addr.String())
		}
		f.mu.Unlock()
		s.failAll(errors.New("connection closed"))
		f.cfg.Log.Info("collector disconnected / 采集器断开", "terminal", addr)
	}()
	for {
		c.SetReadDeadline(time.Now().Add(3*f.cfg.Heartbeat + 10*time.Second))
		if !sc.Scan() {
			return
		}
		fr, err := q1376.Parse(sc.Bytes())
		if err != nil {
			f.cfg.Log.Warn("bad frame from a collector", "terminal", addr, "err", err)
			continue
		}
		if fn, ok := fr.IsLink(); ok {
			s.write(q1376.Confirm(fr))
			if fn == 2 { // logout
				return
			}
			f.dir.SetCollectorStatus(ctx, col.ID, amigo.StatusOnline, "", f.cfg.Now())
			continue
		}
		s.deliver(fr)
	}
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
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err = s.conn.Write(b)
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
func (s *Session) Request(ctx context.Context, afn q1376.AFN, units ...q1376.Unit) ([]*q1376.Frame, error) {
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
	if err := s.write(q1376.Request(a, afn, num, nil, units...)); err != nil {
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
	a := s.Address
	a.MSA = 1
	return s.write(&q1376.Frame{Control: q1376.CtlMasterAck, Address: a, AFN: q1376.AFNConfirm, Seq: q1376.Single(resp.Seq.Num, false), Units: []q1376.Unit{q1376.NewUnit(0, 1, nil)}})
}
