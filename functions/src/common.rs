//! Helpers several functions share: the preference-key rule, `time_range`, field checks of
//! hand-validated bodies, query-parameter parsing, the table query behind both `uc_query` (POST)
//! and `uc_query_get` (GET), and the one place inference logs and schema detection events go to
//! Lakebase. Not a function module (the registry test skips it).

use serde::Serialize;
use serde_json::Value;
use shared::databricks::statements::{self, Column, STATEMENT_DEADLINE};
use shared::databricks::unity_catalog::{quoted_table, validate_identifier};
use shared::db::logs::{
    insert_inference_log, insert_schema_detection, NewInferenceLog, NewSchemaDetection,
};
use shared::error::FieldError;
use shared::{util, ApiError, Ctx, Param, Request, Response};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

pub const MAX_PREFERENCE_KEY: usize = 100;
pub const PREFERENCE_KEY_RULE: &str =
    "must match ^[a-z][a-z0-9_]{0,99}$ (a lowercase letter, then lowercase letters, digits or _; at most 100 characters)";

/// `^[a-z][a-z0-9_]{0,max-1}$`: preference keys (max 100) and event types (max 64).
pub fn is_snake_identifier(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

pub fn is_preference_key(s: &str) -> bool {
    is_snake_identifier(s, MAX_PREFERENCE_KEY)
}

/// `time_range`: `24h`, `7d`, `30d` or `90d` (default `24h`).
pub const TIME_RANGES: [(&str, u64); 4] = [
    ("24h", 24 * 3600),
    ("7d", 7 * 24 * 3600),
    ("30d", 30 * 24 * 3600),
    ("90d", 90 * 24 * 3600),
];

pub const TIME_RANGE_SCHEMA: &str =
    r#"{"type":"string","enum":["24h","7d","30d","90d"],"default":"24h"}"#;

/// The admin metrics functions' `time_range` parameter.
pub const METRICS_TIME_RANGE_PARAM: Param = Param {
    name: "time_range",
    required: false,
    schema: TIME_RANGE_SCHEMA,
    description: "How far back from now (from the start of that hour)",
};

/// The `time_range` query parameter: its label and length; 400 `INVALID_REQUEST` naming the
/// allowed values for anything else.
pub fn time_range(req: &Request) -> Result<(&'static str, Duration), ApiError> {
    let value = req.query_value("time_range")?;
    let wanted = value.as_deref().unwrap_or("24h");
    TIME_RANGES
        .iter()
        .find(|(label, _)| *label == wanted)
        .map(|(label, secs)| (*label, Duration::from_secs(*secs)))
        .ok_or_else(|| {
            ApiError::invalid_request(format!(
                "time_range={wanted:?} is not supported: use one of 24h, 7d, 30d, 90d."
            ))
        })
}

pub fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Report every key of `object` that is not in `allowed` as `prefix.key: unknown field`.
pub fn unknown_fields(
    object: &serde_json::Map<String, serde_json::Value>,
    allowed: &[&str],
    prefix: &str,
    errors: &mut Vec<FieldError>,
) {
    for key in object.keys() {
        if !allowed.contains(&key.as_str()) {
            errors.push(field_error(
                format!("{prefix}{key}"),
                format!("unknown field; allowed: {}", allowed.join(", ")),
            ));
        }
    }
}

// ---- Text Postgres cannot store ----

/// What a 422 says about a string holding U+0000, which PostgreSQL cannot store in `text` or
/// `jsonb`.
pub const NUL_MESSAGE: &str =
    "contains the character U+0000 (\\u0000), which the database cannot store";

/// The path (below `at`) of the first string or object key in `value` holding U+0000:
/// `at.key`, `at[2]`, or `at` itself.
pub fn nul_path(value: &Value, at: &str) -> Option<String> {
    match value {
        Value::String(s) if s.contains('\0') => Some(at.to_string()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, &format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\0') {
                Some(here)
            } else {
                nul_path(v, &here)
            }
        }),
        _ => None,
    }
}

/// Report a U+0000 anywhere in `value` as a field error at its path.
pub fn check_nul(value: &Value, at: &str, errors: &mut Vec<FieldError>) {
    if let Some(path) = nul_path(value, at) {
        errors.push(field_error(path, NUL_MESSAGE));
    }
}

