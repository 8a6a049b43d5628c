-- GET /api/v1/metrics/usage: usage-event figures over [start of the UTC hour
-- `time_range` ago, now]: the valid summaries of whole past days and hours plus, for the other
-- hours, the raw rows and the aggregated buckets (each row once; see metrics_performance.sql).
-- Distinct-user counts are exact: the summaries' user sets, the raw rows' users and the
-- aggregated hours' distinct users (aggregated_users), deduplicated together.
--
-- The event_type filter applies to the usage events (total_events, unique_users,
-- success_rate, event_distribution, page_views, and their share of active_users); API
-- requests always count towards active_users and active_users_current_hour.
--
-- Parameters: $1 timestamptz — start_time, $2 timestamptz — end_time, $3 timestamptz — the
-- start of the current hour (metrics_bounds.sql); $4 text — event_type filter, NULL for all.
-- Result: one row: total_events bigint, unique_users bigint, active_users bigint,
-- active_users_current_hour bigint, success_true bigint, success_known bigint,
-- event_distribution jsonb ({type: n}), page_views jsonb ({page: n}).
WITH cover AS MATERIALIZED (
    SELECT * FROM brickbox_summary_cover($1::timestamptz, $2::timestamptz, true)
),
-- Event figures per type: the covered spans' summaries and the live hours' buckets.
parts AS MATERIALIZED (
    SELECT e.event_type, e.count, e.success_true, e.success_known, e.page_views
    FROM cover c
    JOIN metrics_summary_events e ON e.span_start = c.span_start AND e.span_hours = c.span_hours
    WHERE ($4::text IS NULL OR e.event_type = $4::text)
    UNION ALL
    SELECT a.event_type, a.count, a.success_true, a.success_known, a.page_views
    FROM cover c
    CROSS JOIN LATERAL (
        SELECT a.event_type, a.count, a.success_true, a.success_known, a.page_views
        FROM aggregated_metrics a
        WHERE a.kind = 'event' AND a.hour >= c.live_start AND a.hour < c.live_end
          AND a.hour <= $2::timestamptz AND ($4::text IS NULL OR a.event_type = $4::text)
        OFFSET 0  -- one index range scan per live interval
    ) a
    WHERE c.live_start IS NOT NULL
),
-- The live hours' raw events.
live_events AS MATERIALIZED (
    SELECT u.event_type, u.user_id, u.page_name, u.success
    FROM cover c
    CROSS JOIN LATERAL (
        SELECT u.event_type, u.user_id, u.page_name, u.success
        FROM usage_events u
        WHERE u.timestamp >= c.live_start AND u.timestamp < c.live_end
          AND u.timestamp <= $2::timestamptz
          AND ($4::text IS NULL OR u.event_type = $4::text)
        OFFSET 0  -- one index range scan per live interval
    ) u
    WHERE c.live_start IS NOT NULL
),
by_type AS (
    SELECT event_type, sum(n)::bigint AS n, sum(st)::bigint AS st, sum(sk)::bigint AS sk
    FROM (SELECT event_type, count(*) AS n, count(*) FILTER (WHERE success) AS st,
                 count(*) FILTER (WHERE success IS NOT NULL) AS sk
          FROM live_events GROUP BY event_type
          UNION ALL
          SELECT event_type, count, success_true, success_known FROM parts) x
    GROUP BY event_type
),
pages AS (
    SELECT page_name, sum(n)::bigint AS n
    FROM (SELECT page_name, count(*) AS n
          FROM live_events
          WHERE event_type = 'page_view' AND page_name IS NOT NULL
          GROUP BY page_name
          UNION ALL
          SELECT p.key, p.value::bigint
          FROM parts k, jsonb_each_text(k.page_views) AS p) x
    GROUP BY page_name
),
-- The live hours' aggregated users.
live_users AS MATERIALIZED (
    SELECT au.source, au.event_type, au.user_id
    FROM cover c
    CROSS JOIN LATERAL (
        SELECT au.source, au.event_type, au.user_id
        FROM aggregated_users au
        WHERE au.hour >= c.live_start AND au.hour < c.live_end AND au.hour <= $2::timestamptz
        OFFSET 0  -- one index range scan per live interval
    ) au
    WHERE c.live_start IS NOT NULL
),
-- Distinct users: the spans' user sets, the live hours' aggregated users and raw rows.
event_users AS MATERIALIZED (
    SELECT DISTINCT user_id
    FROM (SELECT user_id FROM live_events
          UNION ALL
          SELECT su.user_id
          FROM cover c
          JOIN metrics_summary_users su ON su.span_start = c.span_start
                                       AND su.span_hours = c.span_hours
          WHERE su.source = 'event' AND ($4::text IS NULL OR su.event_type = $4::text)
          UNION ALL
          SELECT au.user_id
          FROM live_users au
          WHERE au.source = 'event' AND ($4::text IS NULL OR au.event_type = $4::text)) x
    WHERE user_id IS NOT NULL
),
request_users AS (
    SELECT p.user_id
    FROM cover c
    CROSS JOIN LATERAL (
        SELECT p.user_id
        FROM performance_metrics p
        WHERE p.timestamp >= c.live_start AND p.timestamp < c.live_end
          AND p.timestamp <= $2::timestamptz AND p.user_id IS NOT NULL
        OFFSET 0
    ) p
    WHERE c.live_start IS NOT NULL
    UNION
    SELECT su.user_id
    FROM cover c
    JOIN metrics_summary_users su ON su.span_start = c.span_start
                                 AND su.span_hours = c.span_hours
    WHERE su.source = 'request'
    UNION
    SELECT au.user_id
    FROM live_users au
    WHERE au.source = 'request'
),
-- The current hour is never aggregated (the job only touches hours 7 days old).
current_users AS (
    SELECT p.user_id
    FROM performance_metrics p
    WHERE p.timestamp >= $3::timestamptz AND p.timestamp <= $2::timestamptz
      AND p.user_id IS NOT NULL
    UNION
    SELECT u.user_id
    FROM usage_events u
    WHERE u.timestamp >= $3::timestamptz AND u.timestamp <= $2::timestamptz
      AND ($4::text IS NULL OR u.event_type = $4::text)
      AND u.user_id IS NOT NULL
)
SELECT coalesce((SELECT sum(n) FROM by_type), 0)::bigint               AS total_events,
       (SELECT count(*) FROM event_users)                              AS unique_users,
       (SELECT count(*) FROM (SELECT user_id FROM event_users
                              UNION
                              SELECT user_id FROM request_users) a)    AS active_users,
       (SELECT count(*) FROM current_users)                            AS active_users_current_hour,
       coalesce((SELECT sum(st) FROM by_type), 0)::bigint              AS success_true,
       coalesce((SELECT sum(sk) FROM by_type), 0)::bigint              AS success_known,
       coalesce((SELECT jsonb_object_agg(event_type, n) FROM by_type), '{}')  AS event_distribution,
       coalesce((SELECT jsonb_object_agg(page_name, n) FROM pages), '{}')     AS page_views;
