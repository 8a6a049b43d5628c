//! Each attack of the outside audit as a regression test, against the real server, the fake
//! workspace and the real PostgreSQL: the status and code, how long the answer took, and that
//! nothing was stored (or lost).

use crate::lakebase::{eventually, server_on};
use crate::support::db::{psql, TestDb, MAIN_PORT};
use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::proxy::PausableProxy;
use crate::support::{get, get_as, post_json, raw, send, Reply, TestServer};
use serde_json::json;
use std::time::{Duration, Instant};

const ME: &str = "/api/2.0/preview/scim/v2/Me";
const EVENTS: &str = "/api/v1/metrics/usage-events";

fn events_body() -> String {
    json!({"events": [{"event_type": "page_view", "timestamp": shared::util::rfc3339(time::OffsetDateTime::now_utc())}]})
        .to_string()
}

/// A POST like a browser's `sendBeacon` or form: text/plain, with the given extra headers.
fn beacon(url: &str, extra: &[(&str, &str)]) -> (Reply, Duration) {
    let mut headers = vec![
        ("X-Forwarded-Access-Token", scim::ALICE),
        ("Content-Type", "text/plain;charset=UTF-8"),
    ];
    headers.extend_from_slice(extra);
    let started = Instant::now();
    let r = send("POST", url, &headers, Some(events_body().as_bytes()));
    (r, started.elapsed())
}

#[test]
fn cross_site_posts_are_refused_before_auth_and_nothing_is_stored() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = server_on(&fake, &db);
    let url = server.url(EVENTS);
    let own = format!("http://{}", server.addr);
    for attack in [
        vec![("Origin", "http://attacker.example")],
        vec![("Origin", "null")],
        vec![("Origin", "https://127.0.0.1")],
        vec![("Sec-Fetch-Site", "cross-site")],
        vec![("Origin", own.as_str()), ("Sec-Fetch-Site", "cross-site")],
    ] {
        let (r, took) = beacon(&url, &attack);
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "CROSS_ORIGIN_REFUSED"),
            "{attack:?}: {}",
            r.text()
        );
        assert!(took < Duration::from_secs(1), "{attack:?} took {took:?}");
        eprintln!("cross-site {attack:?}: 403 in {took:?}");
    }
    // Before routing and validation too: an unknown path and a body that is not JSON.
    let r = send(
        "DELETE",
        &server.url("/api/no-such-function"),
        &[("Origin", "http://attacker.example")],
        None,
    );
    assert_eq!(r.code(), "CROSS_ORIGIN_REFUSED");
    let r = send(
        "PUT",
        &server.url("/api/preferences"),
        &[("Origin", "http://attacker.example")],
        Some(b"not json"),
    );
    assert_eq!(r.code(), "CROSS_ORIGIN_REFUSED");
    assert_eq!(db.count("SELECT count(*) FROM usage_events"), 0);
    assert_eq!(fake.total_calls(ME), 0, "refused before the identity check");

    // The app's own pages (the browser sends Origin on POST) and scripts (no Origin) still work.
    let (r, _) = beacon(&url, &[("Origin", own.as_str())]);
    assert_eq!(r.status, 202, "same origin: {}", r.text());
    let (r, _) = beacon(&url, &[("Sec-Fetch-Site", "same-origin")]);
    assert_eq!(r.status, 202, "no Origin: {}", r.text());
    assert_eq!(db.count("SELECT count(*) FROM usage_events"), 2);
    // GET is never checked.
    let r = get(
        &server.url("/health"),
        &[("Origin", "http://attacker.example")],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn inside_apps_the_origin_is_the_forwarded_host_over_https() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[("DATABRICKS_APP_PORT", "8000")]);
    let url = server.url(EVENTS);
    let host = ("X-Forwarded-Host", "app-1.aws.databricksapps.com");
    let (r, _) = beacon(
        &url,
        &[host, ("Origin", "https://app-2.aws.databricksapps.com")],
    );
    assert_eq!(r.code(), "CROSS_ORIGIN_REFUSED");
    // The app's own origin passes the check (and then fails later: no database here).
    let (r, _) = beacon(
        &url,
        &[host, ("Origin", "https://app-1.aws.databricksapps.com")],
    );
    assert_eq!(r.code(), "LAKEBASE_NOT_CONFIGURED", "{}", r.text());
}

