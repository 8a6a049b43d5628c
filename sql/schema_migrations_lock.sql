-- Serialise migrations across processes for the rest of the transaction.
-- $1 bigint: the lock key (shared::db::migrate::LOCK_KEY).
-- Result: none used.
SELECT pg_advisory_xact_lock($1)
