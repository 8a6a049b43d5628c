-- Record one model invocation (model serving).
-- $1 text request_id, $2 text endpoint_name, $3 text user_id, $4 text status, $5 jsonb inputs,
-- $6 jsonb predictions, $7 text error_message, $8 bigint execution_time_ms,
-- $9 timestamptz created_at, $10 timestamptz completed_at; $5..$8 and $10 may be NULL.
-- Result: id bigint.
INSERT INTO model_inference_logs
    (request_id, endpoint_name, user_id, status, inputs, predictions, error_message,
     execution_time_ms, created_at, completed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING id
