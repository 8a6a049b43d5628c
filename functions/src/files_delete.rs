//! `DELETE /api/files?path=`: delete a file or an empty directory (204); a directory that is
//! not empty answers 409 `DIRECTORY_NOT_EMPTY`.

use crate::files_list::{path_param, PATH_PARAM};
use shared::databricks::files;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "files_delete",
    method: Method::Delete,
    path: "/api/files",
    auth: Auth::User,
    summary: "Delete a file or an empty directory in a Unity Catalog volume",
    query: &[PATH_PARAM],
    request_body: None,
    success_status: 204,
    response_body: None,
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let path = path_param(&req)?;
    files::delete(&ctx.state.databricks, ctx.user_token()?, &path).await?;
    Ok(Response::empty(204))
}
