//! `GET /api/unity-catalog/tables?catalog=&schema=`: the tables of a schema with their columns.

use crate::common::catalog_and_schema;
use serde::Serialize;
use shared::databricks::unity_catalog::{self, ColumnInfo};
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "uc_tables",
    method: Method::Get,
    path: "/api/unity-catalog/tables",
    auth: Auth::User,
    summary: "The tables of a schema with type, owner, comment and columns, sorted by name",
    query: &[crate::common::CATALOG_PARAM, crate::common::SCHEMA_PARAM],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"array","items":{"type":"object","required":["catalog_name","schema_name","table_name","full_name","table_type","owner","comment","columns"],"properties":{"catalog_name":{"type":"string"},"schema_name":{"type":"string"},"table_name":{"type":"string"},"full_name":{"type":"string"},"table_type":{"type":["string","null"]},"owner":{"type":["string","null"]},"comment":{"type":["string","null"]},"columns":{"type":"array","items":{"type":"object","required":["name","type_name","type_text","nullable","comment"],"properties":{"name":{"type":["string","null"]},"type_name":{"type":["string","null"]},"type_text":{"type":["string","null"]},"nullable":{"type":"boolean"},"comment":{"type":["string","null"]}}}}}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

#[derive(Serialize)]
struct Table {
    catalog_name: String,
    schema_name: String,
    table_name: String,
    full_name: String,
    table_type: Option<String>,
    owner: Option<String>,
    comment: Option<String>,
    columns: Vec<ColumnInfo>,
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let (catalog, schema) = catalog_and_schema(&req)?;
    let tables = unity_catalog::tables(
        &ctx.state.databricks,
        ctx.user_token()?,
        &catalog,
        &schema,
        false,
    )
    .await?;
    let out: Vec<Table> = tables
        .into_iter()
        .map(|t| {
            let table_name = t.name.unwrap_or_default();
            let catalog_name = t.catalog_name.unwrap_or_else(|| catalog.clone());
            let schema_name = t.schema_name.unwrap_or_else(|| schema.clone());
            Table {
                full_name: t
                    .full_name
                    .unwrap_or_else(|| format!("{catalog_name}.{schema_name}.{table_name}")),
                catalog_name,
                schema_name,
                table_name,
                table_type: t.table_type,
                owner: t.owner,
                comment: t.comment,
                columns: t.columns,
            }
        })
        .collect();
    Response::ok(&out)
}
