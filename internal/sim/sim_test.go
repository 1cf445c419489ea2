package sim

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/serialline"
	"github.com/amigo-metering/amigo/internal/vclock"
)

var cst = time.FixedZone("CST", 8*3600)

func addr(t testing.TB, s string) dlt645.Address {
	t.Helper()
	a, err := dlt645.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ask sends req to the bus and returns the single decoded reply.
func ask(t *testing.T, b *Bus, req dlt645.Frame) (dlt645.Frame, bool) {
	t.Helper()
	replies := b.Handle(&req, nil)
	if len(replies) == 0 {
		return dlt645.Frame{}, false
	}
	if len(replies) > 1 {
		t.Fatalf("%d meters answered", len(replies))
	}
	var f dlt645.Frame
	if _, err := f.Decode(replies[0].Frame); err != nil {
		t.Fatalf("reply does not decode: %v", err)
	}
	return f, true
}

func readNumbers(t *testing.T, b *Bus, a dlt645.Address, di dlt645.DI) []dlt645.Decimal {
	t.Helper()
	f, ok := ask(t, b, dlt645.ReadRequest(a, di))
	if !ok {
		t.Fatalf("no answer to %s", di)
	}
	if f.Control.IsAbnormal() {
		e, _ := f.ErrorWord()
		t.Fatalf("read %s: error %v", di, e.Names())
	}
	vals, err := f.Values()
	if err != nil {
		t.Fatal(err)
	}
	var out []dlt645.Decimal
	for _, v := range vals {
		out = append(out, v.Num)
	}
	return out
}

func fleet(t *testing.T, clock vclock.Clock, n int, profile string) *Bus {
	t.Helper()
	c := Config{Meters: n, Seed: 42, Profile: profile, Clock: clock, Location: cst}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := NewFleet(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMidnightFreezeAndTariffs(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 1, 1, 23, 50, 0, 0, cst))
	b := fleet(t, clock, 3, "home")
	a := addr(t, "000000000002")
	if f, _ := ask(t, b, dlt645.ReadRequest(a, dlt645.DailyFreezeTime(1))); !f.Control.IsAbnormal() {
		t.Fatal("a new meter has a daily freeze already")
	}
	before := readNumbers(t, b, a, dlt645.DIForwardActiveBlock)
	clock.Advance(20 * time.Minute)
	after := readNumbers(t, b, a, dlt645.DIForwardActiveBlock)
	if after[0].Mant <= before[0].Mant {
		t.Fatalf("register did not grow: %v -> %v", before[0], after[0])
	}
	var sum int64
	for _, d := range after[1:] {
		sum += d.Mant
	}
	if diff := after[0].Mant - sum; diff < -4 || diff > 4 { // each register rounds down to 0.01
		t.Fatalf("tariffs sum to %d, total %d", sum, after[0].Mant)
	}
	// The freeze happened at 00:00 and holds the registers of that instant.
	f, _ := ask(t, b, dlt645.ReadRequest(a, dlt645.DailyFreezeTime(1)))
	vals, err := f.Values()
	if err != nil || vals[0].Text != "2026-01-02 00:00" {
		t.Fatalf("freeze time %v %v", vals, err)
	}
	frozen := readNumbers(t, b, a, dlt645.DailyFrozenForward(1))
	if frozen[0].Mant <= before[0].Mant || frozen[0].Mant > after[0].Mant {
		t.Fatalf("frozen %v not between %v and %v", frozen[0], before[0], after[0])
	}
	// 62 days later the meter keeps exactly 62 freezes.
	clock.Advance(70 * 24 * time.Hour)
	if f, _ := ask(t, b, dlt645.ReadRequest(a, dlt645.DailyFreezeTime(62))); f.Control.IsAbnormal() {
		t.Fatal("62nd freeze missing")
	}
	if f, _ := ask(t, b, dlt645.ReadRequest(a, dlt645.DailyFrozenForward(1))); f.Control.IsAbnormal() {
		t.Fatal("latest freeze missing")
	}
	// Monthly settlement: 00010001 is the register at the last 1st 00:00.
	if f, _ := ask(t, b, dlt645.ReadRequest(a, dlt645.Settlement(dlt645.DIForwardActiveTotal, 1))); f.Control.IsAbnormal() {
		t.Fatal("no monthly settlement after crossing a month")
	}
}

func TestRelayTripStopsConsumption(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 3, 2, 10, 0, 0, 0, cst))
	b := fleet(t, clock, 1, "office")
	a := addr(t, "000000000001")
	until := dlt645.DateTimeOf(clock.Now().Add(time.Hour))
	// A wrong password is refused.
	f, _ := ask(t, b, dlt645.ControlRequest(a, dlt645.ControlCommand{Type: dlt645.ControlTrip, Auth: dlt645.Auth{Level: 2, Password: 0x111111}, Until: until}))
	if e, ok := f.ErrorWord(); !ok || e&dlt645.ErrPassword == 0 {
		t.Fatalf("wrong password not refused: % X", f.Data)
	}
	// An expired command is refused.
	f, _ = ask(t, b, dlt645.ControlRequest(a, dlt645.ControlCommand{Type: dlt645.ControlTrip, Auth: DefaultAuth, Until: dlt645.DateTimeOf(clock.Now().Add(-time.Hour))}))
	if !f.Control.IsAbnormal() {
		t.Fatal("expired command obeyed")
	}
	f, _ = ask(t, b, dlt645.ControlRequest(a, dlt645.ControlCommand{Type: dlt645.ControlTrip, Auth: DefaultAuth, Until: until}))
	if f.Control != dlt645.Reply(dlt645.FuncControl, false) {
		t.Fatalf("trip: control %02X", byte(f.Control))
	}
	status := func() string {
		f, _ := ask(t, b, dlt645.ReadRequest(a, dlt645.DIStatusWord3))
		v, err := f.Values()
		if err != nil {
			t.Fatal(err)
		}
		return v[0].Text
	}
	if s := status(); s != "0050" {
		t.Fatalf("status word 3 after trip = %s, want 0050", s)
	}
	// Three 1CH frames so far (wrong password, expired, trip); the status
	// read is none.
	if m, _ := b.Meter(a); m.ControlFrames() != 3 {
		t.Fatalf("control frames %d, want 3", m.ControlFrames())
	}
	e1 := readNumbers(t, b, a, dlt645.DIForwardActiveTotal)[0]
	clock.Advance(2 * time.Hour)
	if e2 := readNumbers(t, b, a, dlt645.DIForwardActiveTotal)[0]; e2 != e1 {
		t.Fatalf("tripped meter consumed: %v -> %v", e1, e2)
	}
	if p := readNumbers(t, b, a, dlt645.DI(0x02030000))[0]; p.Mant != 0 {
		t.Fatalf("tripped meter shows power %v", p)
	}
	until = dlt645.DateTimeOf(clock.Now().Add(time.Hour))
	ask(t, b, dlt645.ControlRequest(a, dlt645.ControlCommand{Type: dlt645.ControlAllowClose, Auth: DefaultAuth, Until: until}))
	if s := status(); s != "0000" {
		t.Fatalf("status word 3 after close = %s", s)
	}
	clock.Advance(time.Hour)
	if e3 := readNumbers(t, b, a, dlt645.DIForwardActiveTotal)[0]; e3.Mant <= e1.Mant {
		t.Fatal("closed meter does not consume")
	}
	if n := readNumbers(t, b, a, dlt645.DITripCount)[0]; n.Mant != 1 {
		t.Fatalf("trip count %v", n)
	}
}

