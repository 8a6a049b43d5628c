//! Model Serving (reference §7, §8): endpoints of each type and state, an OpenAPI document for an
//! MLflow endpoint, an `MLmodel` file behind the Files API for another, and invocations that
//! succeed, reject their input (400), fail twice then succeed (503), always rate limit (429),
//! are denied (403) or are slow. Invocations live at `/serving-endpoints/{name}/invocations`,
//! without `/api/2.0`.

use super::{FakeRequest, FakeResponse};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Invocation {
    /// Answer this JSON.
    Answer(Value),
    /// MLflow schema enforcement: 400 unless the body has `dataframe_split`.
    NeedsDataframe(Value),
    /// 503 for the first `failures` calls, then the answer.
    Flaky { failures: usize, answer: Value },
    /// 429 with `Retry-After: 0`, always.
    RateLimited,
    /// 403 PERMISSION_DENIED.
    Denied,
    /// Answer after this long.
    Slow(Duration),
}

pub struct ServingState {
    pub endpoints: Vec<Value>,
    pub invocations: HashMap<String, Invocation>,
    /// Endpoint name → OpenAPI document (absent: 404).
    pub openapi: HashMap<String, Value>,
    /// Endpoints whose OpenAPI document is answered after this delay.
    pub openapi_delay: HashMap<String, Duration>,
    /// `Models/...` path → MLmodel YAML.
    pub files: HashMap<String, String>,
    /// Invocation calls per endpoint.
    pub invoked: HashMap<String, usize>,
    /// Bodies received per endpoint.
    pub bodies: HashMap<String, Vec<Value>>,
}

fn state(ready: &str, update: &str) -> Value {
    json!({"ready": ready, "config_update": update})
}

fn endpoint(name: &str, ready: &str, update: &str, task: Option<&str>, entities: Value) -> Value {
    let mut e = json!({
        "name": name, "id": format!("id-{name}"), "creator": "alice@example.com",
        "creation_timestamp": 1767225600000i64, "last_updated_timestamp": 1767225600000i64,
        "state": state(ready, update), "config": {"served_entities": entities},
        "tags": [], "permission_level": "CAN_QUERY",
    });
    if let Some(t) = task {
        e["task"] = json!(t);
    }
    e
}

fn mlflow(entity: &str, version: &str) -> Value {
    json!([{"name": format!("{}-{version}", entity.rsplit('.').next().unwrap_or(entity)), "entity_name": entity, "entity_version": version,
        "workload_size": "Small", "workload_type": "CPU", "scale_to_zero_enabled": true,
        "state": {"deployment": "DEPLOYMENT_READY", "deployment_state_message": ""},
        "environment_vars": {"SECRET_REF": "{{secrets/scope/key}}"}}])
}

pub const IRIS_COLUMNS: [&str; 4] = ["sepal_length", "sepal_width", "petal_length", "petal_width"];

fn iris_openapi() -> Value {
    let number = json!({"type": "number", "format": "double"});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "iris-mlflow", "version": "3"},
        "servers": [{"url": "/serving-endpoints/iris-mlflow"}],
        "paths": {"/serving-endpoints/iris-mlflow/invocations": {"post": {
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [
                {"type": "object", "required": ["dataframe_split"], "properties": {"dataframe_split": {"$ref": "#/components/schemas/DataframeSplit"}}},
                {"type": "object", "required": ["dataframe_records"], "properties": {"dataframe_records": {"type": "array", "items": {"type": "object",
                    "properties": IRIS_COLUMNS.iter().map(|c| (c.to_string(), number.clone())).collect::<serde_json::Map<_, _>>()}}}},
            ]}}}},
            "responses": {"200": {"description": "Successful operation", "content": {"application/json": {"schema": {"type": "object", "properties": {"predictions": {"type": "array", "items": {"type": "integer"}}}}}}}},
        }}},
        "components": {"schemas": {"DataframeSplit": {"type": "object", "required": ["columns", "data"], "properties": {
            "columns": {"type": "array", "items": {"type": "string", "enum": IRIS_COLUMNS}},
            "data": {"type": "array", "items": {"type": "array", "prefixItems": [number, number, number, number]}},
        }}}},
    })
}

