package api

import (
	lists "container/list"
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
)

// Login limits. A source (an IPv4 address, or an IPv6 /64) is locked after
// sourceFailures failed logins within failureWindow, until the oldest of
// them leaves the window. An account is never locked, only slowed: once it
// has accountFreeFailures failures (or checks in flight) within the window,
// checks of its password start at most one per delay, the delay doubling
// from 1 s up to maxAccountDelay; at most maxAccountWaiters requests wait
// for one account, further ones are refused (429) until the queue shortens.
// Memory is bounded: at most maxTracked sources and maxTracked accounts,
// the least recently seen forgotten first.
const (
	failureWindow       = 15 * time.Minute
	sourceFailures      = 5
	accountFreeFailures = 5
	firstAccountDelay   = time.Second
	maxAccountDelay     = 16 * time.Second
	maxAccountWaiters   = 32
	maxTracked          = 10000
)

// loginGuard counts failed logins per source and per account. Reserving a
// check and counting it are one critical section, so concurrent attempts
// cannot all pass the limit before any of them has failed. Safe for
// concurrent use.
type loginGuard struct {
	now  func() time.Time                                 // real time (not the station's virtual clock)
	wait func(ctx context.Context, d time.Duration) error // sleeps d unless ctx ends first

	mu       sync.Mutex
	sources  *lru[string, *sourceState]
	accounts *lru[string, *accountState]
}

type sourceState struct {
	fails   []time.Time // the last sourceFailures failures, oldest first
	pending int         // checks in flight
}

type accountState struct {
	fails   int       // failures since the last success, forgotten failureWindow after the last
	last    time.Time // the last failure
	pending int       // checks reserved and not finished
	next    time.Time // the earliest start of the next slowed check
}

func newLoginGuard() *loginGuard {
	return &loginGuard{now: time.Now, wait: sleepCtx, sources: newLRU[string, *sourceState](maxTracked), accounts: newLRU[string, *accountState](maxTracked)}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errTooMany is a source or account over its limit.
func errTooMany(wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	return &amigo.Error{Kind: amigo.ETOOMANY, Op: "login", Message: "too many failed logins from this address, try again in " + strconv.Itoa(secs) + " s / 此地址登录失败次数过多，请" + strconv.Itoa(secs) + "秒后再试"}
}

// reserveSource admits one check from src, or refuses it (ETOOMANY, with
// how long to wait) when the source's failures and checks in flight reach
// sourceFailures.
func (g *loginGuard) reserveSource(src string) (time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	s, _ := g.sources.get(src)
	if s == nil {
		s = &sourceState{}
		g.sources.put(src, s)
	}
	s.expire(now)
	if len(s.fails)+s.pending >= sourceFailures {
		wait := time.Second
		if len(s.fails) > 0 && len(s.fails) >= sourceFailures {
			wait = s.fails[0].Add(failureWindow).Sub(now)
		}
		return wait, errTooMany(wait)
	}
	s.pending++
	return 0, nil
}

func (s *sourceState) expire(now time.Time) {
	i := 0
	for i < len(s.fails) && now.Sub(s.fails[i]) >= failureWindow {
		i++
	}
	s.fails = s.fails[i:]
}

// finishSource ends a check reserved by reserveSource.
func (g *loginGuard) finishSource(src string, failed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, _ := g.sources.get(src)
	if s == nil { // forgotten meanwhile: start again
		s = &sourceState{}
		g.sources.put(src, s)
	}
	s.pending = max(s.pending-1, 0)
	if failed {
		s.fails = append(s.fails, g.now())
		if len(s.fails) > sourceFailures {
			s.fails = s.fails[len(s.fails)-sourceFailures:]
		}
	}
}

// reserveAccount admits one check of user's password and says how long it
// must wait before it starts; ETOOMANY when maxAccountWaiters already wait.
func (g *loginGuard) reserveAccount(user string) (time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	a, _ := g.accounts.get(user)
	if a == nil {
		a = &accountState{}
		g.accounts.put(user, a)
	}
	if a.fails > 0 && now.Sub(a.last) >= failureWindow {
		a.fails = 0
	}
	n := a.fails + a.pending
	if n < accountFreeFailures {
		a.pending++
		return 0, nil
	}
	if a.pending >= maxAccountWaiters {
		return 0, &amigo.Error{Kind: amigo.ETOOMANY, Op: "login", Message: "too many logins waiting for this account, try again shortly / 该账户等待登录的请求过多，请稍后再试"}
	}
	start := now
	if a.next.After(now) {
		start = a.next
	}
	a.next = start.Add(accountDelay(n))
	a.pending++
	return start.Sub(now), nil
}

// accountDelay is the spacing of checks for an account with n failures
// and checks in flight (n ≥ accountFreeFailures): 1 s, 2 s, 4 s, … up to
// maxAccountDelay.
func accountDelay(n int) time.Duration {
	d := firstAccountDelay << min(n-accountFreeFailures, 8)
	return min(d, maxAccountDelay)
}

// Outcomes of a reserved account check.
const (
	checkFailed    = iota // wrong password: counted
	checkSucceeded        // clears the account's failures
	checkAbandoned        // never compared (the client went away): not counted
)

// finishAccount ends a check reserved by reserveAccount with one of the
// outcomes above.
func (g *loginGuard) finishAccount(user string, outcome int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, _ := g.accounts.get(user)
	if a == nil {
		a = &accountState{}
		g.accounts.put(user, a)
	}
	a.pending = max(a.pending-1, 0)
	switch outcome {
	case checkFailed:
		a.fails++
		a.last = g.now()
	case checkSucceeded:
		a.fails, a.next = 0, time.Time{}
	}
}

// loginInput is the body of POST /api/v1/login.
type loginInput struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// dummyHash (bcrypt, default cost, of a phrase no one types) is compared
// against when the user does not exist, so that an unknown name costs as
// long as a wrong password.
var dummyHash = []byte("$2a$10$DkAaEBJU/jrhUyMsEM9mNu37mmxnBI7j3eT9wEa4ZF2XvhRZshFz2")

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in loginInput
	if err := decodeStrict(w, r, &in); err != nil {
		writeErr(w, err)
		return
	}
	src := s.clientSource(r)
	if wait, err := s.guard.reserveSource(src); err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		s.log.Debug("api: login refused: source over its limit", "source", src)
		writeErr(w, err)
		return
	}
	failed := true
	defer func() { s.guard.finishSource(src, failed) }()
	u, err := s.store.FindUserByUsername(r.Context(), in.Username)
	switch {
	case amigo.ErrorKind(err) == amigo.ENOTFOUND || err == nil && !u.RetiredAt.IsZero():
		s.comparePassword(dummyHash, []byte(in.Password))
		writeErr(w, amigo.Errorf(amigo.EUNAUTHORIZED, "login", "wrong username or password / 用户名或密码错误"))
		return
	case err != nil:
		failed = false // the store failed, not the client
		writeErr(w, &amigo.Error{Kind: amigo.EUNAVAILABLE, Op: "login", Message: "store unavailable / 数据库不可用", Err: err})
		return
	}
	delay, err := s.guard.reserveAccount(u.Username)
	if err != nil {
		failed = false // not checked
		writeErr(w, err)
		return
	}
	outcome := checkFailed
	defer func() { s.guard.finishAccount(u.Username, outcome) }()
	if err := s.guard.wait(r.Context(), delay); err != nil {
		failed, outcome = false, checkAbandoned
		return // the client went away
	}
	if s.comparePassword([]byte(u.PasswordHash), []byte(in.Password)) != nil {
		writeErr(w, amigo.Errorf(amigo.EUNAUTHORIZED, "login", "wrong username or password / 用户名或密码错误"))
		return
	}
	failed, outcome = false, checkSucceeded
	s.store.AppendAudit(r.Context(), amigo.AuditEntry{Time: s.now(), Actor: u.Username, Action: "login", Object: "user " + u.Username})
	writeJSON(w, http.StatusOK, map[string]string{"token": s.sign(u, time.Now().Add(12*time.Hour)), "role": u.Role})
}

