package fep

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
)

// MeterDirectory is what the GPRS listener needs to know of meters.
type MeterDirectory interface {
	FindMeterByAddress(ctx context.Context, address string) (amigo.Meter, error)
}

// MeterSession is a GPRS meter (or its DTU) connected directly: after its
// registration line it answers DL/T 645 frames on the connection.
type MeterSession struct {
	conn    net.Conn
	Address dlt645.Address
	Meter   amigo.Meter

	mu      sync.Mutex // one exchange at a time
	replies chan []byte
	done    chan struct{} // closed when the connection ends
}

// ListenGPRS opens the GPRS listener (plain TCP: DTUs speak no TLS; the
// meter's identity is checked by reading its address back).
func (f *FEP) ListenGPRS(addr string, meters MeterDirectory) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("fep: gprs listen %s: %w", addr, err)
	}
	f.gprsL, f.meters = l, meters
	return nil
}

// GPRSAddr returns the GPRS listener's address.
func (f *FEP) GPRSAddr() net.Addr {
	if f.gprsL == nil {
		return nil
	}
	return f.gprsL.Addr()
}

// MeterSession returns the session of a directly connected meter.
func (f *FEP) MeterSession(address string) (*MeterSession, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.gprs[address]
	return s, ok
}

func (f *FEP) serveGPRS(ctx context.Context, c net.Conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReaderSize(c, 1024)
	line, err := r.ReadString('\n')
	if err != nil || len(line) > 80 {
		return
	}
	fields := strings.Fields(line)
	if len(fields) < 2 || fields[0] != "REG" {
		f.refuse(ctx, c, "?", "first line is not a registration (REG <address> <imei>)")
		return
	}
	addr, err := dlt645.ParseAddress(fields[1])
	if err != nil {
		f.refuse(ctx, c, fields[1], "bad address in the registration")
		return
	}
	m, err := f.meters.FindMeterByAddress(ctx, addr.String())
	if err != nil || !m.Direct {
		f.refuse(ctx, c, addr.String(), "not a direct GPRS meter in the archive")
		return
	}
	s := &MeterSession{conn: c, Address: addr, Meter: m, replies: make(chan []byte, 4), done: make(chan struct{})}
	go s.read(r)
	// Confirm the identity: the meter must answer a wildcard address read
	// with its own address.
	reply, err := s.Exchange(ctx, dlt645.ReadRequest(dlt645.Wildcard, dlt645.DIAddress), 10*time.Second)
	if err != nil || reply.Address != addr {
		f.refuse(ctx, c, addr.String(), "it did not confirm its address")
		return
	}
	f.mu.Lock()
	if old := f.gprs[addr.String()]; old != nil {
		old.conn.Close()
	}
	f.gprs[addr.String()] = s
	f.mu.Unlock()
	f.cfg.Log.Info("GPRS meter registered / GPRS电表注册", "meter", addr, "remote", c.RemoteAddr())
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	f.mu.Lock()
	if f.gprs[addr.String()] == s {
		delete(f.gprs, addr.String())
	}
	f.mu.Unlock()
}

// read splits the stream into heartbeat lines and 645 frames.
func (s *MeterSession) read(r *bufio.Reader) {
	defer close(s.done)
	var buf []byte
	for {
		s.conn.SetReadDeadline(time.Now().Add(10 * time.Minute))
		if len(buf) == 0 {
			b, err := r.Peek(1)
			if err != nil {
				return
			}
			if b[0] == 'H' || b[0] == 'R' {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				continue
			}
		}
		c, err := r.ReadByte()
		if err != nil {
			return
		}
		buf = append(buf, c)
		adv, tok, _ := dlt645.Split(buf, false)
		if tok != nil {
			select {
			case s.replies <- append([]byte(nil), tok...):
			default: // nobody waits: an unsolicited frame
			}
		}
		buf = buf[adv:]
		if len(buf) > 512 {
			buf = buf[:0]
		}
	}
}

var errNoReply = errors.New("the meter did not answer")

// Exchange sends a frame and waits for the meter's reply.
func (s *MeterSession) Exchange(ctx context.Context, req dlt645.Frame, timeout time.Duration) (dlt645.Frame, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	replies := s.replies
	wire, err := dlt645.AppendFrame(dlt645.AppendPreamble(nil), &req)
	if err != nil {
		return dlt645.Frame{}, err
	}
	for len(replies) > 0 {
		<-replies // drop stale replies
	}
	s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.conn.Write(wire); err != nil {
		return dlt645.Frame{}, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return dlt645.Frame{}, errors.New("connection closed")
		case b := <-replies:
			var f dlt645.Frame
			if _, err := f.Decode(b); err != nil || !f.Control.IsResponse() {
				continue
			}
			return f, nil
		case <-t.C:
			return dlt645.Frame{}, errNoReply
		case <-ctx.Done():
			return dlt645.Frame{}, ctx.Err()
		}
	}
}
