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
	time.Sleep(20 * time.Millisecond) // let the sleeper start
	m.Advance(30 * time.Minute)
	select {
	case <-done:
		t.Fatal("woke after half the time")
	case <-time.After(20 * time.Millisecond):
	}
	m.Advance(30 * time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
