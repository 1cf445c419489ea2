-- +goose Up
-- The durable print queue (internal/printing): a job is stored before it is
-- sent; (kind, ref_id) is unique so that enqueuing a bill twice prints it
-- once. next_try is Unix milliseconds; created and printed Unix seconds.
CREATE TABLE print_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    printer TEXT NOT NULL,
    pdf BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    next_try INTEGER NOT NULL,
    ipp_job INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created INTEGER NOT NULL,
    printed INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, ref_id)
);
CREATE INDEX print_jobs_due ON print_jobs (state, next_try);

-- +goose Down
DROP TABLE print_jobs;
