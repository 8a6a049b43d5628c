-- GET /api/v1/metrics/performance: request totals and per (endpoint, method)
-- figures over [start_time, end_time]: start_time is the start of the UTC hour `time_range`
-- ago (so every hour of the range is whole, and aggregated hours are never cut), end_time now.
--
-- Every row is counted once. brickbox_summary_cover splits the range into spans with a valid
-- summary (whole past days and hours, migrations/0003_summaries.sql) and live intervals; a
-- live interval is read from its raw rows plus its aggregated buckets. The job moves rows
-- from raw to buckets in one statement, summaries go stale with any change to their hours,
-- and this one statement sees one snapshot, so a job run or a late row before, during or
-- after it changes nothing (docs/metrics.md).
--
-- Percentiles: with no aggregated hour in the range they are exactly percentile_cont, found
-- without sorting the range: the histograms of the summaries plus the live raw rows counted
-- per histogram bucket locate the bucket holding each wanted rank; pass 2 reads and sorts
-- only the raw rows of that bucket and series (an index-only range scan).
-- With aggregated hours they come from the merged histograms, interpolated like
-- percentile_cont: within 2 %.
--
-- Parameters: $1 timestamptz — start_time, $2 timestamptz — end_time (metrics_bounds.sql);
--             $3 text — endpoint filter (exact route template), NULL for all.
-- Result: the total row first (is_total true, endpoint and method NULL; always present), then
-- one row per (endpoint, method) by request_count desc, endpoint, method:
-- is_total boolean, endpoint text, method text, request_count bigint, error_count bigint,
-- sum_ms float8, p50_ms float8, p95_ms float8, p99_ms float8.
WITH cover AS MATERIALIZED (
    SELECT * FROM brickbox_summary_cover($1::timestamptz, $2::timestamptz, true)
),
has_agg AS MATERIALIZED (
    SELECT EXISTS (SELECT 1 FROM aggregated_metrics a
                   WHERE a.kind = 'request' AND a.hour >= $1::timestamptz
                     AND a.hour <= $2::timestamptz
                     AND ($3::text IS NULL OR a.endpoint = $3::text)) AS yes
),
-- Series figures with their histograms: the covered spans' summaries and the live hours'
-- buckets.
parts AS MATERIALIZED (
    SELECT r.endpoint, r.method, r.count, r.sum_ms, r.error_count, r.hist_keys, r.hist_counts
    FROM cover c
    JOIN metrics_summary_requests r ON r.span_start = c.span_start AND r.span_hours = c.span_hours
    WHERE ($3::text IS NULL OR r.endpoint = $3::text)
    UNION ALL
    SELECT a.endpoint, a.method, a.count, a.sum_ms, a.error_count, a.hist_keys, a.hist_counts
    FROM cover c
    CROSS JOIN LATERAL (
        SELECT a.endpoint, a.method, a.count, a.sum_ms, a.error_count, a.hist_keys,
               a.hist_counts
        FROM aggregated_metrics a
        WHERE a.kind = 'request' AND a.hour >= c.live_start AND a.hour < c.live_end
          AND a.hour <= $2::timestamptz AND ($3::text IS NULL OR a.endpoint = $3::text)
        OFFSET 0  -- one index range scan per live interval
    ) a
    WHERE c.live_start IS NOT NULL
),
-- Pass 1: the live hours' raw rows per (endpoint, method, histogram bucket).
raw_cells AS MATERIALIZED (
    SELECT p.endpoint, p.method, brickbox_hist_index(p.response_time_ms) AS k,
           count(*) AS n, sum(p.response_time_ms) AS s,
           count(*) FILTER (WHERE p.status_code >= 400) AS e
    FROM cover c
    CROSS JOIN LATERAL (
        SELECT p.endpoint, p.method, p.response_time_ms, p.status_code
        FROM performance_metrics p
        WHERE p.timestamp >= c.live_start AND p.timestamp < c.live_end
          AND p.timestamp <= $2::timestamptz
          AND ($3::text IS NULL OR p.endpoint = $3::text)
        OFFSET 0  -- one index range scan per live interval
    ) p
    WHERE c.live_start IS NOT NULL
    GROUP BY 1, 2, 3
),
-- One series per (endpoint, method) plus the total series ('', '').
totals AS MATERIALIZED (
    SELECT GROUPING(endpoint, method) = 3 AS is_total,
           coalesce(endpoint, '') AS endpoint, coalesce(method, '') AS method,
           coalesce(sum(n), 0)::bigint AS n, sum(s) AS s, coalesce(sum(e), 0)::bigint AS e
    FROM (SELECT endpoint, method, n, s, e FROM raw_cells
          UNION ALL
          SELECT endpoint, method, count, sum_ms, error_count FROM parts) u
    GROUP BY GROUPING SETS ((endpoint, method), ())
),
-- Histogram cells per (endpoint, method); then per series (each pair, and the total).
cells AS MATERIALIZED (
    SELECT endpoint, method, k, sum(n)::bigint AS n
    FROM (SELECT endpoint, method, k, n FROM raw_cells
          UNION ALL
          SELECT t.endpoint, t.method, h.k, h.n
          FROM parts t, unnest(t.hist_keys, t.hist_counts) AS h(k, n)) c
    GROUP BY endpoint, method, k
),
series AS MATERIALIZED (
    SELECT false AS is_total, endpoint, method, k, n FROM cells
    UNION ALL
    SELECT true, '', '', k, sum(n)::bigint FROM cells GROUP BY k
),
positioned AS (
    SELECT is_total, endpoint, method, k, n,
           (sum(n) OVER (PARTITION BY is_total, endpoint, method ORDER BY k))::bigint - n AS before
    FROM series
),
-- percentile_cont(q) interpolates the values at ranks floor(q (n-1)) and the next one.
-- (Ranks stay bigint: the window sums are cast back from numeric, which compares slowly.)
wanted AS MATERIALIZED (
    SELECT t.is_total, t.endpoint, t.method, q.i, q.q * (t.n - 1) AS r, x.which, x.rank
    FROM totals t
    CROSS JOIN unnest(ARRAY[0.5, 0.95, 0.99]::float8[]) WITH ORDINALITY AS q(q, i)
    CROSS JOIN LATERAL (VALUES (0, floor(q.q * (t.n - 1))::bigint),
                               (1, least(floor(q.q * (t.n - 1))::bigint + 1, t.n - 1)))
        AS x(which, rank)
    WHERE t.n > 0
),
located AS MATERIALIZED (
    SELECT w.*, p.k, w.rank - p.before AS pos
    FROM wanted w
    JOIN positioned p
      ON p.is_total = w.is_total AND p.endpoint = w.endpoint AND p.method = w.method
     AND w.rank >= p.before AND w.rank < p.before + p.n
),
-- Pass 2 (exact only): the raw rows of the range in each located bucket of each series,
-- through the response-time indexes (a bucket is a narrow value range; the exact bucket test
-- removes the rows the slightly widened range lets in), sorted into one array per bucket.
picked AS MATERIALIZED (
    SELECT l.is_total, l.endpoint, l.method, l.k, array_agg(p.v ORDER BY p.v) AS vs
    FROM (SELECT DISTINCT is_total, endpoint, method, k FROM located) l
    CROSS JOIN LATERAL (
        SELECT r.response_time_ms AS v
        FROM performance_metrics r
        WHERE l.is_total
          AND r.response_time_ms > brickbox_hist_fine_lower((l.k - 1) * 16 + 1)
          AND r.response_time_ms <= brickbox_hist_fine_upper(l.k * 16)
          AND brickbox_hist_index(r.response_time_ms) = l.k
          AND r.timestamp >= $1::timestamptz AND r.timestamp <= $2::timestamptz
          AND ($3::text IS NULL OR r.endpoint = $3::text)
        UNION ALL
        SELECT r.response_time_ms
        FROM performance_metrics r
        WHERE NOT l.is_total
          AND r.endpoint = l.endpoint AND r.method = l.method
          AND r.response_time_ms > brickbox_hist_fine_lower((l.k - 1) * 16 + 1)
          AND r.response_time_ms <= brickbox_hist_fine_upper(l.k * 16)
          AND brickbox_hist_index(r.response_time_ms) = l.k
          AND r.timestamp >= $1::timestamptz AND r.timestamp <= $2::timestamptz
    ) p
    WHERE NOT (SELECT yes FROM has_agg)
    GROUP BY 1, 2, 3, 4
),
-- The value at each wanted rank: the rank's position in its bucket's sorted values, or the
-- bucket's representative value when the percentiles come from histograms.
valued AS (
    SELECT l.is_total, l.endpoint, l.method, l.i, l.r, l.which,
           CASE WHEN (SELECT yes FROM has_agg) THEN brickbox_hist_value(l.k)
                ELSE pr.vs[l.pos + 1] END AS v
    FROM located l
    LEFT JOIN picked pr
      ON pr.is_total = l.is_total AND pr.endpoint = l.endpoint AND pr.method = l.method
     AND pr.k = l.k
),
pct AS (
    SELECT is_total, endpoint, method, array_agg(lo + (r - floor(r)) * (hi - lo) ORDER BY i) AS p
    FROM (SELECT is_total, endpoint, method, i, max(r) AS r,
                 max(v) FILTER (WHERE which = 0) AS lo, max(v) FILTER (WHERE which = 1) AS hi
          FROM valued GROUP BY 1, 2, 3, 4) x
    GROUP BY 1, 2, 3
)
SELECT t.is_total,
       CASE WHEN t.is_total THEN NULL ELSE t.endpoint END AS endpoint,
       CASE WHEN t.is_total THEN NULL ELSE t.method END   AS method,
       t.n AS request_count, t.e AS error_count, t.s AS sum_ms,
       p.p[1] AS p50_ms, p.p[2] AS p95_ms, p.p[3] AS p99_ms
FROM totals t
LEFT JOIN pct p ON p.is_total = t.is_total AND p.endpoint = t.endpoint AND p.method = t.method
ORDER BY t.is_total DESC, t.n DESC, t.endpoint, t.method;