fn raw_get(server: &TestServer, host: &str, extra: &str) -> (u16, String) {
    let request =
        format!("GET /api/user/me HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    let text = raw(server.addr, request.as_bytes());
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn the_development_token_is_refused_for_a_rebound_host_name() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[("DATABRICKS_TOKEN", scim::ALICE)]);
    let port = server.addr.port();
    for host in ["attacker.example", &format!("attacker.example:{port}")] {
        let started = Instant::now();
        let (status, text) = raw_get(&server, host, "");
        assert_eq!(status, 403, "{text}");
        assert!(text.contains("CROSS_ORIGIN_REFUSED"), "{text}");
        eprintln!("rebinding Host {host}: 403 in {:?}", started.elapsed());
    }
    assert_eq!(fake.total_calls(ME), 0, "the token never left the server");
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "[::1]".to_string(),
    ] {
        let (status, text) = raw_get(&server, &host, "");
        assert_eq!(status, 200, "{host}: {text}");
    }
    // A caller's own token is not the development token: the Host rule does not apply to it.
    let (status, _) = raw_get(
        &server,
        "attacker.example",
        &format!("X-Forwarded-Access-Token: {}\r\n", scim::BOB_ADMIN),
    );
    assert_eq!(status, 200);
}

#[test]
fn two_access_token_headers_are_an_ambiguous_credential() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    let started = Instant::now();
    let (status, text) = raw_get(
        &server,
        "127.0.0.1",
        &format!(
            "X-Forwarded-Access-Token: {}\r\nX-Forwarded-Access-Token: {}\r\n",
            scim::ALICE,
            scim::BOB_ADMIN
        ),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("INVALID_REQUEST"), "{text}");
    eprintln!("two token headers: 400 in {:?}", started.elapsed());
    assert_eq!(fake.total_calls(ME), 0);
    // One header still works.
    assert_eq!(get_as(&server.url("/api/user/me"), scim::ALICE).status, 200);
}

#[test]
fn a_deactivated_user_in_an_admin_group_is_not_an_admin() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    let me = get_as(&server.url("/api/user/me"), scim::DAVE_INACTIVE_ADMIN);
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(
        (me.json()["active"].clone(), me.json()["is_admin"].clone()),
        (json!(false), json!(false))
    );
    assert!(me.json()["groups"]
        .as_array()
        .unwrap()
        .contains(&json!("admins")));
    let r = get_as(
        &server.url("/api/v1/metrics/performance"),
        scim::DAVE_INACTIVE_ADMIN,
    );
    assert_eq!((r.status, r.code().as_str()), (403, "ADMIN_REQUIRED"));
    // The same groups on an active account are an admin (the test is about `active` alone).
    let r = get_as(&server.url("/api/user/me"), scim::BOB_ADMIN);
    assert_eq!(r.json()["is_admin"], true);
}

