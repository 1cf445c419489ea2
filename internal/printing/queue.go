package printing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/ipp"
)

// Store is what the queue keeps its jobs in (internal/sqlstore implements
// it on SQLite and PostgreSQL).
type Store interface {
	AddPrintJob(ctx context.Context, j amigo.PrintJob) (id int64, created bool, err error)
	PrintJob(ctx context.Context, id int64) (amigo.PrintJob, error)
	DuePrintJobs(ctx context.Context, now time.Time, limit int) ([]amigo.PrintJob, error)
	NextPrintJobTry(ctx context.Context) (time.Time, bool, error)
	UpdatePrintJob(ctx context.Context, j amigo.PrintJob) error
	ClaimPrintAttempt(ctx context.Context, id int64, attempts int, next time.Time) (bool, error)
	ListPrintJobs(ctx context.Context, state string, limit int) ([]amigo.PrintJob, error)
	ForgetPrintedPDFs(ctx context.Context, before time.Time) (int64, error)
}

// txStore is a Store that can run many changes as one transaction
// (internal/sqlstore's DB): EnqueueAll uses it when there.
type txStore interface {
	WithTx(ctx context.Context, fn func(tx amigo.Store) error) error
}

// QueueConfig configures a Queue. Zero values take the defaults.
type QueueConfig struct {
	Printer    string        // ipp://host:631/printers/name (config key "printer"); required
	JobPrefix  string        // IPP job names are JobPrefix-<id>; "amigo-job"
	MinBackoff time.Duration // first retry after a failure; 2 s
	MaxBackoff time.Duration // retries are at most this far apart; 5 min
	Poll       time.Duration // how often a sent job's state is asked; 2 s
	// AttemptTimeout is how long a Print-Job may take before another
	// runner (another node, or this one after a crash) looks for the job
	// on the printer and sends it if it is not there; 90 s, more than
	// the default client's 60 s HTTP timeout.
	AttemptTimeout time.Duration
	// KeepPDFs is how long a printed job keeps its PDF (the row stays);
	// 30 days.
	KeepPDFs time.Duration
	Client   *Client // nil: a default Client
	Now      func() time.Time
	Log      *slog.Logger
}

// Queue is amigo's durable print queue. Enqueue stores a job before
// anything is sent; Run sends stored jobs to the printer, retries with
// backoff while the printer or CUPS is down, and follows each job until
// the printer says it completed. A job is never printed twice: its IPP
// job name carries its id, and before a job that may have been sent is
// sent again the printer's jobs are searched for that name.
type Queue struct {
	st   Store
	cfg  QueueConfig
	wake chan struct{}
	// changed is closed (and replaced) whenever this queue writes a job:
	// Wait's event.
	mu      sync.Mutex
	changed chan struct{}
}

// NewQueue checks cfg and returns a queue on st.
func NewQueue(st Store, cfg QueueConfig) (*Queue, error) {
	if _, err := httpURL(cfg.Printer); err != nil {
		return nil, fmt.Errorf("配置项 printer / config key printer: %w", err)
	}
	if cfg.JobPrefix == "" {
		cfg.JobPrefix = "amigo-job"
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 2 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Minute, cfg.MinBackoff)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 90 * time.Second
	}
	if cfg.KeepPDFs <= 0 {
		cfg.KeepPDFs = 30 * 24 * time.Hour
	}
	if cfg.Client == nil {
		cfg.Client = &Client{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Queue{st: st, cfg: cfg, wake: make(chan struct{}, 1), changed: make(chan struct{})}, nil
}

// changes returns the channel closed at this queue's next write of a job.
func (q *Queue) changes() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.changed
}

// notify wakes every Wait: a job was written.
func (q *Queue) notify() {
	q.mu.Lock()
	close(q.changed)
	q.changed = make(chan struct{})
	q.mu.Unlock()
}

