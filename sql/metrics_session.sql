-- Settings for one admin metrics query, inside its read-only transaction: the hash
-- aggregations of a 1,000,000-row range need more than the default 4 MB to stay in memory, and
-- the time series steps through UTC days (generate_series adds intervals in the session time
-- zone, so a zone with daylight saving would shift the points). No parameters, no result.
SET LOCAL work_mem = '64MB';
SET LOCAL TimeZone = 'UTC'
