-- 0003: summaries of whole past hours and days, so that an admin metrics query reads a few
-- hundred summary rows instead of every raw row of its range (issue 4's 300 ms targets).
--
-- A summary is a cache, never a source: it holds, for one span (a whole UTC hour or a whole
-- UTC day that ended before it was built), exactly what the queries would compute from the
-- raw rows plus the aggregated buckets of that span. A query uses a summary only while it is
-- valid, and computes every other hour of its range from the sources, as before
-- (docs/metrics.md, "Summaries").
--
-- Validity: every statement that inserts, updates or deletes rows of the four source tables
-- bumps the version of each UTC hour it touched (statement triggers below, in the writer's own
-- transaction). A summary records the sum of its hours' versions when it was built, from the
-- same snapshot it read the rows from; versions only grow, so a summary whose recorded sum
-- differs from the current sum is stale and ignored. A write that was uncommitted when the
-- summary was built commits its version bump too, so it makes the summary stale.

CREATE TABLE metrics_hour_versions (
    hour    timestamptz PRIMARY KEY,
    version bigint      NOT NULL
);

-- Bumps the version of each UTC hour the triggering statement touched. TG_ARGV[0] names the
-- time column ('timestamp' for raw rows, 'hour' for buckets). Hours are locked in order, so
-- two writers touching the same hours cannot deadlock here.
CREATE FUNCTION brickbox_bump_hour_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    touched text;
BEGIN
    touched := CASE TG_OP
        WHEN 'INSERT' THEN format('SELECT %I AS t FROM new_rows', TG_ARGV[0])
        WHEN 'DELETE' THEN format('SELECT %I AS t FROM old_rows', TG_ARGV[0])
        ELSE format('SELECT %I AS t FROM new_rows UNION ALL SELECT %I FROM old_rows',
                    TG_ARGV[0], TG_ARGV[0])
    END;
    EXECUTE format(
        'INSERT INTO metrics_hour_versions AS v (hour, version)
         SELECT DISTINCT date_trunc(''hour'', t, ''UTC''), 1 FROM (%s) x ORDER BY 1
         ON CONFLICT (hour) DO UPDATE SET version = v.version + 1', touched);
    RETURN NULL;
END
$$;

-- TRUNCATE has no transition table: every summary goes.
CREATE FUNCTION brickbox_drop_summaries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM metrics_summaries;
    DELETE FROM metrics_summary_requests;
    DELETE FROM metrics_summary_events;
    DELETE FROM metrics_summary_users;
    RETURN NULL;
END
$$;

-- The triggers, the same four on each source table: <table>_versions_<insert|update|delete>
-- bump the versions of the hours their statement touched (the table's time column as the
-- argument), <table>_versions_truncate drops every summary.
DO $$
DECLARE
    source record;
BEGIN
    FOR source IN SELECT * FROM (VALUES ('performance_metrics', 'timestamp'),
                                        ('usage_events', 'timestamp'),
                                        ('aggregated_metrics', 'hour'),
                                        ('aggregated_users', 'hour')) AS s(tbl, col)
    LOOP
        EXECUTE format('CREATE TRIGGER %1$s_versions_insert AFTER INSERT ON %1$I
                            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
                            EXECUTE FUNCTION brickbox_bump_hour_versions(%2$L)',
                       source.tbl, source.col);
        EXECUTE format('CREATE TRIGGER %1$s_versions_update AFTER UPDATE ON %1$I
                            REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
                            FOR EACH STATEMENT
                            EXECUTE FUNCTION brickbox_bump_hour_versions(%2$L)',
                       source.tbl, source.col);
        EXECUTE format('CREATE TRIGGER %1$s_versions_delete AFTER DELETE ON %1$I
                            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
                            EXECUTE FUNCTION brickbox_bump_hour_versions(%2$L)',
                       source.tbl, source.col);
        EXECUTE format('CREATE TRIGGER %1$s_versions_truncate AFTER TRUNCATE ON %1$I
                            FOR EACH STATEMENT EXECUTE FUNCTION brickbox_drop_summaries()',
                       source.tbl);
    END LOOP;
END
$$;

-- One row per span: span_hours 1 (a UTC hour) or 24 (a UTC day).
CREATE TABLE metrics_summaries (
    span_start    timestamptz      NOT NULL,
    span_hours    smallint         NOT NULL CHECK (span_hours IN (1, 24)),
    -- The sum of metrics_hour_versions over the span's hours, from the build's snapshot.
    version       bigint           NOT NULL,
    -- Some request bucket lies in the span: its percentiles are histogram estimates.
    has_agg       boolean          NOT NULL,
    request_count bigint           NOT NULL,
    error_count   bigint           NOT NULL,
    sum_ms        double precision,
    -- p95 of all the span's requests: percentile_cont when has_agg is false, else from the
    -- merged histogram (within 2 %). NULL without requests.
    p95_ms        double precision,
    event_count   bigint           NOT NULL,
    built_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (span_start, span_hours)
);

-- Per (endpoint, method): counts and the span's merged histogram (brickbox_hist_index keys).
CREATE TABLE metrics_summary_requests (
    span_start  timestamptz      NOT NULL,
    span_hours  smallint         NOT NULL,
    endpoint    text             NOT NULL,
    method      text             NOT NULL,
    count       bigint           NOT NULL,
    sum_ms      double precision NOT NULL,
    error_count bigint           NOT NULL,
    hist_keys   integer[]        NOT NULL,
    hist_counts bigint[]         NOT NULL,
    PRIMARY KEY (span_start, span_hours, endpoint, method)
);

CREATE TABLE metrics_summary_events (
    span_start    timestamptz NOT NULL,
    span_hours    smallint    NOT NULL,
    event_type    text        NOT NULL,
    count         bigint      NOT NULL,
    success_true  bigint      NOT NULL,
    success_known bigint      NOT NULL,
    page_views    jsonb       NOT NULL,
    PRIMARY KEY (span_start, span_hours, event_type)
);

-- The span's distinct users: source 'request' (event_type '') or 'event' per event type.
CREATE TABLE metrics_summary_users (
    span_start timestamptz NOT NULL,
    span_hours smallint    NOT NULL,
    source     text        NOT NULL,
    event_type text        NOT NULL,
    user_id    text        NOT NULL,
    PRIMARY KEY (span_start, span_hours, source, event_type, user_id)
);

-- Exact percentiles read the raw rows of one histogram bucket of one series (or of all
-- series) in the range; with the time in the index these are index-only range scans.
DROP INDEX performance_metrics_response_time_idx;
CREATE INDEX performance_metrics_response_time_idx
    ON performance_metrics (response_time_ms) INCLUDE (timestamp);
CREATE INDEX performance_metrics_series_response_time_idx
    ON performance_metrics (endpoint, method, response_time_ms) INCLUDE (timestamp);

-- The spans worth keeping summaries for, which the builder fills and prunes to:
-- * whole UTC days of the last 91 days (every range's whole days);
-- * whole UTC hours where queries need hours: the last 8 days (24h and 7d ranges, hourly
--   time series, the current day) and the first, partial day of a 30d and a 90d range.
-- Only spans that ended before now: a span is built once its hours can get no new row in
-- the normal course (a late row only makes it stale). version is the current sum of the
-- span's hour versions. span_hours: 1 or 24.
CREATE FUNCTION brickbox_summary_spans(span_hours integer)
RETURNS TABLE (span_start timestamptz, span_end timestamptz, version bigint)
LANGUAGE sql STABLE SET TimeZone = 'UTC' AS $$
    SELECT s.s, s.s + make_interval(hours => span_hours),
           (SELECT coalesce(sum(v.version), 0)::bigint FROM metrics_hour_versions v
            WHERE v.hour >= s.s AND v.hour < s.s + make_interval(hours => span_hours))
    FROM (SELECT generate_series(date_trunc('day', now() - interval '91 days', 'UTC'),
                                 date_trunc('day', now(), 'UTC') - interval '1 day',
                                 interval '1 day') AS s
          WHERE span_hours = 24
          UNION
          SELECT generate_series(d, least(d + interval '23 hours',
                                          date_trunc('hour', now(), 'UTC') - interval '1 hour'),
                                 interval '1 hour')
          FROM unnest(ARRAY[date_trunc('day', now() - interval '90 days', 'UTC'),
                            date_trunc('day', now() - interval '30 days', 'UTC')]) AS d
          WHERE span_hours = 1
          UNION
          SELECT generate_series(date_trunc('day', now() - interval '8 days', 'UTC'),
                                 date_trunc('hour', now(), 'UTC') - interval '1 hour',
                                 interval '1 hour')
          WHERE span_hours = 1) s
$$;

-- How a query covers [range_start, range_end] (range_start on an hour, range_end now): the
-- valid summaries of spans wholly inside the range and before the current hour — days when
-- use_days, else hours; hours only where no chosen day covers them — and the intervals of
-- the remaining hours, which the query computes from the raw rows and buckets. Each hour of
-- the range is in exactly one row. A row is either a span (span_start, span_hours) or a live
-- interval [live_start, live_end) (the last one ends after range_end: callers also bound by
-- range_end). STABLE: it reads the calling statement's snapshot, the one the query reads
-- its sources from.
CREATE FUNCTION brickbox_summary_cover(range_start timestamptz, range_end timestamptz,
                                       use_days boolean)
RETURNS TABLE (span_start timestamptz, span_hours smallint, live_start timestamptz,
               live_end timestamptz)
LANGUAGE sql STABLE AS $$
    WITH valid AS MATERIALIZED (
        SELECT m.span_start, m.span_hours
        FROM metrics_summaries m
        WHERE m.span_start >= range_start
          AND m.span_start + make_interval(hours => m.span_hours)
              <= date_trunc('hour', range_end, 'UTC')
          AND (use_days OR m.span_hours = 1)
          AND m.version = (SELECT coalesce(sum(v.version), 0) FROM metrics_hour_versions v
                           WHERE v.hour >= m.span_start
                             AND v.hour < m.span_start + make_interval(hours => m.span_hours))
    ),
    chosen AS MATERIALIZED (
        SELECT d.span_start, d.span_hours FROM valid d WHERE d.span_hours = 24
        UNION ALL
        SELECT h.span_start, h.span_hours FROM valid h
        WHERE h.span_hours = 1
          AND NOT EXISTS (SELECT 1 FROM valid d
                          WHERE d.span_hours = 24
                            AND d.span_start = date_trunc('day', h.span_start, 'UTC'))
    ),
    uncovered AS (
        SELECT g.hour,
               g.hour - make_interval(hours => (row_number() OVER (ORDER BY g.hour))::integer)
                   AS island
        FROM generate_series(range_start, date_trunc('hour', range_end, 'UTC'),
                             interval '1 hour') AS g(hour)
        WHERE g.hour NOT IN (SELECT generate_series(c.span_start,
                                                    c.span_start + make_interval(hours => c.span_hours - 1),
                                                    interval '1 hour')
                             FROM chosen c)
    )
    SELECT c.span_start, c.span_hours, NULL::timestamptz, NULL::timestamptz FROM chosen c
    UNION ALL
    SELECT NULL, NULL, min(u.hour), max(u.hour) + interval '1 hour' FROM uncovered u
    GROUP BY u.island
$$;
