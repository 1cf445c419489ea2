package fep

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
)

// MeterDirectory is what the GPRS listeners need to know of meters.
type MeterDirectory interface {
	FindMeterByAddress(ctx context.Context, address string) (amigo.Meter, error)
}

// MeterSession is a GPRS meter (or its DTU) connected directly: after its
// registration line it answers DL/T 645 frames on the connection. Exchange
// is safe for concurrent use (one exchange at a time).
type MeterSession struct {
	f        *FEP
	listener string
	conn     net.Conn
	Address  dlt645.Address
	Meter    amigo.Meter

	sem       chan struct{} // one exchange at a time
	replies   chan []byte
	done      chan struct{} // closed when the connection ends
	lastHeard atomic.Int64  // unix nanoseconds of the last matching reply
	dupRaised atomic.Bool   // the duplicate-registration alarm was raised for this session
}

// ListenGPRS opens the plain-TCP GPRS listener. Most DTUs speak no TLS: the
// meter's identity is its registration (address, IMEI and secret checked
// against the archive) and its address read back.
func (f *FEP) ListenGPRS(addr string, meters MeterDirectory) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("fep: gprs listen %s: %w", addr, err)
	}
	f.meters = meters
	f.addListener(ListenerGPRS, l, nil)
	return nil
}

// ListenGPRSTLS opens the GPRS listener for DTUs that speak TLS: the
// station's certificate (from srv, pki.ServerConfig) without client
// certificates, TLS 1.2 or later; the registration rules are the same.
func (f *FEP) ListenGPRSTLS(addr string, meters MeterDirectory, srv *tls.Config) error {
	if srv == nil {
		return errors.New("fep: GPRS TLS listener without a TLS configuration")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("fep: gprs tls listen %s: %w", addr, err)
	}
	c := srv.Clone()
	c.ClientAuth = tls.NoClientCert
	c.ClientCAs = nil
	c.MinVersion = tls.VersionTLS12
	f.meters = meters
	f.addListener(ListenerGPRSTLS, l, c)
	return nil
}

// GPRSAddr returns the plain GPRS listener's address.
func (f *FEP) GPRSAddr() net.Addr { return f.addr(ListenerGPRS) }

// GPRSTLSAddr returns the GPRS TLS listener's address.
func (f *FEP) GPRSTLSAddr() net.Addr { return f.addr(ListenerGPRSTLS) }

// MeterSession returns the session of a directly connected meter.
func (f *FEP) MeterSession(address string) (*MeterSession, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.gprs[address]
	return s, ok
}

// checkRegistration matches a registration with the archive; it returns the
// meter, or the refusal's reason and text.
func (f *FEP) checkRegistration(ctx context.Context, r Registration) (m amigo.Meter, reason, why string) {
	m, err := f.meters.FindMeterByAddress(ctx, r.Address.String())
	switch {
	case err != nil || !m.Direct:
		return m, reasonUnknown, "not a direct GPRS meter in the archive"
	case !m.RemovedAt.IsZero():
		return m, reasonRetired, "the meter is retired"
	case m.IMEI == "" || m.RegSecret == "":
		return m, reasonNoCredential, "the archive has no IMEI or registration secret for it"
	case m.IMEI != r.IMEI:
		return m, reasonIMEI, "IMEI does not match the archive"
	}
	// Compare digests, so that neither the content nor the length of the
	// archive's secret shows in the time taken.
	a, b := sha256.Sum256([]byte(m.RegSecret)), sha256.Sum256([]byte(r.Secret))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return m, reasonSecret, "wrong registration secret"
	}
	return m, "", ""
}

