package station

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/q1376"
)

// maxAttempts is how often a command is sent before it fails.
const maxAttempts = 3

// Submit stores a command durably (and audits who asked) before anything is
// sent; the executor picks it up.
func (e *Engine) Submit(ctx context.Context, meterID int64, typ, by string) (amigo.Command, error) {
	now := e.clock.Now()
	c := amigo.Command{MeterID: meterID, Type: typ, RequestedBy: by, CreatedAt: now, UpdatedAt: now, NextAttemptAt: now, ExpiresAt: now.Add(e.cfg.CommandTTL)}
	if _, err := e.store.GetMeter(ctx, meterID); err != nil {
		return c, err
	}
	if err := e.store.CreateCommand(ctx, &c); err != nil {
		return c, err
	}
	e.store.AppendAudit(ctx, amigo.AuditEntry{Time: now, Actor: by, Action: "command." + typ, Object: fmt.Sprintf("meter %d, command %d", meterID, c.ID)})
	e.cmdLock.noteRelay(c)
	e.wakeCommands()
	return c, nil
}

// cmdLocks lets commands run concurrently across collectors, one at a time
// per collector (or per GPRS meter): the collector forwards to its meters
// one frame at a time anyway, and a meter's commands keep their order.
type cmdLocks struct {
	mu      sync.Mutex
	running map[int64]bool  // commands at work
	lines   map[string]bool // collectors / GPRS meters at work
	latest  map[int64]int64 // meter -> its newest relay command seen
	slots   chan struct{}
	jobs    sync.WaitGroup
	// freed wakes the loop when a line comes free (its waiting commands
	// go at once) or a worker does while a command waited for one. A
	// command that finds its line busy ends without waking anybody: it
	// would wake the loop, find its line busy again, and so on.
	freed   chan struct{}
	starved atomic.Bool // a command found every worker busy
}

func (l *cmdLocks) init(workers int) {
	l.running, l.lines, l.latest = map[int64]bool{}, map[string]bool{}, map[int64]int64{}
	l.slots = make(chan struct{}, workers)
	l.freed = make(chan struct{}, 1)
}

func (l *cmdLocks) wait() { l.jobs.Wait() }

func isRelay(typ string) bool {
	return typ == amigo.CmdDisconnect || typ == amigo.CmdReconnect || typ == amigo.CmdClose
}

// controlTypes are the 645 remote-control (1CH) commands by command type.
var controlTypes = map[string]dlt645.ControlType{
	amigo.CmdDisconnect: dlt645.ControlTrip, amigo.CmdReconnect: dlt645.ControlAllowClose, amigo.CmdClose: dlt645.ControlClose,
	amigo.CmdAlarm: dlt645.ControlAlarm, amigo.CmdAlarmOff: dlt645.ControlAlarmOff,
}

// noteRelay records a relay command, so that an older one of the same
// meter not yet sent is superseded by it.
func (l *cmdLocks) noteRelay(c amigo.Command) {
	if !isRelay(c.Type) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.ID > l.latest[c.MeterID] {
		l.latest[c.MeterID] = c.ID
	}
}

