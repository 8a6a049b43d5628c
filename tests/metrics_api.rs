//! The admin metrics functions against a fixed-seed 91-day dataset: every field of
//! the three responses for 24h, 7d, 30d and 90d equals what plain SQL over the raw rows says,
//! before the aggregation job, after it (percentiles within 2 %), and after a second run;
//! plus auth, parameter validation and the unconfigured database.

use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::metrics_db::{assert_matches, ts, MetricsDb};
use crate::support::{get, get_as, TestServer};
use serde_json::Value;

const RANGES: [(&str, i64); 4] = [
    ("24h", 24 * 3600),
    ("7d", 7 * 86400),
    ("30d", 30 * 86400),
    ("90d", 90 * 86400),
];
const PERCENTILES: &[&str] = &[
    "p50_response_time_ms",
    "p95_response_time_ms",
    "p99_response_time_ms",
];

/// Exact fields: float rounding only. Percentiles after aggregation: the histogram's 2 %.
const EXACT: f64 = 1e-9;
const HISTOGRAM: f64 = 0.02;

fn admin(server: &TestServer, path: &str) -> Value {
    let r = get_as(&server.url(path), scim::BOB_ADMIN);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

fn time(v: &Value) -> time::OffsetDateTime {
    shared::util::parse_rfc3339(v.as_str().unwrap_or_default())
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// start_time is the start of the UTC hour `range` before end_time.
fn check_bounds(body: &Value, seconds: i64) {
    let start = time(&body["start_time"]);
    let end = time(&body["end_time"]);
    let back = end - time::Duration::seconds(seconds);
    let hour = back
        .replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap();
    assert_eq!(start, hour, "{body}");
}

/// Compare all three functions for every range with the snapshot; percentiles within `pct`.
/// Returns the responses (to compare runs with each other).
fn check_all(server: &TestServer, db: &MetricsDb, pct: f64) -> Vec<Value> {
    let mut seen = Vec::new();
    for (range, seconds) in RANGES {
        for endpoint in [None, Some("/api/preferences")] {
            let path = match endpoint {
                None => format!("/api/v1/metrics/performance?time_range={range}"),
                Some(e) => format!(
                    "/api/v1/metrics/performance?time_range={range}&endpoint={}",
                    shared::util::percent_encode(e)
                ),
            };
            let body = admin(server, &path);
            assert_eq!(body["time_range"], range);
            check_bounds(&body, seconds);
            let (lo, hi) = (
                ts(body["start_time"].as_str().unwrap()),
                ts(body["end_time"].as_str().unwrap()),
            );
            let expected = db.expected_performance(&lo, &hi, endpoint);
            assert_matches(&body, &expected, EXACT, PERCENTILES, pct, &path);
            if endpoint.is_none() {
                assert!(body["metrics"]["total_requests"].as_i64().unwrap() > 0);
            }
            seen.push(body);
        }
        for event_type in [None, Some("page_view")] {
            let path = match event_type {
                None => format!("/api/v1/metrics/usage?time_range={range}"),
                Some(t) => format!("/api/v1/metrics/usage?time_range={range}&event_type={t}"),
            };
            let body = admin(server, &path);
            check_bounds(&body, seconds);
            let (lo, hi) = (
                ts(body["start_time"].as_str().unwrap()),
                ts(body["end_time"].as_str().unwrap()),
            );
            let expected = db.expected_usage(&lo, &hi, event_type);
            assert_matches(&body, &expected, EXACT, &[], EXACT, &path);
            seen.push(body);
        }
        let steps: &[(Option<&str>, &str)] = if seconds <= 7 * 86400 {
            &[(None, "hour"), (Some("day"), "day")]
        } else {
            &[(None, "day"), (Some("hour"), "hour")]
        };
        for (asked, step) in steps {
            // The series has no start_time: take the range from a /performance call in the same
            // hour (retry if the hour turned in between).
            let (body, lo, hi) = loop {
                let perf = admin(
                    server,
                    &format!("/api/v1/metrics/performance?time_range={range}&endpoint=none"),
                );
                let path = match asked {
                    None => format!("/api/v1/metrics/time-series?time_range={range}"),
                    Some(s) => {
                        format!("/api/v1/metrics/time-series?time_range={range}&interval={s}")
                    }
                };
                let body = admin(server, &path);
                let again = admin(
                    server,
                    &format!("/api/v1/metrics/performance?time_range={range}&endpoint=none"),
                );
                if perf["start_time"] == again["start_time"] {
                    let lo = ts(perf["start_time"].as_str().unwrap());
                    let hi = ts(again["end_time"].as_str().unwrap());
                    break (body, lo, hi);
                }
            };
            assert_eq!(body["interval"], *step);
            assert_eq!(body["time_range"], range);
            let points = body["data_points"].as_array().unwrap();
            let stamps: Vec<time::OffsetDateTime> =
                points.iter().map(|p| time(&p["timestamp"])).collect();
            assert!(stamps.windows(2).all(|w| w[0] < w[1]), "ascending, unique");
            let expected = db.expected_time_series(&lo, &hi, step);
            assert_matches(
                &body["data_points"],
                &expected,
                EXACT,
                &["p95_response_time_ms"],
                pct,
                &format!("time-series {range} {step}"),
            );
            seen.push(body);
        }
    }
    // metric_type leaves the other figures null.
    let perf_only = admin(
        server,
        "/api/v1/metrics/time-series?time_range=7d&metric_type=performance",
    );
    for p in perf_only["data_points"].as_array().unwrap() {
        assert!(p["total_events"].is_null() && p["unique_users"].is_null());
        assert!(p["total_requests"].is_i64());
    }
    let usage_only = admin(
        server,
        "/api/v1/metrics/time-series?time_range=7d&metric_type=usage",
    );
    for p in usage_only["data_points"].as_array().unwrap() {
        assert!(p["total_requests"].is_null() && p["error_rate"].is_null());
        assert!(p["avg_response_time_ms"].is_null() && p["p95_response_time_ms"].is_null());
        assert!(p["total_events"].is_i64() && p["unique_users"].is_i64());
    }
    seen
}

/// Exact fields equal; percentiles within float rounding of each other.
fn same(a: &[Value], b: &[Value]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        let mut x = x.clone();
        let mut y = y.clone();
        for v in [&mut x, &mut y] {
            if let Some(o) = v.as_object_mut() {
                o.remove("end_time");
                o.remove("start_time");
            }
        }
        assert_matches(&x, &y, EXACT, &[], EXACT, "second run");
    }
}

/// A server on `db` whose own summaries refresh is off: the test decides when summaries exist.
fn server_without_refresh(fake: &FakeWorkspace, db: &MetricsDb) -> TestServer {
    let server = TestServer::with_workspace(
        fake,
        &[
            ("DATABASE_URL", &db.url()),
            ("METRICS_SUMMARY_REFRESH_SECONDS", "0"),
        ],
    );
    server.wait_ready();
    server
}

/// `brickbox job refresh-metrics-summaries`: the summaries refresh's JSON.
fn refresh_summaries(db: &MetricsDb) -> Value {
    let out = db.brickbox(&["job", "refresh-metrics-summaries"]);
    assert!(
        out.status.success(),
        "refresh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("refresh prints JSON")
}

#[test]
fn every_field_matches_the_raw_rows_before_and_after_aggregation() {
    let db = MetricsDb::create();
    db.fill(24_000, 12_000);
    let fake = FakeWorkspace::start();
    let server = server_without_refresh(&fake, &db);

    // Before any job run and without summaries: everything from the raw rows, percentiles
    // exactly percentile_cont.
    let live = check_all(&server, &db, EXACT);

    // With the summaries of every past hour and day: the same answers, still exact.
    let refreshed = refresh_summaries(&db);
    assert!(
        refreshed["summaries"]["built"].as_i64().unwrap() > 100,
        "{refreshed}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM metrics_summaries WHERE span_hours = 24"),
        91
    );
    let summarised = check_all(&server, &db, EXACT);
    same(&live, &summarised);

    // Rows written late into summarised hours (a day span and an hour span) and a row
    // deleted from one: counted, and not counted, at once — the summaries of those hours
    // are stale and their hours are read from the sources until the next refresh.
    db.sql(
        "INSERT INTO performance_metrics (timestamp, endpoint, method, status_code, response_time_ms, user_id)
         VALUES (now() - interval '20 days', '/api/late', 'PATCH', 503, 7.25, 'late@example.com'),
                (now() - interval '2 days', '/api/user/me', 'GET', 200, 99999, 'late@example.com');
         INSERT INTO usage_events (timestamp, event_type, user_id, page_name, success)
         VALUES (now() - interval '3 days', 'page_view', 'late@example.com', 'late-page', false);
         DELETE FROM performance_metrics WHERE id = (SELECT min(id) FROM performance_metrics
                                                     WHERE timestamp < now() - interval '2 days'
                                                       AND timestamp > now() - interval '6 days');
         DELETE FROM snap_perf WHERE id = (SELECT min(id) FROM snap_perf
                                           WHERE timestamp < now() - interval '2 days'
                                                       AND timestamp > now() - interval '6 days');",
    );
    db.snapshot_add(
        "user_id = 'late@example.com'",
        "user_id = 'late@example.com'",
    );
    check_all(&server, &db, EXACT);
    let refreshed = refresh_summaries(&db);
    assert!(
        refreshed["summaries"]["pruned"].as_i64().unwrap() >= 3,
        "{refreshed}"
    );
    let before_job = check_all(&server, &db, EXACT);

    let (code, summary, err) = db.aggregate();
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["status"], "ok", "{summary}");
    let moved = summary["requests"]["rows_aggregated"].as_i64().unwrap();
    assert!(moved > 15_000, "{summary}");
    assert!(summary["events"]["rows_aggregated"].as_i64().unwrap() > 7_000);
    // The job rebuilt the summaries of the hours it moved.
    assert!(
        summary["summaries"]["built"].as_i64().unwrap() > 0,
        "{summary}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM performance_metrics WHERE timestamp < date_trunc('hour', now() - interval '7 days', 'UTC')"),
        0
    );
    // Retention took the hours beyond 90 days right away.
    assert_eq!(
        db.count("SELECT count(*) FROM aggregated_metrics WHERE hour < date_trunc('hour', now() - interval '90 days', 'UTC')"),
        0
    );
    assert!(summary["retention"]["aggregated_deleted"].as_i64().unwrap() > 0);

    // After: exact fields unchanged, percentiles over aggregated hours within 2 %; the same
    // with the summaries dropped (everything from the buckets and raw rows).
    let after = check_all(&server, &db, HISTOGRAM);
    db.sql("TRUNCATE metrics_summaries, metrics_summary_requests, metrics_summary_events, metrics_summary_users");
    same(&after, &check_all(&server, &db, HISTOGRAM));
    assert_eq!(before_job.len(), after.len());

    // A second run finds nothing to do and changes nothing.
    let (code, summary, err) = db.aggregate();
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["requests"]["rows_aggregated"], 0, "{summary}");
    assert_eq!(summary["events"]["rows_aggregated"], 0);
    assert_eq!(summary["requests"]["buckets_merged"], 0);
    let again = check_all(&server, &db, HISTOGRAM);
    same(&after, &again);
}

