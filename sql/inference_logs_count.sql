-- How many model invocations the caller has (for a page past the end, which has no rows).
-- $1 text user_id. Result: count bigint.
SELECT count(*) AS count FROM model_inference_logs WHERE user_id = $1
