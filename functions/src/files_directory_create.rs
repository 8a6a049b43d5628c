//! `POST /api/files/directories?path=`: create a directory with its parents (201 `{"path"}`);
//! an existing directory is fine, an existing file answers 409 `FILE_EXISTS`.

use crate::files_list::{path_param, PATH_PARAM};
use shared::databricks::files;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "files_directory_create",
    method: Method::Post,
    path: "/api/files/directories",
    auth: Auth::User,
    summary: "Create a directory (and its parents) in a Unity Catalog volume",
    query: &[PATH_PARAM],
    request_body: None,
    success_status: 201,
    response_body: Some(
        r#"{"type":"object","required":["path"],"properties":{"path":{"type":"string"}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let path = path_param(&req)?;
    files::create_directory(&ctx.state.databricks, ctx.user_token()?, &path).await?;
    Response::json(201, &serde_json::json!({ "path": path }))
}
