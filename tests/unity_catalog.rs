//! Unity Catalog functions against the fake workspace: complete sorted listings over
//! paginated answers, not-found and permission mapping, identifier checks before any upstream
//! call, and table queries (typed cells, chunks, paging, totals, warehouses, FAILED statements,
//! the deadline and its cancel).

use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::{get_as, post_json, TestServer};
use serde_json::json;
use shared::databricks::DatabricksClient;
use shared::{ErrorCode, Secret};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CATALOGS: &str = "/api/2.1/unity-catalog/catalogs";
const STATEMENTS: &str = "/api/2.0/sql/statements";
const WAREHOUSES: &str = "/api/2.0/sql/warehouses";

fn setup() -> (FakeWorkspace, TestServer) {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    (fake, server)
}

/// Calls that reached any Unity Catalog or SQL route.
fn data_calls(fake: &FakeWorkspace) -> usize {
    fake.state()
        .calls
        .iter()
        .filter(|((path, _), _)| path.contains("unity-catalog") || path.contains("/sql/"))
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn catalogs_are_sorted_and_complete_across_pages() {
    let (fake, server) = setup();
    let r = get_as(&server.url("/api/unity-catalog/catalogs"), scim::ALICE);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!([
            "alpha",
            "beta",
            "hive_metastore",
            "main",
            "restricted",
            "samples",
            "zeta"
        ])
    );
    // 7 catalogs in pages of 2, plus the empty page with a token after the first: 5 calls.
    assert_eq!(fake.calls(CATALOGS, scim::ALICE), 5);
}

#[test]
fn schemas_table_names_and_tables() {
    let (_fake, server) = setup();
    let schemas = get_as(
        &server.url("/api/unity-catalog/schemas?catalog=main"),
        scim::ALICE,
    );
    assert_eq!(schemas.status, 200, "{}", schemas.text());
    assert_eq!(
        schemas.json(),
        json!(["default", "information_schema", "ml", "sales"])
    );

    let names = get_as(
        &server.url("/api/unity-catalog/table-names?catalog=main&schema=sales"),
        scim::ALICE,
    );
    assert_eq!(
        names.json(),
        json!(["archive", "big", "customers", "orders", "payroll"])
    );

    let tables = get_as(
        &server.url("/api/unity-catalog/tables?catalog=main&schema=sales"),
        scim::ALICE,
    );
    assert_eq!(tables.status, 200);
    let tables = tables.json();
    let orders = &tables[3];
    assert_eq!(orders["table_name"], "orders");
    assert_eq!(orders["full_name"], "main.sales.orders");
    assert_eq!(orders["catalog_name"], "main");
    assert_eq!(orders["schema_name"], "sales");
    assert_eq!(orders["table_type"], "MANAGED");
    assert_eq!(orders["owner"], "alice@example.com");
    assert_eq!(orders["comment"], "The orders table");
    let id = &orders["columns"][0];
    assert_eq!(
        id,
        &json!({"name": "id", "type_name": "LONG", "type_text": "bigint", "nullable": false, "comment": null})
    );
    assert_eq!(orders["columns"][1]["nullable"], true);
    assert_eq!(orders["columns"].as_array().unwrap().len(), 6);
}

#[test]
fn missing_objects_are_404_with_their_code() {
    let (_fake, server) = setup();
    let r = get_as(
        &server.url("/api/unity-catalog/schemas?catalog=nope"),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code().as_str()), (404, "CATALOG_NOT_FOUND"));
    let r = get_as(
        &server.url("/api/unity-catalog/table-names?catalog=main&schema=nope"),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code().as_str()), (404, "SCHEMA_NOT_FOUND"));
    let r = get_as(
        &server.url("/api/unity-catalog/tables?catalog=nope&schema=x"),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code().as_str()), (404, "CATALOG_NOT_FOUND"));
    assert!(r.json()["correlation_id"].is_string());
}

