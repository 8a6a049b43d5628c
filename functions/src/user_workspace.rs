//! `GET /api/user/me/workspace`: the signed-in user and the workspace the app runs in.

use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "user_workspace",
    method: Method::Get,
    path: "/api/user/me/workspace",
    auth: Auth::User,
    summary: "The signed-in user and the workspace host, name and id",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["user","workspace"],"properties":{"user":{"type":"object","required":["user_name","display_name","active"],"properties":{"user_name":{"type":"string"},"display_name":{"type":["string","null"]},"active":{"type":["boolean","null"]}}},"workspace":{"type":"object","required":["host","name","workspace_id"],"properties":{"host":{"type":["string","null"]},"name":{"type":["string","null"]},"workspace_id":{"type":["string","null"]}}}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    let user = ctx.user()?;
    let host = ctx.state.config.databricks_host.as_deref();
    Response::ok(&serde_json::json!({
        "user": {
            "user_name": user.user_name,
            "display_name": user.display_name,
            "active": user.active,
        },
        "workspace": {
            "host": host,
            "name": host.map(workspace_name),
            "workspace_id": ctx.state.config.workspace_id.clone().or_else(|| user.workspace_id.clone()),
        },
    }))
}

/// `https://my-ws.cloud.databricks.com` → `My Ws`: the first DNS label, title-cased.
fn workspace_name(host: &str) -> String {
    let bare = host.split("://").nth(1).unwrap_or(host);
    let label = bare.split(['.', ':', '/']).next().unwrap_or(bare);
    label
        .split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|first| first.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn workspace_names_come_from_the_first_label() {
        assert_eq!(
            super::workspace_name("https://my-ws.cloud.databricks.com"),
            "My Ws"
        );
        assert_eq!(super::workspace_name("http://127.0.0.1:9000"), "127");
    }
}
