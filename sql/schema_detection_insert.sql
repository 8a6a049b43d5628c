-- One schema detection (GET /api/model-serving/endpoints/{name}/schema), written by
-- functions::common::record_detection.
-- Parameters: $1 endpoint_name text, $2 user_id text (caller's SCIM userName),
--   $3 detected_type text (FOUNDATION_MODEL | EXTERNAL_MODEL | MLFLOW_MODEL | UNKNOWN),
--   $4 status text (SUCCESS | FAILURE | TIMEOUT), $5 latency_ms float8,
--   $6 error_message text or NULL, $7 created_at text (RFC 3339)
-- Result: none.
INSERT INTO schema_detection_events
    (endpoint_name, user_id, detected_type, status, latency_ms, error_message, created_at)
VALUES
    ($1, $2, $3, $4, $5::float8, $6, $7::text::timestamptz)
