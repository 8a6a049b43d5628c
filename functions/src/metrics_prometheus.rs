//! `GET /metrics`: the Prometheus text exposition of the in-process counters. For
//! signed-in users; label values are bounded (route templates, never raw paths).

use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "metrics_prometheus",
    method: Method::Get,
    path: "/metrics",
    auth: Auth::User,
    summary: "Prometheus metrics: requests, durations, metrics queue, pool, identity cache, upstream calls",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(r#"{"type":"string","description":"Prometheus text format 0.0.4"}"#),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    let text = shared::metrics::render(&ctx.state);
    Ok(Response::text(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        text,
    ))
}
