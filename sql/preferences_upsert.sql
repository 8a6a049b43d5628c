-- Create or replace one of the caller's preferences.
-- $1 text user_id, $2 text preference_key, $3 jsonb preference_value.
-- Result: preference_key text, preference_value jsonb, created_at timestamptz,
--         updated_at timestamptz, inserted boolean (true when the row is new: xmax = 0).
INSERT INTO user_preferences AS p (user_id, preference_key, preference_value)
VALUES ($1, $2, $3)
ON CONFLICT (user_id, preference_key)
DO UPDATE SET preference_value = EXCLUDED.preference_value, updated_at = now()
RETURNING p.preference_key, p.preference_value, p.created_at, p.updated_at, (p.xmax = 0) AS inserted