pub const CHURN_MLMODEL: &str = "artifact_path: model\nflavors:\n  python_function:\n    env:\n      conda: conda.yaml\n    loader_module: mlflow.sklearn\n    python_version: 3.11.9\n  sklearn:\n    pickled_model: model.pkl\n    sklearn_version: 1.5.1\nmlflow_version: 2.16.2\nmodel_uuid: 3f1c0a\nsignature:\n  inputs: '[{\"type\": \"long\", \"name\": \"tenure_months\", \"required\": true}, {\"type\":\n    \"double\", \"name\": \"monthly_charges\", \"required\": true}, {\"type\": \"string\", \"name\":\n    \"contract\", \"required\": false}]'\n  outputs: '[{\"type\": \"long\", \"required\": true}]'\n  params: null\nutc_time_created: '2026-01-01 10:00:00.000000'\n";

impl Default for ServingState {
    fn default() -> ServingState {
        let chat_answer = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1767225600, "model": "llama",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}});
        let endpoints = vec![
            endpoint(
                "zz-unknown",
                "READY",
                "NOT_UPDATING",
                None,
                json!([{"name": "custom"}]),
            ),
            endpoint(
                "chat-fm",
                "READY",
                "NOT_UPDATING",
                Some("llm/v1/chat"),
                json!([{"name": "llama", "foundation_model": {"name": "databricks-meta-llama-3-3-70b-instruct", "display_name": "Llama 3.3 70B"}}]),
            ),
            endpoint(
                "embed-ext",
                "READY",
                "NOT_UPDATING",
                None,
                json!([{"name": "openai-embed", "external_model": {"name": "text-embedding-3-small", "provider": "openai", "task": "llm/v1/embeddings",
                    "openai_config": {"openai_api_key_plaintext": "sk-never-shown"}}}]),
            ),
            endpoint(
                "iris-mlflow",
                "READY",
                "NOT_UPDATING",
                None,
                mlflow("main.ml.iris", "3"),
            ),
            endpoint(
                "churn-mlflow",
                "READY",
                "NOT_UPDATING",
                None,
                mlflow("main.ml.churn", "2"),
            ),
            {
                let mut e = endpoint("legacy-model", "READY", "NOT_UPDATING", None, json!([]));
                e["config"] = json!({"served_models": [{"name": "legacy-1", "model_name": "legacy_model", "model_version": "1"}]});
                e
            },
            endpoint(
                "updating-ep",
                "NOT_READY",
                "IN_PROGRESS",
                None,
                mlflow("main.ml.iris", "4"),
            ),
            endpoint(
                "failed-ep",
                "NOT_READY",
                "UPDATE_FAILED",
                None,
                mlflow("main.ml.iris", "5"),
            ),
            endpoint(
                "cold-ep",
                "NOT_READY",
                "NOT_UPDATING",
                None,
                mlflow("main.ml.iris", "6"),
            ),
            endpoint(
                "flaky",
                "READY",
                "NOT_UPDATING",
                None,
                mlflow("main.ml.iris", "3"),
            ),
            endpoint(
                "busy",
                "READY",
                "NOT_UPDATING",
                None,
                mlflow("main.ml.iris", "3"),
            ),
            endpoint(
                "slow",
                "READY",
                "NOT_UPDATING",
                None,
                mlflow("main.ml.iris", "3"),
            ),
            endpoint(
                "denied",
                "READY",
                "NOT_UPDATING",
                None,
                mlflow("main.ml.iris", "3"),
            ),
        ];
        let mut invocations = HashMap::new();
        invocations.insert("chat-fm".into(), Invocation::Answer(chat_answer));
        invocations.insert("embed-ext".into(), Invocation::Answer(json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]})));
        invocations.insert(
            "iris-mlflow".into(),
            Invocation::NeedsDataframe(json!({"predictions": [0, 1]})),
        );
        invocations.insert(
            "flaky".into(),
            Invocation::Flaky {
                failures: 2,
                answer: json!({"predictions": ["third time lucky"]}),
            },
        );
        invocations.insert("busy".into(), Invocation::RateLimited);
        invocations.insert("denied".into(), Invocation::Denied);
        invocations.insert("slow".into(), Invocation::Slow(Duration::from_secs(10)));
        let mut openapi = HashMap::new();
        openapi.insert("iris-mlflow".to_string(), iris_openapi());
        let mut files = HashMap::new();
        files.insert(
            "Models/main/ml/churn/2/MLmodel".to_string(),
            CHURN_MLMODEL.to_string(),
        );
        ServingState {
            endpoints,
            invocations,
            openapi,
            openapi_delay: HashMap::new(),
            files,
            invoked: HashMap::new(),
            bodies: HashMap::new(),
        }
    }
}

