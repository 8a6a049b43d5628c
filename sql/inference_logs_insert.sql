-- One model invocation outcome (POST /api/model-serving/invoke), written by
-- functions::common::record_inference. Every outcome after request validation is recorded.
-- Parameters (text where a cast follows, so no driver type features are needed):
--   $1 request_id text          $2 endpoint_name text        $3 user_id text (caller's SCIM userName)
--   $4 status text (SUCCESS | ERROR | TIMEOUT)
--   $5 inputs text (JSON, already cut to 64 KiB)              $6 predictions text (JSON or NULL, cut to 64 KiB)
--   $7 error_message text or NULL                             $8 execution_time_ms float8
--   $9 created_at text (RFC 3339)                             $10 completed_at text (RFC 3339)
-- Result: none.
INSERT INTO model_inference_logs
    (request_id, endpoint_name, user_id, status, inputs, predictions, error_message,
     execution_time_ms, created_at, completed_at)
VALUES
    ($1, $2, $3, $4, $5::text::jsonb, $6::text::jsonb, $7,
     $8::float8, $9::text::timestamptz, $10::text::timestamptz)
