//! `brickbox job aggregate-metrics` through the real binary: late rows merged into
//! existing buckets, the advisory lock, concurrent runs, retention, the exit codes.

use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::metrics_db::{assert_matches, brickbox_with, ts, MetricsDb};
use crate::support::{get_as, TestServer};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const PERCENTILES: &[&str] = &[
    "p50_response_time_ms",
    "p95_response_time_ms",
    "p99_response_time_ms",
];

fn check_performance_and_usage(server: &TestServer, db: &MetricsDb, range: &str) {
    let perf = get_as(
        &server.url(&format!("/api/v1/metrics/performance?time_range={range}")),
        scim::BOB_ADMIN,
    )
    .json();
    let (lo, hi) = (
        ts(perf["start_time"].as_str().unwrap()),
        ts(perf["end_time"].as_str().unwrap()),
    );
    let expected = db.expected_performance(&lo, &hi, None);
    assert_matches(&perf, &expected, 1e-9, PERCENTILES, 0.02, range);
    let usage = get_as(
        &server.url(&format!("/api/v1/metrics/usage?time_range={range}")),
        scim::BOB_ADMIN,
    )
    .json();
    let (lo, hi) = (
        ts(usage["start_time"].as_str().unwrap()),
        ts(usage["end_time"].as_str().unwrap()),
    );
    let expected = db.expected_usage(&lo, &hi, None);
    assert_matches(&usage, &expected, 1e-9, &[], 0.0, range);
}

#[test]
fn late_rows_for_an_aggregated_hour_are_counted_at_once_and_merged_by_the_next_run() {
    let db = MetricsDb::create();
    db.fill(6_000, 3_000);
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[("DATABASE_URL", &db.url())]);
    server.wait_ready();
    let (code, summary, err) = db.aggregate();
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["requests"]["buckets_merged"], 0);

    // Rows arriving late for hours the job already rolled up: an existing bucket (same hour,
    // endpoint and method as an aggregated row), a new bucket, and a new user.
    db.sql(
        "INSERT INTO performance_metrics (timestamp, endpoint, method, status_code, response_time_ms, user_id)
         SELECT a.hour + interval '10 minutes', a.endpoint, a.method, 500, 1234.5, 'late@example.com'
         FROM aggregated_metrics a WHERE a.kind = 'request'
           AND a.hour > now() - interval '20 days' ORDER BY a.hour LIMIT 3;
         INSERT INTO performance_metrics (timestamp, endpoint, method, status_code, response_time_ms, user_id)
         VALUES (now() - interval '12 days', '/api/late', 'PATCH', 200, 7.25, 'late@example.com');
         INSERT INTO usage_events (timestamp, event_type, user_id, page_name, success)
         VALUES (now() - interval '12 days', 'page_view', 'late@example.com', 'late-page', true);",
    );
    db.snapshot_add(
        "user_id = 'late@example.com'",
        "user_id = 'late@example.com'",
    );
    // Counted at once: every row is in exactly one place, raw or bucket.
    check_performance_and_usage(&server, &db, "30d");

    let (code, summary, err) = db.aggregate();
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["requests"]["rows_aggregated"], 4, "{summary}");
    assert_eq!(summary["requests"]["buckets_merged"], 3, "{summary}");
    assert_eq!(summary["requests"]["buckets_inserted"], 1, "{summary}");
    assert_eq!(summary["events"]["rows_aggregated"], 1, "{summary}");
    assert_eq!(
        db.count("SELECT count(*) FROM performance_metrics WHERE user_id = 'late@example.com'"),
        0
    );
    // The merged buckets stay consistent with themselves.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM aggregated_metrics WHERE kind = 'request' AND
               (count <> (SELECT sum(c) FROM unnest(hist_counts) c)
                OR abs(avg_ms - sum_ms / count) > 1e-9 * abs(avg_ms)
                OR count < error_count
                OR count <> (SELECT sum(value::bigint) FROM jsonb_each_text(status_counts)))"
        ),
        0
    );
    check_performance_and_usage(&server, &db, "30d");
    check_performance_and_usage(&server, &db, "90d");
}

