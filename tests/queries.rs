//! Named SQL queries (docs/queries.md) against the fake workspace: the list, typed parameters
//! sent as Statement Execution `parameters` (never in the text), every validation problem, the
//! cache per user and per app (in memory and in Lakebase), expiry, single flight, the row cap,
//! and the warehouse cold start for these queries and the table preview.

use crate::support::db::TestDb;
use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::metrics_db::brickbox_with;
use crate::support::{get_as, post_json, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

const STATEMENTS: &str = "/api/2.0/sql/statements";

fn setup() -> (FakeWorkspace, TestServer) {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[("DATABRICKS_WAREHOUSE_ID", "wh-running")]);
    (fake, server)
}

fn run(server: &TestServer, token: &str, name: &str, parameters: Value) -> crate::support::Reply {
    post_json(
        &server.url(&format!("/api/queries/{name}")),
        token,
        &json!({ "parameters": parameters }),
    )
}

fn statements(fake: &FakeWorkspace) -> usize {
    fake.total_calls(STATEMENTS)
}

#[test]
fn the_list_shows_parameters_defaults_cache_and_scope() {
    let (_fake, server) = setup();
    let r = get_as(&server.url("/api/queries"), scim::ALICE);
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let tables = list
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "tables_in_schema")
        .expect("shipped");
    assert_eq!(tables["cache_seconds"], 300);
    assert_eq!(tables["scope"], "user");
    assert_eq!(
        tables["parameters"],
        json!([
            {"name": "catalog", "type": "STRING", "default": null},
            {"name": "schema", "type": "STRING", "default": null},
            {"name": "created_after", "type": "TIMESTAMP", "default": "1970-01-01T00:00:00Z"},
            {"name": "max_rows", "type": "INT", "default": 100},
        ])
    );
    assert!(list.as_array().unwrap().iter().any(|q| q["scope"] == "app"));
    assert_eq!(get_as(&server.url("/api/queries"), "").status, 401);
}

#[test]
fn values_travel_as_parameters_never_in_the_text() {
    let (fake, server) = setup();
    let r = run(
        &server,
        scim::ALICE,
        "tables_in_schema",
        json!({"catalog": "main", "schema": "sales", "max_rows": 2, "created_after": null}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["name"], "tables_in_schema");
    assert_eq!(body["cached"], false);
    assert_eq!(body["truncated"], false);
    assert_eq!(body["warehouse_id"], "wh-running");
    assert_eq!(body["row_count"], 2);
    assert_eq!(body["rows"][0][0], "big");
    assert_eq!(
        body["columns"][0],
        json!({"name": "table_name", "type_name": "STRING"})
    );
    assert!(body["execution_time_ms"].as_f64().unwrap() > 0.0);
    assert!(body["executed_at"].as_str().unwrap().ends_with('Z'));
    let state = fake.state();
    assert_eq!(state.sql.received.len(), 1);
    let text = &state.sql.received[0];
    for value in ["main", "sales", "'2'"] {
        assert!(!text.contains(value), "{value} in {text}");
    }
    assert!(text.contains(":catalog") && text.contains(":max_rows"));
    assert_eq!(
        state.sql.received_parameters[0],
        json!([
            {"name": "catalog", "value": "main", "type": "STRING"},
            {"name": "schema", "value": "sales", "type": "STRING"},
            {"name": "created_after", "type": "TIMESTAMP"},
            {"name": "max_rows", "value": "2", "type": "INT"},
        ])
    );
}

#[test]
fn every_validation_problem_is_listed_before_any_upstream_call() {
    let (fake, server) = setup();
    let r = run(
        &server,
        scim::ALICE,
        "tables_in_schema",
        json!({"schema": 5, "max_rows": 3000000000i64, "created_after": "2026-02-30T00:00:00Z", "colour": "red"}),
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "VALIDATION_FAILED"),
        "{}",
        r.text()
    );
    let errors = r.json()["details"]["errors"].clone();
    let message = |field: &str| -> String {
        errors
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["field"] == field)
            .unwrap_or_else(|| panic!("{field} not in {errors}"))["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(message("parameters.catalog").contains("missing"));
    assert!(message("parameters.schema").contains("wrong type"));
    assert!(message("parameters.max_rows").contains("out of range"));
    assert!(message("parameters.created_after").contains("out of range"));
    assert!(message("parameters.colour").contains("unknown parameter"));
    assert_eq!(errors.as_array().unwrap().len(), 5);
    // Bad bodies: not JSON 400, wrong media type 415, unknown query 404 (all before upstream).
    let url = server.url("/api/queries/tables_in_schema");
    let bad = crate::support::send(
        "POST",
        &url,
        &[
            ("X-Forwarded-Access-Token", scim::ALICE),
            ("Content-Type", "application/json"),
        ],
        Some(b"{"),
    );
    assert_eq!(bad.status, 400);
    let missing = run(&server, scim::ALICE, "no_such_query", json!({}));
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (404, "QUERY_NOT_FOUND")
    );
    assert_eq!(statements(&fake), 0);
}

