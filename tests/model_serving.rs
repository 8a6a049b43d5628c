//! Model Serving functions against the fake workspace: endpoint state and type,
//! schema detection for every endpoint type (OpenAPI document, `MLmodel` fallback, budget),
//! invocation outcomes (success, not ready, the model's 400, flaky 503, 429, slow, 403), the
//! logs function without Lakebase, and inference logs / detection events stored in a real PostgreSQL.

use crate::support::fake_workspace::{scim, serving::IRIS_COLUMNS, FakeWorkspace};
use crate::support::{get_as, post_json, TestServer};
use serde_json::{json, Value};
use shared::databricks::DatabricksClient;
use shared::Secret;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn setup() -> (FakeWorkspace, TestServer) {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    (fake, server)
}

/// Alice's `GET …/endpoints/{name}/schema`: 200, its JSON.
fn schema(server: &TestServer, name: &str) -> Value {
    let r = get_as(
        &server.url(&format!("/api/model-serving/endpoints/{name}/schema")),
        scim::ALICE,
    );
    assert_eq!(r.status, 200, "{name}: {}", r.text());
    r.json()
}

fn invocations(fake: &FakeWorkspace, name: &str) -> usize {
    fake.state().serving.invoked.get(name).copied().unwrap_or(0)
}

fn invoke(server: &TestServer, body: Value) -> crate::support::Reply {
    post_json(&server.url("/api/model-serving/invoke"), scim::ALICE, &body)
}

#[test]
fn endpoints_are_listed_by_name_with_state_and_type() {
    let (_fake, server) = setup();
    let r = get_as(&server.url("/api/model-serving/endpoints"), scim::ALICE);
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let list = list.as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|e| e["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let by = |name: &str| list.iter().find(|e| e["name"] == name).unwrap().clone();
    assert_eq!(
        by("chat-fm"),
        json!({"name": "chat-fm", "state": "READY", "ready": true, "endpoint_type": "FOUNDATION_MODEL",
               "task": "llm/v1/chat", "model_name": null, "model_version": null,
               "creation_timestamp": "2026-01-01T00:00:00Z"})
    );
    let ext = by("embed-ext");
    assert_eq!(
        (ext["endpoint_type"].as_str(), ext["task"].as_str()),
        (Some("EXTERNAL_MODEL"), Some("llm/v1/embeddings"))
    );
    assert_eq!(ext["model_name"], Value::Null);
    let iris = by("iris-mlflow");
    assert_eq!(
        (
            iris["endpoint_type"].as_str(),
            iris["model_name"].as_str(),
            iris["model_version"].as_str(),
            iris["task"].clone()
        ),
        (
            Some("MLFLOW_MODEL"),
            Some("main.ml.iris"),
            Some("3"),
            Value::Null
        )
    );
    let legacy = by("legacy-model");
    assert_eq!(
        (
            legacy["endpoint_type"].as_str(),
            legacy["model_name"].as_str(),
            legacy["model_version"].as_str()
        ),
        (Some("MLFLOW_MODEL"), Some("legacy_model"), Some("1"))
    );
    assert_eq!(by("zz-unknown")["endpoint_type"], "UNKNOWN");
    for (name, state) in [
        ("updating-ep", "UPDATING"),
        ("failed-ep", "UPDATE_FAILED"),
        ("cold-ep", "NOT_READY"),
    ] {
        let e = by(name);
        assert_eq!(
            (e["state"].as_str(), e["ready"].as_bool()),
            (Some(state), Some(false)),
            "{name}"
        );
    }
}

#[test]
fn one_endpoint_with_entities_and_permission_level() {
    let (fake, server) = setup();
    let r = get_as(
        &server.url("/api/model-serving/endpoints/iris-mlflow"),
        scim::ALICE,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let e = r.json();
    assert_eq!(e["permission_level"], "CAN_QUERY");
    assert_eq!(e["endpoint_type"], "MLFLOW_MODEL");
    let entity = &e["served_entities"][0];
    assert_eq!(entity["entity_name"], "main.ml.iris");
    assert_eq!(entity["entity_type"], "MLFLOW_MODEL");
    assert_eq!(entity["deployment_state"], "DEPLOYMENT_READY");
    assert_eq!(entity["external_model"], Value::Null);

    let ext = get_as(
        &server.url("/api/model-serving/endpoints/embed-ext"),
        scim::ALICE,
    );
    assert_eq!(
        ext.json()["served_entities"][0]["external_model"]["provider"],
        "openai"
    );
    // Provider configs and environment variables never pass through.
    assert!(!ext.text().contains("sk-never-shown"));
    assert!(!r.text().contains("secrets/scope"));

    let r = get_as(
        &server.url("/api/model-serving/endpoints/no-such-endpoint"),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code().as_str()), (404, "ENDPOINT_NOT_FOUND"));

    let before = fake.total_calls("/api/2.0/serving-endpoints/a.b");
    for bad in ["a.b", "a%20b", &"x".repeat(64)] {
        let r = get_as(
            &server.url(&format!("/api/model-serving/endpoints/{bad}")),
            scim::ALICE,
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "INVALID_IDENTIFIER"),
            "{bad}"
        );
    }
    assert_eq!(fake.total_calls("/api/2.0/serving-endpoints/a.b"), before);
}

