//! `GET /api/unity-catalog/table-names?catalog=&schema=`: the table names of a schema, sorted.

use crate::common::catalog_and_schema;
use shared::databricks::unity_catalog;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "uc_table_names",
    method: Method::Get,
    path: "/api/unity-catalog/table-names",
    auth: Auth::User,
    summary: "Names of the tables of a schema, sorted; 404 SCHEMA_NOT_FOUND",
    query: &[crate::common::CATALOG_PARAM, crate::common::SCHEMA_PARAM],
    request_body: None,
    success_status: 200,
    response_body: Some(r#"{"type":"array","items":{"type":"string"}}"#),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let (catalog, schema) = catalog_and_schema(&req)?;
    // Names only: ask Unity Catalog to leave the columns out.
    let tables = unity_catalog::tables(
        &ctx.state.databricks,
        ctx.user_token()?,
        &catalog,
        &schema,
        true,
    )
    .await?;
    let names: Vec<String> = tables.into_iter().filter_map(|t| t.name).collect();
    Response::ok(&names)
}
