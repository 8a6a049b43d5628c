-- How many usage events the caller recorded in a time range.
-- $1 text user_id, $2 timestamptz start (exclusive), $3 timestamptz end (inclusive).
-- Result: count bigint.
SELECT count(*) AS count
FROM usage_events
WHERE user_id = $1 AND timestamp > $2 AND timestamp <= $3