func TestFaults(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 3, 2, 10, 0, 0, 0, cst))
	b := fleet(t, clock, 3, "tower")
	a1, a2, a3 := addr(t, "000000000001"), addr(t, "000000000002"), addr(t, "000000000003")
	for _, spec := range []string{"000000000001:no-answer", "000000000002:bad-checksum", "000000000003:wrong-address"} {
		if err := b.ApplyFault(spec); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := ask(t, b, dlt645.ReadRequest(a1, dlt645.DIForwardActiveTotal)); ok {
		t.Error("no-answer meter answered")
	}
	req := dlt645.ReadRequest(a2, dlt645.DIForwardActiveTotal)
	r := b.Handle(&req, nil)
	var f dlt645.Frame
	if _, err := f.Decode(r[0].Frame); err == nil {
		t.Error("bad-checksum meter sent a valid frame")
	}
	if f, _ := ask(t, b, dlt645.ReadRequest(a3, dlt645.DIForwardActiveTotal)); f.Address == a3 {
		t.Error("wrong-address meter used its own address")
	}
	if err := b.ApplyFault("000000000003:bogus"); err == nil {
		t.Error("unknown fault accepted")
	}
	// Stuck, jump and backwards registers.
	b.ApplyFault("000000000003:none")
	e0 := readNumbers(t, b, a3, dlt645.DIForwardActiveTotal)[0]
	b.ApplyFault("000000000003:jump:500")
	e1 := readNumbers(t, b, a3, dlt645.DIForwardActiveTotal)[0]
	if e1.Mant-e0.Mant != 50000 {
		t.Errorf("jump of 500 kWh gave %v -> %v", e0, e1)
	}
	b.ApplyFault("000000000003:backwards:100")
	if e2 := readNumbers(t, b, a3, dlt645.DIForwardActiveTotal)[0]; e2.Mant >= e1.Mant {
		t.Errorf("backwards fault: %v -> %v", e1, e2)
	}
	b.ApplyFault("000000000003:stuck")
	s1 := readNumbers(t, b, a3, dlt645.DIForwardActiveTotal)[0]
	clock.Advance(3 * time.Hour)
	if s2 := readNumbers(t, b, a3, dlt645.DIForwardActiveTotal)[0]; s2 != s1 {
		t.Errorf("stuck register moved %v -> %v", s1, s2)
	}
	if p := readNumbers(t, b, a3, dlt645.DI(0x02030000))[0]; p.Mant == 0 {
		t.Error("stuck meter shows no power")
	}
	// Outage: silent, counted.
	b.ApplyFault("000000000003:outage")
	if _, ok := ask(t, b, dlt645.ReadRequest(a3, dlt645.DIForwardActiveTotal)); ok {
		t.Error("meter in outage answered")
	}
	b.ApplyFault("000000000003:none")
	if n := readNumbers(t, b, a3, dlt645.DIPowerDownCount)[0]; n.Mant != 1 {
		t.Errorf("power-down count %v", n)
	}
	// Clock drift: ten minutes a day.
	b.ApplyFault("000000000002:drift:10m")
	b.ApplyFault("000000000002:none")
	m2, _ := b.Meter(a2)
	m2.SetFaults(Faults{ClockDrift: 10 * time.Minute}, clock.Now())
	clock.Advance(24 * time.Hour)
	f, _ = ask(t, b, dlt645.ReadRequest(a2, dlt645.DITime))
	v, _ := f.Values()
	if d := clockDiff(t, v[0].Text, clock.Now().Add(10*time.Minute)); d > 2*time.Second {
		t.Errorf("drifted clock %s, want about %s", v[0].Text, clock.Now().Add(10*time.Minute).Format("15:04:05"))
	}
	// Broadcast time sync corrects it silently.
	sync := dlt645.BroadcastTimeRequest(dlt645.Broadcast, dlt645.DateTimeOf(clock.Now()))
	if r := b.Handle(&sync, nil); len(r) != 0 {
		t.Error("a broadcast was answered")
	}
	m2.SetFaults(Faults{}, clock.Now())
	f, _ = ask(t, b, dlt645.ReadRequest(a2, dlt645.DITime))
	v, _ = f.Values()
	if d := clockDiff(t, v[0].Text, clock.Now()); d > 2*time.Second {
		t.Errorf("clock after sync %s, want %s", v[0].Text, clock.Now().Format("15:04"))
	}
}

