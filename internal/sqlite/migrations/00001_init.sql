-- +goose Up
CREATE TABLE sites (id INTEGER PRIMARY KEY, name TEXT NOT NULL, time_zone TEXT NOT NULL);
CREATE TABLE areas (id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL REFERENCES sites (id), name TEXT NOT NULL,
  supply_meter_id INTEGER NOT NULL DEFAULT 0, loss_low REAL NOT NULL, loss_high REAL NOT NULL);
CREATE TABLE collectors (id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL REFERENCES sites (id), name TEXT NOT NULL,
  address TEXT NOT NULL UNIQUE, plain_tcp INTEGER NOT NULL, status TEXT NOT NULL, since INTEGER NOT NULL,
  reason TEXT NOT NULL, last_seen INTEGER NOT NULL);
CREATE TABLE meters (id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL REFERENCES sites (id), address TEXT NOT NULL,
  protocol TEXT NOT NULL, phases INTEGER NOT NULL, ct_ratio INTEGER NOT NULL, pt_ratio INTEGER NOT NULL,
  area_id INTEGER NOT NULL, collector_id INTEGER NOT NULL, port INTEGER NOT NULL, pn INTEGER NOT NULL,
  direct INTEGER NOT NULL, password TEXT NOT NULL, operator TEXT NOT NULL, rated_amps INTEGER NOT NULL,
  account_id INTEGER NOT NULL, installed_at INTEGER NOT NULL, removed_at INTEGER NOT NULL, status TEXT NOT NULL,
  since INTEGER NOT NULL, reason TEXT NOT NULL, relay TEXT NOT NULL);
CREATE UNIQUE INDEX meters_active_address ON meters (address) WHERE removed_at = 0;
CREATE INDEX meters_collector ON meters (collector_id);
-- Readings are clustered in arrival order (rowid); the unique key makes
-- writes idempotent.
CREATE TABLE readings (meter_id INTEGER NOT NULL, t INTEGER NOT NULL, kind TEXT NOT NULL,
  f0 INTEGER NOT NULL, f1 INTEGER NOT NULL, f2 INTEGER NOT NULL, f3 INTEGER NOT NULL, f4 INTEGER NOT NULL, has_fwd INTEGER NOT NULL,
  r0 INTEGER NOT NULL, r1 INTEGER NOT NULL, r2 INTEGER NOT NULL, r3 INTEGER NOT NULL, r4 INTEGER NOT NULL, has_rev INTEGER NOT NULL,
  power_w INTEGER, voltage_dv INTEGER, quality TEXT NOT NULL, edited_by TEXT NOT NULL, edit_reason TEXT NOT NULL,
  flags INTEGER NOT NULL, source TEXT NOT NULL, received_at INTEGER NOT NULL);
CREATE UNIQUE INDEX readings_key ON readings (meter_id, kind, t);
CREATE TABLE events (id INTEGER PRIMARY KEY, t INTEGER NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
  site_id INTEGER NOT NULL, area_id INTEGER NOT NULL, collector_id INTEGER NOT NULL, meter_id INTEGER NOT NULL,
  message TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX events_meter ON events (meter_id, id);
CREATE TABLE commands (id INTEGER PRIMARY KEY, meter_id INTEGER NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL,
  reason TEXT NOT NULL, result TEXT NOT NULL, requested_by TEXT NOT NULL, created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL, attempts INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX commands_due ON commands (status, next_attempt_at);
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, phone TEXT NOT NULL);
CREATE TABLE accounts (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id), prepaid INTEGER NOT NULL, balance_fen INTEGER NOT NULL);
CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, role TEXT NOT NULL, customer_id INTEGER NOT NULL);
CREATE TABLE audit (id INTEGER PRIMARY KEY, t INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL, detail TEXT NOT NULL);
-- The audit log is append-only.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
