package fep

import (
	"context"
	"fmt"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/q1376"
)

// Commands to collectors (AFN 01, 04, 05, 10 and every other AFN whose
// downlink frames carry PW) are signed when the front end has a master key
// (Config.DownlinkKey): the frame gets a time tag — a per-terminal counter
// PFC, the send time in the collector's site zone, the allowed delay — and
// the PW q1376.Sign computes with the terminal's key
// q1376.TerminalKey(master, address). The tag is stamped and the frame
// written under the session's write lock, so tags reach the collector in
// the order they were stamped.
//
// The collector accepts a command only if its (send time, PFC) is newer
// than any it accepted (internal/collector/auth.go). So the stamps of one
// terminal never go back, even across reconnections and a clock stepped
// back: the send time is the later of now and the last one used, and after
// 256 tags in one second (the PFCs of that second used up) the next goes
// one second ahead.

// DefaultDownlinkDelay is the delay a command's time tag allows.
const DefaultDownlinkDelay = 5 * time.Minute

// stamp is a terminal's last time tag.
type stamp struct {
	sec int64 // send time, unix seconds
	n   int   // tags stamped in that second
	pfc uint8 // the next PFC
}

// signer signs one session's commands; nil key: unsigned.
type signer struct {
	key   []byte
	loc   *time.Location
	stamp *stamp
}

// siteFinder is what the front end needs to find a collector's zone; the
// Directory may offer it.
type siteFinder interface {
	GetSite(ctx context.Context, id int64) (amigo.Site, error)
}

// prepareSigning gives a new session its terminal's key, zone and stamp.
func (f *FEP) prepareSigning(ctx context.Context, s *Session) {
	if f.cfg.DownlinkKey == nil {
		return
	}
	loc := f.cfg.Location
	if sf, ok := f.dir.(siteFinder); ok {
		if site, err := sf.GetSite(ctx, s.Collector.SiteID); err == nil {
			loc = site.Location()
		}
	}
	who := s.Address.String()
	f.mu.Lock()
	st := f.stamps[who]
	if st == nil {
		st = &stamp{}
		f.stamps[who] = st
	}
	f.mu.Unlock()
	s.signer = signer{key: q1376.TerminalKey(f.cfg.DownlinkKey, s.Address), loc: loc, stamp: st}
}

// writeCommand writes a request, signed when it is a command and the
// session has a key.
func (s *Session) writeCommand(fr *q1376.Frame, delay time.Duration) error {
	if s.signer.key == nil || !fr.AFN.HasPW() {
		return s.write(fr)
	}
	if delay <= 0 {
		delay = s.f.cfg.DownlinkDelay
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// The stamp is shared by the sessions of one terminal, one at a time in
	// practice; the front end's lock keeps a replaced session's last write
	// from racing with the new one's.
	s.f.mu.Lock()
	st := s.signer.stamp
	sec := s.f.cfg.Now().Unix()
	switch {
	case sec > st.sec:
		st.sec, st.n = sec, 0
	case st.n >= 256:
		st.sec, st.n = st.sec+1, 0
	}
	st.n++
	fr.Tp = q1376.TpAt(st.pfc, time.Unix(st.sec, 0).In(s.signer.loc), delay)
	st.pfc++
	s.f.mu.Unlock()
	if err := q1376.Sign(fr, s.signer.key); err != nil {
		return fmt.Errorf("fep: sign: %w", err)
	}
	b, err := q1376.AppendFrame(nil, fr)
	if err != nil {
		return err
	}
	s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err = s.conn.Write(b)
	return err
}
