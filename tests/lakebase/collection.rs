//! Metrics collection into `performance_metrics` (exactly one row per /api request, with the
//! right fields), `/metrics`, the shutdown flush, and migrations that stop startup.

use super::{eventually, server_on};
use crate::support::db::TestDb;
use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::{get, get_as, send, BinaryServer};
use serde_json::json;
use std::time::Duration;

#[test]
fn exactly_one_row_per_api_request_with_template_user_error_and_correlation_id() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = server_on(&fake, &db);
    let mut api_requests = 0;
    for i in 0..40 {
        let cid = format!("cid-me-{i}");
        let r = send(
            "GET",
            &server.url("/api/user/me"),
            &[
                ("X-Forwarded-Access-Token", scim::ALICE),
                ("X-Correlation-ID", &cid),
            ],
            None,
        );
        assert_eq!(r.status, 200);
        api_requests += 1;
    }
    assert_eq!(
        send(
            "DELETE",
            &server.url("/api/preferences/some_key"),
            &[
                ("X-Forwarded-Access-Token", scim::BOB_ADMIN),
                ("X-Correlation-ID", "cid-delete")
            ],
            None
        )
        .status,
        404
    );
    assert_eq!(
        get(
            &server.url("/api/no/such/thing?x=1"),
            &[("X-Correlation-ID", "cid-unmatched")]
        )
        .status,
        404
    );
    assert_eq!(
        get(
            &server.url("/api/user/me"),
            &[("X-Correlation-ID", "cid-anon")]
        )
        .status,
        401
    );
    assert_eq!(
        send(
            "PUT",
            &server.url("/api/user/me"),
            &[("X-Correlation-ID", "cid-405")],
            None
        )
        .status,
        405
    );
    api_requests += 4;
    // Not recorded: public endpoints, static files, preflights, /metrics.
    for path in [
        "/health",
        "/ready",
        "/ping",
        "/openapi.json",
        "/",
        "/index.html",
    ] {
        get(&server.url(path), &[]);
    }
    send("OPTIONS", &server.url("/api/user/me"), &[], None);
    get_as(&server.url("/metrics"), scim::ALICE);

    assert!(
        eventually(Duration::from_secs(2), || db
            .count("SELECT count(*) FROM performance_metrics")
            == api_requests),
        "{api_requests} rows within 2 s, got {}",
        db.count("SELECT count(*) FROM performance_metrics")
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        db.count("SELECT count(*) FROM performance_metrics"),
        api_requests,
        "and no more"
    );
    let row = |cid: &str| {
        db.sql(&format!("SELECT endpoint, method, status_code, user_id, error_type, response_time_ms > 0, timestamp > now() - interval '1 minute' FROM performance_metrics WHERE correlation_id = '{cid}'"))
    };
    assert_eq!(
        row("cid-me-7"),
        "/api/user/me|GET|200|alice@example.com||t|t"
    );
    assert_eq!(
        row("cid-delete"),
        "/api/preferences/{preference_key}|DELETE|404|bob@example.com|PREFERENCE_NOT_FOUND|t|t"
    );
    assert_eq!(row("cid-unmatched"), "<unmatched>|GET|404||NOT_FOUND|t|t");
    assert_eq!(row("cid-anon"), "/api/user/me|GET|401||AUTH_MISSING|t|t");
    assert_eq!(
        row("cid-405"),
        "/api/user/me|PUT|405||METHOD_NOT_ALLOWED|t|t"
    );
    assert_eq!(
        db.count("SELECT count(DISTINCT correlation_id) FROM performance_metrics"),
        api_requests
    );
}

