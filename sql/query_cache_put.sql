-- Store (or replace) a named query's answer for $5 seconds.
-- Parameters: $1 cache_key text, $2 query_name text, $3 user_id text (null for app scope),
--             $4 body text, $5 ttl_seconds double precision. Result: none.
INSERT INTO query_cache (cache_key, query_name, user_id, body, created_at, expires_at)
VALUES ($1, $2, $3, $4, now(), now() + make_interval(secs => $5))
ON CONFLICT (cache_key) DO UPDATE
SET query_name = EXCLUDED.query_name, user_id = EXCLUDED.user_id, body = EXCLUDED.body,
    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
