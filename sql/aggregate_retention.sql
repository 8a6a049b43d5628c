-- Retention: hourly buckets and their distinct users older than 90 days; model
-- inference logs and schema detection events older than 30 days; expired named-query cache rows. Hours are compared at hour
-- granularity so that a 90d query (which starts at the start of the hour 90 days ago) never
-- loses an hour it covers.
-- Parameters: none. Result: one row (aggregated_deleted bigint, users_deleted bigint,
--                                   inference_logs_deleted bigint, detection_events_deleted bigint,
--                                   query_cache_deleted bigint).
WITH aggregated AS (
    DELETE FROM aggregated_metrics
    WHERE hour < date_trunc('hour', now() - interval '90 days', 'UTC')
    RETURNING 1
),
users AS (
    DELETE FROM aggregated_users
    WHERE hour < date_trunc('hour', now() - interval '90 days', 'UTC')
    RETURNING 1
),
inference AS (
    DELETE FROM model_inference_logs
    WHERE created_at < now() - interval '30 days'
    RETURNING 1
),
cached AS (
    DELETE FROM query_cache
    WHERE expires_at <= now()
    RETURNING 1
),
detection AS (
    DELETE FROM schema_detection_events
    WHERE created_at < now() - interval '30 days'
    RETURNING 1
)
SELECT (SELECT count(*) FROM aggregated) AS aggregated_deleted,
       (SELECT count(*) FROM users)      AS users_deleted,
       (SELECT count(*) FROM inference)  AS inference_logs_deleted,
       (SELECT count(*) FROM detection)  AS detection_events_deleted,
       (SELECT count(*) FROM cached)    AS query_cache_deleted;