#[test]
fn prometheus_metrics_show_requests_queue_pool_identity_and_upstream() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = server_on(&fake, &db);
    for _ in 0..3 {
        get_as(&server.url("/api/user/me"), scim::ALICE);
    }
    get_as(&server.url("/api/preferences/x/y/z"), scim::ALICE);
    assert_eq!(
        get(&server.url("/metrics"), &[]).code(),
        "AUTH_MISSING",
        "/metrics is for signed-in users"
    );
    assert!(eventually(Duration::from_secs(2), || db
        .count("SELECT count(*) FROM performance_metrics")
        == 4));
    let r = get_as(&server.url("/metrics"), scim::ALICE);
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    for line in [
        "brickbox_http_requests_total{route=\"/api/user/me\",method=\"GET\",status_class=\"2xx\"} 3",
        "brickbox_http_requests_total{route=\"<unmatched>\",method=\"GET\",status_class=\"4xx\"} 1",
        "brickbox_http_request_duration_seconds_count{route=\"/api/user/me\"} 3",
        "brickbox_http_request_duration_seconds_bucket{route=\"/api/user/me\",le=\"+Inf\"} 3",
        "brickbox_metrics_queue_depth 0",
        "brickbox_metrics_rows_written_total 4",
        "brickbox_metrics_rows_dropped_total 0",
        "brickbox_db_pool_connections{state=\"max\"} 20",
        "brickbox_identity_cache_total{result=\"miss\"} 1",
        "brickbox_upstream_requests_total{service=\"",
        "brickbox_lakebase_up 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("/x/y/z"), "raw paths never become labels");
    for family in [
        "brickbox_http_requests_total",
        "brickbox_http_request_duration_seconds",
        "brickbox_db_pool_connections",
    ] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
    }
}

#[test]
fn sigterm_flushes_queued_rows() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let host = fake.url();
    let url = db.url();
    let mut server = BinaryServer::start(&[("DATABRICKS_HOST", &host), ("DATABASE_URL", &url)]);
    assert!(eventually(Duration::from_secs(10), || get(
        &server.url("/ready"),
        &[]
    )
    .status
        == 200));
    for _ in 0..25 {
        assert_eq!(get_as(&server.url("/api/user/me"), scim::CAROL).status, 200);
    }
    // Straight away, before the writer's next tick.
    server.sigterm();
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits within 10 s");
    assert!(status.success());
    assert_eq!(
        db.count("SELECT count(*) FROM performance_metrics WHERE user_id = 'carol@example.com'"),
        25,
        "{}",
        server.output()
    );
}

fn brickbox(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brickbox"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("brickbox runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn migrate_applies_once_and_an_edited_migration_stops_startup() {
    let db = TestDb::create();
    let url = db.url();
    let env = [("DATABASE_URL", url.as_str())];
    let (code, out, err) = brickbox(&["migrate"], &env);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["applied"],
        json!(shared::db::sql::MIGRATIONS
            .iter()
            .map(|m| m.name)
            .collect::<Vec<_>>())
    );
    let (code, out, _) = brickbox(&["migrate"], &env);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["applied"],
        json!([])
    );
    for table in [
        "user_preferences",
        "performance_metrics",
        "usage_events",
        "model_inference_logs",
        "schema_detection_events",
    ] {
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = '{table}'"
            )),
            1,
            "{table}"
        );
    }
    assert_eq!(
        db.count("SELECT count(*) FROM information_schema.columns WHERE data_type = 'timestamp without time zone' AND table_schema = 'public'"),
        0,
        "timestamptz everywhere"
    );
    assert_eq!(
        db.sql("SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'performance_metrics'"),
        "id:bigint,timestamp:timestamp with time zone,endpoint:text,method:text,status_code:integer,response_time_ms:double precision,user_id:text,error_type:text,correlation_id:text"
    );
    assert_eq!(
        db.sql("SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'usage_events'"),
        "id:bigint,timestamp:timestamp with time zone,event_type:text,user_id:text,page_name:text,element_id:text,success:boolean,metadata:jsonb"
    );

    // The recorded checksum no longer matches the file: as if the file had been edited.
    db.sql("UPDATE brickbox_schema_migrations SET checksum = 'checksum-of-the-old-text' WHERE version = 1");
    let (code, _, err) = brickbox(&["migrate"], &env);
    assert_eq!(code, 1);
    assert!(
        err.contains("sql/migrations/0001_initial.sql was edited"),
        "{err}"
    );
    let mut server = BinaryServer::start(&env);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("serve stops on an edited migration");
    assert_eq!(status.code(), Some(1));
    assert!(
        server
            .output()
            .contains("sql/migrations/0001_initial.sql was edited"),
        "{}",
        server.output()
    );
}

