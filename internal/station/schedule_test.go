package station

import (
	"fmt"
	"testing"
	"time"
)

// The nightly offsets spread over the whole window: 1,000 collectors'
// offsets fall in [0, window), and each tenth of the window gets some
// (the hash scaled onto the window; taken modulo a window of nanoseconds
// it left every offset under 4.3 s).
func TestSpreadCoversTheWindow(t *testing.T) {
	const window = 30 * time.Minute
	var tenths [10]int
	for i := range 1000 {
		d := spread(fmt.Sprintf("%08d", 31000000+i), window)
		if d < 0 || d >= window {
			t.Fatalf("offset %s outside [0, %s)", d, window)
		}
		tenths[d*10/window]++
	}
	for i, n := range tenths {
		if n < 50 { // 100 expected in each
			t.Fatalf("tenth %d of the window holds %d offsets of 1000: %v", i, n, tenths)
		}
	}
	if spread("x", 0) != 0 {
		t.Fatal("no window, no offset")
	}
}
