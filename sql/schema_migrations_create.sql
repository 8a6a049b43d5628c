-- The record of applied migrations (created on first use, inside the migration transaction).
-- No parameters, no result.
CREATE TABLE IF NOT EXISTS brickbox_schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
