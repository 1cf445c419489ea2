-- +goose Up
-- Postpaid bills and credit notes (docs/billing.md). (account_id, cycle,
-- kind, revision) is unique: a billing run run again never issues a second
-- bill. An issued bill is immutable (a correction is a credit note plus a
-- reissue); a held bill is replaced when it is priced again. body holds the
-- lines, flags and tariff versions as JSON.
CREATE TABLE bills (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, number TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
  account_id BIGINT NOT NULL, account_number TEXT NOT NULL, customer_name TEXT NOT NULL, site_id BIGINT NOT NULL,
  cycle TEXT NOT NULL, revision INTEGER NOT NULL, period_start BIGINT NOT NULL, period_end BIGINT NOT NULL,
  kwh BIGINT NOT NULL, total_fen BIGINT NOT NULL, due_date TEXT NOT NULL, from_totals INTEGER NOT NULL,
  corrects BIGINT NOT NULL, reason TEXT NOT NULL, run_id BIGINT NOT NULL, issued_at BIGINT NOT NULL,
  created_by TEXT NOT NULL, body TEXT NOT NULL);
CREATE UNIQUE INDEX bills_key ON bills (account_id, cycle, kind, revision);
CREATE INDEX bills_site_cycle ON bills (site_id, cycle);
CREATE INDEX bills_number ON bills (number);
-- +goose StatementBegin
CREATE FUNCTION bills_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'bills are never deleted';
  END IF;
  IF OLD.status = 'issued' THEN
    RAISE EXCEPTION 'issued bills are immutable';
  END IF;
  RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER bills_guard BEFORE UPDATE OR DELETE ON bills FOR EACH ROW EXECUTE FUNCTION bills_guard();
-- A billing run of a site's cycle; cursor is the last account id written.
-- One unfinished run per site and cycle.
CREATE TABLE billing_runs (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, site_id BIGINT NOT NULL, cycle TEXT NOT NULL, status TEXT NOT NULL,
  total INTEGER NOT NULL, done INTEGER NOT NULL, issued INTEGER NOT NULL, held INTEGER NOT NULL, skipped INTEGER NOT NULL, not_due INTEGER NOT NULL,
  total_fen BIGINT NOT NULL, cursor BIGINT NOT NULL, started_by TEXT NOT NULL, started_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL, finished_at BIGINT NOT NULL);
CREATE UNIQUE INDEX billing_runs_open ON billing_runs (site_id, cycle) WHERE status = 'running';
