//! Benchmark of the Unity Catalog / Model Serving figures (issue 5), run by
//! `scripts/bench-databricks` in release mode. Ignored in normal test runs.
//!
//! "Server-side time excluding upstream waits" is measured directly: each function's handler is
//! called in-process (as `brickbox invoke` does) against the fake workspace, and the time the
//! Databricks client spent inside upstream calls (`DatabricksClient::upstream_wait`, which covers
//! the HTTP exchange with the fake and the fake's own work) is subtracted. What remains is
//! brickbox's own work: validation, spawning the blocking calls, parsing, typing cells, building
//! and serializing the answer. The same requests are also timed end to end through the HTTP
//! server (client included) as an upper bound.

use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::{get_as, post_json, TestServer};
use serde_json::json;
use shared::config::Config;
use shared::identity::Identity;
use shared::{AppState, Ctx, Request, Secret};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

const WARMUP: usize = 20;
const RUNS: usize = 200;

struct Stats {
    p50: f64,
    p95: f64,
    mean: f64,
    max: f64,
}

fn stats(mut ms: Vec<f64>) -> Stats {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        p50: at(0.5),
        p95: at(0.95),
        mean: ms.iter().sum::<f64>() / ms.len() as f64,
        max: *ms.last().unwrap(),
    }
}

fn row(name: &str, what: &str, s: &Stats, target: &str) {
    println!(
        "| {name} | {what} | {:.3} | {:.3} | {:.3} | {:.3} | {target} |",
        s.p50, s.p95, s.mean, s.max
    );
}

fn ctx(app: &Arc<AppState>) -> Ctx {
    Ctx {
        state: Arc::clone(app),
        correlation_id: "bench".into(),
        identity: Some(Arc::new(Identity {
            user_name: "alice@example.com".into(),
            display_name: Some("Alice".into()),
            active: Some(true),
            emails: vec![],
            groups: vec![],
            is_admin: false,
            is_service_principal: false,
            workspace_id: None,
        })),
        token: Some(Secret::new(scim::ALICE.to_string())),
    }
}

/// Handler time minus upstream wait, in ms, over `RUNS` calls after `WARMUP`.
fn measure<F, Fut>(rt: &tokio::runtime::Runtime, app: &Arc<AppState>, mut call: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<shared::Response, shared::ApiError>>,
{
    let mut samples = Vec::with_capacity(RUNS);
    for i in 0..WARMUP + RUNS {
        let waited = app.databricks.upstream_wait();
        let started = Instant::now();
        let response = rt.block_on(call()).expect("the benchmarked call succeeds");
        let total = started.elapsed();
        let upstream = app.databricks.upstream_wait() - waited;
        assert_eq!(response.status, 200);
        if i >= WARMUP {
            samples.push(total.saturating_sub(upstream).as_secs_f64() * 1000.0);
        }
    }
    stats(samples)
}

/// Whole HTTP request time (client included) minus upstream wait, in ms.
fn measure_http(server: &TestServer, mut call: impl FnMut() -> u16) -> Stats {
    let mut samples = Vec::with_capacity(RUNS);
    for i in 0..WARMUP + RUNS {
        let waited = server.app.databricks.upstream_wait();
        let started = Instant::now();
        assert_eq!(call(), 200);
        let total = started.elapsed();
        let upstream = server.app.databricks.upstream_wait() - waited;
        if i >= WARMUP {
            samples.push(total.saturating_sub(upstream).as_secs_f64() * 1000.0);
        }
    }
    stats(samples)
}

#[test]
#[ignore = "benchmark: run with scripts/bench-databricks"]
fn bench_databricks_figures() {
    let fake = FakeWorkspace::start();
    // Statements finish within the submit's wait_timeout, as small queries do on a warm warehouse.
    fake.state().sql.polls_before_done = 0;
    let env: HashMap<String, String> = [
        ("DATABRICKS_HOST", fake.url()),
        ("DATABRICKS_WAREHOUSE_ID", "wh-running".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let app = Arc::new(AppState::new(
        Config::from_lookup(|k| env.get(k).cloned()).expect("config"),
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let query_body =
        json!({"catalog": "main", "schema": "sales", "table": "big", "limit": 1000, "offset": 0})
            .to_string();
    // A request is moved into its function (its body may be a stream), so each call gets a new one.
    let json_req = |body: &str| Request {
        content_type: Some("application/json".into()),
        body: body.as_bytes().to_vec(),
        ..Request::default()
    };
    let query_req = || json_req(&query_body);
    let check = rt
        .block_on(functions::uc_query::handle(ctx(&app), query_req()))
        .expect("query works");
    let rows: serde_json::Value = serde_json::from_slice(&check.body).unwrap();
    assert_eq!(rows["row_count"], 1000);

    let invoke_body = json!({"endpoint_name": "chat-fm", "inputs": {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 10}}).to_string();
    let invoke_req = || json_req(&invoke_body);
    let schema_req = || Request {
        path_params: vec![("name".into(), "chat-fm".into())],
        ..Request::default()
    };

    let query = measure(&rt, &app, || {
        functions::uc_query::handle(ctx(&app), query_req())
    });
    let invoke = measure(&rt, &app, || {
        functions::model_invoke::handle(ctx(&app), invoke_req())
    });
    let schema = measure(&rt, &app, || {
        functions::model_endpoint_schema::handle(ctx(&app), schema_req())
    });

    let server = TestServer::with_workspace(&fake, &[("DATABRICKS_WAREHOUSE_ID", "wh-running")]);
    let query_json: serde_json::Value = serde_json::from_str(&query_body).unwrap();
    let invoke_json: serde_json::Value = serde_json::from_str(&invoke_body).unwrap();
    let http_query = measure_http(&server, || {
        post_json(
            &server.url("/api/unity-catalog/query"),
            scim::ALICE,
            &query_json,
        )
        .status
    });
    let http_invoke = measure_http(&server, || {
        post_json(
            &server.url("/api/model-serving/invoke"),
            scim::ALICE,
            &invoke_json,
        )
        .status
    });
    let http_schema = measure_http(&server, || {
        get_as(
            &server.url("/api/model-serving/endpoints/chat-fm/schema"),
            scim::ALICE,
        )
        .status
    });

    println!();
    println!("{RUNS} runs each after {WARMUP} warm-up runs; milliseconds, upstream waits excluded");
    println!();
    println!("| figure | measured | p50 | p95 | mean | max | target |");
    println!("|---|---|---|---|---|---|---|");
    row(
        "1,000-row table query (`POST /api/unity-catalog/query`)",
        "handler",
        &query,
        "≤ 2 ms",
    );
    row("", "HTTP request incl. test client", &http_query, "");
    row(
        "Invoke overhead (`POST /api/model-serving/invoke`, chat-fm)",
        "handler",
        &invoke,
        "≤ 1 ms",
    );
    row("", "HTTP request incl. test client", &http_invoke, "");
    row(
        "Foundation-model schema detection (`GET …/chat-fm/schema`)",
        "handler",
        &schema,
        "≤ 5 ms",
    );
    row("", "HTTP request incl. test client", &http_schema, "");
    println!();
}
