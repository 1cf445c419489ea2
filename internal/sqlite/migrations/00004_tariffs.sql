-- +goose Up
-- Tariff versions (电价): the JSON document as loaded, by name and the first
-- site-local day it is in force. A version is never changed or deleted:
-- bills record the version they used.
CREATE TABLE tariffs (
  name       TEXT NOT NULL,
  valid_from TEXT NOT NULL, -- YYYY-MM-DD
  document   TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  PRIMARY KEY (name, valid_from)
);
CREATE TRIGGER tariffs_no_update BEFORE UPDATE ON tariffs BEGIN SELECT RAISE(ABORT, 'tariff versions are immutable'); END;
CREATE TRIGGER tariffs_no_delete BEFORE DELETE ON tariffs BEGIN SELECT RAISE(ABORT, 'tariff versions are immutable'); END;
