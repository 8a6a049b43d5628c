-- @description Tables and views of one schema that you can see, newest first
-- @param catalog STRING
-- @param schema STRING
-- @param created_after TIMESTAMP default 1970-01-01T00:00:00Z
-- @param max_rows INT default 100
-- @cache 300
-- @scope user
SELECT table_name, table_type, table_owner, comment, created, last_altered
FROM system.information_schema.tables
WHERE table_catalog = :catalog
  AND table_schema = :schema
  AND created >= :created_after
QUALIFY row_number() OVER (ORDER BY created DESC, table_name) <= :max_rows
ORDER BY created DESC, table_name
