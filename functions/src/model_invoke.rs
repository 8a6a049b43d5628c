//! `POST /api/model-serving/invoke`: call a serving endpoint with the caller's token, inside one
//! deadline of `timeout_seconds` across the readiness check and every retry. Every outcome after validation is handed to `common::record_inference`.

use crate::common::{self, InferenceRecord, MAX_LOGGED_JSON};
use serde::Serialize;
use serde_json::Value;
use shared::databricks::retry::{Deadline, Failure};
use shared::databricks::serving::{self, validate_endpoint_name};
use shared::error::FieldError;
use shared::{
    util, ApiError, Auth, Ctx, ErrorCode, Function, Method, Request, RequestBody, Response,
};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

pub const FUNCTION: Function = Function {
    name: "model_invoke",
    method: Method::Post,
    path: "/api/model-serving/invoke",
    auth: Auth::User,
    summary: "Invoke a serving endpoint with retries inside one deadline",
    query: &[],
    request_body: Some(
        r#"{"type":"object","required":["endpoint_name","inputs"],"additionalProperties":false,"properties":{"endpoint_name":{"type":"string","pattern":"^[A-Za-z0-9_-]{1,63}$"},"inputs":{"type":"object","description":"The request body the model expects, e.g. {\"messages\": […]} or {\"dataframe_split\": …}"},"timeout_seconds":{"type":"integer","minimum":1,"maximum":300,"default":30}}}"#,
    ),
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["request_id","endpoint_name","status","predictions","execution_time_ms","completed_at"],"properties":{"request_id":{"type":"string","format":"uuid"},"endpoint_name":{"type":"string"},"status":{"type":"string","enum":["SUCCESS"]},"predictions":{},"execution_time_ms":{"type":"number"},"completed_at":{"type":"string","format":"date-time"}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

const TIMEOUT_DEFAULT: i64 = 30;
const TIMEOUT_MAX: i64 = 300;

#[derive(Serialize)]
struct Invocation {
    request_id: String,
    endpoint_name: String,
    status: &'static str,
    predictions: Value,
    execution_time_ms: f64,
    completed_at: String,
}

/// The body, checked field by field so every problem is listed (422).
fn parse(req: &Request) -> Result<(String, Value, u64), ApiError> {
    let body = req.json_value(false)?;
    let Value::Object(mut fields) = body else {
        return Err(ApiError::validation(vec![FieldError {
            field: "body".into(),
            message: "must be a JSON object".into(),
        }]));
    };
    let mut errors = Vec::new();
    let name = match fields.remove("endpoint_name") {
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(field("endpoint_name", "must be a string"));
            None
        }
        None => {
            errors.push(field("endpoint_name", "is required"));
            None
        }
    };
    let inputs = match fields.remove("inputs") {
        Some(v @ Value::Object(_)) => Some(v),
        Some(_) => {
            errors.push(field(
                "inputs",
                "must be a JSON object (the body the model expects)",
            ));
            None
        }
        None => {
            errors.push(field("inputs", "is required"));
            None
        }
    };
    let timeout = match fields.remove("timeout_seconds") {
        None | Some(Value::Null) => TIMEOUT_DEFAULT,
        Some(v) => match v.as_i64() {
            Some(n) if (1..=TIMEOUT_MAX).contains(&n) => n,
            _ => {
                errors.push(field(
                    "timeout_seconds",
                    &format!("must be an integer from 1 to {TIMEOUT_MAX}"),
                ));
                TIMEOUT_DEFAULT
            }
        },
    };
    for unknown in fields.keys() {
        errors.push(field(unknown, "is not a known field"));
    }
    match (name, inputs) {
        (Some(name), Some(inputs)) if errors.is_empty() => {
            Ok((name, inputs, timeout.unsigned_abs()))
        }
        _ => Err(ApiError::validation(errors)),
    }
}

fn field(name: &str, message: &str) -> FieldError {
    FieldError {
        field: name.into(),
        message: message.into(),
    }
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let (name, inputs, timeout_seconds) = parse(&req)?;
    validate_endpoint_name(&name)?;
    let token = ctx.user_token()?;
    let user_id = ctx.user()?.user_name.clone();
    let request_id = util::uuid_v4();
    let created_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let timeout = Duration::from_secs(timeout_seconds);
    let deadline = Deadline::after(timeout);

    let result = call(&ctx, token, &name, &inputs, deadline, timeout).await;

    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let execution_time_ms = (elapsed * 1000.0).round() / 1000.0;
    let completed_at = OffsetDateTime::now_utc();
    let (status, predictions, error_message) = match &result {
        Ok(p) => ("SUCCESS", Some(cut(p)), None),
        Err(e) if e.code == ErrorCode::ModelTimeout => (
            "TIMEOUT",
            None,
            Some(format!("{}: {}", e.code.as_str(), e.message)),
        ),
        Err(e) => (
            "ERROR",
            None,
            Some(format!("{}: {}", e.code.as_str(), e.message)),
        ),
    };
    common::record_inference(
        &ctx,
        InferenceRecord {
            request_id: request_id.clone(),
            endpoint_name: name.clone(),
            user_id,
            status,
            inputs: cut(&inputs),
            predictions,
            error_message,
            execution_time_ms,
            created_at,
            completed_at,
        },
    )
    .await;
    match result {
        Ok(predictions) => Response::ok(&Invocation {
            request_id,
            endpoint_name: name,
            status: "SUCCESS",
            predictions,
            execution_time_ms,
            completed_at: util::rfc3339(completed_at),
        }),
        Err(mut e) => {
            // The request id lets a user find this attempt in their inference logs.
            if e.details.is_none() {
                e.details = Some(serde_json::json!({"request_id": request_id}));
            }
            Err(e)
        }
    }
}

fn cut(v: &Value) -> Value {
    common::cut_json(v, MAX_LOGGED_JSON)
}

/// Readiness check, then the invocation, both inside `deadline`.
async fn call(
    ctx: &Ctx,
    token: &shared::Secret,
    name: &str,
    inputs: &Value,
    deadline: Deadline,
    timeout: Duration,
) -> Result<Value, ApiError> {
    let client = &ctx.state.databricks;
    let endpoint = serving::get_endpoint(client, token, name, deadline)
        .await
        .map_err(|f| match f {
            Failure::DeadlineExceeded { .. } => serving::map_invoke_failure(&f, timeout),
            other => serving::map_read_failure(&other),
        })?;
    let state = serving::endpoint_state(&endpoint);
    if state != "READY" {
        return Err(ApiError::new(
            ErrorCode::EndpointNotReady,
            format!(
                "The endpoint is not ready to serve (state {state}); try again when it is READY."
            ),
        )
        .with_details(serde_json::json!({"state": state})));
    }
    let body = serde_json::to_vec(inputs).map_err(ApiError::internal)?;
    serving::invoke(client, token, name, &body, deadline, timeout).await
}
