package payment

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
)

// refusals counts refused notifications in memory, so that an
// unauthenticated sender cannot cause one write per attempt: the first
// refusal of a reason opens a window and is written at once; the others in
// the window are counted and written as one summary when it ends (Run).
type refusals struct {
	window time.Duration
	mu     sync.Mutex
	by     map[string]*refusalWindow // reason → window (a handful of reasons: bounded)
	total  map[string]int64          // reason → refusals since start (metrics, tests)
}

type refusalWindow struct {
	until time.Time // real time
	count int64     // refusals in the window not yet written
	last  string    // the last one's detail and source
}

func newRefusals(window time.Duration) *refusals {
	return &refusals{window: window, by: map[string]*refusalWindow{}, total: map[string]int64{}}
}

// note records a refusal at real time now; it reports whether to write it
// now (the first of its window).
func (r *refusals) note(now time.Time, reason, text string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total[reason]++
	if w := r.by[reason]; w != nil && now.Before(w.until) {
		w.count++
		w.last = text
		return false
	}
	r.by[reason] = &refusalWindow{until: now.Add(r.window)}
	return true
}

type refusalSummary struct {
	reason, last string
	count        int64
}

// due returns the windows that ended by now (every one if all) with
// refusals to write, and forgets the quiet ones.
func (r *refusals) due(now time.Time, all bool) []refusalSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []refusalSummary
	for reason, w := range r.by {
		if !all && now.Before(w.until) {
			continue
		}
		if w.count > 0 {
			out = append(out, refusalSummary{reason: reason, last: w.last, count: w.count})
		}
		delete(r.by, reason)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].reason < out[j].reason })
	return out
}

// Refused returns how many notifications were refused since the start, by
// reason.
func (s *Service) Refused() map[string]int64 {
	s.ref.mu.Lock()
	defer s.ref.mu.Unlock()
	out := make(map[string]int64, len(s.ref.total))
	for k, v := range s.ref.total {
		out[k] = v
	}
	return out
}

// refuse records a refused notification from src.
func (s *Service) refuse(ctx context.Context, src string, rf *Refusal) {
	text := fmt.Sprintf("%s (from %s)", rf.Detail, src)
	if !s.ref.note(time.Now(), rf.Reason, text) {
		s.cfg.Log.Debug("payment notification refused / 支付通知被拒绝", "reason", rf.Reason, "detail", rf.Detail, "source", src)
		return
	}
	s.cfg.Log.Warn("payment notification refused / 支付通知被拒绝", "reason", rf.Reason, "detail", rf.Detail, "source", src)
	if err := s.cfg.Store.AppendEvents(ctx, amigo.Event{Time: s.cfg.Now(), Kind: amigo.EventPaymentRefused, Severity: "warning",
		Message: fmt.Sprintf("payment notification refused: %s / 支付通知被拒绝：%s", rf.Reason, refusalZh[rf.Reason]), Detail: text}); err != nil {
		s.cfg.Log.Warn("payment refusal event", "err", err)
	}
}

var refusalZh = map[string]string{
	RefusedTooLarge: "报文过大", RefusedMalformed: "报文格式错误", RefusedSerial: "证书序列号不符", RefusedSignature: "签名验证失败",
	RefusedStale: "时间戳超出5分钟", RefusedDecrypt: "解密失败", RefusedUnknown: "订单不存在", RefusedAmount: "金额与订单不符",
	RefusedAccount: "账户错误", RefusedState: "订单已由其他交易支付",
}

// flushRefusals writes one summary event per reason whose window ended
// with refusals not yet written.
func (s *Service) flushRefusals(ctx context.Context, all bool) {
	for _, r := range s.ref.due(time.Now(), all) {
		if err := s.cfg.Store.AppendEvents(ctx, amigo.Event{Time: s.cfg.Now(), Kind: amigo.EventPaymentRefused, Severity: "warning",
			Message: fmt.Sprintf("%d more payment notifications refused: %s, within %s / 另有%d次支付通知被拒绝：%s", r.count, r.reason, s.cfg.RefusalWindow, r.count, refusalZh[r.reason]),
			Detail:  "last: " + r.last}); err != nil {
			s.cfg.Log.Warn("payment refusal event", "err", err)
		}
	}
}

// Run writes the refusal summaries as their windows end, until ctx ends;
// then it writes the rest.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(max(s.cfg.RefusalWindow/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flushRefusals(context.Background(), true)
			return
		case <-t.C:
			s.flushRefusals(ctx, false)
		}
	}
}
