package printing

import (
	"context"
	"crypto/rand"
	"database/sql"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/postgres"
	"github.com/amigo-metering/amigo/internal/printing/cupstest"
	"github.com/amigo-metering/amigo/internal/sqlite"
)

type queueStore interface {
	Store
	Close() error
}

// stores opens the queue's store on SQLite and, when AMIGO_TEST_POSTGRES
// is set (CI sets it), on a fresh PostgreSQL database.
func stores(t *testing.T) map[string]queueStore {
	t.Helper()
	ctx := context.Background()
	out := map[string]queueStore{}
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "station.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	out["sqlite"] = lite
	dsn := os.Getenv("AMIGO_TEST_POSTGRES")
	if dsn == "" {
		t.Log("AMIGO_TEST_POSTGRES not set: the queue is tested on SQLite only")
		return out
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := "amigo_test_print_" + strings.ToLower(rand.Text()[:10])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	pg, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pg.Close()
		admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		admin.Close()
	})
	out["postgres"] = pg
	return out
}

func TestEnqueue(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			q, err := NewQueue(st, QueueConfig{Printer: "ipp://127.0.0.1:1/printers/x"})
			if err != nil {
				t.Fatal(err)
			}
			id, err := q.Enqueue(ctx, KindBill, "B1", []byte("%PDF-1.7 a"))
			if err != nil {
				t.Fatal(err)
			}
			again, err := q.Enqueue(ctx, KindBill, "B1", []byte("%PDF-1.7 b"))
			if err != nil || again != id {
				t.Fatalf("the same bill again: %d, %v; want job %d", again, err, id)
			}
			j, err := q.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != amigo.PrintQueued || string(j.PDF) != "%PDF-1.7 a" || j.Kind != KindBill || j.RefID != "B1" || j.Printer != "ipp://127.0.0.1:1/printers/x" {
				t.Errorf("stored %+v", j)
			}
			// Two runners saw the job due: one sends it.
			next := time.Now().Add(time.Minute)
			if won, err := st.ClaimPrintAttempt(ctx, id, 0, next); !won || err != nil {
				t.Fatalf("first claim: %v, %v", won, err)
			}
			if won, err := st.ClaimPrintAttempt(ctx, id, 0, next); won || err != nil {
				t.Fatalf("second claim of the same attempt: %v, %v", won, err)
			}
			if j, _ := q.Job(ctx, id); j.Attempts != 1 || j.NextTry.UnixMilli() != next.UnixMilli() {
				t.Errorf("after the claim: attempts %d, next try %v", j.Attempts, j.NextTry)
			}
			other, err := q.Enqueue(ctx, KindReceipt, "B1", []byte("%PDF-1.7 c"))
			if err != nil || other == id {
				t.Errorf("a receipt with the same reference: %d, %v", other, err)
			}
			for _, bad := range []struct{ kind, ref, pdf, field string }{
				{"bill", "B2", "hello", "pdf"}, {"", "B2", "%PDF-", "kind"}, {"bill", " ", "%PDF-", "ref_id"},
			} {
				if _, err := q.Enqueue(ctx, bad.kind, bad.ref, []byte(bad.pdf)); err == nil || !strings.Contains(err.Error(), "field "+bad.field) {
					t.Errorf("Enqueue(%q, %q, %q): %v, want an error naming %s", bad.kind, bad.ref, bad.pdf, err, bad.field)
				}
			}
			list, err := q.List(ctx, "", 10)
			if err != nil || len(list) != 2 || list[0].ID != other || list[1].ID != id || list[1].PDF != nil && len(list[1].PDF) != 0 {
				t.Errorf("List: %+v, %v; want jobs %d, %d without PDFs", list, err, other, id)
			}
			if list, err := q.List(ctx, amigo.PrintPrinted, 10); err != nil || len(list) != 0 {
				t.Errorf("List(printed): %+v, %v", list, err)
			}
			if _, err := q.List(ctx, "done", 10); err == nil || !strings.Contains(err.Error(), "field state") {
				t.Errorf("List(done): %v", err)
			}
			// A batch: one transaction, in order; B1 is already queued.
			ids, err := q.EnqueueAll(ctx, KindBill, []Doc{{"B2", []byte("%PDF-2")}, {"B1", []byte("%PDF-x")}, {"B3", []byte("%PDF-3")}})
			if err != nil || len(ids) != 3 || ids[1] != id || ids[0] <= other || ids[2] <= ids[0] {
				t.Fatalf("EnqueueAll: %v, %v (B1 is job %d)", ids, err, id)
			}
			if _, err := q.EnqueueAll(ctx, KindBill, []Doc{{"B4", []byte("%PDF-4")}, {"B5", []byte("no")}}); err == nil || !strings.Contains(err.Error(), "docs[1]") {
				t.Errorf("a batch with a bad document: %v", err)
			}
			if list, _ := q.List(ctx, "", 100); len(list) != 4 {
				t.Errorf("after a refused batch: %d jobs, want 4 (none of it stored)", len(list))
			}
			// A job printed 40 days ago loses its PDF after 30; others keep theirs.
			j, _ = q.Job(ctx, ids[0])
			j.State, j.Printed = amigo.PrintPrinted, time.Now().Add(-40*24*time.Hour)
			if err := st.UpdatePrintJob(ctx, j); err != nil {
				t.Fatal(err)
			}
			if n, err := st.ForgetPrintedPDFs(ctx, time.Now().Add(-30*24*time.Hour)); n != 1 || err != nil {
				t.Errorf("ForgetPrintedPDFs: %d, %v; want 1", n, err)
			}
			if j, _ := q.Job(ctx, ids[0]); len(j.PDF) != 0 || j.State != amigo.PrintPrinted {
				t.Errorf("printed job after forgetting: %d bytes, %s", len(j.PDF), j.State)
			}
			if j, _ := q.Job(ctx, ids[2]); string(j.PDF) != "%PDF-3" {
				t.Errorf("a queued job lost its PDF: %q", j.PDF)
			}
			// A job never sent goes to the printer configured now.
			moved, err := NewQueue(st, QueueConfig{Printer: "ipp://127.0.0.1:1/printers/y", MinBackoff: time.Hour, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			b9, err := q.Enqueue(ctx, KindBill, "B9", []byte("%PDF-9"))
			if err != nil {
				t.Fatal(err)
			}
			if err := moved.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if j, _ := q.Job(ctx, b9); j.Printer != "ipp://127.0.0.1:1/printers/y" || j.Attempts != 1 || j.State != amigo.PrintQueued || j.LastError == "" {
				t.Errorf("after a pass with another printer: %+v", j)
			}
			if _, err := NewQueue(st, QueueConfig{Printer: "lpd://x/q"}); err == nil || !strings.Contains(err.Error(), "printer") {
				t.Errorf("an lpd printer URI: %v", err)
			}
		})
	}
}

