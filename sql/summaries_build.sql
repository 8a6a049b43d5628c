-- Summary builder, step 2 of 2 (same REPEATABLE READ transaction as summaries_prune.sql):
-- build up to $2 of the wanted spans of $1 hours that have no summary, most recent first.
-- A summary is what the admin metrics queries would compute from the span's sources — its
-- raw rows plus its aggregated buckets and their users — and the sum of the span's hour
-- versions, all read from this statement's one snapshot (migrations/0003_summaries.sql).
--
-- Parameters: $1 integer — span_hours (1 or 24); $2 integer — at most this many spans.
-- Result: one row (built bigint — the spans written).
WITH todo AS MATERIALIZED (
    SELECT w.span_start, w.span_end, w.version
    FROM brickbox_summary_spans($1::integer) w
    WHERE NOT EXISTS (SELECT 1 FROM metrics_summaries m
                      WHERE m.span_start = w.span_start AND m.span_hours = $1::integer)
    ORDER BY w.span_start DESC
    LIMIT $2::integer
),
raw_requests AS MATERIALIZED (
    SELECT t.span_start, p.endpoint, p.method, p.response_time_ms AS v, p.status_code,
           p.user_id
    FROM todo t
    CROSS JOIN LATERAL (
        SELECT p.endpoint, p.method, p.response_time_ms, p.status_code, p.user_id
        FROM performance_metrics p
        WHERE p.timestamp >= t.span_start AND p.timestamp < t.span_end
        OFFSET 0  -- one index range scan per span
    ) p
),
raw_events AS MATERIALIZED (
    SELECT t.span_start, u.event_type, u.user_id, u.page_name, u.success
    FROM todo t
    CROSS JOIN LATERAL (
        SELECT u.event_type, u.user_id, u.page_name, u.success
        FROM usage_events u
        WHERE u.timestamp >= t.span_start AND u.timestamp < t.span_end
        OFFSET 0
    ) u
),
buckets AS MATERIALIZED (
    SELECT t.span_start, a.kind, a.endpoint, a.method, a.event_type, a.count, a.sum_ms,
           a.error_count, a.hist_keys, a.hist_counts, a.success_true, a.success_known,
           a.page_views
    FROM todo t
    CROSS JOIN LATERAL (
        SELECT * FROM aggregated_metrics a
        WHERE a.kind IN ('request', 'event')  -- the index leads with kind
          AND a.hour >= t.span_start AND a.hour < t.span_end
        OFFSET 0  -- one index range scan per span
    ) a
),
-- Requests per (span, endpoint, method, histogram bucket): raw rows and stored histograms.
cells AS MATERIALIZED (
    SELECT span_start, endpoint, method, k, sum(n)::bigint AS n
    FROM (SELECT span_start, endpoint, method, brickbox_hist_index(v) AS k, count(*) AS n
          FROM raw_requests GROUP BY 1, 2, 3, 4
          UNION ALL
          SELECT b.span_start, b.endpoint, b.method, h.k, h.n
          FROM buckets b, unnest(b.hist_keys, b.hist_counts) AS h(k, n)
          WHERE b.kind = 'request') c
    GROUP BY 1, 2, 3, 4
),
series AS MATERIALIZED (
    SELECT span_start, endpoint, method, sum(n)::bigint AS n, sum(s) AS s,
           sum(e)::bigint AS e
    FROM (SELECT span_start, endpoint, method, count(*) AS n, sum(v) AS s,
                 count(*) FILTER (WHERE status_code >= 400) AS e
          FROM raw_requests GROUP BY 1, 2, 3
          UNION ALL
          SELECT span_start, endpoint, method, count, sum_ms, error_count
          FROM buckets WHERE kind = 'request') x
    GROUP BY 1, 2, 3
),
requests_written AS (
    INSERT INTO metrics_summary_requests
        (span_start, span_hours, endpoint, method, count, sum_ms, error_count, hist_keys,
         hist_counts)
    SELECT s.span_start, $1::integer, s.endpoint, s.method, s.n, s.s, s.e, h.keys, h.counts
    FROM series s
    JOIN (SELECT span_start, endpoint, method, array_agg(k ORDER BY k) AS keys,
                 array_agg(n ORDER BY k) AS counts
          FROM cells GROUP BY 1, 2, 3) h USING (span_start, endpoint, method)
),
-- The p95 of each span's requests: exact over raw rows alone, else from the merged histogram.
span_p95 AS (
    SELECT t.span_start,
           CASE WHEN EXISTS (SELECT 1 FROM buckets b
                             WHERE b.span_start = t.span_start AND b.kind = 'request')
                THEN (SELECT brickbox_hist_percentile(array_agg(k ORDER BY k),
                                                      array_agg(n ORDER BY k), 0.95)
                      FROM (SELECT k, sum(n)::bigint AS n FROM cells c
                            WHERE c.span_start = t.span_start GROUP BY k) m)
                ELSE (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY r.v)
                      FROM raw_requests r WHERE r.span_start = t.span_start)
           END AS p95,
           EXISTS (SELECT 1 FROM buckets b
                   WHERE b.span_start = t.span_start AND b.kind = 'request') AS has_agg
    FROM todo t
),
event_types AS MATERIALIZED (
    SELECT span_start, event_type, sum(n)::bigint AS n, sum(st)::bigint AS st,
           sum(sk)::bigint AS sk
    FROM (SELECT span_start, event_type, count(*) AS n, count(*) FILTER (WHERE success) AS st,
                 count(*) FILTER (WHERE success IS NOT NULL) AS sk
          FROM raw_events GROUP BY 1, 2
          UNION ALL
          SELECT span_start, event_type, count, success_true, success_known
          FROM buckets WHERE kind = 'event') x
    GROUP BY 1, 2
),
pages AS (
    SELECT span_start, event_type, jsonb_object_agg(page_name, n ORDER BY page_name) AS views
    FROM (SELECT span_start, event_type, page_name, sum(n)::bigint AS n
          FROM (SELECT span_start, event_type, page_name, count(*) AS n
                FROM raw_events
                WHERE event_type = 'page_view' AND page_name IS NOT NULL
                GROUP BY 1, 2, 3
                UNION ALL
                SELECT b.span_start, b.event_type, p.key, p.value::bigint
                FROM buckets b, jsonb_each_text(b.page_views) AS p
                WHERE b.kind = 'event') x
          GROUP BY 1, 2, 3) y
    GROUP BY 1, 2
),
events_written AS (
    INSERT INTO metrics_summary_events
        (span_start, span_hours, event_type, count, success_true, success_known, page_views)
    SELECT e.span_start, $1::integer, e.event_type, e.n, e.st, e.sk, coalesce(p.views, '{}')
    FROM event_types e
    LEFT JOIN pages p USING (span_start, event_type)
),
users_written AS (
    INSERT INTO metrics_summary_users (span_start, span_hours, source, event_type, user_id)
    SELECT DISTINCT span_start, $1::integer, source, event_type, user_id
    FROM (SELECT span_start, 'request' AS source, '' AS event_type, user_id FROM raw_requests
          UNION ALL
          SELECT span_start, 'event', event_type, user_id FROM raw_events
          UNION ALL
          SELECT t.span_start, au.source, au.event_type, au.user_id
          FROM todo t
          CROSS JOIN LATERAL (
              SELECT au.source, au.event_type, au.user_id FROM aggregated_users au
              WHERE au.hour >= t.span_start AND au.hour < t.span_end
              OFFSET 0
          ) au) x
    WHERE user_id IS NOT NULL
),
written AS (
    INSERT INTO metrics_summaries
        (span_start, span_hours, version, has_agg, request_count, error_count, sum_ms, p95_ms,
         event_count)
    SELECT t.span_start, $1::integer, t.version, p.has_agg,
           coalesce((SELECT sum(n) FROM series s WHERE s.span_start = t.span_start), 0),
           coalesce((SELECT sum(e) FROM series s WHERE s.span_start = t.span_start), 0),
           (SELECT sum(s) FROM series s WHERE s.span_start = t.span_start),
           p.p95,
           coalesce((SELECT sum(n) FROM event_types e WHERE e.span_start = t.span_start), 0)
    FROM todo t
    JOIN span_p95 p USING (span_start)
    RETURNING 1
)
SELECT count(*)::bigint AS built FROM written;
