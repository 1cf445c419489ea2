package sim

import (
	"bufio"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// BenchmarkFleetMemory builds 100,000 meters and reports the heap each one
// takes, after every meter has been read once and has frozen one day.
func BenchmarkFleetMemory(b *testing.B) {
	for b.Loop() {
		clock := vclock.NewManual(time.Date(2026, 1, 1, 23, 0, 0, 0, cst))
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := Config{Meters: 100_000, Seed: 9, Clock: clock, Location: cst}
		if err := c.Validate(); err != nil {
			b.Fatal(err)
		}
		bus, err := NewFleet(c)
		if err != nil {
			b.Fatal(err)
		}
		clock.Advance(2 * time.Hour)
		for _, m := range bus.Meters() {
			req := dlt645.ReadRequest(m.Address(), dlt645.DailyFrozenForward(1))
			if len(bus.Handle(&req, nil)) != 1 {
				b.Fatal("no answer")
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/100_000, "heap-bytes/meter")
		runtime.KeepAlive(bus)
	}
}

// BenchmarkHandle answers reads in-process across a fleet of 100,000 meters.
func BenchmarkHandle(b *testing.B) {
	clock := vclock.NewVirtual(time.Date(2026, 1, 1, 8, 0, 0, 0, cst), 60)
	c := Config{Meters: 100_000, Seed: 9, Clock: clock, Location: cst}
	c.Validate()
	bus, err := NewFleet(c)
	if err != nil {
		b.Fatal(err)
	}
	ms := bus.Meters()
	reqs := make([]dlt645.Frame, len(ms))
	for i, m := range ms {
		reqs[i] = dlt645.ReadRequest(m.Address(), dlt645.DIForwardActiveBlock)
	}
	var out []Reply
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		out = bus.Handle(&reqs[i%len(reqs)], out[:0])
		if len(out) != 1 {
			b.Fatal("no answer")
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkTCP answers reads over a loopback TCP serial server, one request
// at a time as on a real line.
func BenchmarkTCP(b *testing.B) {
	clock := vclock.Real{}
	c := Config{Meters: 1000, Seed: 9, Clock: clock}
	c.Validate()
	bus, _ := NewFleet(c)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	go bus.ServeTCP(ctx, l)
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	sc.Split(dlt645.Split)
	ms := bus.Meters()
	var wire []byte
	i := 0
	for b.Loop() {
		req := dlt645.ReadRequest(ms[i%len(ms)].Address(), dlt645.DIForwardActiveTotal)
		wire, _ = dlt645.AppendFrame(wire[:0], &req)
		if _, err := conn.Write(wire); err != nil {
			b.Fatal(err)
		}
		if !sc.Scan() {
			b.Fatal(sc.Err())
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