#[test]
fn migrations_from_two_processes_at_once_apply_once() {
    let db = TestDb::create();
    let url = db.url();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || brickbox(&["migrate"], &[("DATABASE_URL", url.as_str())]))
        })
        .collect();
    let mut applied = 0;
    for run in runs {
        let (code, out, err) = run.join().unwrap();
        assert_eq!(code, 0, "{out}{err}");
        applied += serde_json::from_str::<serde_json::Value>(&out).unwrap()["applied"]
            .as_array()
            .unwrap()
            .len();
    }
    let migrations = shared::db::sql::MIGRATIONS.len();
    assert_eq!(applied, migrations, "the advisory lock serialises them");
    assert_eq!(
        db.count("SELECT count(*) FROM brickbox_schema_migrations") as usize,
        migrations
    );
}

#[test]
fn secrets_in_database_url_never_reach_the_log() {
    let fake = FakeWorkspace::start();
    let host = fake.url();
    let mut server = BinaryServer::start(&[
        ("DATABRICKS_HOST", &host),
        (
            "DATABASE_URL",
            "postgres://app:db-password-SHOULD-NOT-APPEAR@127.0.0.1:1/x?sslmode=disable",
        ),
        ("RUST_LOG", "trace"),
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    let body = get_as(&server.url("/api/preferences"), scim::ALICE).text();
    let health = get(&server.url("/health"), &[]).text();
    server.sigterm();
    server.wait_exit(Duration::from_secs(10)).expect("exits");
    let printed = server.output();
    assert!(printed.contains("lakebase"), "{printed}");
    for text in [&printed, &body, &health] {
        assert!(!text.contains("db-password-SHOULD-NOT-APPEAR"), "{text}");
    }
}

#[test]
fn migrations_are_checksummed_and_all_or_nothing() {
    use shared::db::migrate::{apply, MigrateError, Migration};
    let db = TestDb::create();
    let url = db.url();
    let config =
        shared::config::Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.clone()))
            .expect("config");
    let app = shared::AppState::new(config);
    let database = app.db.clone().expect("configured");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = database
            .get_background(Duration::from_secs(5))
            .await
            .expect("connects");
        let v1 = Migration {
            version: 1,
            name: "0001_t.sql",
            sql: "CREATE TABLE t (x int);",
        };
        let v2 = Migration {
            version: 2,
            name: "0002_u.sql",
            sql: "CREATE TABLE u (x int);",
        };
        assert_eq!(apply(&mut client, &[v1]).await.unwrap(), ["0001_t.sql"]);

        // The file of an applied migration changed: refused, and nothing else applied.
        let edited = Migration {
            sql: "CREATE TABLE t (x bigint);",
            ..v1
        };
        let e = apply(&mut client, &[edited, v2]).await.unwrap_err();
        assert!(
            matches!(e, MigrateError::Edited { .. }) && e.is_fatal(),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("sql/migrations/0001_t.sql was edited"),
            "{e}"
        );

        // A failing migration rolls back with everything before it in the same run.
        let bad = Migration {
            version: 3,
            name: "0003_bad.sql",
            sql: "CREATE TABLE w (x int); CREATE TABLE (;",
        };
        let e = apply(&mut client, &[v1, v2, bad]).await.unwrap_err();
        assert!(
            matches!(e, MigrateError::Failed { .. }) && e.is_fatal(),
            "{e}"
        );
        assert!(e.to_string().contains("0003_bad.sql"), "{e}");
        assert_eq!(apply(&mut client, &[v1, v2]).await.unwrap(), ["0002_u.sql"]);
    });
    assert_eq!(
        db.sql("SELECT string_agg(name, ',' ORDER BY version) FROM brickbox_schema_migrations"),
        "0001_t.sql,0002_u.sql"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM information_schema.tables WHERE table_name = 'w'"),
        0
    );
}
