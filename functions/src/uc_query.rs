//! `POST /api/unity-catalog/query`: one page of a table's rows, typed, through a SQL warehouse.
//! The body is checked (422 for bad fields, 400 `INVALID_IDENTIFIER` for bad names) before any
//! upstream call; the query itself is `common::run_table_query`, shared with `uc_query_get`.

use crate::common::{self, TableQuery, QUERY_LIMIT_DEFAULT};
use serde::Deserialize;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const REQUEST_SCHEMA: &str = r#"{"type":"object","required":["catalog","schema","table"],"additionalProperties":false,"properties":{"catalog":{"type":"string","minLength":1,"maxLength":255},"schema":{"type":"string","minLength":1,"maxLength":255},"table":{"type":"string","minLength":1,"maxLength":255},"limit":{"type":"integer","minimum":1,"maximum":1000,"default":100},"offset":{"type":"integer","minimum":0,"default":0},"include_total":{"type":"boolean","default":false}}}"#;

pub const RESPONSE_SCHEMA: &str = r#"{"type":"object","required":["query_id","catalog","schema","table","sql_statement","warehouse_id","columns","rows","row_count","total_row_count","execution_time_ms","executed_at"],"properties":{"query_id":{"type":"string"},"catalog":{"type":"string"},"schema":{"type":"string"},"table":{"type":"string"},"sql_statement":{"type":"string"},"warehouse_id":{"type":"string"},"columns":{"type":"array","items":{"type":"object","required":["name","type_name"],"properties":{"name":{"type":"string"},"type_name":{"type":"string"}}}},"rows":{"type":"array","items":{"type":"array"}},"row_count":{"type":"integer"},"total_row_count":{"type":["integer","null"]},"execution_time_ms":{"type":"number"},"executed_at":{"type":"string","format":"date-time"}}}"#;

pub const FUNCTION: Function = Function {
    name: "uc_query",
    method: Method::Post,
    path: "/api/unity-catalog/query",
    auth: Auth::User,
    summary: "Query one page of a Unity Catalog table (typed cells, optional total count)",
    query: &[],
    request_body: Some(REQUEST_SCHEMA),
    success_status: 200,
    response_body: Some(RESPONSE_SCHEMA),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

fn default_limit() -> i64 {
    QUERY_LIMIT_DEFAULT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    catalog: String,
    schema: String,
    table: String,
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
    #[serde(default)]
    include_total: bool,
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let body: Body = req.json()?;
    let errors = common::query_range_errors(body.limit, body.offset);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    common::run_table_query(
        &ctx,
        TableQuery {
            catalog: body.catalog,
            schema: body.schema,
            table: body.table,
            limit: body.limit,
            offset: body.offset,
            include_total: body.include_total,
        },
    )
    .await
}
