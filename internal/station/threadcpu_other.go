//go:build !linux

package station

import "time"

// threadCPU is not read on this system: the loops rest after the wall
// time of a pass.
func threadCPU() (time.Duration, bool) { return 0, false }
