//! Model Serving: endpoints with their state and type, and invocation with retries inside one
//! deadline. Input-schema detection is in `serving_schema`.
//!
//! Classification follows docs/api.md, not the Python template (which ignored `state.ready` and called every
//! `served_entities` endpoint a foundation model). Detection answers foundation and external
//! models from the task at once; MLflow models read the endpoint's OpenAPI document, then the
//! `MLmodel` signature, inside a 5 s budget. Nothing here writes logs to Lakebase: it returns
//! values the functions hand to the one recording helper.

use crate::databricks::retry::{self, Deadline, Failure, Policy};
use crate::databricks::{map_upstream_error, DatabricksClient, UpstreamError};
use crate::error::{quote_upstream, ApiError, ErrorCode};
use crate::secret::Secret;
use crate::util::{percent_encode, rfc3339};
use crate::Method;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Budget of a list or get (all retries included).
pub const READ_DEADLINE: Duration = Duration::from_secs(15);
pub(crate) const WHAT: &str = "Model Serving";

pub const FOUNDATION_MODEL: &str = "FOUNDATION_MODEL";
pub const EXTERNAL_MODEL: &str = "EXTERNAL_MODEL";
pub const MLFLOW_MODEL: &str = "MLFLOW_MODEL";
pub const UNKNOWN: &str = "UNKNOWN";

/// `^[A-Za-z0-9_-]{1,63}$`, checked before any upstream call.
pub fn validate_endpoint_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidIdentifier,
            "The endpoint name must be 1–63 letters, digits, '_' or '-'.",
        )
        .with_details(json!({"errors": [{"field": "endpoint_name", "message": "must match ^[A-Za-z0-9_-]{1,63}$"}]})))
    }
}

/// One endpoint as the list answers it; every field present.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EndpointSummary {
    pub name: String,
    /// `READY`, `UPDATE_FAILED`, `UPDATING` or `NOT_READY`.
    pub state: &'static str,
    pub ready: bool,
    pub endpoint_type: &'static str,
    pub task: Option<String>,
    pub model_name: Option<String>,
    pub model_version: Option<String>,
    pub creation_timestamp: Option<String>,
}

/// A served entity, reduced to what a UI needs. Provider configs (which may hold plaintext API
/// keys) and environment variables are deliberately not passed through.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ServedEntity {
    pub name: Option<String>,
    pub entity_type: &'static str,
    pub entity_name: Option<String>,
    pub entity_version: Option<String>,
    pub foundation_model: Option<String>,
    pub external_model: Option<ExternalModel>,
    pub workload_size: Option<String>,
    pub workload_type: Option<String>,
    pub scale_to_zero_enabled: Option<bool>,
    pub deployment_state: Option<String>,
    pub deployment_state_message: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ExternalModel {
    pub name: Option<String>,
    pub provider: Option<String>,
    pub task: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EndpointDetail {
    #[serde(flatten)]
    pub summary: EndpointSummary,
    pub served_entities: Vec<ServedEntity>,
    pub permission_level: Option<String>,
}

pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Served entities, or the legacy `served_models` when there are none.
pub(crate) fn entities(endpoint: &Value) -> Vec<&Value> {
    let config = endpoint
        .get("config")
        .or_else(|| endpoint.get("pending_config"));
    let list = |key: &str| {
        config
            .and_then(|c| c.get(key))
            .and_then(Value::as_array)
            .map(|a| a.iter().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let served = list("served_entities");
    if served.is_empty() {
        list("served_models")
    } else {
        served
    }
}

fn entity_type(entity: &Value) -> &'static str {
    if entity.get("foundation_model").is_some_and(Value::is_object) {
        FOUNDATION_MODEL
    } else if entity.get("external_model").is_some_and(Value::is_object) {
        EXTERNAL_MODEL
    } else if (text(entity, "entity_name").is_some() && text(entity, "entity_version").is_some())
        || (text(entity, "model_name").is_some() && text(entity, "model_version").is_some())
    {
        MLFLOW_MODEL
    } else {
        UNKNOWN
    }
}

/// FOUNDATION_MODEL / EXTERNAL_MODEL / MLFLOW_MODEL when any served entity is one
/// (in that order), else UNKNOWN.
pub fn endpoint_type(endpoint: &Value) -> &'static str {
    let types: Vec<&'static str> = entities(endpoint).into_iter().map(entity_type).collect();
    [FOUNDATION_MODEL, EXTERNAL_MODEL, MLFLOW_MODEL]
        .into_iter()
        .find(|t| types.contains(t))
        .unwrap_or(UNKNOWN)
}

/// `READY` when `state.ready == READY`, else from `state.config_update`.
pub fn endpoint_state(endpoint: &Value) -> &'static str {
    let state = endpoint.get("state");
    let field = |k: &str| state.and_then(|s| s.get(k)).and_then(Value::as_str);
    if field("ready") == Some("READY") {
        return "READY";
    }
    match field("config_update") {
        Some("UPDATE_FAILED") => "UPDATE_FAILED",
        Some("IN_PROGRESS") => "UPDATING",
        _ => "NOT_READY",
    }
}

