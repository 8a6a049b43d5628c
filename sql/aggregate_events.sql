-- Roll the raw usage events older than $1 into hourly buckets per event_type and delete them,
-- in one statement (see aggregate_requests.sql for why that is safe). An existing bucket is
-- merged: counts, success counts and page views added.
--
-- Parameters: $1 timestamptz — the cutoff (start of the hour 7 days ago).
-- Result: one row (rows_moved bigint, buckets_inserted bigint, buckets_merged bigint,
--                  users_inserted bigint).
WITH moved AS (
    DELETE FROM usage_events
    WHERE timestamp < $1
    RETURNING date_trunc('hour', timestamp, 'UTC') AS hour, event_type, user_id, page_name,
              success
),
fresh AS (
    SELECT hour, event_type,
           count(*)                                   AS count,
           count(*) FILTER (WHERE success)            AS success_true,
           count(*) FILTER (WHERE success IS NOT NULL) AS success_known
    FROM moved
    GROUP BY hour, event_type
),
old AS (
    SELECT a.*
    FROM aggregated_metrics a
    JOIN fresh f ON a.kind = 'event' AND a.hour = f.hour AND a.endpoint = ''
                AND a.method = '' AND a.event_type = f.event_type
),
pages AS (
    SELECT hour, event_type, jsonb_object_agg(page_name, n ORDER BY page_name) AS page_views
    FROM (
        SELECT hour, event_type, page_name, sum(n) AS n
        FROM (
            SELECT hour, event_type, page_name, count(*) AS n
            FROM moved
            WHERE event_type = 'page_view' AND page_name IS NOT NULL
            GROUP BY 1, 2, 3
            UNION ALL
            SELECT o.hour, o.event_type, p.key, p.value::bigint
            FROM old o, jsonb_each_text(o.page_views) AS p
        ) u
        GROUP BY 1, 2, 3
    ) t
    GROUP BY hour, event_type
),
upserted AS (
    INSERT INTO aggregated_metrics AS a
        (kind, hour, endpoint, method, event_type, count, success_true, success_known,
         page_views, updated_at)
    SELECT 'event', f.hour, '', '', f.event_type,
           f.count + coalesce(o.count, 0),
           f.success_true + coalesce(o.success_true, 0),
           f.success_known + coalesce(o.success_known, 0),
           coalesce(p.page_views, '{}'), now()
    FROM fresh f
    LEFT JOIN old o USING (hour, event_type)
    LEFT JOIN pages p USING (hour, event_type)
    ON CONFLICT ON CONSTRAINT aggregated_metrics_bucket_key DO UPDATE SET
        count = EXCLUDED.count, success_true = EXCLUDED.success_true,
        success_known = EXCLUDED.success_known, page_views = EXCLUDED.page_views,
        updated_at = EXCLUDED.updated_at
    RETURNING (xmax = 0) AS inserted
),
users AS (
    INSERT INTO aggregated_users (hour, source, event_type, user_id)
    SELECT DISTINCT hour, 'event', event_type, user_id FROM moved WHERE user_id IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved)                       AS rows_moved,
       (SELECT count(*) FROM upserted WHERE inserted)     AS buckets_inserted,
       (SELECT count(*) FROM upserted WHERE NOT inserted) AS buckets_merged,
       (SELECT count(*) FROM users)                       AS users_inserted;
