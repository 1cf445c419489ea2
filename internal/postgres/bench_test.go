package postgres

import (
	"testing"

	"github.com/amigo-metering/amigo/internal/storetest"
)

func BenchmarkWriteReadings(b *testing.B) {
	s := openTempB(b)
	storetest.BenchWrite(b, s)
}
