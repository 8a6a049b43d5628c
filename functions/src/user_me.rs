//! `GET /api/user/me`: the signed-in user, from the identity the runtime already resolved.

use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "user_me",
    method: Method::Get,
    path: "/api/user/me",
    auth: Auth::User,
    summary: "The signed-in user: name, e-mails, groups and admin flag",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["user_name","display_name","active","emails","groups","is_admin"],"properties":{"user_name":{"type":"string"},"display_name":{"type":["string","null"]},"active":{"type":["boolean","null"]},"emails":{"type":"array","items":{"type":"string"}},"groups":{"type":"array","items":{"type":"string"}},"is_admin":{"type":"boolean"}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

#[derive(serde::Serialize)]
struct Me<'a> {
    user_name: &'a str,
    display_name: Option<&'a str>,
    active: Option<bool>,
    emails: &'a [String],
    groups: &'a [String],
    is_admin: bool,
}

pub async fn handle(ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    let user = ctx.user()?;
    Response::ok(&Me {
        user_name: &user.user_name,
        display_name: user.display_name.as_deref(),
        active: user.active,
        emails: &user.emails,
        groups: &user.groups,
        is_admin: user.is_admin,
    })
}
