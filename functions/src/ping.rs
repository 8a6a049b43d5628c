//! `GET /ping`: the cheapest possible answer, `pong`.

use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "ping",
    method: Method::Get,
    path: "/ping",
    auth: Auth::Public,
    summary: "Answers pong",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(r#"{"type":"string","const":"pong"}"#),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(_ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    Ok(Response::text(200, "text/plain; charset=utf-8", "pong"))
}
