-- +goose Up
-- A collector's archive revision: every change to the meters behind it
-- (one added, removed, moved, re-keyed, swapped, its ratios changed) counts
-- it up, whoever makes the change (the API, an import, the CLI, SQL by
-- hand). The station keeps each collector's meters in memory while the
-- revision stays, instead of listing them again every collection interval.
-- A meter's status, since, reason and relay are not the archive: the
-- station's own status writes do not count.
ALTER TABLE collectors ADD COLUMN archive_rev INTEGER NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE TRIGGER meters_archive_insert AFTER INSERT ON meters WHEN NEW.collector_id != 0
BEGIN
  UPDATE collectors SET archive_rev = archive_rev + 1 WHERE id = NEW.collector_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER meters_archive_delete AFTER DELETE ON meters WHEN OLD.collector_id != 0
BEGIN
  UPDATE collectors SET archive_rev = archive_rev + 1 WHERE id = OLD.collector_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER meters_archive_update AFTER UPDATE OF site_id, address, protocol, phases, ct_ratio, pt_ratio, area_id,
  collector_id, port, pn, direct, password, operator, rated_amps, account_id, installed_at, removed_at, imei, reg_secret ON meters
BEGIN
  UPDATE collectors SET archive_rev = archive_rev + 1 WHERE id IN (OLD.collector_id, NEW.collector_id);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER meters_archive_update;
DROP TRIGGER meters_archive_delete;
DROP TRIGGER meters_archive_insert;
ALTER TABLE collectors DROP COLUMN archive_rev;
