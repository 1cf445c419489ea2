package fep

// What an idle connection costs the front end. BenchmarkIdleTLS and
// BenchmarkIdleGPRS open N real sessions (TLS 1.3 with client certificates,
// logged in; plain GPRS, registered and its address read back) from a
// child process — this test binary again, TestIdleClients — so that the
// clients' memory is not the front end's; they let the sessions go idle,
// collect the garbage and report per connection: heap in use, stacks in
// use, their sum, goroutines and the RSS delta (VmRSS of this process).
//
//	go test -run '^$' -bench Idle -benchtime 1x ./internal/fep
//
// AMIGO_IDLE_CONNS sets N (default 2,000); AMIGO_IDLE_PROFILE=DIR writes
// the heap (every allocation sampled) and goroutine profiles taken while
// the sessions are idle to DIR/idle-{tls,gprs}.{heap,goroutine}.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/q1376"
)

const idleA1 = 0x0C01

func idleConns() int {
	if n, err := strconv.Atoi(os.Getenv("AMIGO_IDLE_CONNS")); err == nil && n > 0 {
		return n
	}
	return 2000
}

func idleAddress(k int) dlt645.Address {
	return mustAddr(fmt.Sprintf("77%010d", k))
}

func BenchmarkIdleTLS(b *testing.B) {
	n := idleConns()
	ca := b.TempDir()
	if err := pki.InitCA(ca, "idle"); err != nil {
		b.Fatal(err)
	}
	if err := pki.IssueServer(ca, ca, "127.0.0.1"); err != nil {
		b.Fatal(err)
	}
	d := &dir{known: map[string]amigo.Collector{}, status: map[int64]string{}}
	eg := errgroup.Group{}
	eg.SetLimit(runtime.NumCPU())
	for k := 1; k <= n; k++ {
		who := pki.CollectorName(idleA1, uint16(k))
		d.known[who] = amigo.Collector{ID: int64(k), Address: who}
		eg.Go(func() error { _, err := pki.IssueCollector(ca, ca, idleA1, uint16(k)); return err })
	}
	if err := eg.Wait(); err != nil {
		b.Fatal(err)
	}
	srv, err := pki.ServerConfig(filepath.Join(ca, pki.CACert), filepath.Join(ca, "station.crt"), filepath.Join(ca, "station.key"))
	if err != nil {
		b.Fatal(err)
	}
	in := make(chan struct{}, n)
	f := New(Config{TLSAddr: "127.0.0.1:0", TLS: srv, MaxConns: n + 10, MaxConnsPerSource: n + 10, Log: slog.New(slog.DiscardHandler),
		OnLogin: func(amigo.Collector) { in <- struct{}{} }}, d)
	if err := f.Listen(); err != nil {
		b.Fatal(err)
	}
	measureIdle(b, f, "tls", f.TLSAddr().String(), ca, n, in)
}

func BenchmarkIdleGPRS(b *testing.B) {
	n := idleConns()
	ms := meters{}
	for k := range n {
		a := idleAddress(k).String()
		ms[a] = amigo.Meter{ID: int64(k + 1), Address: a, Direct: true, IMEI: testIMEI, RegSecret: testSecret}
	}
	d := &dir{known: map[string]amigo.Collector{}, status: map[int64]string{}}
	in := make(chan struct{}, n)
	f := New(Config{MaxConns: n + 10, MaxConnsPerSource: n + 10, Log: slog.New(slog.DiscardHandler),
		OnRegister: func(amigo.Meter) { in <- struct{}{} }}, d)
	if err := f.ListenGPRS("127.0.0.1:0", ms); err != nil {
		b.Fatal(err)
	}
	measureIdle(b, f, "gprs", f.GPRSAddr().String(), "", n, in)
}

