//! `GET /api/queries`: the named queries of `sql/queries/` (docs/queries.md), with their
//! parameters, defaults, cache lifetime and scope.

use shared::queries;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const RESPONSE_SCHEMA: &str = r#"{"type":"array","items":{"type":"object","required":["name","description","parameters","cache_seconds","scope"],"properties":{"name":{"type":"string"},"description":{"type":"string"},"parameters":{"type":"array","items":{"type":"object","required":["name","type","default"],"properties":{"name":{"type":"string"},"type":{"type":"string"},"default":{}}}},"cache_seconds":{"type":"integer"},"scope":{"type":"string","enum":["user","app"]}}}}"#;

pub const FUNCTION: Function = Function {
    name: "queries_list",
    method: Method::Get,
    path: "/api/queries",
    auth: Auth::User,
    summary: "List the named SQL queries and their parameters",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(RESPONSE_SCHEMA),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(_ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    let list: Vec<serde_json::Value> = queries::all().iter().map(queries::describe).collect();
    Response::ok(&list)
}
