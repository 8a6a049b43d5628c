-- Record one schema detection.
-- $1 text endpoint_name, $2 text user_id, $3 text detected_type, $4 text status,
-- $5 bigint latency_ms, $6 text error_message (NULL on success), $7 text correlation_id.
-- Result: id bigint.
INSERT INTO schema_detection_events
    (endpoint_name, user_id, detected_type, status, latency_ms, error_message, correlation_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id
