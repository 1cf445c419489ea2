-- +goose Up
-- The web pages list a meter's commands, newest first.
CREATE INDEX commands_meter ON commands (meter_id, id);

-- +goose Down
DROP INDEX commands_meter;