#[test]
fn cache_hits_and_misses_per_user_and_per_app_in_memory() {
    let (fake, server) = setup();
    let p = json!({"catalog": "main", "schema": "sales"});
    let first = run(&server, scim::ALICE, "tables_in_schema", p.clone());
    assert_eq!(first.json()["cached"], false);
    let again = run(&server, scim::ALICE, "tables_in_schema", p.clone());
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["cached"], true);
    assert_eq!(again.json()["rows"], first.json()["rows"]);
    assert_eq!(again.json()["executed_at"], first.json()["executed_at"]);
    assert_eq!(statements(&fake), 1);
    // An omitted parameter and its default are the same request.
    let explicit = run(
        &server,
        scim::ALICE,
        "tables_in_schema",
        json!({"catalog": "main", "schema": "sales", "max_rows": 100}),
    );
    assert_eq!(explicit.json()["cached"], true);
    // Another user: their own answer (scope user).
    assert_eq!(
        run(&server, scim::CAROL, "tables_in_schema", p.clone()).json()["cached"],
        false
    );
    // Other values: another answer.
    let other = run(
        &server,
        scim::ALICE,
        "tables_in_schema",
        json!({"catalog": "main", "schema": "other"}),
    );
    assert_eq!(other.json()["cached"], false);
    assert_eq!(statements(&fake), 3);
    // Scope app: one answer for everyone.
    assert_eq!(
        run(&server, scim::ALICE, "sql_version", json!({})).json()["cached"],
        false
    );
    let shared = run(&server, scim::CAROL, "sql_version", json!({}));
    assert_eq!(shared.json()["cached"], true);
    assert_eq!(shared.json()["rows"], json!([["2026.10", "17.3"]]));
    assert_eq!(statements(&fake), 4);
    // No @cache: every request runs.
    for _ in 0..2 {
        let r = run(&server, scim::ALICE, "catalogs", json!({}));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["cached"], false);
    }
    assert_eq!(statements(&fake), 6);
}

