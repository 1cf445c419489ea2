-- +goose Up
-- A collector's archive revision: every change to the meters behind it
-- (one added, removed, moved, re-keyed, swapped, its ratios changed) counts
-- it up, whoever makes it (the API, an import, the CLI, SQL by hand). Each
-- station keeps a collector's meters in memory while the revision stays,
-- instead of listing them again every collection interval. A meter's
-- status, since, reason and relay are not the archive: the stations' own
-- status writes do not count.
--
-- The triggers are deferred to the commit, so that a collector's row is
-- locked only while a transaction ends, not through its whole rest: four
-- clients creating meters of the same collectors in parallel, one meter a
-- transaction (the bench's archive of 100,000 meters), took 25 s this way
-- and 26–32 s counting at once; 14–17 s without the revision
-- (docs/benchmarks.md).
ALTER TABLE collectors ADD COLUMN archive_rev BIGINT NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE FUNCTION meters_archive_rev() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE collectors SET archive_rev = archive_rev + 1 WHERE id = NEW.collector_id;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE collectors SET archive_rev = archive_rev + 1 WHERE id = OLD.collector_id;
  ELSE
    UPDATE collectors SET archive_rev = archive_rev + 1 WHERE id IN (OLD.collector_id, NEW.collector_id);
  END IF;
  RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE CONSTRAINT TRIGGER meters_archive_insert AFTER INSERT ON meters DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.collector_id <> 0) EXECUTE FUNCTION meters_archive_rev();
CREATE CONSTRAINT TRIGGER meters_archive_delete AFTER DELETE ON meters DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (OLD.collector_id <> 0) EXECUTE FUNCTION meters_archive_rev();
CREATE CONSTRAINT TRIGGER meters_archive_update AFTER UPDATE OF site_id, address, protocol, phases, ct_ratio, pt_ratio, area_id,
  collector_id, port, pn, direct, password, operator, rated_amps, account_id, installed_at, removed_at, imei, reg_secret ON meters
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION meters_archive_rev();

-- +goose Down
DROP TRIGGER meters_archive_update ON meters;
DROP TRIGGER meters_archive_delete ON meters;
DROP TRIGGER meters_archive_insert ON meters;
DROP FUNCTION meters_archive_rev();
ALTER TABLE collectors DROP COLUMN archive_rev;
