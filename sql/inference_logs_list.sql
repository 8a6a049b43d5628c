-- One page of the caller's model invocations, newest first.
-- $1 text user_id, $2 bigint limit, $3 bigint offset.
-- Result: request_id text, endpoint_name text, status text, inputs jsonb, predictions jsonb,
--         error_message text, execution_time_ms bigint, created_at timestamptz,
--         completed_at timestamptz, total_count bigint (all the caller's rows, on every row).
SELECT request_id, endpoint_name, status, inputs, predictions, error_message,
       execution_time_ms, created_at, completed_at, count(*) OVER () AS total_count
FROM model_inference_logs
WHERE user_id = $1
ORDER BY created_at DESC, id DESC
LIMIT $2 OFFSET $3
