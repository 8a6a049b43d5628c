//! Helpers several functions share: query-parameter parsing, the table query behind both
//! `uc_query` (POST) and `uc_query_get` (GET), and the one place inference logs and schema
//! detection events go to Lakebase.
//!
//! Lakebase wiring: `record_inference`, `record_detection` and `list_inference_logs` are the only
//! functions that touch the database for Model Serving. They run the statements in
//! `sql/inference_logs_insert.sql`, `sql/schema_detection_insert.sql`,
//! `sql/inference_logs_list.sql` and `sql/inference_logs_count.sql` once the pool exists; until
//! then a configured database is reported as unavailable rather than silently ignored.

use serde::Serialize;
use serde_json::Value;
use shared::error::FieldError;
use shared::statements::{self, Column, STATEMENT_DEADLINE};
use shared::unity_catalog::{quoted_table, validate_identifier};
use shared::{util, ApiError, Ctx, ErrorCode, Request, Response};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use time::OffsetDateTime;

/// The statements behind the Model Serving records (headers list parameters and columns).
pub const INFERENCE_LOG_INSERT_SQL: &str = include_str!("../../sql/inference_logs_insert.sql");
pub const INFERENCE_LOG_LIST_SQL: &str = include_str!("../../sql/inference_logs_list.sql");
pub const INFERENCE_LOG_COUNT_SQL: &str = include_str!("../../sql/inference_logs_count.sql");
pub const SCHEMA_DETECTION_INSERT_SQL: &str = include_str!("../../sql/schema_detection_insert.sql");

/// SPEC §6.2: inputs and predictions are stored cut at 64 KiB.
pub const MAX_LOGGED_JSON: usize = 64 * 1024;

/// A required, non-empty query parameter; 400 `INVALID_REQUEST` naming it when missing.
pub fn required_param(req: &Request, name: &str) -> Result<String, ApiError> {
    match req.query_value(name)? {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::invalid_request(format!(
            "The query parameter `{name}` is required."
        ))),
    }
}

/// An optional integer query parameter within `min..=max`; 400 when it is not one.
pub fn int_param(
    req: &Request,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    match req.query_value(name)? {
        None => Ok(default),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid_request(if max == i64::MAX {
                format!("`{name}` must be an integer ≥ {min}, got {text:?}.")
            } else {
                format!("`{name}` must be an integer from {min} to {max}, got {text:?}.")
            })),
        },
    }
}