#[test]
fn a_catalog_one_user_may_not_read_is_403_for_them_only() {
    let (_fake, server) = setup();
    let url = server.url("/api/unity-catalog/schemas?catalog=restricted");
    let carol = get_as(&url, scim::CAROL);
    assert_eq!(
        (carol.status, carol.code().as_str()),
        (403, "PERMISSION_DENIED")
    );
    assert!(carol.json()["message"]
        .as_str()
        .unwrap()
        .contains("USE CATALOG"));
    let alice = get_as(&url, scim::ALICE);
    assert_eq!((alice.status, alice.json()), (200, json!(["secret"])));
}

#[test]
fn bad_identifiers_are_refused_before_anything_reaches_the_workspace() {
    let (fake, server) = setup();
    let query = server.url("/api/unity-catalog/query");
    for (catalog, schema, table) in [
        ("main", "sales", "ord`ers"),
        ("main", "sales", "main.sales.orders"),
        ("ma.in", "sales", "orders"),
        ("main", "sa\nles", "orders"),
        ("main", "sales", ""),
    ] {
        let body = json!({"catalog": catalog, "schema": schema, "table": table});
        let r = post_json(&query, scim::ALICE, &body);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "INVALID_IDENTIFIER"),
            "{body}"
        );
    }
    for path in [
        "/api/unity-catalog/schemas?catalog=a.b",
        "/api/unity-catalog/schemas?catalog=a%60b",
        "/api/unity-catalog/table-names?catalog=main&schema=s.x",
        "/api/unity-catalog/tables?catalog=main%00&schema=sales",
        "/api/unity-catalog/query?catalog=main&schema=sales&table=x%60%3B%20DROP",
    ] {
        let r = get_as(&server.url(path), scim::ALICE);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "INVALID_IDENTIFIER"),
            "{path}"
        );
    }
    assert_eq!(
        data_calls(&fake),
        0,
        "nothing may reach Unity Catalog or SQL"
    );
    assert!(fake.state().sql.received.is_empty());
}

