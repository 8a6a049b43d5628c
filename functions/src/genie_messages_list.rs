//! `GET /api/genie/spaces/{space_id}/conversations/{conversation_id}/messages`: a conversation's
//! messages, oldest first, with Genie's answer text, query and suggested questions.

use shared::databricks::genie;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "genie_messages_list",
    method: Method::Get,
    path: "/api/genie/spaces/{space_id}/conversations/{conversation_id}/messages",
    auth: Auth::User,
    summary: "The messages of one of the caller's Genie conversations, oldest first",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"array","items":{"type":"object","required":["message_id","content","status","text","query","suggested_questions","error","created_at"],"properties":{"message_id":{"type":"string"},"content":{"type":"string"},"status":{"type":"string"},"text":{"type":["string","null"]},"query":{"type":["object","null"],"properties":{"title":{"type":["string","null"]},"description":{"type":["string","null"]},"sql":{"type":["string","null"]},"statement_id":{"type":["string","null"]}}},"suggested_questions":{"type":"array","items":{"type":"string"}},"error":{"type":["object","null"],"properties":{"type":{"type":["string","null"]},"message":{"type":["string","null"]}}},"created_at":{"type":["string","null"],"format":"date-time"}}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let space_id = crate::common::genie_id(&req, "space_id")?;
    let conversation_id = crate::common::genie_id(&req, "conversation_id")?;
    let token = ctx.user_token()?;
    let messages =
        genie::list_messages(&ctx.state.databricks, token, &space_id, &conversation_id).await?;
    Response::ok(&messages)
}