// waitState waits until the stored job reaches state: at each write of
// the queue, at most 60 s.
func waitState(t *testing.T, q *Queue, id int64, state string) amigo.PrintJob {
	t.Helper()
	return waitStored(t, q, id, "state "+state, func(j amigo.PrintJob) bool { return j.State == state })
}

// waitStored waits until ok holds for the stored job, looking again at each
// write of the queue, at most 60 s.
func waitStored(t *testing.T, q *Queue, id int64, what string, ok func(amigo.PrintJob) bool) amigo.PrintJob {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j, err := q.Wait(ctx, id, ok)
	if err != nil {
		t.Fatalf("job %d: no %s (state %s, attempts %d, last error %q): %v", id, what, j.State, j.Attempts, j.LastError, err)
	}
	return j
}

// onPrinter counts the printer's jobs named name.
func onPrinter(t *testing.T, c *Client, printer, name string) int {
	t.Helper()
	jobs, err := c.Jobs(context.Background(), printer)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range jobs {
		if j.Name == name {
			n++
		}
	}
	return n
}

// TestQueueThroughCUPS: a job enqueued while CUPS is down stays queued and
// prints once when it is back; the same while the printer refuses jobs;
// a paused printer holds the job until resumed; a job sent by a process
// that crashed before noting it is found on the printer, not sent again.
func TestQueueThroughCUPS(t *testing.T) {
	srv := cupstest.Start(t)
	r := renderer(t)
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			stop := func() { cancel() }
			c := &Client{User: cupstest.User}
			q, err := NewQueue(st, QueueConfig{Printer: srv.URI(), JobPrefix: "amigo-q-" + name + "-" + token(), Client: c,
				MinBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, Poll: 100 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			running := make(chan error, 1)
			go func() { running <- q.Run(ctx) }()
			t.Cleanup(func() {
				stop()
				if err := <-running; err != context.Canceled {
					t.Errorf("Run: %v", err)
				}
			})
			doc := func(ref string) []byte {
				b := sampleBill()
				b.Number = ref
				pdf, err := r.Bill(b)
				if err != nil {
					t.Fatal(err)
				}
				return pdf
			}
			printedOnce := func(id int64, ref string) {
				t.Helper()
				j := waitState(t, q, id, amigo.PrintPrinted)
				if n := onPrinter(t, c, srv.URI(), q.JobName(id)); n != 1 {
					t.Errorf("%s: %d jobs on the printer, want 1", ref, n)
				}
				if text := pdfText(t, cupstest.Output(t, q.JobName(id))); !strings.Contains(text, ref) {
					t.Errorf("%s: the printed PDF lacks its number:\n%s", ref, text)
				}
				if j.Printed.IsZero() || j.IPPJobID == 0 {
					t.Errorf("%s: printed job %+v", ref, j)
				}
			}

			// CUPS down.
			srv.Stop()
			id, err := q.Enqueue(ctx, KindBill, "B-down", doc("B-down"))
			if err != nil {
				t.Fatal(err)
			}
			waitStored(t, q, id, "failed attempt", func(j amigo.PrintJob) bool {
				return j.Failures >= 3 && j.State == amigo.PrintQueued && strings.Contains(j.LastError, "connect")
			})
			srv.Start()
			printedOnce(id, "B-down")

			// The printer refuses jobs.
			srv.Admin("cupsreject", "amigo-pdf")
			id, err = q.Enqueue(ctx, KindBill, "B-reject", doc("B-reject"))
			if err != nil {
				t.Fatal(err)
			}
			waitStored(t, q, id, "refused attempt", func(j amigo.PrintJob) bool {
				return j.Failures >= 2 && j.State == amigo.PrintQueued && strings.Contains(j.LastError, "0x0506")
			})
			srv.Admin("cupsaccept", "amigo-pdf")
			printedOnce(id, "B-reject")

			// The printer paused: CUPS holds the job, amigo follows it.
			srv.Admin("cupsdisable", "amigo-pdf")
			id, err = q.Enqueue(ctx, KindReceipt, "P-paused", doc("P-paused"))
			if err != nil {
				t.Fatal(err)
			}
			waitState(t, q, id, amigo.PrintSent)
			srv.Admin("cupsenable", "amigo-pdf")
			printedOnce(id, "P-paused")

			// A crash after Print-Job, before the job id was noted: the
			// attempt is stored, the job is on the printer.
			cancel()
			<-running
			id, err = q.Enqueue(context.Background(), KindBill, "B-crash", doc("B-crash"))
			if err != nil {
				t.Fatal(err)
			}
			j, err := q.Job(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			j.Attempts = 1
			if err := st.UpdatePrintJob(context.Background(), j); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PrintJob(context.Background(), srv.URI(), q.JobName(id), j.PDF); err != nil {
				t.Fatal(err)
			}
			ctx2, cancel2 := context.WithCancel(context.Background())
			stop = func() { cancel2() }
			go func() { running <- q.Run(ctx2) }()
			printedOnce(id, "B-crash")
			if j, _ := q.Job(ctx2, id); j.Attempts != 1 {
				t.Errorf("the crashed job was sent again: attempts %d", j.Attempts)
			}
		})
	}
}