#[test]
fn bad_parameters_are_400_and_bad_fields_422() {
    let (fake, server) = setup();
    let r = get_as(&server.url("/api/unity-catalog/schemas"), scim::ALICE);
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_REQUEST"));
    for q in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "offset=-1",
        "include_total=maybe",
    ] {
        let r = get_as(
            &server.url(&format!(
                "/api/unity-catalog/query?catalog=main&schema=sales&table=orders&{q}"
            )),
            scim::ALICE,
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "INVALID_REQUEST"),
            "{q}"
        );
    }
    let query = server.url("/api/unity-catalog/query");
    let r = post_json(
        &query,
        scim::ALICE,
        &json!({"catalog": "main", "schema": "sales", "table": "orders", "limit": 0, "offset": -5}),
    );
    assert_eq!((r.status, r.code().as_str()), (422, "VALIDATION_FAILED"));
    let fields: Vec<String> = r.json()["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, ["limit", "offset"]);
    let r = post_json(
        &query,
        scim::ALICE,
        &json!({"catalog": "main", "schema": "sales", "table": "t", "where": "1=1"}),
    );
    assert_eq!(
        (r.status, r.json()["details"]["errors"][0]["field"].as_str()),
        (422, Some("where"))
    );
    let r = post_json(
        &query,
        scim::ALICE,
        &json!({"catalog": "main", "schema": "sales"}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(data_calls(&fake), 0);
}

#[test]
fn a_query_returns_typed_cells_from_every_chunk() {
    let (fake, server) = setup();
    let r = post_json(
        &server.url("/api/unity-catalog/query"),
        scim::ALICE,
        &json!({"catalog": "main", "schema": "sales", "table": "orders"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let q = r.json();
    assert_eq!(
        q["sql_statement"],
        "SELECT * FROM `main`.`sales`.`orders` LIMIT 100 OFFSET 0"
    );
    assert_eq!(
        (
            q["catalog"].as_str(),
            q["schema"].as_str(),
            q["table"].as_str()
        ),
        (Some("main"), Some("sales"), Some("orders"))
    );
    // No DATABRICKS_WAREHOUSE_ID: the RUNNING one, found on the second page of warehouses.
    assert_eq!(q["warehouse_id"], "wh-running");
    assert!(q["query_id"].as_str().unwrap().starts_with("01ef-"));
    assert_eq!(
        q["columns"],
        json!([
            {"name": "id", "type_name": "LONG"}, {"name": "amount", "type_name": "DECIMAL"},
            {"name": "price", "type_name": "DOUBLE"}, {"name": "active", "type_name": "BOOLEAN"},
            {"name": "customer", "type_name": "STRING"}, {"name": "created_at", "type_name": "TIMESTAMP"}
        ])
    );
    assert_eq!(q["row_count"], 5);
    assert_eq!(
        q["rows"][0],
        json!([
            1,
            "10.50",
            1.25,
            true,
            "customer 1",
            "2026-01-01T10:00:00.000Z"
        ])
    );
    assert_eq!(
        q["rows"][2],
        json!([
            3,
            "30.50",
            null,
            true,
            "customer 3",
            "2026-01-03T10:00:00.000Z"
        ])
    );
    // Rows 4 and 5 come from the second chunk.
    assert_eq!(q["rows"][4][0], 5);
    assert_eq!(q["rows"][3][3], false);
    assert_eq!(q["total_row_count"], serde_json::Value::Null);
    assert!(q["execution_time_ms"].as_f64().unwrap() > 0.0);
    assert!(q["executed_at"].as_str().unwrap().ends_with('Z'));
    let chunk_calls: usize = fake
        .state()
        .calls
        .iter()
        .filter(|((p, _), _)| p.contains("/result/chunks/"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(chunk_calls, 1);
    assert_eq!(fake.calls(STATEMENTS, scim::ALICE), 1);
}

#[test]
fn limit_and_offset_page_through_a_table_and_totals_are_counted() {
    let (fake, server) = setup();
    let r = get_as(
        &server.url("/api/unity-catalog/query?catalog=main&schema=sales&table=big&limit=1000&offset=2000&include_total=true"),
        scim::ALICE,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let q = r.json();
    assert_eq!(q["row_count"], 500);
    assert_eq!(q["rows"][0], json!([2000, "row number 2000", null, true]));
    assert_eq!(q["rows"][499][0], 2499);
    assert_eq!(q["total_row_count"], 2500);
    let received = fake.state().sql.received.clone();
    assert!(
        received.contains(&"SELECT COUNT(*) FROM `main`.`sales`.`big`".to_string()),
        "{received:?}"
    );

    let r = post_json(
        &server.url("/api/unity-catalog/query"),
        scim::ALICE,
        &json!({"catalog": "main", "schema": "sales", "table": "orders", "limit": 2, "offset": 1}),
    );
    let ids: Vec<i64> = r.json()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [2, 3]);
    assert_eq!(
        r.json()["sql_statement"],
        "SELECT * FROM `main`.`sales`.`orders` LIMIT 2 OFFSET 1"
    );
}

#[test]
fn failed_statements_map_to_404_403_and_400() {
    let (_fake, server) = setup();
    let query = |table: &str| {
        post_json(
            &server.url("/api/unity-catalog/query"),
            scim::ALICE,
            &json!({"catalog": "main", "schema": "sales", "table": table}),
        )
    };
    let r = query("no_such_table");
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "TABLE_NOT_FOUND"),
        "{}",
        r.text()
    );
    let r = query("payroll");
    assert_eq!((r.status, r.code().as_str()), (403, "PERMISSION_DENIED"));
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("INSUFFICIENT_PERMISSIONS"));
}

#[test]
fn a_configured_warehouse_is_used_as_is() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[("DATABRICKS_WAREHOUSE_ID", "wh-running")]);
    let r = get_as(
        &server.url("/api/unity-catalog/query?catalog=main&schema=sales&table=orders&limit=1"),
        scim::ALICE,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["warehouse_id"], "wh-running");
    // Not listed: only its state is read (a stopped one is started first, see tests/queries.rs).
    assert_eq!(fake.total_calls(WAREHOUSES), 0);
    assert_eq!(fake.total_calls("/api/2.0/sql/warehouses/wh-running"), 1);

    let missing = TestServer::with_workspace(&fake, &[("DATABRICKS_WAREHOUSE_ID", "wh-gone")]);
    let r = get_as(
        &missing.url("/api/unity-catalog/query?catalog=main&schema=sales&table=orders"),
        scim::ALICE,
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "WAREHOUSE_UNAVAILABLE")
    );
}

#[test]
fn no_warehouse_at_all_is_503() {
    let (fake, server) = setup();
    fake.state().sql.warehouses.clear();
    let r = get_as(
        &server.url("/api/unity-catalog/query?catalog=main&schema=sales&table=orders"),
        scim::ALICE,
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "WAREHOUSE_UNAVAILABLE")
    );
    assert_eq!(fake.total_calls(STATEMENTS), 0);
}

