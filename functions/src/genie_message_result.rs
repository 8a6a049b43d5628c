//! `GET /api/genie/spaces/{space_id}/conversations/{conversation_id}/messages/{message_id}/result`:
//! the query result of a message, typed like the table query's; an expired result is run again
//! once. A message without a query answers 404 `NOT_FOUND`.

use shared::databricks::genie;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const RESULT_SCHEMA: &str = r#"{"type":"object","required":["columns","rows","row_count","truncated"],"properties":{"columns":{"type":"array","items":{"type":"object","required":["name","type_name"],"properties":{"name":{"type":"string"},"type_name":{"type":"string"}}}},"rows":{"type":"array","items":{"type":"array"}},"row_count":{"type":"integer"},"truncated":{"type":"boolean"}}}"#;

pub const FUNCTION: Function = Function {
    name: "genie_message_result",
    method: Method::Get,
    path:
        "/api/genie/spaces/{space_id}/conversations/{conversation_id}/messages/{message_id}/result",
    auth: Auth::User,
    summary: "The query result of a Genie message (an expired one is run again)",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(RESULT_SCHEMA),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let space_id = crate::common::genie_id(&req, "space_id")?;
    let conversation_id = crate::common::genie_id(&req, "conversation_id")?;
    let message_id = crate::common::genie_id(&req, "message_id")?;
    let token = ctx.user_token()?;
    let client = &ctx.state.databricks;
    let message =
        genie::get_message(client, token, &space_id, &conversation_id, &message_id).await?;
    let result = genie::query_result(client, token, &space_id, &message).await?;
    Response::ok(&result)
}
