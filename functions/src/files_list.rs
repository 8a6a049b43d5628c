//! `GET /api/files/list?path=`: the entries of a directory in a volume, directories first and
//! then by name (ignoring case); upstream pages followed up to 10,000 entries (`truncated`
//! beyond). Also home of the `path` parameter every files function takes.

use shared::databricks::files;
use shared::{ApiError, Auth, Ctx, Function, Method, Param, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "files_list",
    method: Method::Get,
    path: "/api/files/list",
    auth: Auth::User,
    summary: "List a directory of a Unity Catalog volume (directories first, then by name)",
    query: &[PATH_PARAM],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["path","entries","truncated"],"properties":{"path":{"type":"string"},"entries":{"type":"array","items":{"type":"object","required":["name","path","is_directory","size","modified_at"],"properties":{"name":{"type":"string"},"path":{"type":"string"},"is_directory":{"type":"boolean"},"size":{"type":["integer","null"]},"modified_at":{"type":["string","null"],"format":"date-time"}}}},"truncated":{"type":"boolean"}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

/// The `path` query parameter of every files function.
pub const PATH_PARAM: Param = Param {
    name: "path",
    required: true,
    schema: r#"{"type":"string","pattern":"^/Volumes/[^/]+/[^/]+/[^/]+(/.*)?$","maxLength":4096}"#,
    description: "Absolute volume path /Volumes/<catalog>/<schema>/<volume>[/…]",
};

/// The validated `path` parameter (trailing `/` removed), or 400 `INVALID_PATH` — always
/// before any upstream call.
pub fn path_param(req: &Request) -> Result<String, ApiError> {
    let raw = req.query_value("path")?.unwrap_or_default();
    files::validate_path(&raw)
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let path = path_param(&req)?;
    let listing = files::list(&ctx.state.databricks, ctx.user_token()?, &path).await?;
    Response::ok(&listing)
}
