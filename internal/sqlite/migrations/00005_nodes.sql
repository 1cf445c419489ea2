-- +goose Up
-- The same tables as on PostgreSQL, so that both stores keep one interface:
-- a SQLite station is one node, which holds every lease it asks for.
CREATE TABLE leases (resource TEXT PRIMARY KEY, node TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE INDEX leases_node ON leases (node);
ALTER TABLE commands ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE commands ADD COLUMN claim_expires INTEGER NOT NULL DEFAULT 0;
