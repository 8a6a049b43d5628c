-- The caller's preferences, optionally one key, by key.
-- $1 text user_id, $2 text preference_key or NULL for all.
-- Result: preference_key text, preference_value jsonb, created_at timestamptz, updated_at timestamptz.
SELECT preference_key, preference_value, created_at, updated_at
FROM user_preferences
WHERE user_id = $1 AND ($2::text IS NULL OR preference_key = $2)
ORDER BY preference_key
