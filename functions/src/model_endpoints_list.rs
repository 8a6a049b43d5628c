//! `GET /api/model-serving/endpoints`: the serving endpoints the caller can see, by name, with
//! state and type classified as docs/api.md says.

use shared::databricks::serving;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "model_endpoints_list",
    method: Method::Get,
    path: "/api/model-serving/endpoints",
    auth: Auth::User,
    summary: "Serving endpoints with state, type, task and model, sorted by name",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"array","items":{"type":"object","required":["name","state","ready","endpoint_type","task","model_name","model_version","creation_timestamp"],"properties":{"name":{"type":"string"},"state":{"type":"string","enum":["READY","UPDATE_FAILED","UPDATING","NOT_READY"]},"ready":{"type":"boolean"},"endpoint_type":{"type":"string","enum":["FOUNDATION_MODEL","EXTERNAL_MODEL","MLFLOW_MODEL","UNKNOWN"]},"task":{"type":["string","null"]},"model_name":{"type":["string","null"]},"model_version":{"type":["string","null"]},"creation_timestamp":{"type":["string","null"],"format":"date-time"}}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    let endpoints = serving::list_endpoints(&ctx.state.databricks, ctx.user_token()?).await?;
    Response::ok(&endpoints)
}