fn concurrent(server: &TestServer, n: usize, name: &str, parameters: Value) -> Vec<Value> {
    let url = server.url(&format!("/api/queries/{name}"));
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (url, barrier, body) = (
                url.clone(),
                barrier.clone(),
                json!({"parameters": parameters}),
            );
            std::thread::spawn(move || {
                barrier.wait();
                let r = post_json(&url, scim::ALICE, &body);
                assert_eq!(r.status, 200, "{}", r.text());
                r.json()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn fifty_identical_requests_on_a_cold_cache_run_one_statement() {
    let (fake, server) = setup();
    let answers = concurrent(
        &server,
        50,
        "tables_in_schema",
        json!({"catalog": "main", "schema": "sales"}),
    );
    assert_eq!(statements(&fake), 1, "exactly one statement submitted");
    assert!(answers.iter().all(|a| a["rows"] == answers[0]["rows"]));
    // Without a cache, concurrent identical requests still share one statement.
    let answers = concurrent(&server, 20, "catalogs", json!({}));
    assert_eq!(statements(&fake), 2);
    assert!(answers.iter().all(|a| a["cached"] == false));
}

#[test]
fn results_are_capped_at_ten_thousand_rows() {
    let (fake, server) = setup();
    {
        let mut state = fake.state();
        for i in 0..10_050 {
            state.sql.tables.insert(
                format!("wide.many.t{i:05}"),
                crate::support::fake_workspace::sql::generated(0),
            );
        }
    }
    let r = run(
        &server,
        scim::ALICE,
        "tables_in_schema",
        json!({"catalog": "wide", "schema": "many", "max_rows": 20000}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["row_count"], 10_000);
    assert_eq!(r.json()["truncated"], true);
    assert_eq!(fake.state().sql.received_parameters[0][3]["value"], "20000");
}

#[test]
fn statement_errors_map_as_for_the_table_query() {
    let (fake, server) = setup();
    fake.inject(
        STATEMENTS,
        crate::support::fake_workspace::FakeResponse::error(403, "PERMISSION_DENIED", "no"),
    );
    let r = run(&server, scim::ALICE, "catalogs", json!({}));
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "PERMISSION_DENIED"),
        "{}",
        r.text()
    );
    // An error is not cached: the next request runs again and succeeds.
    assert_eq!(run(&server, scim::ALICE, "catalogs", json!({})).status, 200);
}

/// Both functions: STOPPED → start once and 503 with Retry-After, STARTING → 503 without a
/// second start, RUNNING → the statement runs.
#[test]
fn a_stopped_warehouse_is_started_without_waiting() {
    let fake = FakeWorkspace::start();
    fake.state().sql.start_takes = Duration::from_millis(700);
    let server = TestServer::with_workspace(&fake, &[("DATABRICKS_WAREHOUSE_ID", "wh-stopped")]);
    let query = || run(&server, scim::ALICE, "catalogs", json!({}));
    let preview = || {
        get_as(
            &server.url("/api/unity-catalog/query?catalog=main&schema=sales&table=orders&limit=1"),
            scim::ALICE,
        )
    };
    let r = query();
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "WAREHOUSE_STARTING"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("retry-after"), Some("10"));
    assert_eq!(r.json()["retry_after"], 10);
    assert_eq!(fake.state().sql.starts, vec!["wh-stopped".to_string()]);
    assert_eq!(
        fake.state().sql.warehouse_state("wh-stopped").as_deref(),
        Some("STARTING")
    );
    let p = preview();
    assert_eq!((p.status, p.code().as_str()), (503, "WAREHOUSE_STARTING"));
    assert_eq!(p.header("retry-after"), Some("10"));
    assert_eq!(query().status, 503);
    assert_eq!(
        fake.state().sql.starts.len(),
        1,
        "no second start while STARTING"
    );
    assert_eq!(statements(&fake), 0, "no statement sent");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(query().status, 200);
    assert_eq!(preview().status, 200);
    assert_eq!(statements(&fake), 2);

    // The table preview on its own, with the warehouse chosen from the listing.
    let fake = FakeWorkspace::start();
    fake.state()
        .sql
        .warehouses
        .retain(|w| w["id"] == "wh-stopped");
    let server = TestServer::with_workspace(&fake, &[]);
    let p = get_as(
        &server.url("/api/unity-catalog/query?catalog=main&schema=sales&table=orders&limit=1"),
        scim::ALICE,
    );
    assert_eq!((p.status, p.code().as_str()), (503, "WAREHOUSE_STARTING"));
    assert_eq!(fake.state().sql.starts, vec!["wh-stopped".to_string()]);
    assert_eq!(statements(&fake), 0);
}

#[test]
fn lakebase_cache_per_user_and_app_expiry_and_the_job() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let url = db.url();
    let server = TestServer::with_workspace(
        &fake,
        &[
            ("DATABASE_URL", url.as_str()),
            ("DATABRICKS_WAREHOUSE_ID", "wh-running"),
        ],
    );
    server.wait_ready();
    let p = json!({"catalog": "main", "schema": "sales"});
    assert_eq!(
        run(&server, scim::ALICE, "tables_in_schema", p.clone()).json()["cached"],
        false
    );
    let hit = run(&server, scim::ALICE, "tables_in_schema", p.clone());
    assert_eq!(hit.json()["cached"], true, "{}", hit.text());
    assert_eq!(
        run(&server, scim::CAROL, "tables_in_schema", p.clone()).json()["cached"],
        false
    );
    assert_eq!(
        run(&server, scim::ALICE, "sql_version", json!({})).json()["cached"],
        false
    );
    assert_eq!(
        run(&server, scim::CAROL, "sql_version", json!({})).json()["cached"],
        true
    );
    assert_eq!(statements(&fake), 3);
    assert_eq!(db.count("SELECT count(*) FROM query_cache"), 3);
    assert_eq!(
        db.sql("SELECT user_id FROM query_cache WHERE query_name = 'sql_version'")
            .trim(),
        ""
    );
    assert_eq!(
        db.count("SELECT count(*) FROM query_cache WHERE query_name = 'tables_in_schema' AND user_id IS NOT NULL"),
        2
    );
    // Expired: not served, the statement runs again (and the row is refreshed).
    db.sql("UPDATE query_cache SET expires_at = now() - interval '1 second' WHERE query_name = 'sql_version'");
    assert_eq!(
        run(&server, scim::CAROL, "sql_version", json!({})).json()["cached"],
        false
    );
    assert_eq!(statements(&fake), 4);
    // Single flight through Lakebase too.
    concurrent(
        &server,
        50,
        "tables_in_schema",
        json!({"catalog": "main", "schema": "other"}),
    );
    assert_eq!(statements(&fake), 5);
    // The aggregation job deletes expired rows and keeps the rest.
    db.sql("UPDATE query_cache SET expires_at = now() - interval '1 second' WHERE user_id IS NOT NULL AND cache_key <> (SELECT max(cache_key) FROM query_cache)");
    let expired = db.count("SELECT count(*) FROM query_cache WHERE expires_at <= now()");
    let total = db.count("SELECT count(*) FROM query_cache");
    assert!(expired >= 1);
    drop(server);
    let out = brickbox_with(&["job", "aggregate-metrics"], &[("DATABASE_URL", &url)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["retention"]["query_cache_deleted"], expired);
    assert_eq!(
        db.count("SELECT count(*) FROM query_cache"),
        total - expired
    );
}
