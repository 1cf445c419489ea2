package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/vclock"
)

// Every data identifier the meters model answers with a value the codec
// decodes, on single- and three-phase meters, importing and exporting.
func TestEveryModelledDIAnswers(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 6, 30, 23, 0, 0, 0, cst))
	dis := []dlt645.DI{
		0x0000FF00, 0x00010000, 0x00010100, 0x00010400, 0x0001FF00, 0x00020000, 0x0002FF00,
		0x0001FF01, 0x0002FF01, 0x00010101, 0x00010401, // settlement -1 after crossing 1 July
		0x0201FF00, 0x02010100, 0x0202FF00, 0x02020100, 0x0203FF00, 0x02030000, 0x0204FF00,
		0x0205FF00, 0x0206FF00, 0x02060000, 0x02800002, 0x02800007,
		dlt645.DIDateWeek, dlt645.DITime, dlt645.DIAddress, dlt645.DIMeterNumber,
		0x040005FF, 0x04000501, dlt645.DIStatusWord3, 0x04000507,
		dlt645.DIPowerDownCount, dlt645.DICoverOpenCount, dlt645.DITripCount, 0x1E000001,
		dlt645.DIRemainingMoney, 0x00900201,
		dlt645.DailyFreezeTime(1), dlt645.DailyFrozenForward(1), dlt645.DailyFrozenReverse(1),
	}
	for _, profile := range []string{"factory", "pv", "home", "office", "tower"} {
		b := fleet(t, clock, 1, profile)
		clock.Advance(13 * time.Hour) // noon on 1 July: PV exports, factory at full load
		a := addr(t, "000000000001")
		for _, di := range dis {
			f, ok := ask(t, b, dlt645.ReadRequest(a, di))
			if !ok {
				t.Fatalf("%s: no answer to %s", profile, di)
			}
			if f.Control.IsAbnormal() {
				e, _ := f.ErrorWord()
				t.Errorf("%s: %s refused: %v", profile, di, e.Names())
				continue
			}
			if _, err := f.Values(); err != nil {
				t.Errorf("%s: %s: %v", profile, di, err)
			}
		}
		clock.Set(time.Date(2026, 6, 30, 23, 0, 0, 0, cst))
	}
}

func TestUnknownAndFollowUpAreRefused(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 6, 1, 11, 0, 0, 0, cst))
	b := fleet(t, clock, 1, "home")
	a := addr(t, "000000000001")
	for _, di := range []dlt645.DI{0x04000403 /* catalogued, not modelled */, 0x7F7F7F7F, dlt645.DailyFreezeTime(1)} {
		f, _ := ask(t, b, dlt645.ReadRequest(a, di))
		if e, ok := f.ErrorWord(); !ok || f.Control != dlt645.AbnormalReply(dlt645.FuncRead) || e != dlt645.ErrNoData {
			t.Errorf("%s: control %02X data % X, want D1 ERR 02", di, byte(f.Control), f.Data)
		}
	}
	f, _ := ask(t, b, dlt645.ReadFollowRequest(a, dlt645.DIForwardActiveTotal, 1))
	if !f.Control.IsAbnormal() {
		t.Errorf("12H answered normally: % X", f.Data)
	}
}

func TestBadChecksumIgnored(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 6, 1, 11, 0, 0, 0, cst))
	b := fleet(t, clock, 2, "home")
	req := dlt645.ReadRequest(addr(t, "000000000002"), dlt645.DIForwardActiveTotal)
	wire, err := dlt645.AppendFrame(dlt645.AppendPreamble(nil), &req)
	if err != nil {
		t.Fatal(err)
	}
	good := b.HandleBytes(wire, nil)
	var f dlt645.Frame
	if _, err := f.Decode(good); err != nil || f.Address != req.Address {
		t.Fatalf("good request: % X %v", good, err)
	}
	wire[len(wire)-2]++ // checksum
	if r := b.HandleBytes(wire, nil); len(r) != 0 {
		t.Fatalf("bad checksum answered: % X", r)
	}
}

