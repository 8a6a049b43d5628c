//! `GET /api/unity-catalog/query?catalog=&schema=&table=&limit=&offset=&include_total=`: the same
//! query as `uc_query`, from query parameters (bad values answer 400 `INVALID_REQUEST`).

use crate::common::{self, TableQuery, QUERY_LIMIT_DEFAULT, QUERY_LIMIT_MAX};
use shared::{ApiError, Auth, Ctx, Function, Method, Param, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "uc_query_get",
    method: Method::Get,
    path: "/api/unity-catalog/query",
    auth: Auth::User,
    summary: "Query one page of a Unity Catalog table, parameters in the query string",
    query: &[
        crate::common::CATALOG_PARAM,
        crate::common::SCHEMA_PARAM,
        crate::common::TABLE_PARAM,
        Param {
            name: "limit",
            required: false,
            schema: r#"{"type":"integer","minimum":1,"maximum":1000,"default":100}"#,
            description: "Rows per page",
        },
        Param {
            name: "offset",
            required: false,
            schema: r#"{"type":"integer","minimum":0,"default":0}"#,
            description: "Rows to skip",
        },
        Param {
            name: "include_total",
            required: false,
            schema: r#"{"type":"boolean","default":false}"#,
            description: "Also count every row of the table (a second statement)",
        },
    ],
    request_body: None,
    success_status: 200,
    response_body: Some(crate::uc_query::RESPONSE_SCHEMA),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let query = TableQuery {
        catalog: common::required_param(&req, "catalog")?,
        schema: common::required_param(&req, "schema")?,
        table: common::required_param(&req, "table")?,
        limit: common::int_param(&req, "limit", QUERY_LIMIT_DEFAULT, 1, QUERY_LIMIT_MAX)?,
        offset: common::int_param(&req, "offset", 0, 0, i64::MAX)?,
        include_total: common::bool_param(&req, "include_total")?,
    };
    common::run_table_query(&ctx, query).await
}