/// The endpoint's task, else the external model's (list views carry it only there).
pub(crate) fn task(endpoint: &Value) -> Option<String> {
    text(endpoint, "task").or_else(|| {
        entities(endpoint)
            .into_iter()
            .find_map(|e| e.get("external_model").and_then(|m| text(m, "task")))
    })
}

pub fn summarize(endpoint: &Value) -> EndpointSummary {
    let endpoint_type = endpoint_type(endpoint);
    let first = entities(endpoint).into_iter().next();
    let (model_name, model_version) = match (endpoint_type, first) {
        (FOUNDATION_MODEL | EXTERNAL_MODEL, _) | (_, None) => (None, None),
        (_, Some(e)) => (
            text(e, "entity_name").or_else(|| text(e, "model_name")),
            text(e, "entity_version").or_else(|| text(e, "model_version")),
        ),
    };
    let state = endpoint_state(endpoint);
    EndpointSummary {
        name: text(endpoint, "name").unwrap_or_default(),
        state,
        ready: state == "READY",
        endpoint_type,
        task: task(endpoint),
        model_name,
        model_version,
        creation_timestamp: endpoint
            .get("creation_timestamp")
            .and_then(Value::as_i64)
            .and_then(|ms| {
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
            })
            .map(rfc3339),
    }
}

pub fn detail(endpoint: &Value) -> EndpointDetail {
    let served_entities = entities(endpoint)
        .into_iter()
        .map(|e| {
            let state = e.get("state");
            ServedEntity {
                name: text(e, "name"),
                entity_type: entity_type(e),
                entity_name: text(e, "entity_name").or_else(|| text(e, "model_name")),
                entity_version: text(e, "entity_version").or_else(|| text(e, "model_version")),
                foundation_model: e.get("foundation_model").and_then(|f| text(f, "name")),
                external_model: e.get("external_model").filter(|m| m.is_object()).map(|m| {
                    ExternalModel {
                        name: text(m, "name"),
                        provider: text(m, "provider"),
                        task: text(m, "task"),
                    }
                }),
                workload_size: text(e, "workload_size"),
                workload_type: text(e, "workload_type"),
                scale_to_zero_enabled: e.get("scale_to_zero_enabled").and_then(Value::as_bool),
                deployment_state: state.and_then(|s| text(s, "deployment")),
                deployment_state_message: state.and_then(|s| text(s, "deployment_state_message")),
            }
        })
        .collect();
    EndpointDetail {
        summary: summarize(endpoint),
        served_entities,
        permission_level: text(endpoint, "permission_level"),
    }
}

/// Every endpoint the caller can see, sorted by name.
pub async fn list_endpoints(
    client: &Arc<DatabricksClient>,
    token: &Secret,
) -> Result<Vec<EndpointSummary>, ApiError> {
    let response = retry::call(
        client,
        "serving",
        Method::Get,
        "/api/2.0/serving-endpoints",
        token,
        None,
        Deadline::after(READ_DEADLINE),
        Policy::TRANSIENT,
    )
    .await
    .map_err(|f| map_read_failure(&f))?;
    let body: Value = parse_json(&response.body, "the serving endpoints list")?;
    let mut endpoints: Vec<EndpointSummary> = body
        .get("endpoints")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|e| text(e, "name").is_some())
                .map(summarize)
                .collect()
        })
        .unwrap_or_default();
    endpoints.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(endpoints)
}

