-- GET /api/v1/metrics/time-series: one point per hour or day of the range,
-- ascending, zero-filled, one row per timestamp (generate_series drives the output).
-- The range is [start of the UTC hour `time_range` ago, now], as in metrics_performance.sql;
-- each point covers the part of its interval inside the range. Sources as there: raw rows
-- plus aggregated buckets, each row counted once. p95 is exact (percentile_cont, found with
-- the two-pass bucket selection of metrics_performance.sql, with one series per point)
-- for a point without aggregated hours, and from the
-- merged histogram (within 2 %) for a point with some. Users are distinct per point, exact:
-- raw events plus the aggregated hours' distinct users.
--
-- Parameters: $1 timestamptz — start_time, $2 timestamptz — end_time (metrics_bounds.sql);
--             $3 text — 'hour' or 'day'; $4 boolean — compute request figures;
--             $5 boolean — compute event figures.
-- Result: one row per point, by ts: ts timestamptz, total_requests bigint, error_count bigint,
-- sum_ms float8 (NULL without requests), p95_ms float8 (NULL without requests),
-- total_events bigint, unique_users bigint. Figures not asked for are 0 / NULL.
-- Rows are put in their point with date_bin from a UTC midnight: the same instants as
-- date_trunc(…, 'UTC'), several times cheaper per row.
WITH points AS MATERIALIZED (
    SELECT ts
    FROM generate_series(date_trunc($3::text, $1::timestamptz, 'UTC'),
                         date_trunc($3::text, $2::timestamptz, 'UTC'),
                         ('1 ' || $3::text)::interval) AS ts
),
-- Summaries of whole hours (hourly points) or whole days where they exist (daily points),
-- live intervals for the rest (brickbox_summary_cover, migrations/0003_summaries.sql).
cover AS MATERIALIZED (
    SELECT date_bin(('1 ' || $3::text)::interval, coalesce(c.span_start, c.live_start),
                    '2000-01-01 00:00:00+00') AS ts, c.*,
           c.span_hours = CASE $3::text WHEN 'day' THEN 24 ELSE 1 END AS whole_point
    FROM brickbox_summary_cover($1::timestamptz, $2::timestamptz, $3::text = 'day') c
),
spans AS MATERIALIZED (
    SELECT c.ts, c.span_start, c.span_hours, c.whole_point, m.has_agg, m.request_count,
           m.error_count, m.sum_ms, m.p95_ms, m.event_count
    FROM cover c
    JOIN metrics_summaries m ON m.span_start = c.span_start AND m.span_hours = c.span_hours
),
-- The live hours (lo: the hour's start) and their points.
live AS MATERIALIZED (
    SELECT date_bin(('1 ' || $3::text)::interval, g.lo, '2000-01-01 00:00:00+00') AS ts, g.lo
    FROM cover c
    CROSS JOIN LATERAL generate_series(c.live_start, c.live_end - interval '1 hour',
                                       interval '1 hour') AS g(lo)
    WHERE c.live_start IS NOT NULL
),
buckets AS MATERIALIZED (
    SELECT l.ts, a.kind, a.count, a.sum_ms, a.error_count, a.hist_keys, a.hist_counts
    FROM live l
    JOIN aggregated_metrics a ON a.hour = l.lo
    WHERE a.hour <= $2::timestamptz
      AND ((a.kind = 'request' AND $4::boolean) OR (a.kind = 'event' AND $5::boolean))
),
-- Points whose percentiles come from histograms: those with an aggregated request hour.
hist_points AS MATERIALIZED (
    SELECT DISTINCT ts FROM buckets WHERE kind = 'request'
    UNION
    SELECT ts FROM spans WHERE has_agg
),
-- Pass 1 over the live hours' raw rows, per point and histogram bucket.
raw_cells AS MATERIALIZED (
    SELECT l.ts, brickbox_hist_index(p.response_time_ms) AS k,
           count(*) AS n, sum(p.response_time_ms) AS s,
           count(*) FILTER (WHERE p.status_code >= 400) AS e
    FROM live l
    CROSS JOIN LATERAL (
        SELECT p.response_time_ms, p.status_code
        FROM performance_metrics p
        WHERE $4::boolean
          AND p.timestamp >= l.lo AND p.timestamp < l.lo + interval '1 hour'
          AND p.timestamp <= $2::timestamptz
        OFFSET 0  -- one index range scan per live hour
    ) p
    GROUP BY 1, 2
),
req AS MATERIALIZED (
    SELECT ts, sum(n)::bigint AS n, sum(s) AS s, sum(e)::bigint AS e
    FROM (SELECT ts, n, s, e FROM raw_cells
          UNION ALL
          SELECT ts, count, sum_ms, error_count FROM buckets WHERE kind = 'request'
          UNION ALL
          SELECT ts, request_count, sum_ms, error_count FROM spans WHERE $4::boolean) u
    GROUP BY ts
),
-- Histograms of the points that are not one whole summarised span (those have their p95).
series AS MATERIALIZED (
    SELECT ts, k, sum(n)::bigint AS n
    FROM (SELECT c.ts, c.k, c.n
          FROM raw_cells c
          UNION ALL
          SELECT k.ts, h.k, h.n
          FROM buckets k, unnest(k.hist_keys, k.hist_counts) AS h(k, n)
          WHERE k.kind = 'request'
          UNION ALL
          SELECT s.ts, h.k, h.n
          FROM spans s
          JOIN metrics_summary_requests r ON r.span_start = s.span_start
                                         AND r.span_hours = s.span_hours
          CROSS JOIN unnest(r.hist_keys, r.hist_counts) AS h(k, n)
          WHERE $4::boolean AND NOT s.whole_point) u
    WHERE ts NOT IN (SELECT ts FROM spans WHERE whole_point)
    GROUP BY ts, k
),
positioned AS (
    SELECT ts, k, n, (sum(n) OVER (PARTITION BY ts ORDER BY k))::bigint - n AS before
    FROM series
),
wanted AS MATERIALIZED (
    SELECT r.ts, 0.95 * (r.n - 1) AS r, x.which, x.rank,
           r.ts IN (SELECT ts FROM hist_points) AS from_hist
    FROM req r
    CROSS JOIN LATERAL (VALUES (0, floor(0.95 * (r.n - 1))::bigint),
                               (1, least(floor(0.95 * (r.n - 1))::bigint + 1, r.n - 1)))
        AS x(which, rank)
    WHERE r.n > 0 AND r.ts NOT IN (SELECT ts FROM spans WHERE whole_point)
),
located AS MATERIALIZED (
    SELECT w.*, p.k, w.rank - p.before AS pos
    FROM wanted w
    JOIN positioned p ON p.ts = w.ts AND w.rank >= p.before AND w.rank < p.before + p.n
),
-- Pass 2: the raw rows of the located buckets of exact points, found through the
-- response-time index (see metrics_performance.sql), ranked inside their bucket.
picked_raw AS MATERIALIZED (
    SELECT date_bin(('1 ' || $3::text)::interval, p.timestamp, '2000-01-01 00:00:00+00') AS ts, l.k, p.v
    FROM (SELECT DISTINCT k FROM located WHERE NOT from_hist) l
    CROSS JOIN LATERAL (
        SELECT r.timestamp, r.response_time_ms AS v
        FROM performance_metrics r
        WHERE r.response_time_ms > brickbox_hist_fine_lower((l.k - 1) * 16 + 1)
          AND r.response_time_ms <= brickbox_hist_fine_upper(l.k * 16)
          AND brickbox_hist_index(r.response_time_ms) = l.k
          AND r.timestamp >= $1::timestamptz
          AND r.timestamp <= $2::timestamptz
        OFFSET 0  -- one index range scan per distinct bucket, not one per (point, bucket)
    ) p
),
-- The located buckets' values sorted into one array per (point, bucket).
picked AS MATERIALIZED (
    SELECT ts, k, array_agg(v ORDER BY v) AS vs
    FROM picked_raw
    WHERE (ts, k) IN (SELECT ts, k FROM located WHERE NOT from_hist)
    GROUP BY ts, k
),
p95 AS (
    SELECT ts, lo + (r - floor(r)) * (hi - lo) AS p95
    FROM (SELECT l.ts, max(l.r) AS r,
                 max(CASE WHEN l.from_hist THEN brickbox_hist_value(l.k) ELSE pk.vs[l.pos + 1] END)
                     FILTER (WHERE l.which = 0) AS lo,
                 max(CASE WHEN l.from_hist THEN brickbox_hist_value(l.k) ELSE pk.vs[l.pos + 1] END)
                     FILTER (WHERE l.which = 1) AS hi
          FROM located l
          LEFT JOIN picked pk ON NOT l.from_hist AND pk.ts = l.ts AND pk.k = l.k
          GROUP BY l.ts) x
    UNION ALL
    SELECT ts, p95_ms FROM spans WHERE whole_point AND $4::boolean
),
-- The live hours' raw events.
live_events AS MATERIALIZED (
    SELECT l.ts, u.user_id
    FROM live l
    CROSS JOIN LATERAL (
        SELECT u.user_id
        FROM usage_events u
        WHERE $5::boolean
          AND u.timestamp >= l.lo AND u.timestamp < l.lo + interval '1 hour'
          AND u.timestamp <= $2::timestamptz
        OFFSET 0  -- one index range scan per live hour
    ) u
),
ev AS (
    SELECT ts, sum(n)::bigint AS n
    FROM (SELECT ts, count(*) AS n FROM live_events GROUP BY ts
          UNION ALL
          SELECT ts, count FROM buckets WHERE kind = 'event'
          UNION ALL
          SELECT ts, event_count FROM spans WHERE $5::boolean) x
    GROUP BY ts
),
users AS (
    SELECT ts, count(DISTINCT user_id) AS n
    FROM (SELECT ts, user_id FROM live_events
          UNION ALL
          SELECT l.ts, au.user_id
          FROM live l
          JOIN aggregated_users au ON au.hour = l.lo
          WHERE $5::boolean AND au.source = 'event' AND au.hour <= $2::timestamptz
          UNION ALL
          SELECT s.ts, su.user_id
          FROM spans s
          JOIN metrics_summary_users su ON su.span_start = s.span_start
                                       AND su.span_hours = s.span_hours
          WHERE $5::boolean AND su.source = 'event') x
    WHERE user_id IS NOT NULL
    GROUP BY ts
)
SELECT pt.ts,
       coalesce(r.n, 0) AS total_requests, coalesce(r.e, 0) AS error_count, r.s AS sum_ms,
       q.p95 AS p95_ms,
       coalesce(e.n, 0) AS total_events, coalesce(u.n, 0) AS unique_users
FROM points pt
LEFT JOIN req r ON r.ts = pt.ts
LEFT JOIN p95 q ON q.ts = pt.ts
LEFT JOIN ev e ON e.ts = pt.ts
LEFT JOIN users u ON u.ts = pt.ts
ORDER BY pt.ts;
