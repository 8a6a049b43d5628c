//! `GET /api/model-serving/endpoints/{name}/schema`: the endpoint's input format and a ready
//! example; every detection is handed to
//! `common::record_detection` for `schema_detection_events`.

use crate::common::{self, DetectionRecord};
use shared::databricks::retry::Deadline;
use shared::databricks::serving::{self, validate_endpoint_name};
use shared::databricks::serving_schema;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};
use std::time::Instant;

pub const FUNCTION: Function = Function {
    name: "model_endpoint_schema",
    method: Method::Get,
    path: "/api/model-serving/endpoints/{name}/schema",
    auth: Auth::User,
    summary: "Detect an endpoint's input format and build an example request",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["endpoint_name","detected_type","status","input_format","schema","example_json","error_message","latency_ms","detected_at"],"properties":{"endpoint_name":{"type":"string"},"detected_type":{"type":"string","enum":["FOUNDATION_MODEL","EXTERNAL_MODEL","MLFLOW_MODEL","UNKNOWN"]},"status":{"type":"string","enum":["SUCCESS","FAILURE","TIMEOUT"]},"input_format":{"type":["string","null"],"enum":["chat","completions","embeddings","dataframe_split","inputs",null]},"schema":{},"example_json":{},"error_message":{"type":["string","null"]},"latency_ms":{"type":"number"},"detected_at":{"type":"string","format":"date-time"}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let name = req.path_param("name").unwrap_or_default().to_string();
    validate_endpoint_name(&name)?;
    let token = ctx.user_token()?;
    let user_id = ctx.user()?.user_name.clone();
    let started = Instant::now();
    let created_at = time::OffsetDateTime::now_utc();
    let client = &ctx.state.databricks;
    let detected = match serving::get_endpoint(
        client,
        token,
        &name,
        Deadline::after(serving::READ_DEADLINE),
    )
    .await
    {
        Ok(endpoint) => {
            serving_schema::detect(
                client,
                token,
                &endpoint,
                started,
                serving_schema::DETECTION_BUDGET,
            )
            .await
        }
        Err(failure) => Err(serving::map_read_failure(&failure)),
    };
    let record = match &detected {
        Ok(d) => DetectionRecord {
            endpoint_name: name.clone(),
            user_id,
            detected_type: d.detected_type,
            status: d.status,
            latency_ms: d.latency_ms,
            error_message: d.error_message.clone(),
            created_at,
        },
        Err(e) => DetectionRecord {
            endpoint_name: name.clone(),
            user_id,
            detected_type: serving::UNKNOWN,
            status: "FAILURE",
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            error_message: Some(format!("{}: {}", e.code.as_str(), e.message)),
            created_at,
        },
    };
    common::record_detection(&ctx, record).await;
    Response::ok(&detected?)
}