/// U+0000 in every string and key replaced by U+FFFD, for rows that must be written whatever
/// the text holds (inference logs).
pub fn scrub_nul(value: &mut Value) {
    match value {
        Value::String(s) => scrub_nul_text(s),
        Value::Array(items) => items.iter_mut().for_each(scrub_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let old = std::mem::take(map);
                for (mut k, v) in old {
                    scrub_nul_text(&mut k);
                    map.insert(k, v);
                }
            }
            map.values_mut().for_each(scrub_nul);
        }
        _ => {}
    }
}

pub fn scrub_nul_text(s: &mut String) {
    if s.contains('\0') {
        *s = s.replace('\0', "\u{FFFD}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_with_its_path_and_scrubbed() {
        let v = serde_json::json!({"a": 1, "b": {"c": ["x", "y\u{0}"]}});
        assert_eq!(nul_path(&v, "").as_deref(), Some("b.c[1]"));
        assert_eq!(
            nul_path(&v, "events[0].metadata").as_deref(),
            Some("events[0].metadata.b.c[1]")
        );
        let key = serde_json::json!({"k\u{0}": 1});
        assert_eq!(nul_path(&key, "v").as_deref(), Some("v.k\u{0}"));
        assert_eq!(nul_path(&serde_json::json!({"a": ["ok"]}), ""), None);
        let mut dirty = serde_json::json!({"p\u{0}": ["a\u{0}b", {"q": "\u{0}"}]});
        scrub_nul(&mut dirty);
        assert_eq!(
            dirty,
            serde_json::json!({"p\u{FFFD}": ["a\u{FFFD}b", {"q": "\u{FFFD}"}]})
        );
        assert_eq!(nul_path(&dirty, ""), None);
    }

    #[test]
    fn identifiers_and_time_ranges() {
        assert!(is_preference_key("theme"));
        assert!(is_preference_key(&format!("a{}", "b".repeat(99))));
        assert!(!is_preference_key(&format!("a{}", "b".repeat(100))));
        for bad in ["", "Theme", "1a", "a-b", "a b", "é"] {
            assert!(!is_preference_key(bad), "{bad}");
        }
        let req = |q: &str| Request {
            query: q.into(),
            ..Request::default()
        };
        assert_eq!(time_range(&req("")).unwrap().0, "24h");
        assert_eq!(
            time_range(&req("time_range=7d")).unwrap().1,
            Duration::from_secs(604800)
        );
        let e = time_range(&req("time_range=1y")).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.message.contains("24h, 7d, 30d, 90d"));
    }
}

// ---- Databricks surfaces (Unity Catalog, Model Serving) ----

/// The Unity Catalog identifier query parameters, shared by the catalog browser's functions.
pub const CATALOG_PARAM: Param = identifier_param("catalog", "Catalog name");
pub const SCHEMA_PARAM: Param = identifier_param("schema", "Schema name");
pub const TABLE_PARAM: Param = identifier_param("table", "Table name");

/// `?catalog=&schema=`, both required and valid identifiers (checked before any upstream call).
pub fn catalog_and_schema(req: &Request) -> Result<(String, String), ApiError> {
    let catalog = required_param(req, "catalog")?;
    let schema = required_param(req, "schema")?;
    validate_identifier("catalog", &catalog)?;
    validate_identifier("schema", &schema)?;
    Ok((catalog, schema))
}

const fn identifier_param(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        required: true,
        schema: r#"{"type":"string","minLength":1,"maxLength":255}"#,
        description,
    }
}

/// inputs and predictions are stored cut at 64 KiB.
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
    let warehouse =
        statements::select_warehouse(client, token, ctx.state.config.warehouse_id.as_deref())
            .await?;
    statements::ensure_running(client, token, &warehouse).await?;
    let warehouse_id = warehouse.id;
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

fn note_once(flag: &AtomicBool, message: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        log::debug!("{message}");
    }
}

