-- Every applied migration.
-- No parameters.
-- Result: version integer, name text, checksum text (SHA-256 hex of the file), by version.
SELECT version, name, checksum FROM brickbox_schema_migrations ORDER BY version
