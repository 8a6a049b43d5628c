-- Summary builder, step 1 of 2 (same REPEATABLE READ transaction as summaries_build.sql):
-- delete the summaries that are stale (their hours changed since they were built) or no
-- longer wanted (brickbox_summary_spans), with their rows.
-- No parameters. Result: one row (pruned bigint — the spans deleted).
WITH wanted AS MATERIALIZED (
    SELECT span_start, 24 AS span_hours, version FROM brickbox_summary_spans(24)
    UNION ALL
    SELECT span_start, 1, version FROM brickbox_summary_spans(1)
),
gone AS MATERIALIZED (
    DELETE FROM metrics_summaries m
    WHERE NOT EXISTS (SELECT 1 FROM wanted w
                      WHERE w.span_start = m.span_start AND w.span_hours = m.span_hours
                        AND w.version = m.version)
    RETURNING m.span_start, m.span_hours
),
gone_requests AS (
    DELETE FROM metrics_summary_requests r USING gone g
    WHERE r.span_start = g.span_start AND r.span_hours = g.span_hours
),
gone_events AS (
    DELETE FROM metrics_summary_events e USING gone g
    WHERE e.span_start = g.span_start AND e.span_hours = g.span_hours
),
gone_users AS (
    DELETE FROM metrics_summary_users u USING gone g
    WHERE u.span_start = g.span_start AND u.span_hours = g.span_hours
)
SELECT count(*)::bigint AS pruned FROM gone;
