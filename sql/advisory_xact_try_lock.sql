-- Take an advisory lock for this transaction, without waiting; released at commit. The
-- aggregation job's key makes a second concurrent run see false and exit saying another run
-- holds it; the summary builder's key keeps replicas from building the same spans.
-- Parameters: $1 bigint — the lock key. Result: one row (locked boolean).
SELECT pg_try_advisory_xact_lock($1) AS locked;
