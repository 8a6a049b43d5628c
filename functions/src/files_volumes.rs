//! `GET /api/files/volumes`: the volumes the files page offers, from the
//! `DATABRICKS_VOLUME_<KEY>` variables, by key.

use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "files_volumes",
    method: Method::Get,
    path: "/api/files/volumes",
    auth: Auth::User,
    summary: "The configured Unity Catalog volumes (DATABRICKS_VOLUME_<KEY>), by key",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"array","items":{"type":"object","required":["key","path"],"properties":{"key":{"type":"string"},"path":{"type":"string"}}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    Response::ok(&ctx.state.config.volumes)
}