func TestWriteTimeAndOperator(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 6, 1, 11, 0, 0, 0, cst))
	auth := dlt645.Auth{Level: 2, Password: 0x123456, Operator: 0x12345678}
	b := NewBus(clock, NewMeter(MeterConfig{Address: addr(t, "000000000001"), Profile: Home, Phases: 1, Seed: 1, Auth: auth, Location: cst}, clock.Now()))
	a := addr(t, "000000000001")
	hms := []byte{0x00, 0x30, 0x09} // 09:30:00, ss mm hh
	if f, _ := ask(t, b, dlt645.WriteRequest(a, dlt645.DITime, dlt645.Auth{Level: 2, Password: 0x123456, Operator: 1}, hms)); !f.Control.IsAbnormal() {
		t.Fatal("write with the wrong operator accepted")
	} else if e, _ := f.ErrorWord(); e&dlt645.ErrPassword == 0 {
		t.Fatalf("wrong operator: error %v, want password", e.Names())
	}
	if f, _ := ask(t, b, dlt645.WriteRequest(a, dlt645.DITime, auth, hms)); f.Control != dlt645.Reply(dlt645.FuncWrite, false) {
		t.Fatalf("write time: control %02X data % X", byte(f.Control), f.Data)
	}
	clock.Advance(time.Minute)
	f, _ := ask(t, b, dlt645.ReadRequest(a, dlt645.DITime))
	v, _ := f.Values()
	if v[0].Text != "09:31:00" {
		t.Fatalf("clock after write %s, want 09:31:00", v[0].Text)
	}
	until := dlt645.DateTimeOf(clock.Now().Add(time.Hour))
	if f, _ := ask(t, b, dlt645.ControlRequest(a, dlt645.ControlCommand{Type: dlt645.ControlTrip, Auth: dlt645.Auth{Level: 2, Password: 0x123456}, Until: until})); !f.Control.IsAbnormal() {
		t.Fatal("trip without the operator code obeyed")
	}
}

func TestInstantFreeze(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 6, 1, 11, 0, 0, 0, cst))
	b := fleet(t, clock, 2, "office")
	a := addr(t, "000000000001")
	clock.Advance(90 * time.Minute)
	f, _ := ask(t, b, dlt645.FreezeRequest(a, dlt645.FreezeEvery, dlt645.FreezeEvery, dlt645.FreezeEvery, dlt645.FreezeEvery))
	if f.Control != dlt645.Reply(dlt645.FuncFreeze, false) {
		t.Fatalf("freeze: control %02X", byte(f.Control))
	}
	now := readNumbers(t, b, a, dlt645.DIForwardActiveTotal)[0]
	frozen := readNumbers(t, b, a, 0x05010101)[0]
	if frozen != now {
		t.Fatalf("instant freeze holds %v, register %v", frozen, now)
	}
	f, _ = ask(t, b, dlt645.ReadRequest(a, 0x05010001))
	if v, err := f.Values(); err != nil || v[0].Text != "2026-06-01 12:30" {
		t.Fatalf("instant freeze time %v %v", v, err)
	}
	// A broadcast freeze is obeyed silently by every meter.
	bc := dlt645.FreezeRequest(dlt645.Broadcast, dlt645.FreezeEvery, dlt645.FreezeEvery, dlt645.FreezeEvery, dlt645.FreezeEvery)
	if r := b.Handle(&bc, nil); len(r) != 0 {
		t.Fatal("broadcast freeze answered")
	}
	if f, _ := ask(t, b, dlt645.ReadRequest(addr(t, "000000000002"), 0x05010101)); f.Control.IsAbnormal() {
		t.Fatal("broadcast freeze not obeyed")
	}
}

// The daily freeze holds the registers of exactly 00:00, whenever the
// meter is read afterwards, and registers never go down.
func TestFreezeIsExactAndRegistersMonotonic(t *testing.T) {
	start := time.Date(2026, 1, 1, 23, 47, 13, 0, cst)
	atMidnight := vclock.NewManual(start)
	b1 := fleet(t, atMidnight, 20, "mixed")
	atMidnight.Set(time.Date(2026, 1, 2, 0, 0, 0, 0, cst))
	later := vclock.NewManual(start)
	b2 := fleet(t, later, 20, "mixed")
	last := map[dlt645.Address]int64{}
	for range 30 {
		later.Advance(57 * time.Minute) // to 2026-01-03 04:17
		for _, m := range b2.Meters() {
			v := readNumbers(t, b2, m.Address(), dlt645.DIForwardActiveTotal)[0].Mant
			if v < last[m.Address()] {
				t.Fatalf("%s: forward register went down %d -> %d", m.Address(), last[m.Address()], v)
			}
			last[m.Address()] = v
		}
	}
	for _, m := range b1.Meters() {
		want := readNumbers(t, b1, m.Address(), dlt645.DIForwardActiveBlock)
		got := readNumbers(t, b2, m.Address(), dlt645.DailyFrozenForward(2))
		f, _ := ask(t, b2, dlt645.ReadRequest(m.Address(), dlt645.DailyFreezeTime(2)))
		if v, err := f.Values(); err != nil || v[0].Text != "2026-01-02 00:00" {
			t.Fatalf("%s: freeze -2 at %v %v", m.Address(), v, err)
		}
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("%s: freeze of 2026-01-02 00:00 holds %v, the register read at 00:00 was %v", m.Address(), got, want)
			}
		}
	}
}

