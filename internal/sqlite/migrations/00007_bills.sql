-- +goose Up
-- Postpaid bills and credit notes (docs/billing.md). (account_id, cycle,
-- kind, revision) is unique: a billing run run again never issues a second
-- bill. An issued bill is immutable (a correction is a credit note plus a
-- reissue); a held bill is replaced when it is priced again. body holds the
-- lines, flags and tariff versions as JSON.
CREATE TABLE bills (id INTEGER PRIMARY KEY, number TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
  account_id INTEGER NOT NULL, account_number TEXT NOT NULL, customer_name TEXT NOT NULL, site_id INTEGER NOT NULL,
  cycle TEXT NOT NULL, revision INTEGER NOT NULL, period_start INTEGER NOT NULL, period_end INTEGER NOT NULL,
  kwh INTEGER NOT NULL, total_fen INTEGER NOT NULL, due_date TEXT NOT NULL, from_totals INTEGER NOT NULL,
  corrects INTEGER NOT NULL, reason TEXT NOT NULL, run_id INTEGER NOT NULL, issued_at INTEGER NOT NULL,
  created_by TEXT NOT NULL, body TEXT NOT NULL);
CREATE UNIQUE INDEX bills_key ON bills (account_id, cycle, kind, revision);
CREATE INDEX bills_site_cycle ON bills (site_id, cycle);
CREATE INDEX bills_number ON bills (number);
CREATE TRIGGER bills_issued_no_update BEFORE UPDATE ON bills WHEN OLD.status = 'issued' BEGIN SELECT RAISE(ABORT, 'issued bills are immutable'); END;
CREATE TRIGGER bills_no_delete BEFORE DELETE ON bills BEGIN SELECT RAISE(ABORT, 'bills are never deleted'); END;
-- A billing run of a site's cycle; cursor is the last account id written.
-- One unfinished run per site and cycle.
CREATE TABLE billing_runs (id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL, cycle TEXT NOT NULL, status TEXT NOT NULL,
  total INTEGER NOT NULL, done INTEGER NOT NULL, issued INTEGER NOT NULL, held INTEGER NOT NULL, skipped INTEGER NOT NULL, not_due INTEGER NOT NULL,
  total_fen INTEGER NOT NULL, cursor INTEGER NOT NULL, started_by TEXT NOT NULL, started_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, finished_at INTEGER NOT NULL);
CREATE UNIQUE INDEX billing_runs_open ON billing_runs (site_id, cycle) WHERE status = 'running';