fn not_found(name: &str) -> FakeResponse {
    FakeResponse::error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Serving endpoint with name {name} not found"),
    )
}

pub fn route(state: &mut ServingState, req: &FakeRequest) -> Option<FakeResponse> {
    let path = req.path.as_str();
    if req.method == "GET" {
        if let Some(file) = path.strip_prefix("/api/2.0/fs/files/") {
            return Some(match state.files.get(file) {
                Some(text) => FakeResponse {
                    status: 200,
                    headers: vec![("content-type".into(), "application/octet-stream".into())],
                    body: text.clone().into_bytes(),
                    delay: None,
                },
                None => {
                    FakeResponse::error(404, "NOT_FOUND", "The file being accessed is not found.")
                }
            });
        }
        if path == "/api/2.0/serving-endpoints" {
            let list: Vec<Value> = state
                .endpoints
                .iter()
                .map(|e| {
                    // The list view: no permission level, no entity state.
                    let mut e = e.clone();
                    e.as_object_mut().map(|o| o.remove("permission_level"));
                    e
                })
                .collect();
            return Some(FakeResponse::json(200, json!({"endpoints": list})));
        }
        let rest = path.strip_prefix("/api/2.0/serving-endpoints/")?;
        let (name, openapi) = match rest.strip_suffix("/openapi") {
            Some(name) => (name, true),
            None => (rest, false),
        };
        let Some(endpoint) = state.endpoints.iter().find(|e| e["name"] == name) else {
            return Some(not_found(name));
        };
        if !openapi {
            return Some(FakeResponse::json(200, endpoint.clone()));
        }
        if matches!(state.invocations.get(name), Some(Invocation::Denied)) {
            return Some(FakeResponse::error(
                403,
                "PERMISSION_DENIED",
                "User does not have permission 'CAN_QUERY' on this endpoint.",
            ));
        }
        let response = match state.openapi.get(name) {
            Some(doc) => FakeResponse::json(200, doc.clone()),
            None => FakeResponse::error(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                "OpenAPI schema is not available for this endpoint.",
            ),
        };
        return Some(match state.openapi_delay.get(name) {
            Some(d) => response.delayed(*d),
            None => response,
        });
    }
    if req.method == "POST" {
        let name = path
            .strip_prefix("/serving-endpoints/")?
            .strip_suffix("/invocations")?
            .to_string();
        if !state.endpoints.iter().any(|e| e["name"] == name.as_str()) {
            return Some(not_found(&name));
        }
        let calls = {
            let n = state.invoked.entry(name.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let body = req.json();
        state
            .bodies
            .entry(name.clone())
            .or_default()
            .push(body.clone());
        let behaviour = state
            .invocations
            .get(&name)
            .cloned()
            .unwrap_or(Invocation::Answer(json!({"predictions": []})));
        let served = |r: FakeResponse| r.header("served-model-name", &format!("{name}-1"));
        return Some(match behaviour {
            Invocation::Answer(answer) => served(FakeResponse::json(200, answer)),
            Invocation::NeedsDataframe(answer) => {
                if body.get("dataframe_split").is_some() {
                    served(FakeResponse::json(200, answer))
                } else {
                    FakeResponse::error(400, "BAD_REQUEST", "Failed to enforce schema of data: missing inputs ['sepal_length', 'sepal_width', 'petal_length', 'petal_width']. Send exactly one of the input fields: dataframe_split, dataframe_records, instances, inputs.")
                }
            }
            Invocation::Flaky { failures, answer } => {
                if calls <= failures {
                    FakeResponse::error(
                        503,
                        "TEMPORARILY_UNAVAILABLE",
                        "The endpoint is scaling up from zero; please retry.",
                    )
                } else {
                    served(FakeResponse::json(200, answer))
                }
            }
            Invocation::RateLimited => FakeResponse::error(
                429,
                "REQUEST_LIMIT_EXCEEDED",
                "Exceeded the rate limit of 1 query per second for this endpoint.",
            )
            .header("Retry-After", "0"),
            Invocation::Denied => FakeResponse::error(
                403,
                "PERMISSION_DENIED",
                "User does not have permission 'CAN_QUERY' on this endpoint.",
            ),
            Invocation::Slow(d) => {
                served(FakeResponse::json(200, json!({"predictions": ["late"]}))).delayed(d)
            }
        });
    }
    None
}
