package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

const printJobCols = `id, kind, ref_id, printer, pdf, state, attempts, failures, next_try, ipp_job, last_error, created, printed`

// AddPrintJob stores a queued print job, or, when a job of the same kind
// and reference exists, returns that one's id with created false.
func (s *DB) AddPrintJob(ctx context.Context, j amigo.PrintJob) (int64, bool, error) {
	var id int64
	err := s.x.QueryRowContext(ctx, s.q(`INSERT INTO print_jobs (kind, ref_id, printer, pdf, state, attempts, next_try, ipp_job, last_error, created, printed)
		VALUES (?, ?, ?, ?, ?, 0, ?, 0, '', ?, 0) ON CONFLICT (kind, ref_id) DO NOTHING RETURNING id`),
		j.Kind, j.RefID, j.Printer, j.PDF, amigo.PrintQueued, j.NextTry.UnixMilli(), unix(j.Created)).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, internal("add print job", err)
	}
	err = s.x.QueryRowContext(ctx, s.q(`SELECT id FROM print_jobs WHERE kind = ? AND ref_id = ?`), j.Kind, j.RefID).Scan(&id)
	if err != nil {
		return 0, false, internal("add print job", err)
	}
	return id, false, nil
}

// PrintJob returns one print job. Returns ENOTFOUND if there is none.
func (s *DB) PrintJob(ctx context.Context, id int64) (amigo.PrintJob, error) {
	j, err := scanPrintJob(s.x.QueryRowContext(ctx, s.q(`SELECT `+printJobCols+` FROM print_jobs WHERE id = ?`), id))
	if err != nil {
		return j, notFound("print job", "print job / 打印任务", err)
	}
	return j, nil
}

// DuePrintJobs returns up to limit jobs queued or sent whose next try is
// at or before now, the earliest first.
func (s *DB) DuePrintJobs(ctx context.Context, now time.Time, limit int) ([]amigo.PrintJob, error) {
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT `+printJobCols+` FROM print_jobs
		WHERE state IN (?, ?) AND next_try <= ? ORDER BY next_try, id LIMIT ?`),
		amigo.PrintQueued, amigo.PrintSent, now.UnixMilli(), limit)
	if err != nil {
		return nil, internal("due print jobs", err)
	}
	defer rows.Close()
	var out []amigo.PrintJob
	for rows.Next() {
		j, err := scanPrintJob(rows)
		if err != nil {
			return nil, internal("due print jobs", err)
		}
		out = append(out, j)
	}
	return out, internal("due print jobs", rows.Err())
}

// NextPrintJobTry returns the earliest next try of a job queued or sent,
// and false when there is none.
func (s *DB) NextPrintJobTry(ctx context.Context) (time.Time, bool, error) {
	var ms sql.NullInt64
	err := s.x.QueryRowContext(ctx, s.q(`SELECT MIN(next_try) FROM print_jobs WHERE state IN (?, ?)`), amigo.PrintQueued, amigo.PrintSent).Scan(&ms)
	if err != nil {
		return time.Time{}, false, internal("next print job", err)
	}
	if !ms.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(ms.Int64).UTC(), true, nil
}

// UpdatePrintJob writes a job's progress: printer, state, attempts, next try, IPP
// job id, last error and printed time. Returns ENOTFOUND for an unknown id.
func (s *DB) UpdatePrintJob(ctx context.Context, j amigo.PrintJob) error {
	res, err := s.x.ExecContext(ctx, s.q(`UPDATE print_jobs SET printer = ?, state = ?, attempts = ?, failures = ?, next_try = ?, ipp_job = ?, last_error = ?, printed = ? WHERE id = ?`),
		j.Printer, j.State, j.Attempts, j.Failures, j.NextTry.UnixMilli(), j.IPPJobID, j.LastError, unix(j.Printed), j.ID)
	if err != nil {
		return internal("update print job", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return internal("update print job", err)
	} else if n == 0 {
		return amigo.Errorf(amigo.ENOTFOUND, "update print job", "print job %d not found / 未找到打印任务", j.ID)
	}
	return nil
}

// ClaimPrintAttempt counts one more Print-Job attempt of a queued job and
// sets its next try, only if the job is still queued with attempts
// attempts: of several nodes (or runners) that saw the job due, exactly one
// sends it. It reports whether this caller won.
func (s *DB) ClaimPrintAttempt(ctx context.Context, id int64, attempts int, next time.Time) (bool, error) {
	res, err := s.x.ExecContext(ctx, s.q(`UPDATE print_jobs SET attempts = attempts + 1, next_try = ? WHERE id = ? AND attempts = ? AND state = ?`),
		next.UnixMilli(), id, attempts, amigo.PrintQueued)
	if err != nil {
		return false, internal("claim print attempt", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, internal("claim print attempt", err)
	}
	return n == 1, nil
}

// ListPrintJobs returns up to limit jobs, newest first, of one state (all
// states when state is ""), without their PDFs.
func (s *DB) ListPrintJobs(ctx context.Context, state string, limit int) ([]amigo.PrintJob, error) {
	cols := strings.Replace(printJobCols, "pdf,", "'' AS pdf,", 1)
	rows, err := s.x.QueryContext(ctx, s.q(`SELECT `+cols+` FROM print_jobs WHERE (? = '' OR state = ?) ORDER BY id DESC LIMIT ?`), state, state, limit)
	if err != nil {
		return nil, internal("list print jobs", err)
	}
	defer rows.Close()
	var out []amigo.PrintJob
	for rows.Next() {
		var pdf string
		var j amigo.PrintJob
		var next, created, printed int64
		if err := rows.Scan(&j.ID, &j.Kind, &j.RefID, &j.Printer, &pdf, &j.State, &j.Attempts, &j.Failures, &next, &j.IPPJobID, &j.LastError, &created, &printed); err != nil {
			return nil, internal("list print jobs", err)
		}
		j.NextTry, j.Created, j.Printed = time.UnixMilli(next).UTC(), fromUnix(created), fromUnix(printed)
		out = append(out, j)
	}
	return out, internal("list print jobs", rows.Err())
}

// ForgetPrintedPDFs empties the PDF of every job printed before t (the row
// stays, as the record that it was printed) and returns how many it emptied.
func (s *DB) ForgetPrintedPDFs(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.x.ExecContext(ctx, s.q(`UPDATE print_jobs SET pdf = ? WHERE state = ? AND printed < ? AND printed > 0 AND length(pdf) > 0`),
		[]byte{}, amigo.PrintPrinted, unix(before))
	if err != nil {
		return 0, internal("forget printed PDFs", err)
	}
	n, err := res.RowsAffected()
	return n, internal("forget printed PDFs", err)
}

type rowScanner interface{ Scan(dest ...any) error }

func scanPrintJob(r rowScanner) (amigo.PrintJob, error) {
	var j amigo.PrintJob
	var next, created, printed int64
	err := r.Scan(&j.ID, &j.Kind, &j.RefID, &j.Printer, &j.PDF, &j.State, &j.Attempts, &j.Failures, &next, &j.IPPJobID, &j.LastError, &created, &printed)
	j.NextTry = time.UnixMilli(next).UTC()
	j.Created = fromUnix(created)
	j.Printed = fromUnix(printed)
	return j, err
}