// registerGPRS takes a GPRS connection through its TLS handshake (on the
// TLS listener), its registration and the address read back; it returns the
// session's loop, or nil when the connection is refused (the caller closes
// it).
func (f *FEP) registerGPRS(ctx context.Context, c net.Conn, ln *listener, src string) (run func(done func())) {
	// One absolute deadline for the whole registration: TLS handshake,
	// registration line, address read back and the incumbent check. It is
	// not renewed by arriving bytes.
	if !f.handshakeSlot(ctx, c, ln, src, f.cfg.RegisterTimeout) {
		return nil
	}
	regBy := time.Now().Add(f.cfg.RegisterTimeout)
	c.SetDeadline(regBy)
	if tc, ok := c.(*tls.Conn); ok {
		err := tc.HandshakeContext(ctx)
		f.hs.leave()
		if err != nil {
			f.cfg.Log.Debug("GPRS TLS handshake failed", "remote", c.RemoteAddr(), "err", err)
			if isTimeout(err) {
				f.refuse(ctx, ln.name, src, "?", reasonDeadline, "TLS handshake not done in time")
			}
			return nil
		}
	}
	sc := newFrameReader(c, SplitGPRS, MaxGPRSBuffer)
	sc.setDeadline(regBy)
	if !sc.Scan() {
		switch err := sc.Err(); {
		case errors.Is(err, ErrLineTooLong):
			f.refuse(ctx, ln.name, src, "?", reasonTooLong, "registration line longer than 128 bytes")
		case isTimeout(err):
			f.refuse(ctx, ln.name, src, "?", reasonDeadline, "no registration in time")
		}
		return nil
	}
	tok := sc.Bytes()
	if !IsLine(tok) {
		f.refuse(ctx, ln.name, src, "?", reasonNotReg, "first thing sent is not a registration line (REG <address> <imei> <secret>)")
		return nil
	}
	reg, err := ParseRegistration(tok)
	if err != nil {
		f.refuse(ctx, ln.name, src, "?", reasonNotReg, err.Error())
		return nil
	}
	who := reg.Address.String()
	m, reason, why := f.checkRegistration(ctx, reg)
	if reason != "" {
		f.refuse(ctx, ln.name, src, who, reason, why)
		return nil
	}
	s := &MeterSession{f: f, listener: ln.name, conn: c, Address: reg.Address, Meter: m, sem: make(chan struct{}, 1), replies: make(chan []byte, 4), done: make(chan struct{})}
	// Confirm the identity: the meter must answer a wildcard address read
	// with its own address. Nothing else reads the connection yet.
	if !s.readBack(sc) {
		f.refuse(ctx, ln.name, src, who, reasonAddress, "it did not read back its address")
		return nil
	}
	if !f.takeOver(ctx, ln, src, s) {
		return nil
	}
	c.SetDeadline(time.Time{})
	f.cfg.Log.Info("GPRS meter registered / GPRS电表注册", "meter", who, "remote", c.RemoteAddr(), "listener", ln.name)
	if f.cfg.OnRegister != nil {
		go f.cfg.OnRegister(m)
	}
	return func(done func()) { s.run(sc, done) }
}

// readBack sends the wildcard address read on a registering connection and
// reports whether the meter answered it with its own address before the
// registration deadline.
func (s *MeterSession) readBack(sc *frameReader) bool {
	req := dlt645.ReadRequest(dlt645.Wildcard, dlt645.DIAddress)
	if err := s.send(&req); err != nil {
		return false
	}
	for sc.Scan() {
		var f dlt645.Frame
		if IsLine(sc.Bytes()) {
			continue
		}
		if _, err := f.Decode(sc.Bytes()); err != nil {
			continue
		}
		if replyMatches(&req, &f, s.Address) {
			s.lastHeard.Store(time.Now().UnixNano())
			return true
		}
		s.f.stats.dropped.Add(1)
	}
	return false
}

// takeOver installs s as the session of its address. When the address has a
// session already, that incumbent is checked first: if it answers an address
// read within IncumbentCheck, s is refused and one duplicate-registration
// alarm is raised for the incumbent (not one per attempt); if not, s
// replaces it.
func (f *FEP) takeOver(ctx context.Context, ln *listener, src string, s *MeterSession) bool {
	key := s.Address.String()
	f.mu.Lock()
	if f.claiming[key] {
		f.mu.Unlock()
		f.refuse(ctx, ln.name, src, key, reasonBusy, "another registration for this address is being checked")
		return false
	}
	old := f.gprs[key]
	if old == nil {
		f.gprs[key] = s
		f.mu.Unlock()
		return true
	}
	f.claiming[key] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.claiming, key)
		f.mu.Unlock()
	}()
	if old.answers(ctx, f.cfg.IncumbentCheck) {
		f.stats.duplicates.Add(1)
		f.stats.refuse(ln.name, reasonDuplicate)
		f.cfg.Log.Warn("duplicate GPRS registration refused / 重复注册被拒绝", "meter", key, "source", src)
		if old.dupRaised.CompareAndSwap(false, true) {
			err := f.dir.AppendEvents(ctx, amigo.Event{Time: f.cfg.Now(), Kind: amigo.EventDuplicateReg, Severity: "alarm",
				SiteID: s.Meter.SiteID, MeterID: s.Meter.ID,
				Message: fmt.Sprintf("meter %s registered again from %s while its session answers: refused / 电表重复注册，已拒绝", key, src),
				Detail:  "source " + src})
			if err != nil {
				f.cfg.Log.Warn("duplicate registration event", "err", err)
			}
		}
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gprs[key] == old {
		old.conn.Close()
	}
	f.gprs[key] = s
	return true
}