func TestDeterministicForASeed(t *testing.T) {
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, cst)
	read := func() string {
		clock := vclock.NewManual(start)
		b := fleet(t, clock, 5, "mixed")
		clock.Advance(36 * time.Hour)
		var sb strings.Builder
		for _, m := range b.Meters() {
			fmt.Fprint(&sb, readNumbers(t, b, m.Address(), dlt645.DIForwardActiveBlock), readNumbers(t, b, m.Address(), dlt645.DIReverseActiveTotal))
		}
		return sb.String()
	}
	if a, b := read(), read(); a != b {
		t.Fatalf("two runs differ:\n%s\n%s", a, b)
	}
}

func TestPVExportsAtNoon(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 6, 1, 11, 0, 0, 0, cst))
	b := fleet(t, clock, 1, "pv")
	a := addr(t, "000000000001")
	r0 := readNumbers(t, b, a, dlt645.DIReverseActiveTotal)[0]
	clock.Advance(2 * time.Hour)
	if r1 := readNumbers(t, b, a, dlt645.DIReverseActiveTotal)[0]; r1.Mant <= r0.Mant {
		t.Fatalf("PV home did not export at noon: %v -> %v", r0, r1)
	}
	if p := readNumbers(t, b, a, dlt645.DI(0x02030000))[0]; p.Mant >= 0 {
		t.Fatalf("power at noon %v, want negative (export)", p)
	}
}

func TestWildcardOnlyOnASingleMeterBus(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 6, 1, 11, 0, 0, 0, cst))
	many := fleet(t, clock, 3, "home")
	if _, ok := ask(t, many, dlt645.ReadAddressRequest()); ok {
		t.Fatal("a bus of three answered the wildcard")
	}
	one := fleet(t, clock, 1, "home")
	f, ok := ask(t, one, dlt645.ReadAddressRequest())
	if !ok || f.Address.String() != "000000000001" {
		t.Fatalf("single meter: %v %s", ok, f.Address)
	}
}