/// An optional boolean query parameter (`true`/`false`/`1`/`0`).
pub fn bool_param(req: &Request, name: &str) -> Result<bool, ApiError> {
    match req.query_value(name)?.as_deref() {
        None | Some("") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(ApiError::invalid_request(format!(
            "`{name}` must be true or false, got {other:?}."
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Table query (uc_query, uc_query_get)
// ---------------------------------------------------------------------------------------------

pub const QUERY_LIMIT_DEFAULT: i64 = 100;
pub const QUERY_LIMIT_MAX: i64 = 1000;

/// A validated table query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableQuery {
    pub catalog: String,
    pub schema: String,
    pub table: String,
    pub limit: i64,
    pub offset: i64,
    pub include_total: bool,
}

/// Range checks of `limit` / `offset`, as field errors (422 for bodies, 400 for queries).
pub fn query_range_errors(limit: i64, offset: i64) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !(1..=QUERY_LIMIT_MAX).contains(&limit) {
        errors.push(FieldError {
            field: "limit".into(),
            message: format!("must be from 1 to {QUERY_LIMIT_MAX}, got {limit}"),
        });
    }
    if offset < 0 {
        errors.push(FieldError {
            field: "offset".into(),
            message: format!("must be 0 or more, got {offset}"),
        });
    }
    errors
}

#[derive(Serialize)]
struct QueryResult {
    query_id: String,
    catalog: String,
    schema: String,
    table: String,
    sql_statement: String,
    warehouse_id: String,
    columns: Vec<Column>,
    rows: Vec<Vec<Value>>,
    row_count: usize,
    total_row_count: Option<i64>,
    execution_time_ms: f64,
    executed_at: String,
}

/// Identifiers are validated before anything reaches the workspace, then quoted with backticks.
pub async fn run_table_query(ctx: &Ctx, q: TableQuery) -> Result<Response, ApiError> {
    validate_identifier("catalog", &q.catalog)?;
    validate_identifier("schema", &q.schema)?;
    validate_identifier("table", &q.table)?;
    let token = ctx.user_token()?;
    let client = &ctx.state.databricks;
    let started = Instant::now();
    let executed_at = util::now_rfc3339();
    let warehouse_id =
        statements::select_warehouse(client, token, ctx.state.config.warehouse_id.as_deref())
            .await?;
    let table = quoted_table(&q.catalog, &q.schema, &q.table);
    let sql = format!(
        "SELECT * FROM {table} LIMIT {} OFFSET {}",
        q.limit, q.offset
    );
    let page = statements::execute(client, token, &warehouse_id, &sql, STATEMENT_DEADLINE);
    let (page, total) = if q.include_total {
        let count_sql = format!("SELECT COUNT(*) FROM {table}");
        let count =
            statements::execute(client, token, &warehouse_id, &count_sql, STATEMENT_DEADLINE);
        let (page, count) = tokio::join!(page, count);
        let total = count?
            .rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64);
        (page?, total)
    } else {
        (page.await?, None)
    };
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    Response::ok(&QueryResult {
        query_id: page.statement_id,
        catalog: q.catalog,
        schema: q.schema,
        table: q.table,
        sql_statement: sql,
        warehouse_id,
        columns: page.columns,
        row_count: page.rows.len(),
        rows: page.rows,
        total_row_count: total,
        execution_time_ms: (elapsed * 1000.0).round() / 1000.0,
        executed_at,
    })
}

// ---------------------------------------------------------------------------------------------
// Lakebase records (model_inference_logs, schema_detection_events)
// ---------------------------------------------------------------------------------------------

/// One row of `model_inference_logs` (columns and parameters: `sql/inference_logs_insert.sql`).
#[derive(Clone, Debug, PartialEq)]
pub struct InferenceRecord {
    pub request_id: String,
    pub endpoint_name: String,
    pub user_id: String,
    /// `SUCCESS`, `ERROR` or `TIMEOUT`.
    pub status: &'static str,
    /// Cut to `MAX_LOGGED_JSON` by `cut_json`.
    pub inputs: Value,
    pub predictions: Option<Value>,
    pub error_message: Option<String>,
    pub execution_time_ms: f64,
    pub created_at: OffsetDateTime,
    pub completed_at: OffsetDateTime,
}

/// One row of `schema_detection_events` (`sql/schema_detection_insert.sql`).
#[derive(Clone, Debug, PartialEq)]
pub struct DetectionRecord {
    pub endpoint_name: String,
    pub user_id: String,
    pub detected_type: &'static str,
    /// `SUCCESS`, `FAILURE` or `TIMEOUT`.
    pub status: &'static str,
    pub latency_ms: f64,
    pub error_message: Option<String>,
    pub created_at: OffsetDateTime,
}

/// A JSON value whose serialization is at most `max` bytes: the value itself when it fits, else
/// a marker object keeping the start of its text (still valid JSON, so it fits a `jsonb` column).
pub fn cut_json(value: &Value, max: usize) -> Value {
    let text = value.to_string();
    if text.len() <= max {
        return value.clone();
    }
    // Escaping can make the kept text longer than its bytes (`"` → `\"`, control characters
    // → `\u00XX`), so shrink until the whole wrapper fits.
    let mut keep = max.saturating_sub(256);
    loop {
        while keep > 0 && !text.is_char_boundary(keep) {
            keep -= 1;
        }
        let cut = serde_json::json!({
            "_truncated": true,
            "original_bytes": text.len(),
            "preview": &text[..keep],
        });
        if keep == 0 || cut.to_string().len() <= max {
            return cut;
        }
        keep /= 2;
    }
}

static LOGGED_SKIP: AtomicBool = AtomicBool::new(false);
static LOGGED_UNWIRED: AtomicBool = AtomicBool::new(false);

fn note_once(flag: &AtomicBool, message: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        log::debug!("{message}");
    }
}

/// Write one inference outcome to `model_inference_logs`. Never fails the request: a logging
/// problem is logged, not returned.
pub async fn record_inference(ctx: &Ctx, record: InferenceRecord) {
    if !ctx.state.config.lakebase.configured() {
        note_once(
            &LOGGED_SKIP,
            "Lakebase is not configured: inference logs and schema detection events are not stored",
        );
        return;
    }
    // LAKEBASE WIRING: run sql/inference_logs_insert.sql with `record` on the pool here.
    note_once(
        &LOGGED_UNWIRED,
        "inference logs are not written: the Lakebase pool is not part of this build",
    );
    log::debug!(
        "inference {} on {} by {}: {}",
        record.request_id,
        record.endpoint_name,
        record.user_id,
        record.status
    );
}

/// Write one schema detection to `schema_detection_events`. Never fails the request.
pub async fn record_detection(ctx: &Ctx, record: DetectionRecord) {
    if !ctx.state.config.lakebase.configured() {
        note_once(
            &LOGGED_SKIP,
            "Lakebase is not configured: inference logs and schema detection events are not stored",
        );
        return;
    }
    // LAKEBASE WIRING: run sql/schema_detection_insert.sql with `record` on the pool here.
    note_once(
        &LOGGED_UNWIRED,
        "schema detection events are not written: the Lakebase pool is not part of this build",
    );
    log::debug!(
        "schema detection of {} by {}: {} {}",
        record.endpoint_name,
        record.user_id,
        record.detected_type,
        record.status
    );
}

/// One row of `GET /api/model-serving/logs`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogRow {
    pub request_id: String,
    pub endpoint_name: String,
    pub status: String,
    pub inputs: Value,
    pub predictions: Option<Value>,
    pub error_message: Option<String>,
    pub execution_time_ms: Option<f64>,
    pub created_at: String,
    pub completed_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogsPage {
    pub logs: Vec<LogRow>,
    pub total_count: i64,
    pub limit: i64,
    pub offset: i64,
}

/// The caller's inference logs, newest first: `sql/inference_logs_list.sql` and
/// `sql/inference_logs_count.sql` with `$1 = user_id`. 503 `LAKEBASE_NOT_CONFIGURED` without a
/// database.
pub async fn list_inference_logs(
    ctx: &Ctx,
    user_id: &str,
    limit: i64,
    offset: i64,
) -> Result<LogsPage, ApiError> {
    if !ctx.state.config.lakebase.configured() {
        return Err(ApiError::lakebase_not_configured());
    }
    // LAKEBASE WIRING: query the pool here and build `LogsPage { logs, total_count, limit,
    // offset }` from the two statements' rows (times through `util::rfc3339`).
    Err(ApiError::new(
        ErrorCode::DatabaseUnavailable,
        "The inference log store is not available in this build; try again later.",
    )
    .with_retry_after(30)
    .with_internal(format!(
        "inference log query for {user_id} (limit {limit}, offset {offset}) has no Lakebase pool to run on"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_json_is_cut_but_stays_json() {
        let small = serde_json::json!({"a": [1, 2, 3]});
        assert_eq!(cut_json(&small, MAX_LOGGED_JSON), small);
        let big = serde_json::json!({"text": "é\"".repeat(60_000)});
        let cut = cut_json(&big, MAX_LOGGED_JSON);
        assert_eq!(cut["_truncated"], true);
        assert!(
            cut.to_string().len() <= MAX_LOGGED_JSON,
            "{}",
            cut.to_string().len()
        );
        assert_eq!(cut["original_bytes"], big.to_string().len());
    }

    #[test]
    fn query_ranges_are_checked() {
        assert!(query_range_errors(1, 0).is_empty());
        assert!(query_range_errors(1000, 5).is_empty());
        let errors = query_range_errors(0, -1);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[1].field, "offset");
        assert_eq!(query_range_errors(1001, 0)[0].field, "limit");
    }

    #[test]
    fn int_params_are_bounded() {
        let req = |q: &str| Request {
            query: q.into(),
            ..Request::default()
        };
        assert_eq!(int_param(&req(""), "limit", 50, 1, 200).unwrap(), 50);
        assert_eq!(int_param(&req("limit=7"), "limit", 50, 1, 200).unwrap(), 7);
        for bad in ["limit=0", "limit=201", "limit=x", "limit=1.5"] {
            assert_eq!(
                int_param(&req(bad), "limit", 50, 1, 200).unwrap_err().code,
                ErrorCode::InvalidRequest
            );
        }
        assert!(bool_param(&req("include_total=true"), "include_total").unwrap());
        assert!(bool_param(&req("include_total=yes"), "include_total").is_err());
    }
}
