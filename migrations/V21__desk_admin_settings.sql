-- The desk's settings as admins change them (PATCH /v1/admin/settings): the
-- settings an admin has set are named here, and a server's start
-- (service::assignment::configure) writes its flags into the other columns
-- only, so an admin's choice outlives restarts. Set back to '{}' with psql to
-- hand every setting back to the servers' flags.
ALTER TABLE desk_settings ADD COLUMN admin_set text[] NOT NULL DEFAULT '{}';