#[test]
fn a_statement_past_its_deadline_is_cancelled_and_answered_504() {
    let fake = FakeWorkspace::start();
    let client = Arc::new(DatabricksClient::new(Some(fake.url())));
    let token = Secret::new(scim::ALICE.to_string());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let e = rt
        .block_on(shared::databricks::statements::execute(
            &client,
            &token,
            "wh-running",
            "SELECT * FROM `main`.`sales`.`archive` LIMIT 10 OFFSET 0",
            Duration::from_secs(1),
        ))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::QueryTimeout);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let state = fake.state();
    let cancelled: Vec<bool> = state.sql.statements.values().map(|s| s.cancelled).collect();
    assert_eq!(cancelled, [true]);
}

#[test]
fn a_rate_limited_listing_waits_for_retry_after_then_completes() {
    use crate::support::fake_workspace::FakeResponse;
    let (fake, server) = setup();
    fake.inject(
        CATALOGS,
        FakeResponse::error(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests")
            .header("Retry-After", "1"),
    );
    let started = Instant::now();
    let r = get_as(&server.url("/api/unity-catalog/catalogs"), scim::ALICE);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().as_array().unwrap().len(), 7);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert_eq!(fake.calls(CATALOGS, scim::ALICE), 6);
}

#[test]
fn upstream_failures_map_without_leaking_bodies() {
    use crate::support::fake_workspace::FakeResponse;
    let (fake, server) = setup();
    // A 500 is not retried and answers 503; its HTML body never reaches the client.
    fake.inject(
        CATALOGS,
        FakeResponse {
            status: 500,
            headers: vec![("content-type".into(), "text/html".into())],
            body: b"<html><pre>java.lang.NullPointerException at com.databricks.secret.Internal</pre></html>".to_vec(),
            delay: None,
        },
    );
    let r = get_as(&server.url("/api/unity-catalog/catalogs"), scim::ALICE);
    assert_eq!((r.status, r.code().as_str()), (503, "SERVICE_UNAVAILABLE"));
    assert!(!r.text().contains("NullPointer"));
    assert_eq!(fake.calls(CATALOGS, scim::ALICE), 1);

    // The platform rejecting the token itself on a data surface is 401, as for identity.
    fake.inject(
        "/api/2.1/unity-catalog/schemas",
        FakeResponse::json(
            403,
            json!({"error_code": 403, "message": "Invalid access token."}),
        ),
    );
    let r = get_as(
        &server.url("/api/unity-catalog/schemas?catalog=main"),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code().as_str()), (401, "AUTH_INVALID"));
    assert!(!r.text().contains(scim::ALICE));

    // A 403 on statement submission (no CAN USE on the warehouse) is PERMISSION_DENIED, and a
    // submission is never retried on anything but 429.
    fake.inject(
        STATEMENTS,
        FakeResponse::error(
            403,
            "PERMISSION_DENIED",
            "You do not have permission to use the SQL warehouse.",
        ),
    );
    let r = post_json(
        &server.url("/api/unity-catalog/query"),
        scim::ALICE,
        &json!({"catalog": "main", "schema": "sales", "table": "orders"}),
    );
    assert_eq!((r.status, r.code().as_str()), (403, "PERMISSION_DENIED"));
    fake.inject(
        STATEMENTS,
        FakeResponse::error(503, "TEMPORARILY_UNAVAILABLE", "busy"),
    );
    let before = fake.total_calls(STATEMENTS);
    let r = post_json(
        &server.url("/api/unity-catalog/query"),
        scim::ALICE,
        &json!({"catalog": "main", "schema": "sales", "table": "orders"}),
    );
    assert_eq!((r.status, r.code().as_str()), (503, "SERVICE_UNAVAILABLE"));
    assert_eq!(fake.total_calls(STATEMENTS), before + 1);
}
