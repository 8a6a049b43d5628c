//! `GET /api/v1/metrics/time-series` (admin): one point per hour or day of the range,
//! ascending, zero-filled, with request and/or usage figures.
//!
//! A point without requests has `total_requests` 0 and null `error_rate`,
//! `avg_response_time_ms` and `p95_response_time_ms` (no value, rather than a misleading 0, so
//! a chart shows a gap); fields outside `metric_type` are null.

use crate::metrics_common::{self as common, BoundParams, TimeRange};
use shared::{ApiError, Auth, Ctx, Function, Method, Param, Request, RequestBody, Response};
use time::OffsetDateTime;

pub const FUNCTION: Function = Function {
    name: "metrics_time_series",
    method: Method::Get,
    path: "/api/v1/metrics/time-series",
    auth: Auth::Admin,
    summary: "Requests and usage per hour or day: one zero-filled point per interval",
    query: &[
        crate::common::METRICS_TIME_RANGE_PARAM,
        Param {
            name: "metric_type",
            required: false,
            schema: r#"{"enum":["performance","usage","both"],"default":"both"}"#,
            description: "Which figures to fill; the others are null",
        },
        Param {
            name: "interval",
            required: false,
            schema: r#"{"enum":["hour","day"]}"#,
            description: "Point spacing; default hour for 24h and 7d, day for 30d and 90d",
        },
    ],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["time_range","interval","data_points"],"properties":{"time_range":{"enum":["24h","7d","30d","90d"]},"interval":{"enum":["hour","day"]},"data_points":{"type":"array","items":{"type":"object","required":["timestamp","total_requests","error_rate","avg_response_time_ms","p95_response_time_ms","total_events","unique_users"],"properties":{"timestamp":{"type":"string","format":"date-time"},"total_requests":{"type":["integer","null"]},"error_rate":{"type":["number","null"]},"avg_response_time_ms":{"type":["number","null"]},"p95_response_time_ms":{"type":["number","null"]},"total_events":{"type":["integer","null"]},"unique_users":{"type":["integer","null"]}}}}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

#[derive(serde::Serialize)]
struct TimeSeries {
    time_range: &'static str,
    interval: &'static str,
    data_points: Vec<Point>,
}

#[derive(serde::Serialize)]
struct Point {
    timestamp: String,
    total_requests: Option<i64>,
    error_rate: Option<f64>,
    avg_response_time_ms: Option<f64>,
    p95_response_time_ms: Option<f64>,
    total_events: Option<i64>,
    unique_users: Option<i64>,
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let range = TimeRange::from_request(&req)?;
    let (performance, usage) = match req.query_value("metric_type")?.as_deref() {
        None | Some("both") => (true, true),
        Some("performance") => (true, false),
        Some("usage") => (false, true),
        Some(other) => {
            return Err(common::invalid(
                "metric_type",
                other,
                "performance, usage, both",
            ))
        }
    };
    let interval = match req.query_value("interval")?.as_deref() {
        None => range.default_step(),
        Some("hour") => "hour",
        Some("day") => "day",
        Some(other) => return Err(common::invalid("interval", other, "hour, day")),
    };
    let (_, rows) = common::query(
        &ctx,
        range,
        common::TIME_SERIES_SQL,
        BoundParams::Range,
        &[&interval, &performance, &usage],
    )
    .await?;
    let data_points = rows
        .iter()
        .map(|row| {
            let ts: OffsetDateTime = row.get("ts");
            let n: i64 = row.get("total_requests");
            let errors: i64 = row.get("error_count");
            let sum: Option<f64> = row.get("sum_ms");
            let requests = |v| if performance { v } else { None };
            let events = |v| if usage { v } else { None };
            Point {
                timestamp: common::time(ts),
                total_requests: requests(Some(n)),
                error_rate: common::ratio(errors, n).filter(|_| performance),
                avg_response_time_ms: sum.filter(|_| performance && n > 0).map(|s| s / n as f64),
                p95_response_time_ms: row.get::<_, Option<f64>>("p95_ms").filter(|_| performance),
                total_events: events(Some(row.get("total_events"))),
                unique_users: events(Some(row.get("unique_users"))),
            }
        })
        .collect();
    Response::ok(&TimeSeries {
        time_range: range.label,
        interval,
        data_points,
    })
}
