-- +goose Up
-- A collector's archive revision: every change to the meters behind it
-- (one added, removed, moved, re-keyed, swapped, its ratios changed) counts
-- it up, whoever makes the change (the API, an import, the CLI, SQL by
-- hand). Each station keeps a collector's meters in memory while the
-- revision stays, instead of listing them again every collection interval.
-- A meter's status, since, reason and relay are not the archive: the
-- stations' own status writes do not count. Inserts and deletes count
-- once per statement and collector (an import of 100,000 meters updates
-- each collector once); an update of the archive's columns once per row.
ALTER TABLE collectors ADD COLUMN archive_rev BIGINT NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE FUNCTION meters_archive_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE collectors SET archive_rev = archive_rev + 1 WHERE id IN (SELECT collector_id FROM new_rows WHERE collector_id <> 0);
  ELSE
    UPDATE collectors SET archive_rev = archive_rev + 1 WHERE id IN (SELECT collector_id FROM old_rows WHERE collector_id <> 0);
  END IF;
  RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION meters_archive_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE collectors SET archive_rev = archive_rev + 1 WHERE id IN (OLD.collector_id, NEW.collector_id);
  RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER meters_archive_insert AFTER INSERT ON meters REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION meters_archive_rows();
CREATE TRIGGER meters_archive_delete AFTER DELETE ON meters REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION meters_archive_rows();
CREATE TRIGGER meters_archive_update AFTER UPDATE OF site_id, address, protocol, phases, ct_ratio, pt_ratio, area_id,
  collector_id, port, pn, direct, password, operator, rated_amps, account_id, installed_at, removed_at, imei, reg_secret ON meters
  FOR EACH ROW EXECUTE FUNCTION meters_archive_row();

-- +goose Down
DROP TRIGGER meters_archive_update ON meters;
DROP TRIGGER meters_archive_delete ON meters;
DROP TRIGGER meters_archive_insert ON meters;
DROP FUNCTION meters_archive_row();
DROP FUNCTION meters_archive_rows();
ALTER TABLE collectors DROP COLUMN archive_rev;
