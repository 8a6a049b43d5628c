-- Record one applied migration.
-- $1 integer version, $2 text name (file name), $3 text checksum (SHA-256 hex).
-- No result.
INSERT INTO brickbox_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)
