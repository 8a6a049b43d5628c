//! `GET /api/unity-catalog/schemas?catalog=`: the schema names of a catalog, sorted.

use crate::common::required_param;
use shared::databricks::unity_catalog::{self, validate_identifier};
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "uc_schemas",
    method: Method::Get,
    path: "/api/unity-catalog/schemas",
    auth: Auth::User,
    summary: "Names of the schemas of a catalog, sorted; 404 CATALOG_NOT_FOUND",
    query: &[crate::common::CATALOG_PARAM],
    request_body: None,
    success_status: 200,
    response_body: Some(r#"{"type":"array","items":{"type":"string"}}"#),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let catalog = required_param(&req, "catalog")?;
    validate_identifier("catalog", &catalog)?;
    let names =
        unity_catalog::schema_names(&ctx.state.databricks, ctx.user_token()?, &catalog).await?;
    Response::ok(&names)
}
