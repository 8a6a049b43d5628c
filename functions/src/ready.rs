//! `GET /ready`: 200 once the server serves (and migrations are applied when Lakebase is
//! configured), else 503 — for load balancers and deploy checks.

use shared::{ApiError, Auth, Ctx, ErrorCode, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "ready",
    method: Method::Get,
    path: "/ready",
    auth: Auth::Public,
    summary: "Readiness: 200 once serving and migrated, else 503",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["ready"],"properties":{"ready":{"const":true}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    if ctx.state.is_ready() {
        Response::ok(&serde_json::json!({ "ready": true }))
    } else {
        Err(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "Not ready yet: the server is starting or database migrations are still running.",
        )
        .with_retry_after(1))
    }
}