/// The race a summary must survive: a transaction still open while the summaries are built
/// writes into a summarised hour. The summary cannot contain the row; once the transaction
/// commits, its bump of the hour's version makes the summary stale, so the row is counted at
/// once — and the next refresh rebuilds the hour with it.
#[test]
fn a_write_still_open_while_summaries_are_built_counts_once_committed() {
    let db = MetricsDb::create();
    let fake = FakeWorkspace::start();
    let server = server_without_refresh(&fake, &db);
    let total = |server: &TestServer| {
        admin(server, "/api/v1/metrics/performance?time_range=7d")["metrics"]["total_requests"]
            .as_i64()
            .unwrap()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .batch_execute(
                "BEGIN;
                 INSERT INTO performance_metrics (timestamp, endpoint, method, status_code, response_time_ms, user_id)
                 VALUES (now() - interval '3 days', '/api/open', 'GET', 200, 5, 'open@example.com');",
            )
            .await
            .expect("insert");
        let refreshed = refresh_summaries(&db);
        assert!(refreshed["summaries"]["built"].as_i64().unwrap() > 0, "{refreshed}");
        assert_eq!(total(&server), 0, "an uncommitted row is not counted");
        client.batch_execute("COMMIT").await.expect("commit");
    });
    assert_eq!(
        total(&server),
        1,
        "the committed row counts before any refresh"
    );
    let refreshed = refresh_summaries(&db);
    assert!(
        refreshed["summaries"]["pruned"].as_i64().unwrap() >= 1,
        "{refreshed}"
    );
    assert_eq!(total(&server), 1, "and after the refresh");
}

