package vclock

import (
	"context"
	"testing"
	"time"
)

func TestVirtualRunsFaster(t *testing.T) {
	start := time.Date(2026, 1, 1, 23, 50, 0, 0, time.FixedZone("CST", 8*3600))
	v := NewVirtual(start, 3600)
	if d := v.Now().Sub(start); d < 0 || d > time.Minute {
		t.Fatalf("fresh clock is %v past start", d)
	}
	// 20 virtual minutes take a third of a real second.
	began := time.Now()
	if err := v.Sleep(context.Background(), 20*time.Minute); err != nil {
		t.Fatal(err)
	}
	if real := time.Since(began); real < 300*time.Millisecond || real > 3*time.Second {
		t.Fatalf("20 virtual minutes took %v real", real)
	}
	if now := v.Now(); now.Day() != 2 {
		t.Fatalf("after 20 minutes from 23:50 the day is %v", now)
	}
}

func TestManual(t *testing.T) {
	m := NewManual(time.Unix(0, 0))
	done := make(chan error)
	go func() { done <- m.Sleep(context.Background(), time.Hour) }()
	<-m.Sleeping(1)
	m.Advance(30 * time.Minute)
	// After half the time the sleeper is asleep again, not done.
	select {
	case err := <-done:
		t.Fatalf("woke after half the time (%v)", err)
	case <-m.Sleeping(1):
	}
	m.Advance(30 * time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestTickAndAfterOnManual(t *testing.T) {
	m := NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ticks := make(chan time.Time)
	done := make(chan error)
	go func() {
		n := 0
		done <- Tick(ctx, m, 15*time.Minute, func(now time.Time) bool {
			ticks <- now
			n++
			return n < 3
		})
	}()
	after := After(ctx, m, 40*time.Minute)
	for i := 1; i <= 3; i++ {
		// Move in 5-minute steps until the tick arrives.
		var got time.Time
		for got.IsZero() {
			// The ticker sleeps, and so does After until its 40 minutes.
			want := 1
			if m.Now().Before(time.Date(2026, 1, 1, 0, 40, 0, 0, time.UTC)) {
				want = 2
			}
			select {
			case got = <-ticks:
			case <-m.Sleeping(want):
				m.Advance(5 * time.Minute)
			}
		}
		if want := time.Date(2026, 1, 1, 0, 15*i, 0, 0, time.UTC); got.Before(want) || got.Sub(want) > 5*time.Minute {
			t.Fatalf("tick %d at %v, want %v", i, got, want)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Tick: %v", err)
	}
	select {
	case at, ok := <-after:
		if !ok || at.Before(time.Date(2026, 1, 1, 0, 40, 0, 0, time.UTC)) {
			t.Fatalf("After fired at %v (%v)", at, ok)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("After did not fire after 45 minutes")
	}
	if err := Tick(ctx, m, 0, nil); err == nil {
		t.Fatal("zero interval accepted")
	}
}

// Two clocks made at different real instants with the same start and origin
// read the same virtual time: 10 virtual minutes after the origin is 10 real
// seconds at 60x, whenever each clock was made.
func TestVirtualAtShareOneClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 23, 50, 0, 0, time.UTC)
	origin := time.Now().Add(-10 * time.Second)
	a := NewVirtualAt(start, origin, 60)
	b := NewVirtualAt(start, origin, 60)
	ta, tb := a.Now(), b.Now()
	if d := tb.Sub(ta); d < 0 || d > time.Minute {
		t.Fatalf("clocks differ by %s", d)
	}
	if ta.Before(start.Add(10*time.Minute)) || ta.After(start.Add(11*time.Minute)) {
		t.Fatalf("clock reads %s, want 10 virtual minutes after %s", ta, start)
	}
}

func TestFromFlags(t *testing.T) {
	if c, err := FromFlags("", "", 1); err != nil || c != (Real{}) {
		t.Fatalf("no flags: %v %v, want the real clock", c, err)
	}
	// The clock read 2026-01-01T12:00+08:00 two real seconds ago and runs
	// at 3600x: it reads 12:00 + 2 s × 3600 = 14:00 now (plus the moments
	// this test takes, at most a few virtual minutes).
	origin := time.Now().Add(-2 * time.Second).Format(time.RFC3339Nano)
	c, err := FromFlags("2026-01-01T12:00:00+08:00", origin, 3600)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 1, 1, 14, 0, 0, 0, time.FixedZone("CST", 8*3600))
	if d := c.Now().Sub(want); d < 0 || d > 5*time.Minute {
		t.Fatalf("clock reads %s, want %s (+ at most 5 min)", c.Now(), want)
	}
	// A second program given the same flags later reads the same clock.
	c2, _ := FromFlags("2026-01-01T12:00:00+08:00", origin, 3600)
	a, b := c.Now(), c2.Now()
	if d := b.Sub(a); d < 0 || d > time.Minute {
		t.Fatalf("two clocks from the same flags differ by %s", d)
	}
	// Without an origin the clock reads --start now.
	c3, _ := FromFlags("2026-01-01T12:00:00+08:00", "", 60)
	if d := c3.Now().Sub(want.Add(-2 * time.Hour)); d < 0 || d > time.Minute {
		t.Fatalf("without --clock-origin: %s", c3.Now())
	}
	for _, bad := range []struct{ start, origin string }{
		{"yesterday", ""},
		{"2026-01-01T12:00:00+08:00", "noon"},
		{"", origin},
	} {
		if _, err := FromFlags(bad.start, bad.origin, 60); err == nil {
			t.Errorf("FromFlags(%q, %q) accepted", bad.start, bad.origin)
		}
	}
	if _, err := FromFlags("", "", 0); err == nil {
		t.Error("speed 0 accepted")
	}
}
