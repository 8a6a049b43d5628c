-- A named query's cached answer, if it has not expired.
-- Parameters: $1 cache_key text. Result: zero or one row (body text).
SELECT body FROM query_cache WHERE cache_key = $1 AND expires_at > now()
