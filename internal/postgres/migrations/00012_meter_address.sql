-- +goose Up
-- A meter is found by its address (the API's /meters/{address}, GPRS
-- registration) among removed ones too: the partial unique index on active
-- addresses cannot serve that query, which scanned the whole table.
CREATE INDEX meters_address ON meters (address);

-- +goose Down
DROP INDEX meters_address;
