//! `GET /api/unity-catalog/catalogs`: every catalog the caller can see, sorted, all pages followed.

use shared::databricks::unity_catalog;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "uc_catalogs",
    method: Method::Get,
    path: "/api/unity-catalog/catalogs",
    auth: Auth::User,
    summary: "Names of the Unity Catalog catalogs the caller can see, sorted",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(r#"{"type":"array","items":{"type":"string"}}"#),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    let names = unity_catalog::catalog_names(&ctx.state.databricks, ctx.user_token()?).await?;
    Response::ok(&names)
}
