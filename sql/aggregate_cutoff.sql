-- The aggregation cutoff: the start of the UTC hour 7 days ago, from the database's
-- clock (the same clock the queries use).
-- Parameters: none. Result: one row (cutoff timestamptz).
SELECT date_trunc('hour', now() - interval '7 days', 'UTC') AS cutoff;
