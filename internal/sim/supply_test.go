package sim

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// supplyFleet is meter 1 as the supply meter of meters 2..n with 4 % loss.
func supplyFleet(t *testing.T, clock vclock.Clock, n int, faults ...string) *Bus {
	t.Helper()
	c := Config{Meters: n, Seed: 7, Clock: clock, Location: cst, Supply: "000000000001:4", Faults: faults}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := NewFleet(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dayUse is each meter's consumption (0.01 kWh) between the last two daily
// freezes, as the station computes it, read over the bus.
func dayUse(t *testing.T, b *Bus, n int) []int64 {
	t.Helper()
	out := make([]int64, n)
	for i := range n {
		a, _ := AddressN("000000000001", i)
		newer := readNumbers(t, b, a, dlt645.DailyFrozenForward(1))[0].Mant
		older := readNumbers(t, b, a, dlt645.DailyFrozenForward(2))[0].Mant
		out[i] = newer - older
	}
	return out
}

func TestSupplyMeterMeasuresCustomersPlusLoss(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 3, 1, 22, 0, 0, 0, cst))
	const n = 12
	b := supplyFleet(t, clock, n)
	// Customers are read now and then, as a collector would, out of step
	// with the supply meter: it must still freeze exactly their day.
	for range 30 * 4 {
		clock.Advance(15 * time.Minute)
		for i := n - 1; i >= 1; i-- {
			a, _ := AddressN("000000000001", i)
			readNumbers(t, b, a, dlt645.DIForwardActiveTotal)
		}
	}
	use := dayUse(t, b, n)
	var customers int64
	for _, u := range use[1:] {
		customers += u
	}
	// loss = (supply − Σ customers) / supply = 4 %: the supply's day is
	// Σ / 0.96; each of the 13 registers rounds down to 0.01 kWh, so the
	// supply differs from Σ/0.96 by at most 12×1/0.96 + 1 ≈ 14 hundredths.
	want := customers * 100 / 96
	if d := use[0] - want; d < -14 || d > 14 || customers < 100*100 {
		t.Fatalf("supply day %d (0.01 kWh), customers %d, want supply ≈ %d", use[0], customers, want)
	}
	pct := float64(use[0]-customers) * 100 / float64(use[0])
	if pct < 3.9 || pct > 4.1 {
		t.Fatalf("line loss %.3f %%, want 4 %%", pct)
	}
}

func TestTheftRaisesLineLoss(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 3, 1, 22, 0, 0, 0, cst))
	const n = 6
	b := supplyFleet(t, clock, n, "000000000003:theft:50")
	clock.Advance(26 * time.Hour) // crosses midnight: one whole day 03-02
	use := dayUse(t, b, n)
	// Meter 3 registers half its energy, so the supply (which sees all of
	// it) exceeds the customers' registers by the loss plus that half:
	// loss = 1 − 0.96 × (Σ − u3) / Σ with Σ the true energy = Σ registered + u3.
	var reg int64
	for _, u := range use[1:] {
		reg += u
	}
	trueSum := reg + use[2] // u3 registered = half the true energy
	want := (1 - 0.96*float64(reg)/float64(trueSum)) * 100
	got := float64(use[0]-reg) * 100 / float64(use[0])
	if got-want > 0.1 || want-got > 0.1 || got < 5 {
		t.Fatalf("line loss with theft %.3f %%, want %.3f %%", got, want)
	}
	if err := b.ApplyFault("000000000003:theft:101"); err == nil {
		t.Fatal("theft of 101 % accepted")
	}
}

func TestStateKeepsRegistersAcrossRuns(t *testing.T) {
	start := time.Date(2026, 3, 1, 23, 0, 0, 0, cst)
	path := filepath.Join(t.TempDir(), "fleet.json")
	clock := vclock.NewManual(start)
	ctx, cancel := context.WithCancel(context.Background())
	fl, err := Start(ctx, Config{Meters: 3, Seed: 5, Clock: clock, Location: cst, Listen: "127.0.0.1:0", State: path, Supply: "000000000001:3"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(50 * time.Hour)
	a := addr(t, "000000000002")
	total := readNumbers(t, fl.Bus, a, dlt645.DIForwardActiveTotal)[0]
	frozen := readNumbers(t, fl.Bus, a, dlt645.DailyFrozenForward(1))[0]
	cancel()
	if err := fl.Wait(); err != nil { // writes the state
		t.Fatal(err)
	}
	// The second run starts its clock at the same start as the first: the
	// meters keep their registers (they cannot go back) and their freezes.
	clock2 := vclock.NewManual(start)
	ctx2, cancel2 := context.WithCancel(context.Background())
	fl2, err := Start(ctx2, Config{Meters: 3, Seed: 5, Clock: clock2, Location: cst, Listen: "127.0.0.1:0", State: path, Supply: "000000000001:3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel2(); fl2.Wait() }) // its last save, before the directory goes
	if got := readNumbers(t, fl2.Bus, a, dlt645.DIForwardActiveTotal)[0]; got != total {
		t.Fatalf("register after restart %v, before %v", got, total)
	}
	if got := readNumbers(t, fl2.Bus, a, dlt645.DailyFrozenForward(1))[0]; got != frozen {
		t.Fatalf("latest freeze after restart %v, before %v", got, frozen)
	}
	// The supply meter goes on from its customers' restored totals: no
	// jump on its first day after the restart.
	clock2.Set(start.Add(75 * time.Hour))
	use := dayUse(t, fl2.Bus, 3)
	pct := float64(use[0]-use[1]-use[2]) * 100 / float64(use[0])
	if pct < 2.8 || pct > 3.2 {
		t.Fatalf("line loss after restart %.2f %%, want 3 %%", pct)
	}
	if _, err := LoadState(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Fatal("a missing state file loads")
	}
}
