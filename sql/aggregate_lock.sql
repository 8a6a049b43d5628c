-- Take the aggregation job's advisory lock for this transaction, without waiting: a second
-- concurrent run sees false and exits saying another run holds it (SPEC §9).
-- Parameters: $1 bigint — the lock key. Result: one row (locked boolean).
SELECT pg_try_advisory_xact_lock($1) AS locked;