// answers reports whether the session reads back its address within d. A
// session busy with another exchange for all of d counts as answering if it
// answered something within the last d.
func (s *MeterSession) answers(ctx context.Context, d time.Duration) bool {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	reply, err := s.Exchange(cctx, dlt645.ReadRequest(dlt645.Wildcard, dlt645.DIAddress), d)
	if errors.Is(err, errBusy) {
		return time.Since(time.Unix(0, s.lastHeard.Load())) < d
	}
	return err == nil && reply.Address == s.Address
}

// run reads the registered meter's stream until the connection ends: lines
// (heartbeats) and 645 frames, each frame handed to the exchange waiting for
// it. Every complete line or frame renews the idle deadline; bytes alone do
// not.
func (s *MeterSession) run(sc *frameReader, done func()) {
	sc.serve(s.f.cfg.IdleTimeout, func(tok []byte) bool {
		if IsLine(tok) {
			return false // a heartbeat (or a registration packet repeated)
		}
		select {
		case s.replies <- append([]byte(nil), tok...):
		default: // nobody waits: an unsolicited frame
		}
		return false
	}, func() {
		if errors.Is(sc.Err(), ErrLineTooLong) {
			src := sourceOf(s.conn.RemoteAddr())
			s.f.refuse(context.Background(), s.listener, src, s.Address.String(), reasonTooLong, "line longer than 128 bytes")
		}
		close(s.done)
		s.conn.Close()
		f, key := s.f, s.Address.String()
		f.mu.Lock()
		if f.gprs[key] == s {
			delete(f.gprs, key)
		}
		f.mu.Unlock()
		done()
	})
}

var (
	errNoReply = errors.New("the meter did not answer")
	errBusy    = errors.New("the meter's link is busy with another exchange")
)

// replyMatches reports whether reply answers req on the session of meter a:
// a response from a to the same function and, for a normal read reply, the
// same data identifier.
func replyMatches(req, reply *dlt645.Frame, a dlt645.Address) bool {
	if !reply.Control.IsResponse() || reply.Address != a || reply.Control.Func() != req.Control.Func() {
		return false
	}
	if reply.Control.IsAbnormal() {
		return true
	}
	if want, ok := req.DI(); ok && req.Control.Func() != dlt645.FuncWrite {
		got, ok := reply.DI()
		return ok && got == want
	}
	return true
}

// Exchange sends a frame and waits up to timeout for the meter's reply.
// Replies from another address, to another function or for another data
// identifier are dropped (and counted), not returned.
func (s *MeterSession) Exchange(ctx context.Context, req dlt645.Frame, timeout time.Duration) (dlt645.Frame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case s.sem <- struct{}{}:
	case <-s.done:
		return dlt645.Frame{}, errors.New("connection closed")
	case <-ctx.Done():
		return dlt645.Frame{}, errors.Join(errBusy, ctx.Err())
	case <-t.C:
		return dlt645.Frame{}, errBusy
	}
	defer func() { <-s.sem }()
	for len(s.replies) > 0 {
		<-s.replies // drop stale replies
	}
	if err := s.send(&req); err != nil {
		return dlt645.Frame{}, err
	}
	for {
		select {
		case <-s.done:
			return dlt645.Frame{}, errors.New("connection closed")
		case b := <-s.replies:
			var f dlt645.Frame
			if _, err := f.Decode(b); err != nil {
				continue
			}
			if !replyMatches(&req, &f, s.Address) {
				s.f.stats.dropped.Add(1)
				s.f.cfg.Log.Debug("GPRS reply dropped: wrong address, function or DI / 应答不匹配", "meter", s.Address, "from", f.Address, "control", fmt.Sprintf("%02X", byte(f.Control)))
				continue
			}
			s.lastHeard.Store(time.Now().UnixNano())
			return f, nil
		case <-t.C:
			return dlt645.Frame{}, errNoReply
		case <-ctx.Done():
			return dlt645.Frame{}, ctx.Err()
		}
	}
}

// send writes a frame to the meter (with its preamble).
func (s *MeterSession) send(req *dlt645.Frame) error {
	wire, err := dlt645.AppendFrame(dlt645.AppendPreamble(nil), req)
	if err != nil {
		return err
	}
	s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = s.conn.Write(wire)
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