fn fields(r: &Reply) -> Vec<String> {
    r.json()["details"]["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn nul_characters_are_refused_naming_the_field_and_nothing_is_stored() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = server_on(&fake, &db);
    let url = server.url(EVENTS);
    let now = shared::util::rfc3339(time::OffsetDateTime::now_utc());
    for (event, field) in [
        (
            json!({"event_type": "click", "timestamp": now, "page_name": "a\u{0}b"}),
            "events[0].page_name",
        ),
        (
            json!({"event_type": "click", "timestamp": now, "element_id": "\u{0}"}),
            "events[0].element_id",
        ),
        (
            json!({"event_type": "click", "timestamp": now, "metadata": {"k": ["ok", "x\u{0}"]}}),
            "events[0].metadata.k[1]",
        ),
        (
            json!({"event_type": "click", "timestamp": now, "metadata": {"k\u{0}": 1}}),
            "events[0].metadata.k\u{0}",
        ),
    ] {
        let r = post_json(&url, scim::ALICE, &json!({"events": [event]}));
        assert_eq!(
            (r.status, r.code().as_str()),
            (422, "VALIDATION_FAILED"),
            "{}",
            r.text()
        );
        assert_eq!(fields(&r), [field]);
    }
    assert_eq!(db.count("SELECT count(*) FROM usage_events"), 0);

    let prefs = server.url("/api/preferences");
    let r = post_json(
        &prefs,
        scim::ALICE,
        &json!({"preference_key": "theme", "preference_value": {"name": "dark\u{0}"}}),
    );
    assert_eq!((r.status, r.code().as_str()), (422, "VALIDATION_FAILED"));
    assert_eq!(fields(&r), ["preference_value.name"]);
    assert_eq!(db.count("SELECT count(*) FROM user_preferences"), 0);

    // A model input holding U+0000 is sent to the model and still logged, as U+FFFD.
    let r = post_json(
        &server.url("/api/model-serving/invoke"),
        scim::ALICE,
        &json!({"endpoint_name": "chat-fm", "inputs": {"messages": [{"role": "user", "content": "hi\u{0}there"}]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let request_id = r.json()["request_id"].as_str().unwrap().to_string();
    assert!(eventually(Duration::from_secs(5), || db.count(&format!(
        "SELECT count(*) FROM model_inference_logs WHERE request_id = '{request_id}'"
    )) == 1));
    assert_eq!(
        db.sql(&format!("SELECT inputs->'messages'->0->>'content' FROM model_inference_logs WHERE request_id = '{request_id}'")),
        "hi\u{FFFD}there"
    );
}

#[test]
fn body_type_errors_name_the_field() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    let r = post_json(
        &server.url("/api/unity-catalog/query"),
        scim::ALICE,
        &json!({"catalog": "main", "schema": "s", "table": "t", "limit": "ten"}),
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "VALIDATION_FAILED"),
        "{}",
        r.text()
    );
    assert_eq!(fields(&r), ["limit"]);
    let message = r.json()["details"]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.starts_with("must be an integer"), "{message}");
    let r = post_json(
        &server.url("/api/unity-catalog/query"),
        scim::ALICE,
        &json!({"catalog": "main", "schema": "s", "table": 5}),
    );
    assert_eq!(fields(&r), ["table"]);
}

fn health_lakebase(server: &TestServer) -> String {
    get(&server.url("/health"), &[]).json()["lakebase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_frozen_database_answers_503_within_the_deadline_and_health_shows_it() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let proxy = PausableProxy::start(MAIN_PORT);
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{}?sslmode=disable",
        proxy.port(),
        db.name
    );
    let server = TestServer::with_workspace(&fake, &[("DATABASE_URL", url.as_str())]);
    server.wait_ready();
    let prefs = server.url("/api/preferences");
    // Warm connections, so the request below finds an idle one and sends its statement.
    for _ in 0..3 {
        assert_eq!(get_as(&prefs, scim::ALICE).status, 200);
    }
    assert!(eventually(Duration::from_secs(10), || health_lakebase(
        &server
    ) == "connected"));

    proxy.pause();
    let paused = Instant::now();
    let health_url = server.url("/health");
    let watcher = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let h = get(&health_url, &[]).json();
            if h["lakebase"] == "unavailable" {
                return Some((
                    paused.elapsed(),
                    h["status"].as_str().unwrap_or("").to_string(),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    });
    let started = Instant::now();
    let r = get_as(&prefs, scim::ALICE);
    let took = started.elapsed();
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "DATABASE_UNAVAILABLE"),
        "{}",
        r.text()
    );
    assert!(r.header("retry-after").is_some());
    assert!(took <= Duration::from_secs(11), "503 after {took:?}");
    eprintln!("frozen database: first request 503 in {took:?}");
    let (noticed, status) = watcher
        .join()
        .unwrap()
        .expect("/health never said unavailable");
    assert!(
        noticed <= Duration::from_secs(10),
        "/health after {noticed:?}"
    );
    assert_eq!(status, "degraded");
    eprintln!("frozen database: /health unavailable after {noticed:?}");
    // Once noticed, requests fail fast.
    let started = Instant::now();
    let r = get_as(&prefs, scim::ALICE);
    assert_eq!(r.code(), "DATABASE_UNAVAILABLE");
    eprintln!(
        "frozen database: a request after /health noticed: 503 in {:?}",
        started.elapsed()
    );

    proxy.resume();
    let resumed = Instant::now();
    assert!(eventually(Duration::from_secs(15), || health_lakebase(
        &server
    ) == "connected"));
    assert!(eventually(Duration::from_secs(10), || get_as(
        &prefs,
        scim::ALICE
    )
    .status
        == 200));
    eprintln!(
        "frozen database: serving again {:?} after resume",
        resumed.elapsed()
    );
}

/// A psql session (application name `bb_lock_holder`) holding ACCESS EXCLUSIVE on `table` for
/// `seconds`; returns once the lock is granted.
fn hold_lock(db: &TestDb, table: &str, seconds: u32) -> std::process::Child {
    let holder = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &MAIN_PORT.to_string(), "-U", "postgres"])
        .args(["-d", &db.name, "-qtAc"])
        .arg(format!(
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({seconds}); COMMIT;"
        ))
        .env("PGAPPNAME", "bb_lock_holder")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("psql starts");
    assert!(eventually(Duration::from_secs(10), || {
        db.count(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.datname = current_database() AND a.application_name = 'bb_lock_holder' AND l.mode = 'AccessExclusiveLock' AND l.granted"
    ) == 1
    }));
    holder
}

