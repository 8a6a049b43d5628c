-- Keep the migration transaction's NOTICEs ("relation already exists, skipping") out of the log.
-- No parameters, no result.
SET LOCAL client_min_messages TO warning
