package postgres

import (
	"testing"

	"github.com/amigo-metering/amigo/internal/storetest"
)

func BenchmarkWriteReadings(b *testing.B) {
	s := openTempB(b)
	storetest.BenchWrite(b, s)
}

// BenchmarkWriteReadings10k writes batches of 10,000: the size a group
// commit reaches under load.
func BenchmarkWriteReadings10k(b *testing.B) {
	s := openTempB(b)
	storetest.BenchWriteN(b, s, 10000)
}
