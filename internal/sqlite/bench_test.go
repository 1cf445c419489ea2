package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/amigo-metering/amigo/internal/storetest"
)

// BenchmarkWriteReadings writes batches of 1000 daily readings (1000 meters,
// one day each batch).
func BenchmarkWriteReadings(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchWrite(b, s)
}

// BenchmarkWriteReadings10k writes batches of 10,000: the size a group
// commit reaches under load.
func BenchmarkWriteReadings10k(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchWriteN(b, s, 10000)
}