// supersededBy returns the newer relay command of c's meter, 0 if none.
func (l *cmdLocks) supersededBy(c amigo.Command) int64 {
	if !isRelay(c.Type) {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.latest[c.MeterID]; n > c.ID {
		return n
	}
	return 0
}

// runCommands starts every due command not at work yet, each in its own
// goroutine (at most Workers at once); it does not wait for them.
//
// With several nodes the commands are claimed in the store (one node at a
// time each, those of the lines this node leases, or nobody leases, or
// expired), as many as there are free workers; each claim ends when its
// command's turn does.
func (e *Engine) runCommands(ctx context.Context) {
	var due []amigo.Command
	var err error
	if e.nodes.on() {
		free := cap(e.cmdLock.slots) - len(e.cmdLock.slots)
		due, err = e.cfg.Nodes.ClaimCommands(ctx, e.cfg.Node, e.clock.Now(), e.cfg.RealNow(), e.cfg.LeaseTTL, min(free, 200))
	} else {
		due, err = e.store.DueCommands(ctx, e.clock.Now(), 200)
	}
	if err != nil {
		e.log.Error("due commands", "err", err)
		return
	}
	for _, c := range due {
		e.cmdLock.noteRelay(c)
	}
	l := &e.cmdLock
	for _, c := range due {
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		if l.running[c.ID] {
			l.mu.Unlock()
			continue
		}
		select {
		case l.slots <- struct{}{}:
		default:
			l.starved.Store(true)
			l.mu.Unlock()
			e.unclaim(ctx, c)
			continue // every worker busy: the next pass goes on
		}
		l.running[c.ID] = true
		l.jobs.Add(1)
		l.mu.Unlock()
		go func() {
			defer func() {
				l.mu.Lock()
				delete(l.running, c.ID)
				l.mu.Unlock()
				<-l.slots
				if l.starved.Swap(false) {
					signal(l.freed)
				}
				l.jobs.Done()
			}()
			defer e.unclaim(ctx, c)
			// The list was read before this command's previous turn may
			// have ended (its worker gone, its outcome written since):
			// read it again now that it is ours, and leave it when it is
			// no longer due.
			fresh, err := e.store.GetCommand(ctx, c.ID)
			if err != nil {
				e.log.Warn("command", "id", c.ID, "err", err)
				return
			}
			if !commandDue(fresh, e.clock.Now()) {
				return
			}
			e.execute(ctx, fresh)
		}()
	}
}

// commandDue tells whether command c is to be carried out at now: not ended, and
// its next attempt reached.
func commandDue(c amigo.Command, now time.Time) bool {
	return (c.Status == amigo.CmdPending || c.Status == amigo.CmdSent) && !c.NextAttemptAt.After(now)
}

// lockLine takes the line of a command (its collector, or its GPRS meter);
// false when another command holds it.
func (e *Engine) lockLine(line string) bool {
	l := &e.cmdLock
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lines[line] {
		return false
	}
	l.lines[line] = true
	return true
}

func (e *Engine) unlockLine(line string) {
	e.cmdLock.mu.Lock()
	delete(e.cmdLock.lines, line)
	e.cmdLock.mu.Unlock()
	signal(e.cmdLock.freed)
}

// finish records a command's outcome and audits it.
func (e *Engine) finish(ctx context.Context, c amigo.Command, status, reason, result string) {
	now := e.clock.Now()
	c.Status, c.Reason, c.Result, c.UpdatedAt = status, reason, result, now
	if err := e.store.UpdateCommand(ctx, c); err != nil {
		e.log.Error("update command", "id", c.ID, "err", err)
		return
	}
	e.store.AppendAudit(ctx, amigo.AuditEntry{Time: now, Actor: "station", Action: "command." + status, Object: fmt.Sprintf("command %d", c.ID), Detail: reason + result})
	if status == amigo.CmdFailed {
		e.store.AppendEvents(ctx, amigo.Event{Time: now, Kind: amigo.EventCommandFailed, Severity: "warning", MeterID: c.MeterID,
			Message: fmt.Sprintf("command %d (%s) failed: %s / 命令失败", c.ID, c.Type, reason)})
	}
}

func (e *Engine) retry(ctx context.Context, c amigo.Command, reason string) {
	now := e.clock.Now()
	if c.Attempts >= maxAttempts {
		e.finish(ctx, c, amigo.CmdFailed, reason, "")
		return
	}
	c.Reason, c.UpdatedAt = reason, now
	c.NextAttemptAt = now.Add(time.Duration(c.Attempts) * time.Minute)
	e.store.UpdateCommand(ctx, c)
}

// unclaim ends this node's claim on command c (several nodes only).
func (e *Engine) unclaim(ctx context.Context, c amigo.Command) {
	if !e.nodes.on() {
		return
	}
	if err := e.cfg.Nodes.ReleaseCommand(context.WithoutCancel(ctx), c.ID, e.cfg.Node); err != nil {
		e.log.Warn("release command", "id", c.ID, "err", err)
	}
}

func (e *Engine) execute(ctx context.Context, c amigo.Command) {
	now := e.clock.Now()
	if now.After(c.ExpiresAt) {
		e.finish(ctx, c, amigo.CmdExpired, "validity passed before it could be carried out / 命令已过期", "")
		return
	}
	if n := e.cmdLock.supersededBy(c); n != 0 {
		e.finish(ctx, c, amigo.CmdExpired, fmt.Sprintf("superseded by command %d before it was carried out / 已被命令%d取代", n, n), "")
		return
	}
	m, err := e.store.GetMeter(ctx, c.MeterID)
	if err != nil {
		e.finish(ctx, c, amigo.CmdFailed, "meter not found / 电表不存在", "")
		return
	}
	line := fmt.Sprintf("collector %d", m.CollectorID)
	if m.Direct {
		line = fmt.Sprintf("meter %d", m.ID)
	}
	// With several nodes only the holder of the line's lease sends: the
	// session may be here a moment before the lease (the next pass).
	held, here := true, false
	if !e.lockLine(line) {
		return // another command of this line is at work: the next pass
	}
	defer e.unlockLine(line)
	// send carries a 645 frame to the meter: through its collector (AFN 10
	// F1), or on its own GPRS connection.
	var send func(dlt645.Frame) (dlt645.Frame, error)
	waitFor := ""
	if m.Direct {
		held = e.nodes.holds(meterResource(m))
		l, ok := e.front.Meter(m.Address)
		if here = ok; ok && held {
			send = func(f dlt645.Frame) (dlt645.Frame, error) {
				r, err := l.Exchange(ctx, f, directTimeout)
				if err != nil && f.Control.Func() == dlt645.FuncBroadcastTime {
					return r, errNoAnswer
				}
				return r, err
			}
		}
		waitFor = "meter " + m.Address
	} else {
		col, err := e.store.GetCollector(ctx, m.CollectorID)
		if err != nil {
			e.finish(ctx, c, amigo.CmdFailed, "collector not found / 采集器不存在", "")
			return
		}
		held = e.nodes.holds(collectorResource(col))
		t, ok := e.front.Terminal(col.Address)
		if here = ok; ok && held {
			send = func(f dlt645.Frame) (dlt645.Frame, error) { return e.forward(ctx, t, uint8(m.Port), f) }
		}
		waitFor = "collector " + col.Address
	}
	if send == nil && !held && here {
		return // the lease comes with the next pass; so does the command
	}
	if send == nil {
		// Offline: the command waits (until it expires).
		if c.Reason == "" {
			c.Reason = "waiting for " + waitFor + " / 等待设备上线"
		}
		c.NextAttemptAt, c.UpdatedAt = now.Add(30*time.Second), now
		e.store.UpdateCommand(ctx, c)
		return
	}
	// A relay command sent before (a retry, or a node that stopped before
	// it heard the answer) is looked at first: when the relay already
	// stands as commanded, it is not sent again.
	if isRelay(c.Type) && c.Attempts > 0 {
		if open, err := e.relayState(m, send); err == nil && (c.Type == amigo.CmdDisconnect) == open {
			relay := relayName(open)
			e.store.SetMeterRelay(ctx, m.ID, relay)
			e.finish(ctx, c, amigo.CmdSucceeded, "", "relay "+relay+" (found so after an earlier attempt / 先前已执行)")
			return
		}
	}
	c.Attempts++
	c.Status, c.UpdatedAt = amigo.CmdSent, now
	e.store.UpdateCommand(ctx, c)
	addr, err := dlt645.ParseAddress(m.Address)
	if err != nil {
		e.finish(ctx, c, amigo.CmdFailed, "bad meter address", "")
		return
	}
	auth, err := meterAuth(m)
	if err != nil {
		e.finish(ctx, c, amigo.CmdFailed, "bad meter password in the archive / 档案中的电表密码有误", "")
		return
	}
	loc := amigo.Site{}.Location()
	if site, err := e.store.GetSite(ctx, m.SiteID); err == nil {
		loc = site.Location()
	}
	var req dlt645.Frame
	switch c.Type {
	case amigo.CmdDisconnect, amigo.CmdReconnect, amigo.CmdClose, amigo.CmdAlarm, amigo.CmdAlarmOff:
		req = dlt645.ControlRequest(addr, dlt645.ControlCommand{Type: controlTypes[c.Type], Auth: auth, Until: dlt645.DateTimeOf(c.ExpiresAt.In(loc))})
	case amigo.CmdTimeSync:
		req = dlt645.BroadcastTimeRequest(addr, dlt645.DateTimeOf(now.In(loc)))
	case amigo.CmdRead:
		req = dlt645.ReadRequest(addr, dlt645.DIForwardActiveBlock)
	}
	reply, err := send(req)
	switch {
	case c.Type == amigo.CmdTimeSync:
		if err != nil && !errors.Is(err, errNoAnswer) {
			e.retry(ctx, c, err.Error())
			return
		}
		e.finish(ctx, c, amigo.CmdSucceeded, "", "time set to "+now.In(loc).Format(time.DateTime))
		return
	case err != nil:
		e.retry(ctx, c, err.Error())
		return
	}
	if ew, ok := reply.ErrorWord(); ok {
		e.finish(ctx, c, amigo.CmdFailed, fmt.Sprintf("meter refused: %v / 电表拒绝", ew.Names()), "")
		return
	}
	if c.Type == amigo.CmdRead {
		vals, err := reply.Values()
		if err != nil || len(vals) == 0 {
			e.retry(ctx, c, "unreadable reply / 回复无法解析")
			return
		}
		e.finish(ctx, c, amigo.CmdSucceeded, "", "forward active total "+vals[0].Num.String()+" kWh")
		return
	}
	if !isRelay(c.Type) {
		e.finish(ctx, c, amigo.CmdSucceeded, "", "acknowledged / 已确认")
		return
	}
	// Confirm by reading the relay state back (status word 3 bit 4).
	open, err := e.relayState(m, send)
	if err != nil {
		e.retry(ctx, c, err.Error())
		return
	}
	relay := relayName(open)
	e.store.SetMeterRelay(ctx, m.ID, relay)
	if (c.Type == amigo.CmdDisconnect) != open {
		e.retry(ctx, c, "relay reads "+relay+" after the command / 继电器状态与命令不符")
		return
	}
	e.finish(ctx, c, amigo.CmdSucceeded, "", "relay "+relay)
}

var errNoAnswer = errors.New("the meter did not answer / 电表无应答")

// forward sends a DL/T 645 frame through the collector (AFN 10 F1) and
// returns the meter's reply.
func (e *Engine) forward(ctx context.Context, t Terminal, port uint8, req dlt645.Frame) (dlt645.Frame, error) {
	wire, err := dlt645.AppendFrame(dlt645.AppendPreamble(nil), &req)
	if err != nil {
		return dlt645.Frame{}, err
	}
	data, err := q1376.Forward{Port: port, Control: q1376.Control2400_8E1, FrameTimeout: 5 * time.Second, ByteTimeout: 100 * time.Millisecond, Content: wire}.Append(nil)
	if err != nil {
		return dlt645.Frame{}, err
	}
	answers, err := e.request(ctx, t, q1376.AFNForward, q1376.NewUnit(0, 1, data))
	if err != nil {
		return dlt645.Frame{}, err
	}
	for _, a := range answers {
		if a.AFN != q1376.AFNForward || len(a.Units) == 0 {
			return dlt645.Frame{}, errors.New("the collector denied the forwarding / 采集器拒绝转发")
		}
		r, err := q1376.ParseForwardReply(a.Units[0].Data)
		if err != nil {
			return dlt645.Frame{}, err
		}
		if len(r.Content) == 0 {
			return dlt645.Frame{}, errNoAnswer
		}
		var f dlt645.Frame
		i := 0
		for i < len(r.Content) && r.Content[i] == dlt645.Preamble {
			i++
		}
		if _, err := f.Decode(r.Content[i:]); err != nil {
			return dlt645.Frame{}, fmt.Errorf("meter reply: %w", err)
		}
		return f, nil
	}
	return dlt645.Frame{}, errNoAnswer
}

func meterAuth(m amigo.Meter) (dlt645.Auth, error) { return dlt645.ParseAuth(m.Password, m.Operator) }

// PushArchive sends a collector its meters (AFN 04 F10); the station calls
// it when a collector logs in, so a changed archive always reaches it.
func (e *Engine) PushArchive(ctx context.Context, c amigo.Collector) error {
	t, ok := e.front.Terminal(c.Address)
	if !ok {
		return fmt.Errorf("collector %s is not connected", c.Address)
	}
	// The list the collection uses too (listed once for both at a login).
	ms, err := e.archive(ctx, c, e.clock.Now())
	if err != nil {
		return err
	}
	var entries []q1376.ArchiveEntry
	for _, m := range ms {
		a, err := dlt645.ParseAddress(m.Address)
		if err != nil {
			continue
		}
		auth, _ := meterAuth(m)
		e := q1376.ArchiveEntry{Seq: uint16(m.Pn), Pn: uint16(m.Pn), Port: uint8(m.Port), Protocol: q1376.ProtoDLT645_2007, Address: a, Tariffs: 4,
			Password: [6]byte{auth.Level, byte(auth.Password), byte(auth.Password >> 8), byte(auth.Password >> 16), byte(auth.Operator), byte(auth.Operator >> 8)}}
		if m.Protocol == "dlt645-1997" {
			e.Protocol = q1376.ProtoDLT645_1997
		}
		entries = append(entries, e)
	}
	data, err := q1376.AppendArchive(nil, entries)
	if err != nil {
		return err
	}
	answers, err := e.request(ctx, t, q1376.AFNSet, q1376.NewUnit(0, 10, data))
	if err != nil {
		return err
	}
	if len(answers) == 0 {
		return errors.New("no answer")
	}
	if ok, _ := answers[0].IsConfirm(); !ok {
		return fmt.Errorf("collector %s refused the archive / 采集器拒绝档案", c.Address)
	}
	e.mu.Lock()
	e.pushed[c.ID] = archiveSignature(ms)
	e.mu.Unlock()
	e.log.Info("meter archive pushed / 已下发测量点档案", "collector", c.Address, "meters", len(entries))
	return nil
}

// archiveSignature identifies an archive's content: the SHA-256 of what is
// pushed of each meter (32 bytes kept per collector; asked for at every
// slot of every collector, so without fmt).
func archiveSignature(ms []amigo.Meter) string {
	h := sha256.New()
	var b []byte
	for _, m := range ms {
		b = strconv.AppendInt(b[:0], int64(m.Pn), 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(m.Port), 10)
		for _, s := range [...]string{m.Address, m.Protocol, m.Password, m.Operator} {
			b = append(b, '/')
			b = strconv.AppendQuote(b, s)
		}
		b = append(b, ';')
		h.Write(b)
	}
	return string(h.Sum(nil))
}

// relayState reads meter m's relay state (status word 3 bit 4) through
// send: true when open.
func (e *Engine) relayState(m amigo.Meter, send func(dlt645.Frame) (dlt645.Frame, error)) (open bool, err error) {
	addr, err := dlt645.ParseAddress(m.Address)
	if err != nil {
		return false, err
	}
	st, err := send(dlt645.ReadRequest(addr, dlt645.DIStatusWord3))
	if err != nil {
		return false, fmt.Errorf("relay state not read back / 未能读回继电器状态: %w", err)
	}
	v, ok := st.Value()
	if !ok || len(v) != 2 {
		return false, errors.New("relay state not read back / 未能读回继电器状态")
	}
	return v[0]&dlt645.Status3RelayOpen != 0, nil
}

func relayName(open bool) string {
	if open {
		return amigo.RelayOpen
	}
	return amigo.RelayClosed
}