func TestPipeAndHandleBytes(t *testing.T) {
	clock := vclock.NewManual(time.Date(2026, 6, 1, 11, 0, 0, 0, cst))
	b := fleet(t, clock, 3, "home")
	c := b.Pipe(t.Context())
	defer c.Close()
	for _, s := range []string{"000000000003", "000000000001"} {
		f := request(t, c, c.SetReadDeadline, dlt645.ReadRequest(addr(t, s), dlt645.DIForwardActiveTotal), true)
		if f.Address.String() != s {
			t.Fatalf("reply from %s, want %s", f.Address, s)
		}
	}
	// Two requests in one buffer: two replies.
	var wire []byte
	for _, s := range []string{"000000000001", "000000000002"} {
		req := dlt645.ReadRequest(addr(t, s), dlt645.DIForwardActiveTotal)
		wire, _ = dlt645.AppendFrame(append(wire, 0x00, 0xFE), &req) // with noise
	}
	out := b.HandleBytes(wire, nil)
	var n int
	for len(out) > 0 {
		_, next, err := dlt645.FindFrame(out)
		if err != nil {
			break
		}
		out = out[next:]
		n++
	}
	if n != 2 {
		t.Fatalf("%d replies to two requests", n)
	}
}

func TestTCPBroadcastAndSeveralConnections(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fl, err := Start(ctx, Config{Meters: 5, Listen: "127.0.0.1:0", FirstAddress: "000000000101", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", fl.Addr.String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			// A broadcast time sync: obeyed silently.
			sync := dlt645.BroadcastTimeRequest(dlt645.Broadcast, dlt645.DateTimeOf(time.Now()))
			wire, _ := dlt645.AppendFrame(nil, &sync)
			c.Write(wire)
			a, _ := AddressN("000000000101", i)
			for range 20 {
				req := dlt645.ReadRequest(a, dlt645.DIForwardActiveBlock)
				wire, _ := dlt645.AppendFrame(nil, &req)
				// Written in two pieces.
				c.Write(wire[:5])
				c.Write(wire[5:])
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				sc := bufio.NewScanner(c)
				sc.Split(dlt645.Split)
				if !sc.Scan() {
					t.Errorf("connection %d: no reply: %v", i, sc.Err())
					return
				}
				var f dlt645.Frame
				if _, err := f.Decode(sc.Bytes()); err != nil || f.Address != a {
					t.Errorf("connection %d: reply from %s (%v), want %s (the broadcast must get no reply)", i, f.Address, err, a)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestGPRSRedialsWhenTheStationGoesAway(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Start(ctx, Config{Meters: 2, FirstAddress: "000000000042", GPRS: l.Addr().String(), Heartbeat: time.Hour, GPRSKey: "k"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, a := range []string{"000000000042", "000000000043"} {
		imei, secret := GPRSIdentity("k", a)
		want["REG "+a+" "+imei+" "+secret+"\r\n"] = a
	}
	// Each meter must register twice: the station closes every connection
	// right after the registration line, so each second registration is a
	// redial. The meters redial independently, with jitter: one may dial a
	// third time before the other's second (1 s ± 50 % each), so count
	// until both have two rather than taking the first four.
	regs := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for regs["000000000042"] < 2 || regs["000000000043"] < 2 {
		l.(*net.TCPListener).SetDeadline(deadline)
		c, err := l.Accept()
		if err != nil {
			t.Fatalf("registrations so far %v: %v", regs, err)
		}
		c.SetReadDeadline(deadline)
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close() // the station goes away: the meter must dial again
		if err != nil {
			t.Fatal(err)
		}
		a, ok := want[line]
		if !ok {
			t.Fatalf("registration %q, want one of %v", line, want)
		}
		regs[a]++
	}
}

func TestControlEndpoint(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fl, err := Start(ctx, Config{Meters: 3, Control: "127.0.0.1:0", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + fl.Control.String()
	r, err := http.Post(base+"/faults", "text/plain", strings.NewReader("000000000002:no-answer\n000000000003:late:1s\n"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("POST /faults: %s", r.Status)
	}
	r, err = http.Get(base + "/meters")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var states []MeterState
	if err := json.NewDecoder(r.Body).Decode(&states); err != nil {
		t.Fatal(err)
	}
	if len(states) != 3 || !states[1].Faults.NoAnswer || states[2].Faults.Delay != time.Second || states[0].Faults != (Faults{}) {
		t.Fatalf("states %+v", states)
	}
	r2, err := http.Post(base+"/faults", "text/plain", strings.NewReader("000000000009:stuck\n"))
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusBadRequest {
		t.Fatalf("fault on an absent meter: %s", r2.Status)
	}
	cancel()
	if err := fl.Wait(); err != nil {
		t.Fatal(err)
	}
}
