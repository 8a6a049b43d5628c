-- The named queries' result cache (docs/queries.md): one row per query, caller (or everyone)
-- and parameter values, keyed by their hash. `body` is the ready JSON answer. Expired rows are
-- never served and are deleted by the aggregation job.
CREATE TABLE IF NOT EXISTS query_cache (
    cache_key   text PRIMARY KEY,
    query_name  text NOT NULL,
    user_id     text,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS query_cache_expires_at ON query_cache (expires_at);
