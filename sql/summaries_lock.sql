-- The summary builder's lock: one builder at a time across replicas, released at commit.
-- Parameters: $1 bigint — the key. Result: one row (locked boolean).
SELECT pg_try_advisory_xact_lock($1) AS locked
