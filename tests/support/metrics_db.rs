//! Databases for the admin-metrics tests: a `TestDb` (one per test) migrated by the real
//! binary, filled with a fixed-seed 91-day synthetic dataset, and the expected responses
//! computed independently from a snapshot of the raw rows with plain SQL (`count`, `avg`,
//! `percentile_cont`, `count(DISTINCT …)`; no buckets, no histograms).

use super::db::TestDb;
use serde_json::Value;
use std::process::{Command, Output};

pub struct MetricsDb {
    db: TestDb,
}

impl std::ops::Deref for MetricsDb {
    type Target = TestDb;
    fn deref(&self) -> &TestDb {
        &self.db
    }
}

impl MetricsDb {
    /// A new empty database with brickbox's schema (`brickbox migrate`), and a trigger that
    /// keeps the test server's own requests out of `performance_metrics`: the metrics writer
    /// records every `/api/*` call, which would change the dataset while the test reads it.
    pub fn create() -> MetricsDb {
        let db = MetricsDb {
            db: TestDb::create(),
        };
        let out = db.brickbox(&["migrate"]);
        assert!(
            out.status.success(),
            "brickbox migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        db.sql(
            "CREATE FUNCTION test_drop_own_requests() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RETURN NULL; END $$;
             CREATE TRIGGER test_drop_own_requests BEFORE INSERT ON performance_metrics
               FOR EACH ROW WHEN (NEW.endpoint LIKE '/api/v1/metrics/%')
               EXECUTE FUNCTION test_drop_own_requests();",
        );
        db
    }

    /// A query returning one JSON value.
    pub fn json(&self, sql: &str) -> Value {
        let out = self.sql(sql);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{sql}: not JSON ({e}): {out}"))
    }

    /// Run the real binary with only this database configured.
    pub fn brickbox(&self, args: &[&str]) -> Output {
        brickbox_with(args, &[("DATABASE_URL", &self.url())])
    }

