-- +goose Up
-- The archive's unique rules: a site name among the sites in service, an
-- area name within its site among the areas in service (a collector address,
-- an in-service meter address and a username are unique already).
CREATE UNIQUE INDEX sites_active_name ON sites (name) WHERE retired_at = 0;
CREATE UNIQUE INDEX areas_active_name ON areas (site_id, name) WHERE retired_at = 0;
