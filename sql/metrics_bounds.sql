-- The range of an admin metrics query, from the transaction's clock (now() is the transaction
-- start, so the statement that follows in the same transaction sees the same "now"). Computed
-- once and passed to the query as parameters: written inline, the expression would be
-- evaluated again for every row a sequential scan filters (about 1 µs each).
-- Parameters: $1 text — the range as an interval ('604800 seconds', …).
-- Result: one row (start_time timestamptz — the start of the UTC hour $1 ago; end_time
-- timestamptz — now; hour_start timestamptz — the start of the current UTC hour).
SELECT date_trunc('hour', now() - $1::text::interval, 'UTC') AS start_time,
       now()                                               AS end_time,
       date_trunc('hour', now(), 'UTC')                    AS hour_start