// measureIdle serves f, has a child process open n sessions of kind (in
// receives one signal per session f installed) and reports what they cost
// once idle.
func measureIdle(b *testing.B, f *FEP, kind, addr, certs string, n int, in <-chan struct{}) {
	profile := os.Getenv("AMIGO_IDLE_PROFILE")
	if profile != "" {
		runtime.MemProfileRate = 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Serve(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	before, rss0 := settledMem()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClients$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AMIGO_IDLE_CLIENT="+kind, "AMIGO_IDLE_ADDR="+addr, "AMIGO_IDLE_CERTS="+certs, "AMIGO_IDLE_CONNS="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	began := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); line == "ready" {
				ready <- nil
				io.Copy(io.Discard, out)
				return
			} else if strings.HasPrefix(line, "error") {
				ready <- fmt.Errorf("clients: %s", line)
				return
			}
		}
		ready <- fmt.Errorf("clients ended before they were ready")
	}()
	select {
	case err := <-ready:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(5 * time.Minute):
		b.Fatal("clients not ready within 5 minutes")
	}
	limit := time.After(time.Minute)
	for got := 0; got < n; got++ {
		select {
		case <-in:
		case <-limit:
			b.Fatalf("%d sessions installed, want %d", got, n)
		}
	}
	b.Logf("%d %s sessions in %.1f s", n, kind, time.Since(began).Seconds())
	// Idle: every session parked on the front end's poller (its login's
	// handlers and hooks ended, no goroutine of its own), then what stays.
	poll := f.idle.Load()
	if poll == nil {
		b.Skip("no idle poller on this system")
	}
	select {
	case <-poll.parked(n):
	case <-time.After(time.Minute):
		b.Fatalf("%d sessions not all idle on the poller a minute after the logins", n)
	}
	after, rss1 := settledMem()
	per := func(x, y uint64) float64 { return (float64(x) - float64(y)) / float64(n) }
	heap, stack := per(after.HeapInuse, before.HeapInuse), per(after.StackInuse, before.StackInuse)
	b.ReportMetric(heap, "heap-B/conn")
	b.ReportMetric(stack, "stack-B/conn")
	b.ReportMetric(heap+stack, "B/conn")
	b.ReportMetric(float64(rss1-rss0)*1024/float64(n), "rss-B/conn")
	b.ReportMetric(float64(runtime.NumGoroutine())/float64(n), "goroutines/conn")
	if profile != "" {
		for _, p := range []string{"heap", "goroutine"} {
			w, err := os.Create(filepath.Join(profile, "idle-"+kind+"."+p))
			if err != nil {
				b.Fatal(err)
			}
			pprof.Lookup(p).WriteTo(w, 0)
			w.Close()
		}
	}
}

// settledMem collects the garbage, returns freed memory to the OS and reads
// the memory statistics and VmRSS (KB).
func settledMem() (runtime.MemStats, int64) {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m, vmRSS()
}

func vmRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

// TestIdleClients is the child process of the idle benchmarks (skipped
// otherwise): it opens the sessions, prints "ready" and holds them until
// its standard input closes.
func TestIdleClients(t *testing.T) {
	kind := os.Getenv("AMIGO_IDLE_CLIENT")
	if kind == "" {
		t.Skip("the idle benchmarks' client process")
	}
	addr, certs, n := os.Getenv("AMIGO_IDLE_ADDR"), os.Getenv("AMIGO_IDLE_CERTS"), idleConns()
	var mu sync.Mutex
	var conns []net.Conn
	eg := errgroup.Group{}
	eg.SetLimit(32)
	for k := range n {
		eg.Go(func() error {
			var c net.Conn
			var err error
			if kind == "tls" {
				c, err = idleCollector(addr, certs, k+1)
			} else {
				c, err = idleMeter(addr, k)
			}
			if err != nil {
				return err
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		fmt.Printf("error %v\n", err)
		return
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// idleCollector logs in as collector k and returns once it is confirmed.
func idleCollector(addr, certs string, k int) (net.Conn, error) {
	name := "collector-" + pki.CollectorName(idleA1, uint16(k))
	cfg, err := pki.ClientConfig(filepath.Join(certs, pki.CACert), filepath.Join(certs, name+".crt"), filepath.Join(certs, name+".key"), "127.0.0.1")
	if err != nil {
		return nil, err
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	b, _ := q1376.AppendFrame(nil, q1376.Login(q1376.Address{A1: idleA1, A2: uint16(k)}, 1))
	if _, err := c.Write(b); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	sc := bufio.NewScanner(c)
	sc.Split(q1376.Split)
	if !sc.Scan() {
		c.Close()
		return nil, fmt.Errorf("collector %d: no login confirmation: %v", k, sc.Err())
	}
	return c, nil
}

// idleMeter registers as GPRS meter k and answers the address read.
func idleMeter(addr string, k int) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	a := idleAddress(k)
	if _, err := fmt.Fprintf(c, "REG %s %s %s\r\n", a, testIMEI, testSecret); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	sc := bufio.NewScanner(c)
	sc.Split(dlt645.Split)
	if !sc.Scan() {
		c.Close()
		return nil, fmt.Errorf("meter %d: no address read: %v", k, sc.Err())
	}
	r := dlt645.ReadReply(a, dlt645.DIAddress, a[:], false)
	b, _ := dlt645.AppendFrame(nil, &r)
	if _, err := c.Write(b); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