#[test]
fn a_run_holding_the_lock_makes_another_exit_0_and_concurrent_runs_are_safe() {
    let db = MetricsDb::create();
    db.fill(4_000, 2_000);
    let old = db.count(
        "SELECT count(*) FROM performance_metrics WHERE timestamp < date_trunc('hour', now() - interval '7 days', 'UTC')",
    );
    assert!(old > 0);

    // Another session holds the job's advisory lock: the run exits 0 and touches nothing.
    let mut holder = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", &db.name, "-qtA"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("psql starts");
    let mut stdin = holder.stdin.take().unwrap();
    writeln!(
        stdin,
        "SELECT pg_advisory_lock({}); SELECT 'locked';",
        runtime::job::LOCK_KEY
    )
    .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        if line.trim() == "locked" {
            break;
        }
    }
    let (code, summary, err) = db.aggregate();
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["status"], "skipped", "{summary}");
    assert_eq!(
        db.count("SELECT count(*) FROM performance_metrics WHERE timestamp < date_trunc('hour', now() - interval '7 days', 'UTC')"),
        old
    );
    writeln!(stdin, "\\q").unwrap();
    drop(stdin);
    let _ = holder.wait();

    // Two runs at once: both exit 0, every old row is aggregated exactly once.
    let url = db.url();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                brickbox_with(&["job", "aggregate-metrics"], &[("DATABASE_URL", &url)])
            })
        })
        .collect();
    let mut moved = 0;
    for run in runs {
        let out = run.join().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        moved += summary["requests"]["rows_aggregated"].as_i64().unwrap_or(0);
    }
    assert_eq!(moved, old);
    // Nothing lost, nothing counted twice: buckets plus raw rows are the snapshot, less the
    // hours beyond 90 days that retention removed.
    assert_eq!(
        db.count("SELECT coalesce(sum(count), 0) FROM aggregated_metrics WHERE kind = 'request'")
            + db.count("SELECT count(*) FROM performance_metrics"),
        db.count("SELECT count(*) FROM snap_perf WHERE timestamp >= date_trunc('hour', now() - interval '90 days', 'UTC')")
    );
}

#[test]
fn retention_deletes_only_what_it_should() {
    let db = MetricsDb::create();
    db.sql(
        "INSERT INTO model_inference_logs (request_id, endpoint_name, user_id, status, created_at)
         VALUES ('old', 'e', 'u', 'SUCCESS', now() - interval '31 days'),
                ('kept', 'e', 'u', 'SUCCESS', now() - interval '29 days');
         INSERT INTO schema_detection_events (endpoint_name, user_id, detected_type, status, latency_ms, created_at)
         VALUES ('old', 'u', 'UNKNOWN', 'SUCCESS', 1, now() - interval '31 days'),
                ('kept', 'u', 'UNKNOWN', 'SUCCESS', 1, now() - interval '29 days');
         INSERT INTO user_preferences (user_id, preference_key, preference_value, created_at, updated_at)
         VALUES ('u', 'theme', '{}', now() - interval '200 days', now() - interval '200 days');
         INSERT INTO performance_metrics (timestamp, endpoint, method, status_code, response_time_ms, user_id)
         VALUES (now() - interval '95 days', '/api/x', 'GET', 200, 1, 'u'),
                (now() - interval '89 days', '/api/x', 'GET', 200, 2, 'u'),
                (now() - interval '8 days', '/api/x', 'GET', 200, 3, 'u'),
                (now() - interval '6 days', '/api/x', 'GET', 200, 4, 'u');
         INSERT INTO usage_events (timestamp, event_type, user_id)
         VALUES (now() - interval '95 days', 'page_view', 'u'),
                (now() - interval '89 days', 'page_view', 'u');",
    );
    let (code, summary, err) = db.aggregate();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        summary["retention"]["inference_logs_deleted"], 1,
        "{summary}"
    );
    assert_eq!(summary["retention"]["detection_events_deleted"], 1);
    assert_eq!(summary["retention"]["aggregated_deleted"], 2);
    assert_eq!(
        db.sql("SELECT request_id FROM model_inference_logs"),
        "kept"
    );
    assert_eq!(
        db.sql("SELECT endpoint_name FROM schema_detection_events"),
        "kept"
    );
    assert_eq!(db.count("SELECT count(*) FROM user_preferences"), 1);
    // The 89- and 8-day-old requests are buckets now; the 6-day-old one is still raw.
    assert_eq!(
        db.sql("SELECT string_agg(min_ms::text, ',' ORDER BY hour) FROM aggregated_metrics WHERE kind = 'request'"),
        "2,3"
    );
    assert_eq!(
        db.sql("SELECT response_time_ms FROM performance_metrics"),
        "4"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM aggregated_metrics WHERE kind = 'event'"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM aggregated_users WHERE hour < now() - interval '90 days'"),
        0
    );
    assert_eq!(summary["total_rows"], 1 + 3 + 3, "{summary}");
}

#[test]
fn an_unreachable_or_missing_database_exits_1() {
    let out = brickbox_with(
        &["job", "aggregate-metrics"],
        &[(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/none?sslmode=disable",
        )],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("aggregate-metrics"), "{err}");
    let out = brickbox_with(&["job", "aggregate-metrics"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
    let out = brickbox_with(&["job", "compact-everything"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
}

#[test]
fn a_failing_statement_exits_2_and_rolls_everything_back() {
    let db = MetricsDb::create();
    db.fill(2_000, 1_000);
    let before = db.count("SELECT count(*) FROM performance_metrics");
    // Break the event roll-up (the second statement): the request roll-up before it, which
    // already deleted raw rows inside the transaction, must be undone with it.
    db.sql("ALTER TABLE aggregated_metrics DROP COLUMN page_views");
    let (code, summary, err) = db.aggregate();
    assert_eq!(code, 2, "{summary} {err}");
    assert!(err.contains("usage_events"), "{err}");
    assert_eq!(db.count("SELECT count(*) FROM performance_metrics"), before);
    assert_eq!(db.count("SELECT count(*) FROM aggregated_metrics"), 0);
    assert_eq!(db.count("SELECT count(*) FROM aggregated_users"), 0);
}
