package sim

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
)

// ServeLine answers the requests arriving on rw (a serial line, a pty or a
// TCP connection to a serial server) until rw fails or ctx ends. Bytes may
// arrive split or joined; noise between frames is skipped.
func (b *Bus) ServeLine(ctx context.Context, rw io.ReadWriter) error {
	stop := context.AfterFunc(ctx, func() {
		if c, ok := rw.(io.Closer); ok {
			c.Close()
		}
	})
	defer stop()
	sc := bufio.NewScanner(rw)
	sc.Buffer(make([]byte, 0, 512), 4096)
	sc.Split(dlt645.Split)
	var req dlt645.Frame
	var replies []Reply
	for sc.Scan() {
		if _, err := req.Decode(sc.Bytes()); err != nil {
			continue
		}
		replies = b.Handle(&req, replies[:0])
		for _, r := range replies {
			if r.Delay > 0 {
				select {
				case <-time.After(r.Delay):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if _, err := rw.Write(r.Frame); err != nil {
				return fmt.Errorf("sim: writing reply: %w", err)
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil && !errors.Is(err, os.ErrClosed) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("sim: reading line: %w", err)
	}
	return nil
}

// ServeTCP makes the bus reachable as a TCP serial server (a transparent
// DTU): every connection carries raw DL/T 645 bytes to and from the bus. It
// returns when ctx ends.
func (b *Bus) ServeTCP(ctx context.Context, l net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sim: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			if err := b.ServeLine(ctx, c); err != nil && ctx.Err() == nil {
				b.log.Debug("sim: connection ended", "remote", c.RemoteAddr(), "err", err)
			}
		}()
	}
}

// GPRSConfig is how a GPRS meter reaches its station.
type GPRSConfig struct {
	Station   string        // host:port of the station's GPRS listener
	Heartbeat time.Duration // real time between heartbeats when idle; default 60 s
	// IMEI and Secret are sent in the registration line
	// "REG <address> <imei> <secret>" (see docs/link.md); GPRSIdentity
	// gives a virtual meter's.
	IMEI, Secret string
}

// GPRSIdentity returns the IMEI (15 digits, "86" and a Luhn check digit)
// and the registration secret (32 hex digits) of the virtual meter at
// address in a fleet whose key is key: HMAC-SHA256(key, address), so that
// the archive can be given the same values.
func GPRSIdentity(key, address string) (imei, secret string) {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(address))
	sum := mac.Sum(nil)
	body := fmt.Sprintf("86%012d", binary.BigEndian.Uint64(sum[:8])%1_000_000_000_000)
	return body + string(rune('0'+luhn(body))), hex.EncodeToString(sum[8:24])
}

// luhn returns the check digit of a string of digits.
func luhn(s string) int {
	sum := 0
	for i := range len(s) {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return (10 - sum%10) % 10
}

// DialGPRS runs m as a GPRS meter: it dials the station, registers, sends
// heartbeats and answers DL/T 645 frames on the connection, redialing with
// backoff when the connection fails, until ctx ends.
func (b *Bus) DialGPRS(ctx context.Context, m *Meter, cfg GPRSConfig) error {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 60 * time.Second
	}
	backoff := time.Second
	for ctx.Err() == nil {
		var err error
		if m.Faults().Outage {
			err = errors.New("sim: meter in outage") // its modem has no power
		} else {
			var registered bool
			registered, err = b.gprsSession(ctx, m, cfg)
			if registered {
				backoff = time.Second
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		b.log.Debug("sim: gprs session ended", "meter", m.addr, "err", err)
		wait := backoff/2 + rand.N(backoff) // ±50 % jitter
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
		backoff = min(backoff*2, 5*time.Minute)
	}
	return nil
}

// gprsSession is one connection to the station; registered reports whether
// the registration line went out.
func (b *Bus) gprsSession(ctx context.Context, m *Meter, cfg GPRSConfig) (registered bool, err error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", cfg.Station)
	if err != nil {
		return false, fmt.Errorf("sim: dial station: %w", err)
	}
	defer c.Close()
	imei, secret := cfg.IMEI, cfg.Secret
	if imei == "" || secret == "" {
		imei, secret = GPRSIdentity("", m.addr.String())
	}
	var mu sync.Mutex // one writer at a time: replies and heartbeats
	write := func(p []byte) error {
		mu.Lock()
		defer mu.Unlock()
		_, err := c.Write(p)
		return err
	}
	if err := write(fmt.Appendf(nil, "REG %s %s %s\r\n", m.addr, imei, secret)); err != nil {
		return false, fmt.Errorf("sim: register: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if m.Faults().Outage || write(fmt.Appendf(nil, "HB %s\r\n", m.addr)) != nil {
					cancel()
					return
				}
			case <-sctx.Done():
				return
			}
		}
	}()
	context.AfterFunc(sctx, func() { c.Close() })
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 512), 4096)
	sc.Split(dlt645.Split)
	single := NewBus(b.clock, m)
	var req dlt645.Frame
	var replies []Reply
	for sc.Scan() {
		if _, err := req.Decode(sc.Bytes()); err != nil {
			continue
		}
		replies = single.Handle(&req, replies[:0])
		for _, r := range replies {
			if r.Delay > 0 {
				select {
				case <-time.After(r.Delay):
				case <-sctx.Done():
					return true, sctx.Err()
				}
			}
			if err := write(r.Frame); err != nil {
				return true, fmt.Errorf("sim: reply: %w", err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return true, fmt.Errorf("sim: read: %w", err)
	}
	return true, io.EOF
}
