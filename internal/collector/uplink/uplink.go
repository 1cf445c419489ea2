// Package uplink is the collector's link to the master station: Q/GDW
// 1376.1 over TLS 1.3 with the collector's client certificate (or plain TCP
// when configured for a station without TLS). It dials the stations in
// turn, logs in, sends heartbeats, hands each frame from the station to a
// Handler and writes back its answers, and reconnects with exponential
// backoff and jitter. What the answers say is the collector's business.
package uplink

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/q1376"
)

// Config says how to reach the station.
type Config struct {
	Terminal   q1376.Address
	Stations   []string // host:port, tried in turn
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string // the station's name in its certificate; default: the host of its address
	PlainTCP   bool
	Heartbeat  time.Duration // default 60 s
	// ReconnectMax is the longest wait between connection attempts;
	// default 5 min.
	ReconnectMax time.Duration
	Log          *slog.Logger
}

// Handler answers the station's frames of one session. Handle gets one
// whole frame; the frames it returns are sent in order. An error is logged;
// the session goes on.
type Handler interface {
	Handle(ctx context.Context, frame []byte) ([]*q1376.Frame, error)
}

// Run keeps a session with a station until ctx ends; newHandler makes the
// handler of each session.
func Run(ctx context.Context, cfg Config, newHandler func() Handler) {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Minute
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if len(cfg.Stations) == 0 {
		return
	}
	backoff := min(time.Second, cfg.ReconnectMax)
	for i := 0; ctx.Err() == nil; i++ {
		addr := cfg.Stations[i%len(cfg.Stations)]
		began := time.Now()
		err := session(ctx, cfg, addr, newHandler())
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute {
			backoff = min(time.Second, cfg.ReconnectMax) // the session was up: start over
		}
		wait := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		cfg.Log.Warn("station link down / 主站连接断开", "station", addr, "err", err, "retry_in", wait.Round(time.Millisecond).String())
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, cfg.ReconnectMax)
	}
}

func dial(ctx context.Context, cfg Config, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	if cfg.PlainTCP {
		return d.DialContext(ctx, "tcp", addr)
	}
	name := cfg.ServerName
	if name == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		name = host
	}
	tc, err := pki.ClientConfig(cfg.CAFile, cfg.CertFile, cfg.KeyFile, name)
	if err != nil {
		return nil, err
	}
	td := tls.Dialer{NetDialer: &d, Config: tc}
	return td.DialContext(ctx, "tcp", addr)
}

// link is one connection: writes are serialised, link frames numbered.
type link struct {
	conn net.Conn
	wmu  sync.Mutex
	seq  uint8
}

func (l *link) send(f *q1376.Frame) error {
	b, err := q1376.AppendFrame(nil, f)
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err = l.conn.Write(b)
	return err
}

func (l *link) nextSeq() uint8 {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.seq = (l.seq + 1) & 0x0F
	return l.seq
}

// session is one connection's life: login, heartbeats, requests.
func session(ctx context.Context, cfg Config, addr string, h Handler) error {
	conn, err := dial(ctx, cfg, addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(sctx, func() { conn.Close() })
	l := &link{conn: conn}
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	sc.Split(q1376.Split)
	// Login and wait for the station's confirmation.
	if err := l.send(q1376.Login(cfg.Terminal, l.nextSeq())); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return fmt.Errorf("login: no answer from the station / 主站未应答登录: %w", err)
			}
			return errors.New("login refused: the station closed the connection without confirming (its log and events say why: not in the archive, wrong certificate, plain TCP not allowed) / 登录被拒绝：主站未确认即断开（原因见主站日志和事件）")
		}
		f, err := q1376.Parse(sc.Bytes())
		if err != nil {
			continue
		}
		if ok, isConfirm := f.IsConfirm(); isConfirm {
			if !ok {
				return errors.New("login denied by the station / 主站拒绝登录")
			}
			break
		}
	}
	cfg.Log.Info("logged in to the station / 已登录主站", "station", addr, "terminal", cfg.Terminal.String())
	var wg sync.WaitGroup
	defer wg.Wait() // the heartbeat ends with the session (cancel runs first)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := l.send(q1376.Heartbeat(cfg.Terminal, l.nextSeq())); err != nil {
					cancel()
					return
				}
			case <-sctx.Done():
				return
			}
		}
	}()
	defer cancel()
	for {
		// Three missed heartbeats' worth of silence ends the session.
		conn.SetReadDeadline(time.Now().Add(3*cfg.Heartbeat + 30*time.Second))
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return err
			}
			return io.EOF
		}
		replies, err := h.Handle(sctx, sc.Bytes())
		if err != nil {
			cfg.Log.Warn("bad frame from the station / 主站报文错误", "err", err)
		}
		for _, r := range replies {
			if err := l.send(r); err != nil {
				return err
			}
		}
	}
}