// request writes a request on a stream and reads one reply with a deadline.
func request(t *testing.T, rw interface {
	Write([]byte) (int, error)
	Read([]byte) (int, error)
}, setDeadline func(time.Time) error, req dlt645.Frame, split bool) dlt645.Frame {
	t.Helper()
	wire := dlt645.AppendPreamble(nil)
	wire, _ = dlt645.AppendFrame(wire, &req)
	if split {
		for _, c := range wire {
			if _, err := rw.Write([]byte{c}); err != nil {
				t.Fatal(err)
			}
		}
	} else if _, err := rw.Write(wire); err != nil {
		t.Fatal(err)
	}
	setDeadline(time.Now().Add(5 * time.Second))
	sc := bufio.NewScanner(rw)
	sc.Split(dlt645.Split)
	if !sc.Scan() {
		t.Fatalf("no reply: %v", sc.Err())
	}
	var f dlt645.Frame
	if _, err := f.Decode(sc.Bytes()); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTCPSerialServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fl, err := Start(ctx, Config{Meters: 10, Listen: "127.0.0.1:0", FirstAddress: "000000000001", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", fl.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, s := range []string{"000000000001", "000000000007", "000000000010"} {
		f := request(t, c, c.SetReadDeadline, dlt645.ReadRequest(addr(t, s), dlt645.DIForwardActiveTotal), i == 1)
		if f.Address.String() != s || f.Control.IsAbnormal() {
			t.Fatalf("meter %s: reply from %s control %02X", s, f.Address, byte(f.Control))
		}
	}
	// A meter not on the bus stays silent.
	req := dlt645.ReadRequest(addr(t, "000000000099"), dlt645.DIForwardActiveTotal)
	wire, _ := dlt645.AppendFrame(nil, &req)
	c.Write(wire)
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _ := c.Read(make([]byte, 64)); n != 0 {
		t.Fatal("an absent meter answered")
	}
	cancel()
	if err := fl.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestPtyBusWithSerialPort(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fl, err := Start(ctx, Config{Meters: 4, Pty: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	line, err := serialline.Open(serialline.Config{Device: fl.PtyPath, Baud: 2400, Parity: "even"})
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	f := request(t, line, line.SetReadDeadline, dlt645.ReadRequest(addr(t, "000000000003"), dlt645.DIVoltageBlock), false)
	vals, err := f.Values()
	if err != nil || f.Address.String() != "000000000003" {
		t.Fatalf("reply %v %v", f.Address, err)
	}
	if v := vals[0].Num; v.Mant < 2100 || v.Mant > 2300 {
		t.Fatalf("voltage %v", v)
	}
}

func TestGPRSDialsAndAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Start(ctx, Config{Meters: 1, FirstAddress: "000000000042", GPRS: l.Addr().String(), Heartbeat: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	imei, secret := GPRSIdentity("", "000000000042")
	if err != nil || line != "REG 000000000042 "+imei+" "+secret+"\r\n" {
		t.Fatalf("registration %q %v", line, err)
	}
	if hb, err := r.ReadString('\n'); err != nil || hb != "HB 000000000042\r\n" {
		t.Fatalf("heartbeat %q %v", hb, err)
	}
	req := dlt645.ReadRequest(dlt645.Wildcard, dlt645.DIAddress)
	wire, _ := dlt645.AppendFrame(nil, &req)
	c.Write(wire)
	// Skip heartbeat lines until the frame.
	var got dlt645.Frame
	for {
		b, err := r.Peek(1)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] == 'H' {
			r.ReadString('\n')
			continue
		}
		sc := bufio.NewScanner(r)
		sc.Split(dlt645.Split)
		if !sc.Scan() {
			t.Fatal(sc.Err())
		}
		got.Decode(sc.Bytes())
		break
	}
	vals, err := got.Values()
	if err != nil || vals[0].Text != "000000000042" {
		t.Fatalf("address read over GPRS: %v %v", vals, err)
	}
}

// clockDiff returns how far a meter's hh:mm:ss reading is from want.
func clockDiff(t *testing.T, text string, want time.Time) time.Duration {
	t.Helper()
	got, err := time.Parse("15:04:05", text)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := time.Parse("15:04:05", want.Format("15:04:05"))
	d := got.Sub(w)
	if d < 0 {
		d = -d
	}
	return d
}
