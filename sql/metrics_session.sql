-- Settings for one admin metrics query (inside its read-only transaction) and for one
-- summary-builder transaction, which computes the same aggregates:
-- * work_mem: the hash aggregations of a 1,000,000-row range stay in memory;
-- * jit off: compiling these many-CTE statements costs seconds, more than it saves on
--   ranges of a few million rows (measured: 3.5 s with, 1.2 s without, on 1,000,000 rows);
-- * UTC: the time series steps through UTC days (generate_series adds intervals in the
--   session time zone, so a zone with daylight saving would shift the points).
-- No parameters, no result.
SET LOCAL work_mem = '64MB';
SET LOCAL jit = off;
SET LOCAL TimeZone = 'UTC'
