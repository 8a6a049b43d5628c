//! `GET /api/genie/spaces`: the spaces the caller can ask, for the picker: the configured ones
//! (`DATABRICKS_GENIE_SPACE_ID`) first in their order, then every other space by title.

use shared::databricks::genie;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "genie_spaces_list",
    method: Method::Get,
    path: "/api/genie/spaces",
    auth: Auth::User,
    summary: "Genie spaces the caller can see, configured ones first",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"array","items":{"type":"object","required":["space_id","title","description","configured"],"properties":{"space_id":{"type":"string"},"title":{"type":"string"},"description":{"type":["string","null"]},"configured":{"type":"boolean"}}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    let token = ctx.user_token()?;
    let spaces = genie::spaces_for_picker(
        &ctx.state.databricks,
        token,
        &ctx.state.config.genie_space_ids,
    )
    .await?;
    Response::ok(&spaces)
}
