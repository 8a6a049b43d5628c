-- How many inference logs the caller has (total_count of GET /api/model-serving/logs).
-- Parameters: $1 user_id text (the caller's SCIM userName)
-- Result columns: total_count bigint
SELECT count(*) AS total_count
FROM model_inference_logs
WHERE user_id = $1
