-- Roll the raw request rows older than $1 into hourly buckets and delete them, in one
-- statement: the rows deleted are exactly the rows RETURNING hands to the bucket upsert, so no
-- raw row is ever deleted without being counted (rows inserted meanwhile are not visible to
-- the DELETE and stay for the next run). A bucket that already exists (rows that arrived late
-- for an aggregated hour) is merged: counts, sums, statuses and histograms added, min/max
-- combined, average and percentiles recomputed (percentiles from the merged histogram).
-- Runs under the job's advisory lock, so no other writer touches aggregated_metrics meanwhile.
--
-- Parameters: $1 timestamptz — the cutoff (start of the hour 7 days ago).
-- Result: one row (rows_moved bigint, buckets_inserted bigint, buckets_merged bigint,
--                  users_inserted bigint).
WITH moved AS (
    DELETE FROM performance_metrics
    WHERE timestamp < $1
    RETURNING date_trunc('hour', timestamp, 'UTC') AS hour, endpoint, method, status_code,
              response_time_ms, user_id
),
fresh AS (
    SELECT hour, endpoint, method,
           count(*)                                   AS count,
           sum(response_time_ms)                      AS sum_ms,
           min(response_time_ms)                      AS min_ms,
           max(response_time_ms)                      AS max_ms,
           count(*) FILTER (WHERE status_code >= 400) AS error_count,
           percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS pct
    FROM moved
    GROUP BY hour, endpoint, method
),
old AS (
    SELECT a.*
    FROM aggregated_metrics a
    JOIN fresh f ON a.kind = 'request' AND a.hour = f.hour AND a.endpoint = f.endpoint
                AND a.method = f.method AND a.event_type = ''
),
statuses AS (
    SELECT hour, endpoint, method, jsonb_object_agg(status, n ORDER BY status) AS status_counts
    FROM (
        SELECT hour, endpoint, method, status, sum(n) AS n
        FROM (
            SELECT hour, endpoint, method, status_code::text AS status, count(*) AS n
            FROM moved GROUP BY 1, 2, 3, 4
            UNION ALL
            SELECT o.hour, o.endpoint, o.method, s.key, s.value::bigint
            FROM old o, jsonb_each_text(o.status_counts) AS s
        ) u
        GROUP BY 1, 2, 3, 4
    ) t
    GROUP BY hour, endpoint, method
),
hists AS (
    SELECT hour, endpoint, method,
           array_agg(idx ORDER BY idx) AS hist_keys,
           array_agg(n ORDER BY idx)   AS hist_counts
    FROM (
        SELECT hour, endpoint, method, idx, sum(n)::bigint AS n
        FROM (
            SELECT hour, endpoint, method, brickbox_hist_index(response_time_ms) AS idx,
                   count(*) AS n
            FROM moved GROUP BY 1, 2, 3, 4
            UNION ALL
            SELECT o.hour, o.endpoint, o.method, h.idx, h.n
            FROM old o, unnest(o.hist_keys, o.hist_counts) AS h(idx, n)
        ) u
        GROUP BY 1, 2, 3, 4
    ) t
    GROUP BY hour, endpoint, method
),
merged AS (
    SELECT f.hour, f.endpoint, f.method,
           f.count + coalesce(o.count, 0)                     AS count,
           f.sum_ms + coalesce(o.sum_ms, 0)                   AS sum_ms,
           least(f.min_ms, o.min_ms)                          AS min_ms,
           greatest(f.max_ms, o.max_ms)                       AS max_ms,
           f.error_count + coalesce(o.error_count, 0)         AS error_count,
           s.status_counts, h.hist_keys, h.hist_counts,
           o.hour IS NOT NULL                                 AS was_there,
           f.pct
    FROM fresh f
    LEFT JOIN old o USING (hour, endpoint, method)
    JOIN statuses s USING (hour, endpoint, method)
    JOIN hists h USING (hour, endpoint, method)
),
upserted AS (
    INSERT INTO aggregated_metrics AS a
        (kind, hour, endpoint, method, event_type, count, sum_ms, min_ms, max_ms, avg_ms,
         error_count, status_counts, p50_ms, p95_ms, p99_ms, hist_keys, hist_counts, updated_at)
    SELECT 'request', hour, endpoint, method, '', count, sum_ms, min_ms, max_ms, sum_ms / count,
           error_count, status_counts,
           CASE WHEN was_there THEN brickbox_hist_percentile(hist_keys, hist_counts, 0.5)  ELSE pct[1] END,
           CASE WHEN was_there THEN brickbox_hist_percentile(hist_keys, hist_counts, 0.95) ELSE pct[2] END,
           CASE WHEN was_there THEN brickbox_hist_percentile(hist_keys, hist_counts, 0.99) ELSE pct[3] END,
           hist_keys, hist_counts, now()
    FROM merged
    ON CONFLICT ON CONSTRAINT aggregated_metrics_bucket_key DO UPDATE SET
        count = EXCLUDED.count, sum_ms = EXCLUDED.sum_ms, min_ms = EXCLUDED.min_ms,
        max_ms = EXCLUDED.max_ms, avg_ms = EXCLUDED.avg_ms, error_count = EXCLUDED.error_count,
        status_counts = EXCLUDED.status_counts, p50_ms = EXCLUDED.p50_ms,
        p95_ms = EXCLUDED.p95_ms, p99_ms = EXCLUDED.p99_ms, hist_keys = EXCLUDED.hist_keys,
        hist_counts = EXCLUDED.hist_counts, updated_at = EXCLUDED.updated_at
    RETURNING (xmax = 0) AS inserted
),
users AS (
    INSERT INTO aggregated_users (hour, source, event_type, user_id)
    SELECT DISTINCT hour, 'request', '', user_id FROM moved WHERE user_id IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved)                                AS rows_moved,
       (SELECT count(*) FROM upserted WHERE inserted)              AS buckets_inserted,
       (SELECT count(*) FROM upserted WHERE NOT inserted)          AS buckets_merged,
       (SELECT count(*) FROM users)                                AS users_inserted;
