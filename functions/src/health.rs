//! `GET /health`: liveness with the Lakebase state. Never makes an upstream call or a query.

use shared::{util, ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "health",
    method: Method::Get,
    path: "/health",
    auth: Auth::Public,
    summary: "Liveness, version, uptime and Lakebase state",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["status","version","uptime_seconds","lakebase","timestamp"],"properties":{"status":{"enum":["healthy","degraded"]},"version":{"type":"string"},"uptime_seconds":{"type":"integer"},"lakebase":{"enum":["not_configured","connected","unavailable"]},"timestamp":{"type":"string","format":"date-time"}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

#[derive(serde::Serialize)]
struct Health<'a> {
    status: &'static str,
    version: &'static str,
    uptime_seconds: u64,
    lakebase: &'static str,
    timestamp: &'a str,
}

pub async fn handle(ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    let lakebase = ctx.state.lakebase_status();
    let now = util::now_micros();
    Response::ok(&Health {
        status: if lakebase == "unavailable" {
            "degraded"
        } else {
            "healthy"
        },
        version: shared::VERSION,
        uptime_seconds: ctx.state.started.elapsed().as_secs(),
        lakebase,
        timestamp: now.as_str(),
    })
}
