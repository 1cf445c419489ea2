-- +goose Up
CREATE TABLE sites (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL, time_zone TEXT NOT NULL);
CREATE TABLE areas (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, site_id BIGINT NOT NULL REFERENCES sites (id), name TEXT NOT NULL,
  supply_meter_id BIGINT NOT NULL DEFAULT 0, loss_low DOUBLE PRECISION NOT NULL, loss_high DOUBLE PRECISION NOT NULL);
CREATE TABLE collectors (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, site_id BIGINT NOT NULL REFERENCES sites (id), name TEXT NOT NULL,
  address TEXT NOT NULL UNIQUE, plain_tcp INTEGER NOT NULL, status TEXT NOT NULL, since BIGINT NOT NULL,
  reason TEXT NOT NULL, last_seen BIGINT NOT NULL);
CREATE TABLE meters (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, site_id BIGINT NOT NULL REFERENCES sites (id), address TEXT NOT NULL,
  protocol TEXT NOT NULL, phases INTEGER NOT NULL, ct_ratio INTEGER NOT NULL, pt_ratio INTEGER NOT NULL,
  area_id BIGINT NOT NULL, collector_id BIGINT NOT NULL, port INTEGER NOT NULL, pn INTEGER NOT NULL,
  direct INTEGER NOT NULL, password TEXT NOT NULL, operator TEXT NOT NULL, rated_amps INTEGER NOT NULL,
  account_id BIGINT NOT NULL, installed_at BIGINT NOT NULL, removed_at BIGINT NOT NULL, status TEXT NOT NULL,
  since BIGINT NOT NULL, reason TEXT NOT NULL, relay TEXT NOT NULL);
CREATE UNIQUE INDEX meters_active_address ON meters (address) WHERE removed_at = 0;
CREATE INDEX meters_collector ON meters (collector_id);
-- Readings are partitioned by time (Unix seconds), one partition a month,
-- created ahead of the writes that need them; the default partition takes
-- anything else so that no write ever fails for want of one.
CREATE TABLE readings (meter_id BIGINT NOT NULL, t BIGINT NOT NULL, kind TEXT NOT NULL,
  f0 BIGINT NOT NULL, f1 BIGINT NOT NULL, f2 BIGINT NOT NULL, f3 BIGINT NOT NULL, f4 BIGINT NOT NULL, has_fwd INTEGER NOT NULL,
  r0 BIGINT NOT NULL, r1 BIGINT NOT NULL, r2 BIGINT NOT NULL, r3 BIGINT NOT NULL, r4 BIGINT NOT NULL, has_rev INTEGER NOT NULL,
  power_w BIGINT, voltage_dv BIGINT, quality TEXT NOT NULL, edited_by TEXT NOT NULL, edit_reason TEXT NOT NULL,
  flags INTEGER NOT NULL, source TEXT NOT NULL, received_at BIGINT NOT NULL,
  PRIMARY KEY (meter_id, kind, t)) PARTITION BY RANGE (t);
CREATE TABLE readings_default PARTITION OF readings DEFAULT;
CREATE TABLE events (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, t BIGINT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
  site_id BIGINT NOT NULL, area_id BIGINT NOT NULL, collector_id BIGINT NOT NULL, meter_id BIGINT NOT NULL,
  message TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX events_meter ON events (meter_id, id);
CREATE TABLE commands (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, meter_id BIGINT NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL,
  reason TEXT NOT NULL, result TEXT NOT NULL, requested_by TEXT NOT NULL, created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL, attempts INTEGER NOT NULL, next_attempt_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX commands_due ON commands (status, next_attempt_at);
CREATE TABLE customers (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL, phone TEXT NOT NULL);
CREATE TABLE accounts (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id BIGINT NOT NULL REFERENCES customers (id), prepaid INTEGER NOT NULL, balance_fen BIGINT NOT NULL);
CREATE TABLE users (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, role TEXT NOT NULL, customer_id BIGINT NOT NULL);
CREATE TABLE audit (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, t BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL, detail TEXT NOT NULL);
-- +goose StatementBegin
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit log is append-only';
END $$;
-- +goose StatementEnd
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
