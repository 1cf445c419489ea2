-- +goose Up
-- Retirement (档案注销): a retired row stays for history and is hidden from
-- the working lists; 0 means in service.
ALTER TABLE sites ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE areas ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE collectors ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;
-- A collector on a GPRS/plain link may register with a secret.
ALTER TABLE collectors ADD COLUMN reg_secret TEXT NOT NULL DEFAULT '';
-- Direct GPRS meters: the modem's IMEI and the per-meter registration secret.
ALTER TABLE meters ADD COLUMN imei TEXT NOT NULL DEFAULT '';
ALTER TABLE meters ADD COLUMN reg_secret TEXT NOT NULL DEFAULT '';
-- Users: retirement ends their tokens; token_gen is raised by logout,
-- password change and retirement, and every token carries the generation
-- it was issued under.
ALTER TABLE users ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN token_gen INTEGER NOT NULL DEFAULT 0;
-- The station's durable working state (what was already reported, where a
-- fetch stopped): key -> value, so that a restart raises nothing twice.
CREATE TABLE station_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, t INTEGER NOT NULL);