/// `GET /api/2.0/serving-endpoints/{name}`, raw. 404 `ENDPOINT_NOT_FOUND`.
pub async fn get_endpoint(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    name: &str,
    deadline: Deadline,
) -> Result<Value, Failure> {
    let response = retry::call(
        client,
        "serving",
        Method::Get,
        &format!("/api/2.0/serving-endpoints/{}", percent_encode(name)),
        token,
        None,
        deadline,
        Policy::TRANSIENT,
    )
    .await?;
    serde_json::from_slice(&response.body).map_err(|e| Failure::Upstream {
        error: UpstreamError::Api {
            status: 502,
            error_code: "UNREADABLE_BODY".into(),
            message: format!("serving endpoint body: {e}"),
            retry_after: None,
        },
        attempts: 1,
    })
}

fn parse_json(body: &[u8], what: &str) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::UpstreamError,
            format!("Model Serving answered {what} with a body brickbox cannot read."),
        )
        .with_internal(e.to_string())
    })
}

/// Reads (list, get, schema): 404 → `ENDPOINT_NOT_FOUND`, then the shared mapping.
pub fn map_read_failure(failure: &Failure) -> ApiError {
    match failure {
        Failure::DeadlineExceeded { last, .. } => ApiError::new(
            ErrorCode::ServiceUnavailable,
            "Model Serving did not answer in time; try again shortly.",
        )
        .with_retry_after(5)
        .with_internal(format!("deadline exceeded; last: {last:?}")),
        Failure::Upstream { error, .. } => match error {
            UpstreamError::Api {
                status: 404,
                message,
                ..
            } => endpoint_not_found().with_internal(message.clone()),
            other => map_upstream_error(other, WHAT),
        },
    }
}

pub fn endpoint_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::EndpointNotFound,
        "The serving endpoint does not exist, or you cannot see it. Check the name in the endpoints list.",
    )
}

/// Invocation failures: the model's 400 → `INVALID_MODEL_INPUT` quoting it; past the
/// deadline → `MODEL_TIMEOUT`; retries exhausted → `RATE_LIMITED` / `MODEL_UNAVAILABLE`.
pub fn map_invoke_failure(failure: &Failure, timeout: Duration) -> ApiError {
    let error = match failure {
        Failure::DeadlineExceeded { last, attempts } => {
            return ApiError::new(
                ErrorCode::ModelTimeout,
                format!(
                    "The model did not answer within {} s ({attempts} attempt(s)). Raise timeout_seconds or try again.",
                    timeout.as_secs()
                ),
            )
            .with_internal(format!("last: {last:?}"))
        }
        Failure::Upstream { error, .. } => error,
    };
    let attempts = failure.attempts();
    match error {
        UpstreamError::Api {
            status,
            error_code,
            message,
            retry_after,
        } => {
            let internal = format!("HTTP {status} {error_code} after {attempts} attempt(s)");
            match status {
                400 | 422 => ApiError::new(
                    ErrorCode::InvalidModelInput,
                    format!("The model rejected the input: {}", quote_upstream(message)),
                )
                .with_internal(internal),
                404 => endpoint_not_found().with_internal(internal),
                409 => ApiError::new(
                    ErrorCode::EndpointNotReady,
                    format!("The endpoint is not ready: {}", quote_upstream(message)),
                )
                .with_internal(internal),
                429 => ApiError::new(
                    ErrorCode::RateLimited,
                    format!("The endpoint is rate limiting requests ({attempts} attempt(s)); retry after the given delay."),
                )
                .with_retry_after(retry_after.unwrap_or(1).max(1))
                .with_internal(internal),
                503 | 504 => ApiError::new(
                    ErrorCode::ModelUnavailable,
                    format!("The model is unavailable (HTTP {status}, {attempts} attempt(s)); try again shortly."),
                )
                .with_retry_after(retry_after.unwrap_or(5).max(1))
                .with_internal(internal),
                401 | 403 => map_upstream_error(error, "the serving endpoint"),
                _ => ApiError::new(
                    ErrorCode::UpstreamError,
                    format!("The model failed (HTTP {status}): {}", quote_upstream(message)),
                )
                .with_internal(internal),
            }
        }
        UpstreamError::Transport { timeout: true, .. } => ApiError::new(
            ErrorCode::ModelTimeout,
            format!("The model did not answer within {} s.", timeout.as_secs()),
        ),
        UpstreamError::Transport { message, .. } => ApiError::new(
            ErrorCode::ModelUnavailable,
            format!("The serving endpoint could not be reached ({attempts} attempt(s)); try again shortly."),
        )
        .with_retry_after(5)
        .with_internal(message.clone()),
        UpstreamError::NotConfigured => map_upstream_error(error, WHAT),
    }
}

