//! `GET /api/v1/metrics/usage/count`: how many usage events the caller recorded in a time range.

use crate::common::{time_range, TIME_RANGE_SCHEMA};
use shared::db::sql;
use shared::{util, ApiError, Auth, Ctx, Function, Method, Param, Request, RequestBody, Response};
use time::OffsetDateTime;

pub const FUNCTION: Function = Function {
    name: "usage_count",
    method: Method::Get,
    path: "/api/v1/metrics/usage/count",
    auth: Auth::User,
    summary: "How many usage events the caller recorded in the time range",
    query: &[Param {
        name: "time_range",
        required: false,
        schema: TIME_RANGE_SCHEMA,
        description: "24h, 7d, 30d or 90d",
    }],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["count","time_range","start_time","end_time"],"properties":{"count":{"type":"integer"},"time_range":{"type":"string"},"start_time":{"type":"string","format":"date-time"},"end_time":{"type":"string","format":"date-time"}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

#[derive(serde::Serialize)]
struct Count {
    count: i64,
    time_range: &'static str,
    start_time: String,
    end_time: String,
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let user = ctx.user()?;
    let (label, length) = time_range(&req)?;
    let end = OffsetDateTime::now_utc();
    let start = end - length;
    let client = ctx.db().await?;
    let row = client
        .query_one(sql::USAGE_COUNT, &[&user.user_name, &start, &end])
        .await?;
    Response::ok(&Count {
        count: row.get(0),
        time_range: label,
        start_time: util::rfc3339(start),
        end_time: util::rfc3339(end),
    })
}
