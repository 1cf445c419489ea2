package printing

import (
	"context"
	"testing"
	"time"
)

// waitJob waits until the job is done on the printer and returns its state.
func waitJob(t *testing.T, c *Client, printer string, id int) JobStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		st, err := c.Job(ctx, printer, id)
		if err != nil {
			t.Fatalf("job %d: %v", id, err)
		}
		if st.Done() {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %d not done in 60 s: state %d %v", id, st.State, st.Reasons)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