/// `POST /serving-endpoints/{name}/invocations` (no `/api/2.0`) with the inputs as the body,
/// retried on 429/503/504/connection failures inside `deadline`. Returns the model's `predictions`
/// when it answers `{"predictions": …}`, else its whole JSON answer (chat, embeddings, …).
pub async fn invoke(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    name: &str,
    body: &[u8],
    deadline: Deadline,
    timeout: Duration,
) -> Result<Value, ApiError> {
    let response = retry::call(
        client,
        "serving_invocations",
        Method::Post,
        &format!("/serving-endpoints/{}/invocations", percent_encode(name)),
        token,
        Some(body),
        deadline,
        Policy::TRANSIENT,
    )
    .await
    .map_err(|f| map_invoke_failure(&f, timeout))?;
    let answer = parse_json(&response.body, "the invocation")?;
    Ok(match answer {
        Value::Object(mut o) if o.len() == 1 && o.contains_key("predictions") => {
            o.remove("predictions").unwrap_or(Value::Null)
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_are_checked() {
        assert!(validate_endpoint_name("my-endpoint_1").is_ok());
        for bad in ["", "a/b", "a.b", "a b", &"x".repeat(64)] {
            assert_eq!(
                validate_endpoint_name(bad).unwrap_err().code,
                ErrorCode::InvalidIdentifier
            );
        }
    }

    #[test]
    fn state_and_type_follow_the_spec() {
        let e = json!({"name": "e", "state": {"ready": "READY", "config_update": "IN_PROGRESS"},
            "config": {"served_entities": [{"entity_name": "c.s.m", "entity_version": "3"}]},
            "creation_timestamp": 1700000000000i64});
        let s = summarize(&e);
        assert_eq!(
            (s.state, s.ready, s.endpoint_type),
            ("READY", true, MLFLOW_MODEL)
        );
        assert_eq!(
            (s.model_name.as_deref(), s.model_version.as_deref()),
            (Some("c.s.m"), Some("3"))
        );
        assert_eq!(
            s.creation_timestamp.as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        let state = |ready: &str, update: &str| {
            endpoint_state(&json!({"state": {"ready": ready, "config_update": update}}))
        };
        assert_eq!(state("NOT_READY", "UPDATE_FAILED"), "UPDATE_FAILED");
        assert_eq!(state("NOT_READY", "IN_PROGRESS"), "UPDATING");
        assert_eq!(state("NOT_READY", "NOT_UPDATING"), "NOT_READY");
        assert_eq!(state("NOT_READY", "UPDATE_CANCELED"), "NOT_READY");
        let fm = json!({"config": {"served_entities": [{"foundation_model": {"name": "llama"}}]}});
        assert_eq!(endpoint_type(&fm), FOUNDATION_MODEL);
        assert_eq!(summarize(&fm).model_name, None);
        let legacy =
            json!({"config": {"served_models": [{"model_name": "m", "model_version": "1"}]}});
        assert_eq!(endpoint_type(&legacy), MLFLOW_MODEL);
        assert_eq!(endpoint_type(&json!({"config": {}})), UNKNOWN);
    }
}
