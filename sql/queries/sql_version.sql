-- @description The SQL warehouse's Databricks SQL version (the same for everyone, so shared)
-- @cache 60
-- @scope app
SELECT current_version().dbsql_version AS dbsql_version,
       current_version().dbr_version AS dbr_version
