-- Delete one of the caller's preferences.
-- $1 text user_id, $2 text preference_key.
-- Result: none; the affected row count (0 or 1) tells whether it existed.
DELETE FROM user_preferences WHERE user_id = $1 AND preference_key = $2