/// Write one inference outcome to `model_inference_logs`. Never fails the request: a logging
/// problem is logged, not returned.
pub async fn record_inference(ctx: &Ctx, mut record: InferenceRecord) {
    // The row is written whatever the model was sent or answered: U+0000, which PostgreSQL
    // cannot store, becomes U+FFFD.
    scrub_nul(&mut record.inputs);
    if let Some(p) = record.predictions.as_mut() {
        scrub_nul(p);
    }
    if let Some(m) = record.error_message.as_mut() {
        scrub_nul_text(m);
    }
    scrub_nul_text(&mut record.endpoint_name);
    let Some(db) = &ctx.state.db else {
        note_once(
            &LOGGED_SKIP,
            "Lakebase is not configured: inference logs and schema detection events are not stored",
        );
        return;
    };
    let row = NewInferenceLog {
        request_id: &record.request_id,
        endpoint_name: &record.endpoint_name,
        user_id: &record.user_id,
        status: record.status,
        inputs: Some(&record.inputs),
        predictions: record.predictions.as_ref(),
        error_message: record.error_message.as_deref(),
        execution_time_ms: Some(record.execution_time_ms.round() as i64),
        created_at: record.created_at,
        completed_at: Some(record.completed_at),
    };
    let written = match db.get().await {
        Ok(client) => insert_inference_log(&client, &row).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        log::warn!(
            "cid={} inference log {} not stored: {e}",
            ctx.correlation_id,
            record.request_id
        );
    }
}

/// Write one schema detection to `schema_detection_events`. Never fails the request.
pub async fn record_detection(ctx: &Ctx, mut record: DetectionRecord) {
    if let Some(m) = record.error_message.as_mut() {
        scrub_nul_text(m);
    }
    scrub_nul_text(&mut record.endpoint_name);
    let Some(db) = &ctx.state.db else {
        note_once(
            &LOGGED_SKIP,
            "Lakebase is not configured: inference logs and schema detection events are not stored",
        );
        return;
    };
    let row = NewSchemaDetection {
        endpoint_name: &record.endpoint_name,
        user_id: &record.user_id,
        detected_type: record.detected_type,
        status: record.status,
        latency_ms: record.latency_ms.round() as i64,
        error_message: record.error_message.as_deref(),
        correlation_id: Some(&ctx.correlation_id),
    };
    let written = match db.get().await {
        Ok(client) => insert_schema_detection(&client, &row).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        log::warn!(
            "cid={} schema detection of {} not stored: {e}",
            ctx.correlation_id,
            record.endpoint_name
        );
    }
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

/// The caller's inference logs, newest first (`shared::db::logs`). 503
/// `LAKEBASE_NOT_CONFIGURED` without a database.
pub async fn list_inference_logs(
    ctx: &Ctx,
    user_id: &str,
    limit: i64,
    offset: i64,
) -> Result<LogsPage, ApiError> {
    let Some(db) = &ctx.state.db else {
        return Err(ApiError::lakebase_not_configured());
    };
    let client = db.get().await?;
    let (rows, total_count) =
        shared::db::logs::list_inference_logs(&client, user_id, limit, offset).await?;
    let logs = rows
        .into_iter()
        .map(|r| LogRow {
            request_id: r.request_id,
            endpoint_name: r.endpoint_name,
            status: r.status,
            inputs: r.inputs.unwrap_or(Value::Null),
            predictions: r.predictions,
            error_message: r.error_message,
            execution_time_ms: r.execution_time_ms.map(|ms| ms as f64),
            created_at: r.created_at,
            completed_at: r.completed_at,
        })
        .collect();
    Ok(LogsPage {
        logs,
        total_count,
        limit,
        offset,
    })
}

#[cfg(test)]
mod databricks_tests {
    use super::*;
    use shared::ErrorCode;

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

// ---------------------------------------------------------------------------------------------
// Genie
// ---------------------------------------------------------------------------------------------

/// A Genie id path parameter, checked before any upstream call (400 `INVALID_REQUEST`).
pub fn genie_id(req: &Request, name: &str) -> Result<String, ApiError> {
    let value = req.path_param(name).unwrap_or_default();
    shared::databricks::genie::validate_id(name, value)?;
    Ok(value.to_string())
}