#[test]
fn an_empty_database_answers_zeros_and_nulls() {
    let db = MetricsDb::create();
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[("DATABASE_URL", &db.url())]);
    server.wait_ready();
    let perf = admin(&server, "/api/v1/metrics/performance?time_range=7d");
    let m = &perf["metrics"];
    assert_eq!(m["total_requests"], 0);
    assert_eq!(m["error_count"], 0);
    for k in [
        "error_rate",
        "avg_response_time_ms",
        "p50_response_time_ms",
        "p95_response_time_ms",
        "p99_response_time_ms",
    ] {
        assert!(m.get(k).is_some_and(Value::is_null), "{k}: {perf}");
    }
    assert_eq!(perf["endpoints"], serde_json::json!([]));
    let usage = admin(&server, "/api/v1/metrics/usage?time_range=90d");
    assert_eq!(usage["metrics"]["total_events"], 0);
    assert!(usage["metrics"]["success_rate"].is_null());
    assert_eq!(usage["event_distribution"], serde_json::json!({}));
    let series = admin(&server, "/api/v1/metrics/time-series?time_range=24h");
    let points = series["data_points"].as_array().unwrap();
    assert!(points.len() == 24 || points.len() == 25, "{}", points.len());
    for p in points {
        assert_eq!(p["total_requests"], 0);
        assert_eq!(p["total_events"], 0);
        assert!(p["error_rate"].is_null() && p["p95_response_time_ms"].is_null());
    }
    let days = admin(&server, "/api/v1/metrics/time-series?time_range=90d");
    assert_eq!(days["interval"], "day");
    assert!(matches!(
        days["data_points"].as_array().unwrap().len(),
        91 | 92
    ));
}

