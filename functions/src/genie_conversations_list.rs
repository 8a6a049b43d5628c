//! `GET /api/genie/spaces/{space_id}/conversations`: the caller's conversations in a space,
//! newest first (at most 100).

use shared::databricks::genie;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "genie_conversations_list",
    method: Method::Get,
    path: "/api/genie/spaces/{space_id}/conversations",
    auth: Auth::User,
    summary: "The caller's Genie conversations in a space, newest first",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"array","maxItems":100,"items":{"type":"object","required":["conversation_id","title","created_at"],"properties":{"conversation_id":{"type":"string"},"title":{"type":"string"},"created_at":{"type":["string","null"],"format":"date-time"}}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let space_id = crate::common::genie_id(&req, "space_id")?;
    let token = ctx.user_token()?;
    let list = genie::list_conversations(&ctx.state.databricks, token, &space_id).await?;
    Response::ok(&list)
}
