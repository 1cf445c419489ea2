package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/amigo-metering/amigo"
)

// ProcStats is what /proc says of a process.
type ProcStats struct {
	RSSKB, PeakKB int64         // VmRSS, VmHWM
	CPU           time.Duration // user + system
}

// ReadProc reads /proc/<pid>/status and /proc/<pid>/stat (Linux).
func ReadProc(pid int) (ProcStats, error) {
	var st ProcStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			st.RSSKB = n
		case "VmHWM":
			st.PeakKB = n
		}
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// Fields after the command name (which may hold spaces) start at ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, fmt.Errorf("loadtest: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return st, fmt.Errorf("loadtest: /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // utime: field 14 overall
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	st.CPU = time.Duration(ut+stt) * time.Second / hz
	return st, nil
}

// selfCPU returns this process's CPU time (getrusage).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// storeSize returns the bytes the store holds for readings and their
// number: the SQLite file (with its WAL) for path != "", or the readings
// partitions with indexes and TOAST on PostgreSQL; and table, the pages of
// the readings table with its indexes alone (on SQLite, dbstat's count,
// which sees the WAL's pages too).
func storeSize(ctx context.Context, st amigo.Store, kind, path string) (size, rows, table int64, err error) {
	db, ok := st.(sqlDB)
	if !ok {
		return 0, 0, 0, fmt.Errorf("loadtest: the store has no SQL handle")
	}
	if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM readings").Scan(&rows); err != nil {
		return 0, 0, 0, err
	}
	switch kind {
	case "sqlite":
		for _, p := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(p); err == nil {
				size += fi.Size()
			}
		}
		err = db.SQL().QueryRowContext(ctx, `SELECT COALESCE(sum(pgsize), 0) FROM dbstat WHERE name IN (SELECT name FROM sqlite_schema WHERE tbl_name = 'readings')`).Scan(&table)
	case "postgres":
		err = db.SQL().QueryRowContext(ctx, `SELECT COALESCE(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits WHERE inhparent = 'readings'::regclass`).Scan(&size)
		table = size
	}
	return size, rows, table, err
}

// rawStoreRate writes rows readings in batches of batch into a scratch
// store of the kind under test (1,000 meters, real-time readings 15 min
// apart) and returns the rows per second of WriteReadings alone.
func rawStoreRate(ctx context.Context, st amigo.Store, kind string, rows, batch int) (float64, error) {
	restore := fastSetup(ctx, st, kind)
	site := amigo.Site{Name: "raw", TimeZone: amigo.DefaultTimeZone}
	if err := st.CreateSite(ctx, &site); err != nil {
		restore()
		return 0, err
	}
	const meters = 1000
	ids := make([]int64, meters)
	for i := range meters {
		m := amigo.Meter{SiteID: site.ID, Address: fmt.Sprintf("7%011d", i), Protocol: "dlt645-2007", Phases: 1, RatedAmps: 60, Direct: true}
		if err := st.CreateMeter(ctx, &m); err != nil {
			restore()
			return 0, err
		}
		ids[i] = m.ID
	}
	restore()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rs := make([]amigo.Reading, 0, batch)
	var spent time.Duration
	for k := 0; k < rows; {
		rs = rs[:0]
		for ; len(rs) < batch && k < rows; k++ {
			i := k % meters
			at := t0.Add(time.Duration(k/meters) * 15 * time.Minute)
			regs := forwardAt(i, at)
			r := amigo.Reading{MeterID: ids[i], Time: at, Kind: amigo.KindRealtime, HasForward: true, Quality: amigo.QualityActual, Source: "raw", ReceivedAt: at}
			for j := range regs {
				r.Forward[j] = amigo.Energy(regs[j])
			}
			rs = append(rs, r)
		}
		began := time.Now()
		if _, err := st.WriteReadings(ctx, rs); err != nil {
			return 0, err
		}
		spent += time.Since(began)
	}
	return float64(rows) / spent.Seconds(), nil
}
