-- Settings for one admin metrics query, inside its read-only transaction: the hash
-- aggregations of a 1,000,000-row range need more than the default 4 MB to stay in memory.
-- No parameters, no result.
SET LOCAL work_mem = '64MB'