#[test]
fn foundation_and_external_models_answer_from_their_task() {
    let (_fake, server) = setup();
    let d = schema(&server, "chat-fm");
    assert_eq!(d["endpoint_name"], "chat-fm");
    assert_eq!(d["detected_type"], "FOUNDATION_MODEL");
    assert_eq!(d["status"], "SUCCESS");
    assert_eq!(d["input_format"], "chat");
    assert_eq!(d["example_json"]["messages"][1]["role"], "user");
    assert_eq!(d["schema"]["required"], json!(["messages"]));
    assert_eq!(d["error_message"], Value::Null);
    assert!(d["latency_ms"].is_number());
    assert!(d["detected_at"].as_str().unwrap().ends_with('Z'));

    let e = schema(&server, "embed-ext");
    assert_eq!(
        (e["detected_type"].as_str(), e["input_format"].as_str()),
        (Some("EXTERNAL_MODEL"), Some("embeddings"))
    );
    assert!(e["example_json"]["input"].is_array());
}

#[test]
fn an_mlflow_example_is_built_from_the_endpoints_openapi_schema_and_works() {
    let (fake, server) = setup();
    let d = schema(&server, "iris-mlflow");
    assert_eq!(
        (d["detected_type"].as_str(), d["status"].as_str()),
        (Some("MLFLOW_MODEL"), Some("SUCCESS"))
    );
    assert_eq!(d["input_format"], "dataframe_split");
    assert_eq!(
        d["example_json"],
        json!({"dataframe_split": {"columns": IRIS_COLUMNS, "data": [[1.5, 1.5, 1.5, 1.5]]}})
    );
    assert!(d["schema"]["properties"]["dataframe_split"].is_object());
    assert_eq!(
        fake.total_calls("/api/2.0/serving-endpoints/iris-mlflow/openapi"),
        1
    );

    // The example is a valid request for the model.
    let r = invoke(
        &server,
        json!({"endpoint_name": "iris-mlflow", "inputs": d["example_json"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["predictions"], json!([0, 1]));
}

#[test]
fn without_an_openapi_document_the_mlmodel_signature_is_used() {
    let (fake, server) = setup();
    let d = schema(&server, "churn-mlflow");
    assert_eq!(
        (d["status"].as_str(), d["input_format"].as_str()),
        (Some("SUCCESS"), Some("dataframe_split"))
    );
    assert_eq!(
        d["example_json"],
        json!({"dataframe_split": {"columns": ["tenure_months", "monthly_charges", "contract"], "data": [[1, 1.5, "example"]]}})
    );
    assert_eq!(d["schema"][0]["name"], "tenure_months");
    assert_eq!(
        fake.total_calls("/api/2.0/fs/files/Models/main/ml/churn/2/MLmodel"),
        1
    );
}

#[test]
fn unknown_missing_and_denied_endpoints_in_schema_detection() {
    let (_fake, server) = setup();
    let d = schema(&server, "zz-unknown");
    assert_eq!(
        (d["detected_type"].as_str(), d["status"].as_str()),
        (Some("UNKNOWN"), Some("FAILURE"))
    );
    assert!(d["example_json"].is_object());
    assert!(d["error_message"].is_string());
    assert_eq!(d["input_format"], Value::Null);

    // A legacy workspace model has no OpenAPI document and no Unity Catalog MLmodel.
    let d = schema(&server, "legacy-model");
    assert_eq!(
        (d["detected_type"].as_str(), d["status"].as_str()),
        (Some("MLFLOW_MODEL"), Some("FAILURE"))
    );

    let r = get_as(
        &server.url("/api/model-serving/endpoints/nope/schema"),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code().as_str()), (404, "ENDPOINT_NOT_FOUND"));
    let r = get_as(
        &server.url("/api/model-serving/endpoints/denied/schema"),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code().as_str()), (403, "PERMISSION_DENIED"));
}

#[test]
fn schema_detection_past_its_budget_is_a_timeout_with_a_generic_example() {
    let fake = FakeWorkspace::start();
    fake.state()
        .serving
        .openapi_delay
        .insert("iris-mlflow".into(), Duration::from_secs(3));
    let client = Arc::new(DatabricksClient::new(Some(fake.url())));
    let token = Secret::new(scim::ALICE.to_string());
    let endpoint = fake
        .state()
        .serving
        .endpoints
        .iter()
        .find(|e| e["name"] == "iris-mlflow")
        .cloned()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let d = rt
        .block_on(shared::databricks::serving_schema::detect(
            &client,
            &token,
            &endpoint,
            started,
            Duration::from_millis(300),
        ))
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!((d.status, d.detected_type), ("TIMEOUT", "MLFLOW_MODEL"));
    assert_eq!(
        d.example_json,
        shared::databricks::serving_schema::generic_example()
    );
    assert!(d.error_message.unwrap().contains("did not finish"));
}

#[test]
fn a_successful_invocation() {
    let (fake, server) = setup();
    let inputs = json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 10});
    let r = invoke(
        &server,
        json!({"endpoint_name": "chat-fm", "inputs": inputs}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert!(shared::util::is_uuid(body["request_id"].as_str().unwrap()));
    assert_eq!(body["endpoint_name"], "chat-fm");
    assert_eq!(body["status"], "SUCCESS");
    assert_eq!(
        body["predictions"]["choices"][0]["message"]["content"],
        "Hello!"
    );
    assert!(body["execution_time_ms"].as_f64().unwrap() > 0.0);
    assert!(body["completed_at"].as_str().unwrap().ends_with('Z'));
    // The inputs go to the model unchanged, with the caller's token.
    assert_eq!(fake.state().serving.bodies["chat-fm"], vec![inputs]);
    assert_eq!(
        fake.calls("/serving-endpoints/chat-fm/invocations", scim::ALICE),
        1
    );
    let again = invoke(
        &server,
        json!({"endpoint_name": "chat-fm", "inputs": {"messages": []}}),
    );
    assert_ne!(again.json()["request_id"], body["request_id"]);
}

#[test]
fn a_not_ready_endpoint_is_409_without_invoking_it() {
    let (fake, server) = setup();
    for name in ["updating-ep", "failed-ep", "cold-ep"] {
        let r = invoke(
            &server,
            json!({"endpoint_name": name, "inputs": {"inputs": [1]}}),
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (409, "ENDPOINT_NOT_READY"),
            "{name}"
        );
        assert_eq!(invocations(&fake, name), 0);
    }
    let r = invoke(&server, json!({"endpoint_name": "ghost", "inputs": {}}));
    assert_eq!((r.status, r.code().as_str()), (404, "ENDPOINT_NOT_FOUND"));
}

#[test]
fn the_models_400_is_invalid_model_input_with_its_message() {
    let (fake, server) = setup();
    let r = invoke(
        &server,
        json!({"endpoint_name": "iris-mlflow", "inputs": {"inputs": [[1, 2]]}}),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_MODEL_INPUT"));
    let body = r.json();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Failed to enforce schema"),
        "{body}"
    );
    assert!(shared::util::is_uuid(
        body["details"]["request_id"].as_str().unwrap()
    ));
    assert_eq!(
        invocations(&fake, "iris-mlflow"),
        1,
        "a 400 is never retried"
    );
}

#[test]
fn a_flaky_endpoint_succeeds_on_the_third_attempt() {
    let (fake, server) = setup();
    let started = Instant::now();
    let r = invoke(
        &server,
        json!({"endpoint_name": "flaky", "inputs": {"inputs": [1]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["predictions"], json!(["third time lucky"]));
    assert_eq!(invocations(&fake, "flaky"), 3);
    // Backoff 1 s then 2 s.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(6),
        "{elapsed:?}"
    );
}

#[test]
fn an_endpoint_that_always_rate_limits_is_429_after_three_attempts() {
    let (fake, server) = setup();
    let r = invoke(
        &server,
        json!({"endpoint_name": "busy", "inputs": {"inputs": [1]}}),
    );
    assert_eq!((r.status, r.code().as_str()), (429, "RATE_LIMITED"));
    assert!(r.json()["retry_after"].as_u64().unwrap() >= 1);
    assert!(r.header("retry-after").is_some());
    assert_eq!(invocations(&fake, "busy"), 3);
}

#[test]
fn an_endpoint_unavailable_on_every_attempt_is_503_model_unavailable() {
    use crate::support::fake_workspace::FakeResponse;
    let (fake, server) = setup();
    let path = "/serving-endpoints/chat-fm/invocations";
    for _ in 0..3 {
        fake.inject(
            path,
            FakeResponse::error(503, "TEMPORARILY_UNAVAILABLE", "Endpoint is scaling")
                .header("Retry-After", "0"),
        );
    }
    let r = invoke(
        &server,
        json!({"endpoint_name": "chat-fm", "inputs": {"messages": []}}),
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "MODEL_UNAVAILABLE"),
        "{}",
        r.text()
    );
    assert_eq!(fake.total_calls(path), 3);
}

#[test]
fn a_slow_endpoint_is_504_within_the_timeout() {
    let (fake, server) = setup();
    let started = Instant::now();
    let r = invoke(
        &server,
        json!({"endpoint_name": "slow", "inputs": {"inputs": [1]}, "timeout_seconds": 2}),
    );
    let elapsed = started.elapsed();
    assert_eq!(
        (r.status, r.code().as_str()),
        (504, "MODEL_TIMEOUT"),
        "{}",
        r.text()
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(invocations(&fake, "slow"), 1);
}

#[test]
fn a_denied_invocation_is_403_and_not_retried() {
    let (fake, server) = setup();
    let r = invoke(
        &server,
        json!({"endpoint_name": "denied", "inputs": {"inputs": [1]}}),
    );
    assert_eq!((r.status, r.code().as_str()), (403, "PERMISSION_DENIED"));
    assert_eq!(invocations(&fake, "denied"), 1);
}

#[test]
fn invalid_invoke_bodies_never_reach_the_workspace() {
    let (fake, server) = setup();
    let cases = [
        (
            json!({"endpoint_name": "chat-fm", "inputs": [1, 2]}),
            "inputs",
        ),
        (
            json!({"endpoint_name": "chat-fm", "inputs": "text"}),
            "inputs",
        ),
        (json!({"endpoint_name": "chat-fm"}), "inputs"),
        (
            json!({"endpoint_name": "chat-fm", "inputs": {}, "timeout_seconds": 0}),
            "timeout_seconds",
        ),
        (
            json!({"endpoint_name": "chat-fm", "inputs": {}, "timeout_seconds": 301}),
            "timeout_seconds",
        ),
        (
            json!({"endpoint_name": "chat-fm", "inputs": {}, "timeout_seconds": 2.5}),
            "timeout_seconds",
        ),
        (
            json!({"endpoint_name": "chat-fm", "inputs": {}, "stream": true}),
            "stream",
        ),
        (json!({"inputs": {}}), "endpoint_name"),
    ];
    for (body, field) in cases {
        let r = invoke(&server, body.clone());
        assert_eq!(
            (r.status, r.code().as_str()),
            (422, "VALIDATION_FAILED"),
            "{body}"
        );
        let fields: Vec<Value> = r.json()["details"]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].clone())
            .collect();
        assert!(fields.contains(&json!(field)), "{body}: {fields:?}");
    }
    let r = invoke(&server, json!({"endpoint_name": "../x", "inputs": {}}));
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_IDENTIFIER"));
    let serving_calls: usize = fake
        .state()
        .calls
        .iter()
        .filter(|((p, _), _)| p.contains("serving-endpoints"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(serving_calls, 0);
}

#[test]
fn logs_need_lakebase() {
    let (_fake, server) = setup();
    let r = get_as(&server.url("/api/model-serving/logs"), scim::ALICE);
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "LAKEBASE_NOT_CONFIGURED")
    );
    let r = get_as(
        &server.url("/api/model-serving/logs?limit=500"),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_REQUEST"));
    // Invocation and detection still work without it.
    assert_eq!(
        invoke(&server, json!({"endpoint_name": "chat-fm", "inputs": {}})).status,
        200
    );
    assert_eq!(
        get_as(
            &server.url("/api/model-serving/endpoints/chat-fm/schema"),
            scim::ALICE
        )
        .status,
        200
    );
}

#[test]
fn inference_logs_and_detections_are_stored_and_only_the_callers_rows_are_listed() {
    let fake = FakeWorkspace::start();
    let db = crate::support::db::TestDb::create();
    let server = crate::lakebase::server_on(&fake, &db);
    let url = server.url("/api/model-serving/invoke");
    let chat = |token: &str, text: &str| {
        let body = json!({"endpoint_name": "chat-fm", "inputs": {"messages": [{"role": "user", "content": text}]}});
        let r = post_json(&url, token, &body);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["request_id"].as_str().unwrap().to_string()
    };
    let first = chat(scim::ALICE, "one");
    let _bob = chat(scim::BOB_ADMIN, "bob's");
    let second = chat(scim::ALICE, "two");
    // A failed outcome is logged too.
    let missing = post_json(
        &url,
        scim::ALICE,
        &json!({"endpoint_name": "no-such-endpoint", "inputs": {}}),
    );
    assert_eq!(missing.status, 404);
    assert_eq!(
        get_as(
            &server.url("/api/model-serving/endpoints/chat-fm/schema"),
            scim::ALICE
        )
        .status,
        200
    );

    let page = get_as(&server.url("/api/model-serving/logs?limit=50"), scim::ALICE);
    assert_eq!(page.status, 200, "{}", page.text());
    let page = page.json();
    let logs = page["logs"].as_array().unwrap();
    assert!(logs.iter().all(|l| l["endpoint_name"] != "bob's"));
    let ids: Vec<&str> = logs
        .iter()
        .map(|l| l["request_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&first.as_str()) && ids.contains(&second.as_str()),
        "{ids:?}"
    );
    assert!(!ids.contains(&_bob.as_str()), "bob's row is not alice's");
    // Newest first.
    let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
    assert!(pos(&second) < pos(&first));
    assert_eq!(page["total_count"].as_i64().unwrap() as usize, logs.len());
    let row = logs
        .iter()
        .find(|l| l["request_id"] == second.as_str())
        .unwrap();
    assert_eq!(row["status"], "SUCCESS");
    assert_eq!(row["inputs"]["messages"][0]["content"], "two");
    assert!(row["created_at"].as_str().unwrap().ends_with('Z'));

    let paged = get_as(
        &server.url("/api/model-serving/logs?limit=1&offset=1"),
        scim::ALICE,
    )
    .json();
    assert_eq!(paged["logs"].as_array().unwrap().len(), 1);
    assert_eq!(
        (paged["limit"].as_i64(), paged["offset"].as_i64()),
        (Some(1), Some(1))
    );

    assert_eq!(
        db.count("SELECT count(*) FROM model_inference_logs WHERE user_id = 'bob@example.com'"),
        1
    );
    assert_eq!(db.count("SELECT count(*) FROM schema_detection_events WHERE user_id = 'alice@example.com' AND endpoint_name = 'chat-fm'"), 1);
}
