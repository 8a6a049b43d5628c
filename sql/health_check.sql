-- The background health check: the cheapest round trip.
-- No parameters. Result: one row, one integer column.
SELECT 1