#[test]
fn only_admins_and_auth_comes_before_validation() {
    let db = MetricsDb::create();
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[("DATABASE_URL", &db.url())]);
    server.wait_ready();
    for path in [
        "/api/v1/metrics/performance",
        "/api/v1/metrics/usage",
        "/api/v1/metrics/time-series",
    ] {
        let bad = format!("{path}?time_range=1y");
        let r = get(&server.url(&bad), &[]);
        assert_eq!(
            (r.status, r.code().as_str()),
            (401, "AUTH_MISSING"),
            "{bad}"
        );
        let r = get_as(&server.url(&bad), scim::ALICE);
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "ADMIN_REQUIRED"),
            "{bad}"
        );
        let r = get_as(&server.url(&bad), scim::BOB_ADMIN);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "INVALID_REQUEST"),
            "{bad}"
        );
        assert!(r.json()["message"]
            .as_str()
            .unwrap()
            .contains("24h, 7d, 30d, 90d"));
    }
    for (query, allowed) in [
        ("metric_type=cpu", "performance, usage, both"),
        ("interval=week", "hour, day"),
    ] {
        let r = get_as(
            &server.url(&format!("/api/v1/metrics/time-series?{query}")),
            scim::BOB_ADMIN,
        );
        assert_eq!((r.status, r.code().as_str()), (400, "INVALID_REQUEST"));
        assert!(r.json()["message"].as_str().unwrap().contains(allowed));
    }
    let r = get_as(
        &server.url("/api/v1/metrics/usage?event_type=Not-An-Event"),
        scim::BOB_ADMIN,
    );
    assert_eq!(r.status, 400);
}

#[test]
fn without_lakebase_the_functions_answer_503() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    for path in [
        "/api/v1/metrics/performance",
        "/api/v1/metrics/usage",
        "/api/v1/metrics/time-series",
    ] {
        let r = get_as(&server.url(path), scim::BOB_ADMIN);
        assert_eq!(
            (r.status, r.code().as_str()),
            (503, "LAKEBASE_NOT_CONFIGURED"),
            "{path}"
        );
    }
}
