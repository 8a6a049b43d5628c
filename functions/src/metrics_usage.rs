//! `GET /api/v1/metrics/usage` (admin): usage-event totals, exact distinct users, success
//! rate, event distribution and page views, over raw and aggregated hours alike.

use crate::metrics_common::{self as common, BoundParams, TimeRange};
use shared::{ApiError, Auth, Ctx, Function, Method, Param, Request, RequestBody, Response};
use std::collections::BTreeMap;

pub const FUNCTION: Function = Function {
    name: "metrics_usage",
    method: Method::Get,
    path: "/api/v1/metrics/usage",
    auth: Auth::Admin,
    summary:
        "Usage events: totals, unique and active users, success rate, event types and page views",
    query: &[
        crate::common::METRICS_TIME_RANGE_PARAM,
        Param {
            name: "event_type",
            required: false,
            schema: r#"{"type":"string","pattern":"^[a-z][a-z0-9_]{0,63}$"}"#,
            description:
                "Only usage events of this type (API requests still count as active users)",
        },
    ],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["time_range","start_time","end_time","metrics","event_distribution","page_views"],"properties":{"time_range":{"enum":["24h","7d","30d","90d"]},"start_time":{"type":"string","format":"date-time"},"end_time":{"type":"string","format":"date-time"},"metrics":{"type":"object","required":["total_events","unique_users","active_users","active_users_current_hour","success_rate"],"properties":{"total_events":{"type":"integer"},"unique_users":{"type":"integer"},"active_users":{"type":"integer"},"active_users_current_hour":{"type":"integer"},"success_rate":{"type":["number","null"]}}},"event_distribution":{"type":"object","additionalProperties":{"type":"integer"}},"page_views":{"type":"object","additionalProperties":{"type":"integer"}}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

#[derive(serde::Serialize)]
struct Usage {
    time_range: &'static str,
    start_time: String,
    end_time: String,
    metrics: UsageTotals,
    event_distribution: BTreeMap<String, i64>,
    page_views: BTreeMap<String, i64>,
}

#[derive(serde::Serialize)]
struct UsageTotals {
    total_events: i64,
    unique_users: i64,
    active_users: i64,
    active_users_current_hour: i64,
    success_rate: Option<f64>,
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let range = TimeRange::from_request(&req)?;
    let event_type = req.query_value("event_type")?.filter(|t| !t.is_empty());
    if let Some(t) = &event_type {
        if !crate::common::is_snake_identifier(t, 64) {
            return Err(ApiError::invalid_request(
                "event_type must match ^[a-z][a-z0-9_]{0,63}$, like the events it filters.",
            ));
        }
    }
    let (bounds, rows) = common::query(
        &ctx,
        range,
        common::USAGE_SQL,
        BoundParams::RangeAndHour,
        &[&event_type],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::internal("metrics_usage.sql returned no row"))?;
    let counts = |column: &str| -> Result<BTreeMap<String, i64>, ApiError> {
        let value: serde_json::Value = row.get(column);
        serde_json::from_value(value).map_err(ApiError::internal)
    };
    Response::ok(&Usage {
        time_range: range.label,
        start_time: common::time(bounds.start),
        end_time: common::time(bounds.end),
        metrics: UsageTotals {
            total_events: row.get("total_events"),
            unique_users: row.get("unique_users"),
            active_users: row.get("active_users"),
            active_users_current_hour: row.get("active_users_current_hour"),
            success_rate: common::ratio(row.get("success_true"), row.get("success_known")),
        },
        event_distribution: counts("event_distribution")?,
        page_views: counts("page_views")?,
    })
}
