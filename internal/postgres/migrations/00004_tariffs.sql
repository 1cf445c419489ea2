-- +goose Up
-- Tariff versions (电价): the JSON document as loaded, by name and the first
-- site-local day it is in force. A version is never changed or deleted:
-- bills record the version they used.
CREATE TABLE tariffs (
  name       TEXT NOT NULL,
  valid_from TEXT NOT NULL, -- YYYY-MM-DD
  document   TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  created_by TEXT NOT NULL,
  PRIMARY KEY (name, valid_from)
);
-- +goose StatementBegin
CREATE FUNCTION tariffs_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tariff versions are immutable';
END $$;
-- +goose StatementEnd
CREATE TRIGGER tariffs_no_change BEFORE UPDATE OR DELETE ON tariffs FOR EACH ROW EXECUTE FUNCTION tariffs_immutable();