// update writes a job and tells the waiters.
func (q *Queue) update(ctx context.Context, j amigo.PrintJob) error {
	err := q.st.UpdatePrintJob(ctx, j)
	q.notify()
	return err
}

// Wait returns job id once ok holds for it, looking again each time this
// queue writes a job (an attempt, a failure, a state); ctx bounds the
// wait. A job written by another queue (another process) is seen at this
// queue's next write, so Wait is for the queue that runs the job.
func (q *Queue) Wait(ctx context.Context, id int64, ok func(amigo.PrintJob) bool) (amigo.PrintJob, error) {
	for {
		ch := q.changes() // before the read: a write after it is not missed
		j, err := q.st.PrintJob(ctx, id)
		if err != nil {
			return j, err
		}
		if ok(j) {
			return j, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return j, fmt.Errorf("print job %d: %w", id, ctx.Err())
		}
	}
}

// Job kinds.
const (
	KindBill    = "bill"
	KindReceipt = "receipt"
)

const maxPDF = 32 << 20

// Enqueue stores a PDF to print and returns its job id once it is durable.
// The same kind and refID enqueued again returns the first job's id and
// prints nothing more (a billing run restarted after a crash prints each
// bill once); to print a copy, give the copy its own refID.
func (q *Queue) Enqueue(ctx context.Context, kind, refID string, pdf []byte) (int64, error) {
	if err := checkJob(kind, refID, pdf); err != nil {
		return 0, err
	}
	now := q.cfg.Now()
	id, created, err := q.st.AddPrintJob(ctx, amigo.PrintJob{Kind: kind, RefID: refID, Printer: q.cfg.Printer, PDF: pdf, NextTry: now, Created: now})
	if err != nil {
		return 0, fmt.Errorf("打印任务未保存 / print job not stored: %w", err)
	}
	if created {
		q.cfg.Log.Info("print job queued", "job", id, "kind", kind, "ref", refID, "bytes", len(pdf))
		q.Wake()
	}
	return id, nil
}

// Doc is one document of a batch: its reference and its PDF.
type Doc struct {
	RefID string
	PDF   []byte
}

// maxBatch bounds one EnqueueAll.
const maxBatch = 10000

// EnqueueAll stores a batch of documents of one kind (a billing run's
// bills) in one transaction — all or none — and returns their job ids in
// order; they print in that order. A document already queued keeps its job,
// as with Enqueue.
func (q *Queue) EnqueueAll(ctx context.Context, kind string, docs []Doc) ([]int64, error) {
	if len(docs) > maxBatch {
		return nil, fieldErr("docs", fmt.Sprintf("超过 %d 份", maxBatch), fmt.Sprintf("has more than %d documents", maxBatch))
	}
	for i, d := range docs {
		if err := checkJob(kind, d.RefID, d.PDF); err != nil {
			return nil, fmt.Errorf("docs[%d]: %w", i, err)
		}
	}
	ids := make([]int64, len(docs))
	created := 0
	add := func(st Store) error {
		created = 0
		now := q.cfg.Now()
		for i, d := range docs {
			id, c, err := st.AddPrintJob(ctx, amigo.PrintJob{Kind: kind, RefID: d.RefID, Printer: q.cfg.Printer, PDF: d.PDF, NextTry: now, Created: now})
			if err != nil {
				return fmt.Errorf("打印任务未保存 / print job for %s not stored: %w", d.RefID, err)
			}
			ids[i] = id
			if c {
				created++
			}
		}
		return nil
	}
	var err error
	if tx, ok := q.st.(txStore); ok {
		err = tx.WithTx(ctx, func(t amigo.Store) error {
			st, ok := t.(Store)
			if !ok {
				return fmt.Errorf("store %T keeps no print jobs / 存储不支持打印队列", t)
			}
			return add(st)
		})
	} else {
		err = add(q.st)
	}
	if err != nil {
		return nil, err
	}
	q.cfg.Log.Info("print jobs queued", "kind", kind, "documents", len(docs), "new", created)
	if created > 0 {
		q.Wake()
	}
	return ids, nil
}

