-- The caller's inference logs, newest first (GET /api/model-serving/logs).
-- Parameters: $1 user_id text (always the caller's SCIM userName), $2 limit bigint (1..200),
--             $3 offset bigint (>= 0)
-- Result columns: request_id text, endpoint_name text, status text, inputs text (JSON),
--   predictions text (JSON or NULL), error_message text, execution_time_ms float8,
--   created_at text (RFC 3339 UTC with Z), completed_at text (RFC 3339 UTC with Z, or NULL)
SELECT l.request_id,
       l.endpoint_name,
       l.status,
       l.inputs::text AS inputs,
       l.predictions::text AS predictions,
       l.error_message,
       l.execution_time_ms::float8 AS execution_time_ms,
       to_char(l.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
       to_char(l.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS completed_at
FROM model_inference_logs AS l
WHERE l.user_id = $1
ORDER BY l.created_at DESC, l.id DESC
LIMIT $2::bigint OFFSET $3::bigint
