package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/storetest"
)

// BenchmarkBytesPerReading writes a month of what a station writes for a
// fleet (storetest.Fleet; AMIGO_FLEET meters, default 10,000): 31 daily
// batches, then the 96 real-time batches of the last day, and reports the
// file's bytes per reading after a checkpoint of the WAL, for the daily
// readings alone (B/daily) and for the mix (B/reading), the readings
// table's own pages per reading (B/daily-table, B/reading-table: dbstat)
// and the rate of WriteReadings (readings/s). Run it once:
//
//	go test -run X -bench BytesPerReading -benchtime 1x ./internal/sqlite
func BenchmarkBytesPerReading(b *testing.B) {
	meters := 10_000
	if v, err := strconv.Atoi(os.Getenv("AMIGO_FLEET")); err == nil && v > 0 {
		meters = v
	}
	ctx := context.Background()
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "size.db")
		s, err := Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		f := storetest.NewFleet(b, s, meters)
		var spent time.Duration
		var written int
		write := func(rs []amigo.Reading) {
			began := time.Now()
			res, err := s.WriteReadings(ctx, rs)
			spent += time.Since(began)
			if err != nil || res.Inserted != len(rs) {
				b.Fatalf("%+v %v", res, err)
			}
			written += len(rs)
		}
		var batch []amigo.Reading
		const days = 31
		for d := range days {
			batch = f.Daily(d, batch[:0])
			write(batch)
		}
		file, table := size(b, s, path)
		b.ReportMetric(float64(file)/float64(written), "B/daily")
		b.ReportMetric(float64(table)/float64(written), "B/daily-table")
		for k := range 96 {
			batch = f.Realtime(days-1, k, batch[:0])
			write(batch)
		}
		file, table = size(b, s, path)
		b.ReportMetric(float64(file)/float64(written), "B/reading")
		b.ReportMetric(float64(table)/float64(written), "B/reading-table")
		b.ReportMetric(float64(written)/spent.Seconds(), "readings/s")
		s.Close()
	}
}

// size checkpoints the WAL into the file and returns the file's size and
// that of the readings table with its indexes (dbstat).
func size(b *testing.B, s *Store, path string) (file, table int64) {
	ctx := context.Background()
	if _, err := s.SQL().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			file += fi.Size()
		}
	}
	err := s.SQL().QueryRowContext(ctx, `SELECT sum(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_schema WHERE tbl_name = 'readings')`).Scan(&table)
	if err != nil {
		b.Logf("dbstat: %v", err)
	}
	return file, table
}
