package station

import (
	"runtime"
	"testing"
	"time"
)

// threadCPU counts what the locked goroutine computes and not what it
// waits: the loop's rest follows it.
func TestThreadCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0, ok := threadCPU()
	if !ok {
		t.Fatal("thread CPU time not readable on linux")
	}
	// Work until the thread has spent 20 ms of CPU (however loaded the
	// machine), giving up after 10 s of wall time.
	x := uint64(1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		for i := range 100000 {
			x = x*6364136223846793005 + uint64(i)
		}
		c, _ := threadCPU()
		if c-c0 >= 20*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the thread spent %s of CPU in 10 s of work", c-c0)
		}
	}
	_ = x
	c1, _ := threadCPU()
	// Waiting costs the thread nothing.
	<-time.After(200 * time.Millisecond)
	c2, _ := threadCPU()
	if d := c2 - c1; d > 20*time.Millisecond {
		t.Errorf("200 ms of waiting counted %s of the thread's CPU", d)
	}
}
