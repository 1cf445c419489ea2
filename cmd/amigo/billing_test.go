package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/sqlite"
)

// billingFleet fills a store with a site ("Estate") on zj-residential and
// n postpaid accounts whose October is the same: 2600 kWh before, peak 200
// + valley 100: 113.60 + 28.80 + tier 2 (140 × 0.05) 7.00 = 149.40 yuan each.
func billingFleet(t *testing.T, db string, n int) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	loc := amigo.Site{}.Location()
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, loc) }
	doc, err := os.ReadFile("../../docs/tariffs/zj-residential.json")
	if err != nil {
		t.Fatal(err)
	}
	err = s.WithTx(ctx, func(tx amigo.Store) error {
		site := amigo.Site{Name: "Estate", TimeZone: "Asia/Shanghai"}
		if err := tx.CreateSite(ctx, &site); err != nil {
			return err
		}
		if err := tx.PutTariff(ctx, amigo.TariffVersion{Name: "zj-residential", ValidFrom: "2026-01-01", Document: doc, CreatedAt: day(2026, 1, 1), CreatedBy: "admin"}); err != nil {
			return err
		}
		var rs []amigo.Reading
		for i := range n {
			c := amigo.Customer{Name: fmt.Sprintf("住户 %d", i)}
			if err := tx.CreateCustomer(ctx, &c); err != nil {
				return err
			}
			m := amigo.Meter{SiteID: site.ID, Address: fmt.Sprintf("%012d", 700000+i), CTRatio: 1, PTRatio: 1, Direct: true}
			if err := tx.CreateMeter(ctx, &m); err != nil {
				return err
			}
			a := amigo.Account{Number: fmt.Sprintf("E%05d", i), CustomerID: c.ID, SiteID: site.ID, Mode: amigo.ModePostpaid, Tariff: "zj-residential", BillingDay: 1,
				Meters: []amigo.AccountMeter{{MeterID: m.ID, From: day(2025, 6, 1)}}}
			if err := tx.CreateAccount(ctx, &a); err != nil {
				return err
			}
			for _, x := range []struct {
				t time.Time
				f [5]int64
			}{{day(2026, 1, 1), [5]int64{1000, 100, 400, 300, 200}}, {day(2026, 10, 1), [5]int64{3600, 300, 1400, 900, 1000}}, {day(2026, 11, 1), [5]int64{3900, 320, 1550, 930, 1100}}} {
				r := amigo.Reading{MeterID: m.ID, Time: x.t.UTC(), Kind: amigo.KindDaily, HasForward: true, Quality: amigo.QualityActual}
				for j, v := range x.f {
					r.Forward[j] = amigo.KWh(v)
				}
				rs = append(rs, r)
			}
		}
		_, err := tx.WriteReadings(ctx, rs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// `amigo billing run` killed with SIGKILL in the middle of the run, then
// run again: every account has exactly one bill and one ledger entry for
// it, the amounts are the hand-computed ones, and the second run shows its
// progress and summary.
func TestBillingRunKilledWithSIGKILLResumes(t *testing.T) {
	const n = 1500
	dir := t.TempDir()
	db := filepath.Join(dir, "station.db")
	cfg := writeFile(t, dir, "station.json", `{"store": "sqlite:`+db+`"}`)
	billingFleet(t, db, n)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AMIGO_MAIN=1", "AMIGO_ARGS=billing run --config "+cfg+" --site Estate --cycle 2026-10 --batch 5")
	// The child's progress bar (stderr) reports each committed batch: the
	// test kills it once the bar says 50 accounts are done, on that event,
	// not on a timer.
	var childErr lockedBuffer
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	going, drained := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(drained)
		count := regexp.MustCompile(fmt.Sprintf(`\((\d+)/%d`, n))
		sc := bufio.NewScanner(pipe)
		sc.Split(splitCRLF)
		signalled := false
		for sc.Scan() {
			childErr.Write(append(sc.Bytes(), '\n'))
			if m := count.FindSubmatch(sc.Bytes()); m != nil && !signalled {
				if done, _ := strconv.Atoi(string(m[1])); done >= 50 {
					signalled = true
					close(going)
				}
			}
		}
		if !signalled {
			close(going)
		}
	}()
	<-going

	s, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if r, err := s.OpenBillingRun(ctx, 1, "2026-10"); err != nil || r.Done < 50 {
		t.Fatalf("the run never got going: %+v %v; stderr %s", r, err, childErr.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-drained // the pipe is read to its end before Wait closes it
	cmd.Wait()
	killed, err := s.OpenBillingRun(ctx, 1, "2026-10")
	if err != nil || killed.Done >= n {
		t.Fatalf("the run was not killed mid-way: %+v %v", killed, err)
	}
	t.Logf("killed after %d of %d accounts", killed.Done, n)

	var out, errb bytes.Buffer
	if code := run(ctx, []string{"billing", "run", "--config", cfg, "--site", "Estate", "--cycle", "2026-10", "--format", "markdown"}, &out, &errb); code != 0 {
		t.Fatalf("resume: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "100%") || !strings.Contains(errb.String(), "计费") {
		t.Errorf("no progress bar on stderr: %q", errb.String())
	}
	want := fmt.Sprintf("| %d | Estate | 2026-10 | %d | %d | 0 | 0 | 0 | %s |", killed.ID, n, n, amigo.Fen(n*14940))
	if !strings.Contains(out.String(), want) {
		t.Fatalf("summary:\n%s\nwant a row starting %s", out.String(), want)
	}
	var bills, accounts, ledger, refs int
	var fen int64
	row := s.SQL().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT account_id), SUM(total_fen) FROM bills WHERE cycle = '2026-10' AND status = 'issued'`)
	if err := row.Scan(&bills, &accounts, &fen); err != nil {
		t.Fatal(err)
	}
	if err := s.SQL().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT reference) FROM ledger WHERE kind = 'bill'`).Scan(&ledger, &refs); err != nil {
		t.Fatal(err)
	}
	if bills != n || accounts != n || fen != n*14940 || ledger != n || refs != n {
		t.Fatalf("%d bills of %d accounts, %d fen; %d ledger entries (%d references); want %d each and %d fen", bills, accounts, fen, ledger, refs, n, n*14940)
	}
}

// Bad flags are named; --help goes to stdout.
func TestBillingRunFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"billing", "run", "--cycle", "2026-10"}, "--site"},
		{[]string{"billing", "run", "--site", "x", "--cycle", "2026-1"}, "--cycle"},
		{[]string{"billing", "run", "--site", "x", "--cycle", "2026-10", "--format", "xml"}, "--format"},
		{[]string{"billing", "bill"}, "unknown action"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), c.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, errb.String())
		}
	}
}

// splitCRLF splits a progress bar's output at carriage returns as well as
// newlines.
func splitCRLF(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\r' || b == '\n' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// lockedBuffer is a bytes.Buffer written by one goroutine and read by
// another.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
