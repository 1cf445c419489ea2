package collector

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/q1376"
)

// The station's commands (AFN 01, 04, 05, 10: the AFNs whose downlink
// frames carry PW) are authenticated before anything is done:
//
//   - the PW must be the frame's code under this terminal's key (q1376.Verify);
//   - the Tp must be there, with a delay, and fresh on the collector's clock
//     (q1376.TpFresh);
//   - the frame must be newer than every command accepted before: its send
//     time later than the newest accepted, or equal to it with a PFC not yet
//     seen in that second. The newest second and the PFCs seen in it are
//     stored before the command is carried out, so a restart does not
//     reopen anything, and the 8-bit PFC may wrap freely (it only tells
//     apart the commands of one second). The rule uses the station's send
//     times, not the collector's clock: setting the collector's clock
//     (AFN 05 F31) reopens nothing either.
//
// A refusal is answered with a deny (AFN 00 F2) and recorded as ERC 20. At
// most one record per reason per minute is written: further refusals are
// counted into the next record (or written by the housekeeping), so a flood
// of forged frames cannot push the other events out of the 256-record log.
//
// Without a key (auth_key), commands on a TLS link are trusted — the link
// authenticates the station — and on a plain-TCP link every one is refused.

// authRecordEvery is how often one reason of refusal is recorded.
const authRecordEvery = time.Minute

// newestKey keeps the newest accepted send time and its PFCs:
// "<unix seconds>,<64 hex digits: 256 bits, bit p = PFC p seen>".
const newestKey = "auth_newest"

type authGuard struct {
	mu     sync.Mutex
	loaded bool
	newest
	refused [4]refusalCount
}

type newest struct {
	sec  int64     // newest accepted send time, unix seconds
	seen [4]uint64 // PFCs accepted in that second
}

type refusalCount struct {
	last    time.Time // when this reason was last recorded (collector clock)
	pending int       // refusals not yet recorded
	pw      [16]byte
	msa     uint8
}

func (g *newest) seenPFC(p uint8) bool { return g.seen[p/64]&(1<<(p%64)) != 0 }

func (g newest) encode() string {
	var b [32]byte
	for i, w := range g.seen {
		for j := range 8 {
			b[i*8+j] = byte(w >> (8 * j))
		}
	}
	return strconv.FormatInt(g.sec, 10) + "," + hex.EncodeToString(b[:])
}

func (g *newest) decode(v string) error {
	sec, bits, ok := strings.Cut(v, ",")
	n, err := strconv.ParseInt(sec, 10, 64)
	b, err2 := hex.DecodeString(bits)
	if !ok || err != nil || err2 != nil || len(b) != 32 {
		return fmt.Errorf("collector: stored %s %q is damaged", newestKey, v)
	}
	g.sec = n
	for i := range g.seen {
		g.seen[i] = 0
		for j := range 8 {
			g.seen[i] |= uint64(b[i*8+j]) << (8 * j)
		}
	}
	return nil
}

// errNotStored: the command was authentic but its mark could not be
// stored; it is denied (and not recorded as an attack).
var errNotStored = errors.New("the command's replay mark could not be stored")

// authorize checks a command frame; it returns the ERC 20 reason of a
// refusal, 0 when the frame may be carried out, or errNotStored.
func (c *Collector) authorize(ctx context.Context, f *q1376.Frame) (uint8, error) {
	key := c.cfg.authKey
	if key == nil {
		if c.cfg.PlainTCP {
			return q1376.AuthBadPW, nil // nobody can be told from the station
		}
		return 0, nil // the TLS link authenticated the station
	}
	switch err := q1376.Verify(f, key); {
	case errors.Is(err, q1376.ErrNoTp):
		return q1376.AuthStale, nil
	case err != nil:
		return q1376.AuthBadPW, nil
	}
	now := c.clock.Now().In(c.cfg.Loc)
	if !q1376.TpFresh(*f.Tp, now) {
		return q1376.AuthStale, nil
	}
	at, _ := f.Tp.SentAt(now)
	sec, pfc := at.Unix(), f.Tp.PFC
	g := &c.auth
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.loaded {
		v, err := c.store.GetState(ctx, newestKey)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", errNotStored, err)
		}
		if v != "" {
			if err := g.decode(v); err != nil {
				// A damaged mark would reopen every old command: refuse all
				// until an operator looks (the log says why).
				c.log.Error("replay mark / 防重放记录", "err", err.Error())
				return 0, fmt.Errorf("%w: %v", errNotStored, err)
			}
		}
		g.loaded = true
	}
	if sec < g.sec || (sec == g.sec && g.seenPFC(pfc)) {
		return q1376.AuthReplay, nil
	}
	next := newest{sec: g.sec, seen: g.seen}
	if sec > g.sec {
		next = newest{sec: sec}
	}
	next.seen[pfc/64] |= 1 << (pfc % 64)
	if err := c.store.SetState(ctx, newestKey, next.encode()); err != nil {
		return 0, fmt.Errorf("%w: %v", errNotStored, err)
	}
	g.newest = next
	return 0, nil
}

// refuse logs a refused command and records it as ERC 20, folding
// refusals of the same reason within authRecordEvery into one record.
func (c *Collector) refuse(ctx context.Context, f *q1376.Frame, reason uint8) {
	c.log.Warn("command refused / 拒绝主站命令", "afn", fmt.Sprintf("%02X", byte(f.AFN)), "reason", authReasonText(reason), "msa", f.Address.MSA)
	now := c.clock.Now()
	g := &c.auth
	g.mu.Lock()
	r := &g.refused[reason&3]
	r.pending++
	copy(r.pw[:], f.PW)
	if len(f.PW) != q1376.PWLen {
		r.pw = [16]byte{}
	}
	r.msa = f.Address.MSA
	if !r.last.IsZero() && now.Sub(r.last).Abs() < authRecordEvery {
		g.mu.Unlock()
		return
	}
	e := c.takeRefusals(r, reason, now)
	g.mu.Unlock()
	c.record(ctx, e)
}

// flushRefusals records refusals folded into a window that has passed.
func (c *Collector) flushRefusals(ctx context.Context) {
	now := c.clock.Now()
	var es []q1376.ERC
	g := &c.auth
	g.mu.Lock()
	for reason := uint8(1); reason <= 3; reason++ {
		r := &g.refused[reason]
		if r.pending > 0 && now.Sub(r.last).Abs() >= authRecordEvery {
			es = append(es, c.takeRefusals(r, reason, now))
		}
	}
	g.mu.Unlock()
	for _, e := range es {
		c.record(ctx, e)
	}
}

// takeRefusals turns r's pending refusals into a record; g.mu is held.
func (c *Collector) takeRefusals(r *refusalCount, reason uint8, now time.Time) q1376.ERC {
	e := q1376.ERC{Code: q1376.ERCAuth, At: dlt645.DateTimeOf(now.In(c.cfg.Loc)), PW: r.pw, MSA: r.msa, AuthReason: reason, Count: uint32(min(r.pending, 0xFFFF))}
	r.pending, r.last = 0, now
	return e
}

func authReasonText(r uint8) string {
	switch r {
	case q1376.AuthBadPW:
		return "bad PW / 消息认证码错误"
	case q1376.AuthStale:
		return "time tag missing or stale / 时间标签缺失或超时"
	case q1376.AuthReplay:
		return "replayed / 重放"
	}
	return "?"
}