// clientSource is the key a request's failed logins are counted under: the
// peer's IPv4 address or IPv6 /64. X-Forwarded-For is believed only from a
// trusted proxy, and then its rightmost address that is not itself a
// trusted proxy is the client.
func (s *Server) clientSource(r *http.Request) string {
	ip := peerIP(r.RemoteAddr)
	if ip.IsValid() && s.trusted(ip) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			ip = h.Unmap()
			if !s.trusted(ip) {
				break
			}
		}
	}
	return sourceKey(ip, r.RemoteAddr)
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func peerIP(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	ip, _ := netip.ParseAddr(remote)
	return ip.Unmap()
}

// sourceKey is an IPv4 address, or the /64 an IPv6 address is in (one
// subscriber's network); remote itself (bounded) when it is no address.
func sourceKey(ip netip.Addr, remote string) string {
	switch {
	case ip.Is4():
		return ip.String()
	case ip.Is6():
		p, _ := ip.Prefix(64)
		return p.String()
	}
	if len(remote) > 64 {
		remote = remote[:64]
	}
	return remote
}

// lru is a map of at most cap entries that forgets the least recently used
// one to make room. Not safe for concurrent use.
type lru[K comparable, V any] struct {
	cap   int
	order *lists.List // front: most recent; elements hold *lruEntry
	items map[K]*lists.Element
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](capacity int) *lru[K, V] {
	return &lru[K, V]{cap: capacity, order: lists.New(), items: map[K]*lists.Element{}}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[K, V]) put(k K, v V) {
	if e, ok := c.items[k]; ok {
		e.Value.(*lruEntry[K, V]).val = v
		c.order.MoveToFront(e)
		return
	}
	if c.order.Len() >= c.cap {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*lruEntry[K, V]).key)
	}
	c.items[k] = c.order.PushFront(&lruEntry[K, V]{key: k, val: v})
}

func (c *lru[K, V]) len() int { return c.order.Len() }