#[test]
fn admin_metrics_wait_longer_than_a_user_function() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = server_on(&fake, &db);
    // A lock for 13 s: past a user function's 10 s deadline, well within the admin one.
    let mut holder = hold_lock(&db, "performance_metrics", 13);
    let started = Instant::now();
    let r = get_as(
        &server.url("/api/v1/metrics/performance?time_range=24h"),
        scim::BOB_ADMIN,
    );
    let took = started.elapsed();
    assert_eq!(r.status, 200, "after {took:?}: {}", r.text());
    assert!(
        took > Duration::from_secs(10),
        "the lock was not in the way: {took:?}"
    );
    eprintln!("admin metrics behind a 13 s lock: 200 in {took:?}");
    let _ = holder.wait();
}

#[test]
fn a_held_table_lock_answers_503_within_the_deadline_and_the_statement_is_cancelled() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = server_on(&fake, &db);
    let url = server.url(EVENTS);
    // Another session holds ACCESS EXCLUSIVE on usage_events for up to 60 s.
    let mut holder = hold_lock(&db, "usage_events", 60);
    let started = Instant::now();
    let (r, took) = beacon(&url, &[]);
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "DATABASE_UNAVAILABLE"),
        "{}",
        r.text()
    );
    assert!(
        took >= Duration::from_secs(9) && took <= Duration::from_secs(11),
        "503 after {took:?}"
    );
    eprintln!("held lock: 503 in {:?}", started.elapsed());
    // The statement was cancelled on the server: the INSERT no longer waits for the lock (the
    // server's background summaries refresh may, and keeps waiting: background work has no
    // statement deadline).
    assert!(
        eventually(Duration::from_secs(3), || {
            db.count(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'brickbox' AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO usage_events%'"
        ) == 0
        }),
        "the INSERT still waits on the lock: {}",
        db.sql("SELECT query FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'brickbox' AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO usage_events%'")
    );
    psql(
        MAIN_PORT,
        &db.name,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'bb_lock_holder'",
    );
    let _ = holder.wait();
    // Nothing was stored by the refused request, and the next one is stored.
    assert_eq!(db.count("SELECT count(*) FROM usage_events"), 0);
    let (r, _) = beacon(&url, &[]);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(db.count("SELECT count(*) FROM usage_events"), 1);
}