    /// `brickbox job aggregate-metrics`: (exit code, the JSON summary, stderr).
    pub fn aggregate(&self) -> (i32, Value, String) {
        let out = self.brickbox(&["job", "aggregate-metrics"]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let summary = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
        (
            out.status.code().unwrap_or(-1),
            summary,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The synthetic dataset, from a fixed seed: requests and usage events spread over the
    /// last 91 days (so some fall outside every range), several endpoints, methods, users
    /// (and anonymous requests), status codes, event types, pages and success values; plus a
    /// few rows in the current hour. Then `snap_*` copies of the raw rows, which the expected
    /// values are computed from (the job deletes the raw rows it aggregates).
    pub fn fill(&self, requests: u32, events: u32) {
        self.sql(&format!(
            "SELECT setseed(0.42);
             INSERT INTO performance_metrics
                 (timestamp, endpoint, method, status_code, response_time_ms, user_id,
                  error_type, correlation_id)
             SELECT now() - interval '91 days' * r.a,
                    (ARRAY['/api/user/me', '/api/preferences', '/api/preferences/{{preference_key}}',
                           '/api/unity-catalog/query'])[1 + floor(r.b * 4)::int],
                    (ARRAY['GET', 'POST', 'DELETE'])[1 + floor(r.c * 3)::int],
                    (ARRAY[200, 200, 200, 200, 201, 204, 400, 404, 500, 503])[1 + floor(r.d * 10)::int],
                    round((exp(3.5 + 2.0 * (r.e + r.f - 1)))::numeric, 3)::float8,
                    CASE WHEN r.g < 0.1 THEN NULL ELSE 'user' || floor(r.g * 12)::int || '@example.com' END,
                    NULL, md5(i::text)
             FROM generate_series(1, {requests}) AS i,
                  LATERAL (SELECT random() AS a, random() AS b, random() AS c, random() AS d,
                                  random() AS e, random() AS f, random() AS g, i AS seq) r;
             INSERT INTO usage_events (timestamp, event_type, user_id, page_name, element_id, success, metadata)
             SELECT now() - interval '91 days' * r.a,
                    (ARRAY['page_view', 'page_view', 'button_click', 'form_submit', 'query_executed'])[1 + floor(r.b * 5)::int],
                    'user' || floor(r.c * 15)::int || '@example.com',
                    (ARRAY['home', 'catalog', 'models', 'metrics', NULL])[1 + floor(r.d * 5)::int],
                    'el' || floor(r.e * 3)::int,
                    (ARRAY[true, true, false, NULL])[1 + floor(r.f * 4)::int],
                    '{{}}'::jsonb
             FROM generate_series(1, {events}) AS i,
                  LATERAL (SELECT random() AS a, random() AS b, random() AS c, random() AS d,
                                  random() AS e, random() AS f, i AS seq) r;
             INSERT INTO performance_metrics (timestamp, endpoint, method, status_code, response_time_ms, user_id)
             SELECT now(), '/api/user/me', 'GET', 200, 10 + i, 'current' || i || '@example.com'
             FROM generate_series(1, 3) AS i;
             INSERT INTO usage_events (timestamp, event_type, user_id, page_name, success)
             SELECT now(), 'page_view', 'current' || i || '@example.com', 'home', true
             FROM generate_series(2, 5) AS i;
             CREATE TABLE snap_perf AS SELECT * FROM performance_metrics;
             CREATE TABLE snap_events AS SELECT * FROM usage_events;"
        ));
    }

    /// Add rows to the snapshot too (rows inserted late, after the snapshot was taken).
    pub fn snapshot_add(&self, perf_where: &str, events_where: &str) {
        self.sql(&format!(
            "INSERT INTO snap_perf SELECT * FROM performance_metrics WHERE {perf_where};
             INSERT INTO snap_events SELECT * FROM usage_events WHERE {events_where};"
        ));
    }

    /// What `/performance` must answer for [lo, hi], from the snapshot.
    pub fn expected_performance(&self, lo: &str, hi: &str, endpoint: Option<&str>) -> Value {
        let filter = endpoint
            .map(|e| format!("AND endpoint = {}", quote(e)))
            .unwrap_or_default();
        self.json(&format!(
            "WITH r AS (SELECT * FROM snap_perf
                        WHERE timestamp >= {lo} AND timestamp <= {hi} {filter})
             SELECT json_build_object(
               'start_time', {lo}, 'end_time', {hi},
               'metrics', (SELECT json_build_object(
                   'total_requests', count(*),
                   'error_count', count(*) FILTER (WHERE status_code >= 400),
                   'error_rate', (count(*) FILTER (WHERE status_code >= 400))::float8 / nullif(count(*), 0),
                   'avg_response_time_ms', avg(response_time_ms),
                   'p50_response_time_ms', percentile_cont(0.5) WITHIN GROUP (ORDER BY response_time_ms),
                   'p95_response_time_ms', percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms),
                   'p99_response_time_ms', percentile_cont(0.99) WITHIN GROUP (ORDER BY response_time_ms))
                 FROM r),
               'endpoints', (SELECT coalesce(json_agg(e ORDER BY e.request_count DESC, e.endpoint, e.method), '[]')
                 FROM (SELECT endpoint, method, count(*) AS request_count,
                              count(*) FILTER (WHERE status_code >= 400) AS error_count,
                              (count(*) FILTER (WHERE status_code >= 400))::float8 / count(*) AS error_rate,
                              avg(response_time_ms) AS avg_response_time_ms,
                              percentile_cont(0.5) WITHIN GROUP (ORDER BY response_time_ms) AS p50_response_time_ms,
                              percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms) AS p95_response_time_ms,
                              percentile_cont(0.99) WITHIN GROUP (ORDER BY response_time_ms) AS p99_response_time_ms
                       FROM r GROUP BY endpoint, method) e))"
        ))
    }

