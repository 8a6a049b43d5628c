//! `GET /api/v1/metrics/performance` (admin): request count, errors, average and percentiles,
//! overall and per (endpoint, method), over raw and aggregated hours alike.

use crate::metrics_common::{self as common, BoundParams, TimeRange};
use shared::{ApiError, Auth, Ctx, Function, Method, Param, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "metrics_performance",
    method: Method::Get,
    path: "/api/v1/metrics/performance",
    auth: Auth::Admin,
    summary: "Request totals, error rate and response-time percentiles, overall and per endpoint",
    query: &[
        crate::common::METRICS_TIME_RANGE_PARAM,
        Param {
            name: "endpoint",
            required: false,
            schema: r#"{"type":"string","maxLength":255}"#,
            description: "Only this route template, e.g. /api/preferences",
        },
    ],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["time_range","start_time","end_time","metrics","endpoints"],"properties":{"time_range":{"enum":["24h","7d","30d","90d"]},"start_time":{"type":"string","format":"date-time"},"end_time":{"type":"string","format":"date-time"},"metrics":{"type":"object","required":["total_requests","error_count","error_rate","avg_response_time_ms","p50_response_time_ms","p95_response_time_ms","p99_response_time_ms"],"properties":{"total_requests":{"type":"integer"},"error_count":{"type":"integer"},"error_rate":{"type":["number","null"]},"avg_response_time_ms":{"type":["number","null"]},"p50_response_time_ms":{"type":["number","null"]},"p95_response_time_ms":{"type":["number","null"]},"p99_response_time_ms":{"type":["number","null"]}}},"endpoints":{"type":"array","items":{"type":"object","required":["endpoint","method","request_count","error_count","error_rate","avg_response_time_ms","p50_response_time_ms","p95_response_time_ms","p99_response_time_ms"],"properties":{"endpoint":{"type":"string"},"method":{"type":"string"},"request_count":{"type":"integer"},"error_count":{"type":"integer"},"error_rate":{"type":["number","null"]},"avg_response_time_ms":{"type":["number","null"]},"p50_response_time_ms":{"type":["number","null"]},"p95_response_time_ms":{"type":["number","null"]},"p99_response_time_ms":{"type":["number","null"]}}}}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

#[derive(serde::Serialize)]
struct Performance {
    time_range: &'static str,
    start_time: String,
    end_time: String,
    metrics: Totals,
    endpoints: Vec<EndpointFigures>,
}

#[derive(serde::Serialize)]
struct Totals {
    total_requests: i64,
    error_count: i64,
    error_rate: Option<f64>,
    avg_response_time_ms: Option<f64>,
    p50_response_time_ms: Option<f64>,
    p95_response_time_ms: Option<f64>,
    p99_response_time_ms: Option<f64>,
}

#[derive(serde::Serialize)]
struct EndpointFigures {
    endpoint: String,
    method: String,
    request_count: i64,
    error_count: i64,
    error_rate: Option<f64>,
    avg_response_time_ms: Option<f64>,
    p50_response_time_ms: Option<f64>,
    p95_response_time_ms: Option<f64>,
    p99_response_time_ms: Option<f64>,
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let range = TimeRange::from_request(&req)?;
    let endpoint = common::filter(&req, "endpoint")?;
    let (bounds, rows) = common::query(
        &ctx,
        range,
        common::PERFORMANCE_SQL,
        BoundParams::Range,
        &[&endpoint],
    )
    .await?;
    // The statement always returns the total row first.
    let total = rows
        .first()
        .ok_or_else(|| ApiError::internal("metrics_performance.sql returned no total row"))?;
    let figures = |row: &tokio_postgres::Row| {
        let n: i64 = row.get("request_count");
        let errors: i64 = row.get("error_count");
        let sum: Option<f64> = row.get("sum_ms");
        (
            n,
            errors,
            common::ratio(errors, n),
            sum.filter(|_| n > 0).map(|s| s / n as f64),
        )
    };
    let (n, errors, error_rate, avg) = figures(total);
    let metrics = Totals {
        total_requests: n,
        error_count: errors,
        error_rate,
        avg_response_time_ms: avg,
        p50_response_time_ms: total.get("p50_ms"),
        p95_response_time_ms: total.get("p95_ms"),
        p99_response_time_ms: total.get("p99_ms"),
    };
    let endpoints = rows[1..]
        .iter()
        .map(|row| {
            let (n, errors, error_rate, avg) = figures(row);
            EndpointFigures {
                endpoint: row.get("endpoint"),
                method: row.get("method"),
                request_count: n,
                error_count: errors,
                error_rate,
                avg_response_time_ms: avg,
                p50_response_time_ms: row.get("p50_ms"),
                p95_response_time_ms: row.get("p95_ms"),
                p99_response_time_ms: row.get("p99_ms"),
            }
        })
        .collect();
    Response::ok(&Performance {
        time_range: range.label,
        start_time: common::time(bounds.start),
        end_time: common::time(bounds.end),
        metrics,
        endpoints,
    })
}