// checkJob says which field of a job is wrong.
func checkJob(kind, refID string, pdf []byte) error {
	switch {
	case kind == "" || len(kind) > 32:
		return fieldErr("kind", "须为 1–32 个字符", "must be 1–32 characters")
	case strings.TrimSpace(refID) == "" || len(refID) > 200:
		return fieldErr("ref_id", "须为 1–200 个字符", "must be 1–200 characters")
	case len(pdf) < 5 || string(pdf[:5]) != "%PDF-":
		return fieldErr("pdf", "不是 PDF 文档", "is not a PDF document")
	case len(pdf) > maxPDF:
		return fieldErr("pdf", fmt.Sprintf("超过 %d 字节", maxPDF), fmt.Sprintf("is larger than %d bytes", maxPDF))
	}
	return nil
}

// Wake makes Run look at the queue now.
func (q *Queue) Wake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// JobName is the IPP job name of a job: JobPrefix-<id>.
func (q *Queue) JobName(id int64) string { return fmt.Sprintf("%s-%d", q.cfg.JobPrefix, id) }

// Run works the queue until ctx ends: due jobs are sent or followed, then
// it waits for the next due time or a Wake.
func (q *Queue) Run(ctx context.Context) error {
	var forgot time.Time
	for {
		failed := false
		if err := q.RunOnce(ctx); err != nil && ctx.Err() == nil {
			q.cfg.Log.Error("print queue", "err", err)
			failed = true
		}
		if now := q.cfg.Now(); now.Sub(forgot) >= time.Hour {
			forgot = now
			if n, err := q.st.ForgetPrintedPDFs(ctx, now.Add(-q.cfg.KeepPDFs)); err != nil && ctx.Err() == nil {
				q.cfg.Log.Error("print queue: forgetting printed PDFs", "err", err)
			} else if n > 0 {
				q.cfg.Log.Info("print queue: PDFs of printed jobs forgotten", "jobs", n, "printed_before", now.Add(-q.cfg.KeepPDFs))
			}
		}
		wait := q.cfg.MaxBackoff
		if next, ok, err := q.st.NextPrintJobTry(ctx); err == nil && ok {
			wait = min(wait, max(next.Sub(q.cfg.Now()), 0))
		}
		if failed { // the store failed: do not spin on a job it could not update
			wait = max(wait, q.cfg.MinBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-q.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// RunOnce handles every job due now.
func (q *Queue) RunOnce(ctx context.Context) error {
	jobs, err := q.st.DuePrintJobs(ctx, q.cfg.Now(), 100)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := q.step(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

// backoff is MinBackoff doubled per consecutive failure, at most MaxBackoff.
func (q *Queue) backoff(failures int) time.Duration {
	d := q.cfg.MinBackoff
	for i := 1; i < failures && d < q.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.cfg.MaxBackoff)
}

// step moves one job on. Only a store error is returned: a printer error
// is recorded on the job, which is tried again later.
func (q *Queue) step(ctx context.Context, j amigo.PrintJob) error {
	c := q.cfg.Client
	name := q.JobName(j.ID)
	if j.State == amigo.PrintQueued && j.Attempts > 0 {
		// It may have been sent by an attempt whose answer was lost (a
		// crash, a timeout): look for it before sending it again.
		found, ok, err := c.FindJob(ctx, j.Printer, name)
		if err != nil {
			return q.failed(ctx, j, err)
		}
		if ok {
			q.cfg.Log.Info("print job found on the printer, not sent again", "job", j.ID, "ipp_job", found.ID)
			j.State, j.IPPJobID, j.LastError, j.Failures = amigo.PrintSent, found.ID, "", 0
			return q.follow(ctx, j, found)
		}
	}
	if j.State == amigo.PrintQueued {
		if j.Attempts == 0 && j.Printer != q.cfg.Printer {
			// Never sent: it goes to the printer configured now (the
			// claim below does not record it, so write it first).
			j.Printer = q.cfg.Printer
			if err := q.update(ctx, j); err != nil {
				return err
			}
		}
		// The attempt is durable before it is made, and claimed: of
		// several runners that saw the job due, one sends it.
		next := q.cfg.Now().Add(q.cfg.AttemptTimeout)
		won, err := q.st.ClaimPrintAttempt(ctx, j.ID, j.Attempts, next)
		q.notify()
		if err != nil || !won {
			return err
		}
		j.Attempts++
		j.NextTry = next
		id, err := c.PrintJob(ctx, j.Printer, name, j.PDF)
		if err != nil {
			return q.failed(ctx, j, err)
		}
		q.cfg.Log.Info("print job sent", "job", j.ID, "ipp_job", id, "printer", j.Printer)
		j.State, j.IPPJobID, j.LastError, j.Failures = amigo.PrintSent, id, "", 0
		j.NextTry = q.cfg.Now()
		if err := q.update(ctx, j); err != nil {
			return err
		}
	}
	st, err := c.Job(ctx, j.Printer, j.IPPJobID)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.Code == ipp.StatusNotFound {
			// The printer forgot the job (a restart without history):
			// look for it by name, send it again only if it is not there.
			j.State = amigo.PrintQueued
			j.NextTry = q.cfg.Now()
			j.LastError = err.Error()
			return q.update(ctx, j)
		}
		return q.failed(ctx, j, err)
	}
	return q.follow(ctx, j, st)
}

// follow records a sent job's state on the printer.
func (q *Queue) follow(ctx context.Context, j amigo.PrintJob, st JobStatus) error {
	now := q.cfg.Now()
	j.Failures = 0
	switch st.State {
	case ipp.JobCompleted:
		j.State, j.Printed, j.LastError = amigo.PrintPrinted, now, ""
		q.cfg.Log.Info("print job printed", "job", j.ID, "ipp_job", st.ID)
	case ipp.JobCanceled, ipp.JobAborted:
		j.State = amigo.PrintFailed
		j.LastError = fmt.Sprintf("打印机上的任务 %d 已%s / job %d on the printer was %s (%s)", st.ID, map[int]string{ipp.JobCanceled: "取消", ipp.JobAborted: "中止"}[st.State],
			st.ID, map[int]string{ipp.JobCanceled: "canceled", ipp.JobAborted: "aborted"}[st.State], strings.Join(st.Reasons, ", "))
		q.cfg.Log.Warn("print job failed on the printer", "job", j.ID, "ipp_job", st.ID, "reasons", st.Reasons)
	default:
		j.NextTry = now.Add(q.cfg.Poll)
	}
	return q.update(ctx, j)
}

// failed records a printer error and when to try again.
func (q *Queue) failed(ctx context.Context, j amigo.PrintJob, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	j.LastError = err.Error()
	j.Failures++
	j.NextTry = q.cfg.Now().Add(q.backoff(j.Failures))
	q.cfg.Log.Warn("print job not sent, will retry", "job", j.ID, "failures", j.Failures, "retry_at", j.NextTry, "err", err)
	return q.update(ctx, j)
}

// List returns up to limit jobs, newest first, of one state ("" for all),
// without their PDFs.
func (q *Queue) List(ctx context.Context, state string, limit int) ([]amigo.PrintJob, error) {
	switch state {
	case "", amigo.PrintQueued, amigo.PrintSent, amigo.PrintPrinted, amigo.PrintFailed:
	default:
		return nil, fieldErr("state", "须为 queued、sent、printed 或 failed", "must be queued, sent, printed or failed")
	}
	return q.st.ListPrintJobs(ctx, state, min(max(limit, 1), 1000))
}

// Job returns a stored job.
func (q *Queue) Job(ctx context.Context, id int64) (amigo.PrintJob, error) {
	return q.st.PrintJob(ctx, id)
}