    /// What `/usage` must answer for [lo, hi], from the snapshot.
    pub fn expected_usage(&self, lo: &str, hi: &str, event_type: Option<&str>) -> Value {
        let filter = event_type
            .map(|t| format!("AND event_type = {}", quote(t)))
            .unwrap_or_default();
        self.json(&format!(
            "WITH e AS (SELECT * FROM snap_events
                        WHERE timestamp >= {lo} AND timestamp <= {hi} {filter}),
                  p AS (SELECT * FROM snap_perf WHERE timestamp >= {lo} AND timestamp <= {hi}),
                  h AS (SELECT date_trunc('hour', {hi}::timestamptz, 'UTC') AS lo)
             SELECT json_build_object(
               'start_time', {lo}, 'end_time', {hi},
               'metrics', json_build_object(
                 'total_events', (SELECT count(*) FROM e),
                 'unique_users', (SELECT count(DISTINCT user_id) FROM e),
                 'active_users', (SELECT count(DISTINCT u) FROM
                     (SELECT user_id AS u FROM e UNION ALL SELECT user_id FROM p) x),
                 'active_users_current_hour', (SELECT count(DISTINCT u) FROM
                     (SELECT user_id AS u FROM e, h WHERE timestamp >= h.lo
                      UNION ALL SELECT user_id FROM p, h WHERE timestamp >= h.lo) x),
                 'success_rate', (SELECT (count(*) FILTER (WHERE success))::float8 / nullif(count(success), 0) FROM e)),
               'event_distribution', (SELECT coalesce(json_object_agg(event_type, n), '{{}}')
                 FROM (SELECT event_type, count(*) AS n FROM e GROUP BY event_type) x),
               'page_views', (SELECT coalesce(json_object_agg(page_name, n), '{{}}')
                 FROM (SELECT page_name, count(*) AS n FROM e
                       WHERE event_type = 'page_view' AND page_name IS NOT NULL
                       GROUP BY page_name) x))"
        ))
    }

    /// What `/time-series` must answer for [lo, hi] with `step` ('hour' or 'day').
    pub fn expected_time_series(&self, lo: &str, hi: &str, step: &str) -> Value {
        self.json(&format!(
            "WITH pts AS (SELECT ts FROM generate_series(date_trunc('{step}', {lo}::timestamptz, 'UTC'),
                                                         date_trunc('{step}', {hi}::timestamptz, 'UTC'),
                                                         interval '1 {step}') AS ts),
                  p AS (SELECT date_trunc('{step}', timestamp, 'UTC') AS ts, count(*) AS n,
                               (count(*) FILTER (WHERE status_code >= 400))::float8 / count(*) AS error_rate,
                               avg(response_time_ms) AS avg_ms,
                               percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms) AS p95
                        FROM snap_perf WHERE timestamp >= {lo} AND timestamp <= {hi} GROUP BY 1),
                  e AS (SELECT date_trunc('{step}', timestamp, 'UTC') AS ts, count(*) AS n,
                               count(DISTINCT user_id) AS users
                        FROM snap_events WHERE timestamp >= {lo} AND timestamp <= {hi} GROUP BY 1)
             SELECT json_agg(json_build_object(
                      'timestamp', pts.ts, 'total_requests', coalesce(p.n, 0),
                      'error_rate', p.error_rate, 'avg_response_time_ms', p.avg_ms,
                      'p95_response_time_ms', p.p95, 'total_events', coalesce(e.n, 0),
                      'unique_users', coalesce(e.users, 0)) ORDER BY pts.ts)
             FROM pts LEFT JOIN p USING (ts) LEFT JOIN e USING (ts)"
        ))
    }
}

/// A SQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The real binary with exactly `env` (plus PATH).
pub fn brickbox_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_brickbox"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("brickbox runs")
}

/// Compare a response with the expected value: same keys and shapes; integers and strings
/// equal; floats within `rel` (relative); keys in `approx` (percentiles) within `approx_rel`;
/// time fields compared as instants, and the response's must end in `Z`.
pub fn assert_matches(
    actual: &Value,
    expected: &Value,
    rel: f64,
    approx: &[&str],
    approx_rel: f64,
    path: &str,
) {
    let key = path.rsplit('.').next().unwrap_or("");
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let mut ak: Vec<&String> = a.keys().collect();
            let mut ek: Vec<&String> = e.keys().collect();
            ak.sort();
            ek.sort();
            if path.ends_with("event_distribution") || path.ends_with("page_views") {
                assert_eq!(ak, ek, "{path}: keys differ");
            } else {
                for k in &ek {
                    assert!(a.contains_key(*k), "{path}: missing {k}");
                }
            }
            for (k, ev) in e {
                assert_matches(&a[k], ev, rel, approx, approx_rel, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(
                a.len(),
                e.len(),
                "{path}: {} items, expected {}",
                a.len(),
                e.len()
            );
            for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                assert_matches(av, ev, rel, approx, approx_rel, &format!("{path}[{i}]"));
            }
        }
        (Value::String(a), Value::String(e))
            if matches!(key, "timestamp" | "start_time" | "end_time") =>
        {
            assert!(a.ends_with('Z'), "{path}: {a} is not UTC with Z");
            let pa = shared::util::parse_rfc3339(a).unwrap_or_else(|| panic!("{path}: {a}"));
            let pe = parse_pg_time(e);
            assert_eq!(pa, pe, "{path}: {a} vs {e}");
        }
        (Value::Number(a), Value::Number(e)) => {
            if a.is_f64() || e.is_f64() {
                let (a, e) = (
                    a.as_f64().unwrap_or(f64::NAN),
                    e.as_f64().unwrap_or(f64::NAN),
                );
                let tol = if approx.contains(&key) {
                    approx_rel
                } else {
                    rel
                };
                assert!(
                    (a - e).abs() <= tol * e.abs().max(1e-9),
                    "{path}: {a} vs expected {e} (tolerance {tol})"
                );
            } else {
                assert_eq!(a, e, "{path}");
            }
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

/// Postgres' JSON timestamps: `2026-11-26T12:00:00.123+00:00`.
fn parse_pg_time(text: &str) -> time::OffsetDateTime {
    shared::util::parse_rfc3339(text)
        .or_else(|| shared::util::parse_rfc3339(&text.replace("+00:00", "Z")))
        .unwrap_or_else(|| panic!("not a timestamp: {text}"))
}

/// A timestamp as a SQL literal, from a response's RFC 3339 text.
pub fn ts(text: &str) -> String {
    format!("'{text}'::timestamptz")
}
