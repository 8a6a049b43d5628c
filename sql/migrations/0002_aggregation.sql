-- 0002: hourly roll-ups of the raw metrics tables, written only by
-- `brickbox job aggregate-metrics` and read by the admin metrics functions.
--
-- Invariant: a raw row is either still in its raw table or already counted in exactly one
-- bucket here — the job moves rows with one DELETE … RETURNING feeding the INSERT in the same
-- statement. Readers therefore add the buckets of a range to the raw rows of that range and
-- count every row exactly once, whatever the job has done (docs/metrics.md).

-- One row per bucket: kind 'request' per (hour, endpoint, method), kind 'event' per
-- (hour, event_type). The key columns not used by a kind hold '' (not NULL) so that one plain
-- unique constraint is the ON CONFLICT target.
CREATE TABLE aggregated_metrics (
    kind          text             NOT NULL CHECK (kind IN ('request', 'event')),
    hour          timestamptz      NOT NULL,
    endpoint      text             NOT NULL DEFAULT '',
    method        text             NOT NULL DEFAULT '',
    event_type    text             NOT NULL DEFAULT '',
    count         bigint           NOT NULL,
    -- Requests: response times in ms. p50/p95/p99 are percentile_cont over the raw rows when
    -- the bucket was written in one go, and histogram estimates (within 2 %) once late rows
    -- were merged into it.
    sum_ms        double precision,
    min_ms        double precision,
    max_ms        double precision,
    avg_ms        double precision,
    error_count   bigint           NOT NULL DEFAULT 0,
    status_counts jsonb            NOT NULL DEFAULT '{}',
    p50_ms        double precision,
    p95_ms        double precision,
    p99_ms        double precision,
    -- The mergeable histogram of response times: hist_keys[i] is a bucket index (ascending,
    -- unique) and hist_counts[i] its number of rows. See brickbox_hist_index.
    hist_keys     integer[],
    hist_counts   bigint[],
    -- Events: success = true among success IS NOT NULL, and page_view events per page_name.
    success_true  bigint           NOT NULL DEFAULT 0,
    success_known bigint           NOT NULL DEFAULT 0,
    page_views    jsonb            NOT NULL DEFAULT '{}',
    updated_at    timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT aggregated_metrics_bucket_key UNIQUE (kind, hour, endpoint, method, event_type)
);

-- Exact percentiles over raw rows read only the rows of a few narrow value ranges (see
-- sql/metrics_performance.sql): this index finds them without scanning the range again.
CREATE INDEX performance_metrics_response_time_idx ON performance_metrics (response_time_ms);

-- The distinct users of each hour, which exact distinct counts over aggregated hours need
-- (a count per bucket cannot be added up). source 'request' rows have event_type ''.
CREATE TABLE aggregated_users (
    hour       timestamptz NOT NULL,
    source     text        NOT NULL CHECK (source IN ('request', 'event')),
    event_type text        NOT NULL DEFAULT '',
    user_id    text        NOT NULL,
    CONSTRAINT aggregated_users_pkey PRIMARY KEY (hour, source, event_type, user_id)
);

-- Histogram scheme (DDSketch-style logarithmic buckets, relative accuracy a = 0.02):
-- g = (1 + a) / (1 - a); bucket i holds the values x with g^(i-1) < x <= g^i, i.e.
-- i = ceil(ln x / ln g); its representative value 2 g^i / (g + 1) is within a (2 %) of every x
-- in the bucket. Values below 0.001 ms share the lowest bucket (their absolute error is below
-- 0.001 ms). Merging histograms is adding counts per index.
-- The fine index splits every histogram bucket into 16 (bucket = ceil(fine / 16), so the two
-- always agree). Queries over raw rows use it to find exact percentiles cheaply: a first pass
-- counts rows per fine bucket, which locates the bucket of each wanted rank; a second pass
-- sorts only the rows of those few narrow buckets.
CREATE FUNCTION brickbox_hist_fine(ms double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ceil(16 * ln(greatest(ms, 0.001)) / ln(1.02::double precision / 0.98))::integer;

-- The value range of fine bucket k, widened by 1e-9 on each side so that rounding never
-- excludes a row that brickbox_hist_fine puts in k (callers re-check with brickbox_hist_fine).
-- The lowest bucket also holds everything below 0.001 ms, down to zero and below.
CREATE FUNCTION brickbox_hist_fine_lower(k integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN k <= brickbox_hist_fine(0.001) THEN '-Infinity'::double precision
            ELSE power(1.02::double precision / 0.98, (k - 1) / 16.0::double precision) * (1 - 1e-9) END;

CREATE FUNCTION brickbox_hist_fine_upper(k integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN power(1.02::double precision / 0.98, k / 16.0::double precision) * (1 + 1e-9);

CREATE FUNCTION brickbox_hist_bucket(fine integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ceil(fine::double precision / 16)::integer;

CREATE FUNCTION brickbox_hist_index(ms double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN brickbox_hist_bucket(brickbox_hist_fine(ms));

CREATE FUNCTION brickbox_hist_value(idx integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 2 * power(1.02::double precision / 0.98, idx) / (1.02::double precision / 0.98 + 1);

-- The q-quantile of a histogram, mirroring percentile_cont: the values at ranks floor(r) and
-- floor(r) + 1 (0-based, r = q (n - 1)) are each estimated by their bucket's representative
-- and interpolated linearly. Both estimates are within 2 % of the true values, so the
-- interpolation is within 2 % of percentile_cont. keys ascending; NULL for an empty histogram.
CREATE FUNCTION brickbox_hist_percentile(keys integer[], counts bigint[], q double precision)
RETURNS double precision
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    n    bigint := 0;
    cum  bigint := 0;
    r    double precision;
    k    bigint;
    f    double precision;
    lo   double precision;
    hi   double precision;
BEGIN
    IF keys IS NULL OR counts IS NULL THEN
        RETURN NULL;
    END IF;
    FOR i IN 1 .. coalesce(array_length(counts, 1), 0) LOOP
        n := n + counts[i];
    END LOOP;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    r := q * (n - 1);
    k := floor(r);
    f := r - k;
    FOR i IN 1 .. array_length(keys, 1) LOOP
        cum := cum + counts[i];
        IF lo IS NULL AND cum > k THEN
            lo := brickbox_hist_value(keys[i]);
        END IF;
        IF cum > k + 1 THEN
            hi := brickbox_hist_value(keys[i]);
            EXIT;
        END IF;
    END LOOP;
    IF f = 0 OR hi IS NULL THEN
        RETURN lo;
    END IF;
    RETURN lo + f * (hi - lo);
END
$$;
