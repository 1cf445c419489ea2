-- +goose Up
-- Several station nodes on one database. A lease says which node holds a
-- resource ("collector/<address>", "meter/<address>", "site/<id>") until
-- expires (Unix milliseconds, real time); only the holder polls it and
-- judges its status. A command is claimed by one node (node, claim_expires
-- in Unix milliseconds) while it runs.
CREATE TABLE leases (resource TEXT PRIMARY KEY, node TEXT NOT NULL, expires BIGINT NOT NULL);
CREATE INDEX leases_node ON leases (node);
ALTER TABLE commands ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE commands ADD COLUMN claim_expires BIGINT NOT NULL DEFAULT 0;
