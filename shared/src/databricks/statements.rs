//! The SQL Statement Execution API (reference §6): warehouse selection, submit, poll until a
//! terminal state within one deadline (cancelling on expiry), follow every result chunk, and type
//! the string cells from the manifest.
//!
//! SQL errors arrive as HTTP 200 with `status.state = FAILED`; they are mapped here:
//! missing table/schema/catalog → 404, missing permissions → 403, anything else → 400 quoting the
//! message. Only INLINE JSON results are requested, so external links never need fetching.

use crate::databricks::retry::{self, Deadline, Failure, Policy};
use crate::databricks::unity_catalog;
use crate::databricks::{map_upstream_error, DatabricksClient, UpstreamError};
use crate::error::{quote_upstream, ApiError, ErrorCode};
use crate::secret::Secret;
use crate::util::percent_encode;
use crate::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// a statement is polled until done within 60 s.
pub const STATEMENT_DEADLINE: Duration = Duration::from_secs(60);
/// Poll intervals while PENDING/RUNNING: short first (most queries finish quickly), then 1 s.
const POLL_BACKOFF: &[Duration] = &[
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
];
/// Budget of the best-effort cancel sent when the deadline passes.
const CANCEL_BUDGET: Duration = Duration::from_secs(3);
const WAREHOUSES: &str = "/api/2.0/sql/warehouses";
const WHAT: &str = "The SQL warehouse";

/// A result column as the query function returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub type_name: String,
}

#[derive(Clone, Debug)]
pub struct StatementResult {
    pub statement_id: String,
    pub columns: Vec<Column>,
    /// Cells typed from the manifest (`typed_cell`).
    pub rows: Vec<Vec<Value>>,
    /// The warehouse stopped at the statement's `row_limit` (`manifest.truncated`).
    pub truncated: bool,
}

/// What to run: the text, its named `parameters` (`{"name","value","type"}`, never
/// interpolated into the text) and an optional row limit.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatementSpec<'a> {
    pub statement: &'a str,
    pub parameters: &'a [Value],
    pub row_limit: Option<usize>,
}

#[derive(Deserialize, Default)]
struct StatementResponse {
    statement_id: Option<String>,
    #[serde(default)]
    status: Status,
    manifest: Option<Manifest>,
    result: Option<ResultChunk>,
}

#[derive(Deserialize, Default)]
struct Status {
    state: Option<String>,
    error: Option<StatusError>,
}

#[derive(Deserialize, Default, Debug)]
struct StatusError {
    error_code: Option<Value>,
    message: Option<String>,
}

#[derive(Deserialize, Default)]
struct Manifest {
    #[serde(default)]
    schema: ManifestSchema,
    #[serde(default)]
    truncated: Option<bool>,
}

#[derive(Deserialize, Default)]
struct ManifestSchema {
    #[serde(default)]
    columns: Vec<ManifestColumn>,
}

#[derive(Deserialize)]
struct ManifestColumn {
    name: Option<String>,
    type_name: Option<String>,
}

#[derive(Deserialize, Default)]
struct ResultChunk {
    /// Every cell is a string or null, whatever its SQL type.
    data_array: Option<Vec<Vec<Option<String>>>>,
    next_chunk_index: Option<u64>,
    next_chunk_internal_link: Option<String>,
    external_links: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct WarehouseList {
    #[serde(default)]
    warehouses: Vec<Warehouse>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Warehouse {
    id: Option<String>,
    state: Option<String>,
}

/// How long a client should wait before asking again while a warehouse starts.
pub const WAREHOUSE_RETRY_AFTER: u64 = 10;

/// A warehouse to run on, with its state when the listing told it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenWarehouse {
    pub id: String,
    pub state: Option<String>,
}

/// How a cell's string is turned into JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    Integer,
    Float,
    Boolean,
    /// Decimals, dates, timestamps, strings, complex types: kept as text.
    Text,
}

impl CellKind {
    pub fn of(type_name: &str) -> CellKind {
        match type_name.to_ascii_uppercase().as_str() {
            "BYTE" | "SHORT" | "INT" | "LONG" | "TINYINT" | "SMALLINT" | "BIGINT" | "INTEGER" => {
                CellKind::Integer
            }
            "FLOAT" | "DOUBLE" | "REAL" => CellKind::Float,
            "BOOLEAN" => CellKind::Boolean,
            _ => CellKind::Text,
        }
    }
}

/// One cell: integers and floats as numbers, booleans as booleans, NULL as null, everything else
/// (and anything that does not parse as its type, e.g. `NaN`) as the string it came as.
pub fn typed_cell(kind: CellKind, cell: Option<String>) -> Value {
    let Some(text) = cell else {
        return Value::Null;
    };
    match kind {
        CellKind::Integer => {
            if let Ok(n) = text.parse::<i64>() {
                return Value::from(n);
            }
            if let Ok(n) = text.parse::<u64>() {
                return Value::from(n);
            }
        }
        CellKind::Float => {
            if let Some(n) = text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                return Value::Number(n);
            }
        }
        CellKind::Boolean => {
            if text.eq_ignore_ascii_case("true") {
                return Value::Bool(true);
            }
            if text.eq_ignore_ascii_case("false") {
                return Value::Bool(false);
            }
        }
        CellKind::Text => {}
    }
    Value::String(text)
}

/// `DATABRICKS_WAREHOUSE_ID` when set; else a RUNNING warehouse the caller can see, else the
/// first one (a statement on a stopped warehouse starts it). None at all → 503.
pub async fn select_warehouse(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    configured: Option<&str>,
) -> Result<ChosenWarehouse, ApiError> {
    if let Some(id) = configured {
        return Ok(ChosenWarehouse {
            id: id.to_string(),
            state: None,
        });
    }
    let deadline = Deadline::after(Duration::from_secs(15));
    let mut page_token: Option<String> = None;
    let mut first: Option<ChosenWarehouse> = None;
    for _ in 0..1000 {
        let path = match &page_token {
            Some(t) => format!("{WAREHOUSES}?page_token={}", percent_encode(t)),
            None => WAREHOUSES.to_string(),
        };
        let response = retry::call(
            client,
            "sql",
            Method::Get,
            &path,
            token,
            None,
            deadline,
            Policy::TRANSIENT,
        )
        .await
        .map_err(|f| match f {
            Failure::Upstream { error, .. } => map_upstream_error(&error, "The SQL warehouses API"),
            Failure::DeadlineExceeded { .. } => ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The SQL warehouses list did not answer in time; try again shortly.",
            ),
        })?;
        let list: WarehouseList = serde_json::from_slice(&response.body).map_err(|e| {
            ApiError::new(
                ErrorCode::UpstreamError,
                "The SQL warehouses list came back in a shape brickbox cannot read.",
            )
            .with_internal(e.to_string())
        })?;
        for w in list.warehouses {
            let (Some(id), state) = (w.id, w.state.unwrap_or_default()) else {
                continue;
            };
            match state.as_str() {
                "RUNNING" => {
                    return Ok(ChosenWarehouse {
                        id,
                        state: Some(state),
                    })
                }
                "DELETING" | "DELETED" => {}
                _ => {
                    first.get_or_insert(ChosenWarehouse {
                        id,
                        state: Some(state).filter(|s| !s.is_empty()),
                    });
                }
            }
        }
        match list.next_page_token.filter(|t| !t.is_empty()) {
            Some(next) if page_token.as_deref() != Some(next.as_str()) => page_token = Some(next),
            _ => break,
        }
    }
    first.ok_or_else(|| {
        ApiError::new(
            ErrorCode::WarehouseUnavailable,
            "No SQL warehouse is available to you: set DATABRICKS_WAREHOUSE_ID, or ask for access to a warehouse.",
        )
    })
}

/// Cold start: a `STOPPED` warehouse is asked to start and the answer is 503
/// `WAREHOUSE_STARTING` with `retry_after` (no waiting, no statement sent); while it is
/// `STARTING` (or `STOPPING`, after which the next try starts it) the same without asking
/// again. `RUNNING` (or a state the API did not give) goes ahead. The state comes from the
/// listing when it gave one, else from `GET /api/2.0/sql/warehouses/{id}`.
pub async fn ensure_running(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    warehouse: &ChosenWarehouse,
) -> Result<(), ApiError> {
    let deadline = Deadline::after(Duration::from_secs(15));
    let path = format!("{WAREHOUSES}/{}", percent_encode(&warehouse.id));
    let state = match &warehouse.state {
        Some(s) => s.clone(),
        None => {
            let response = retry::call(
                client,
                "sql",
                Method::Get,
                &path,
                token,
                None,
                deadline,
                Policy::TRANSIENT,
            )
            .await
            .map_err(|f| warehouse_failure(&f, &warehouse.id))?;
            let w: Warehouse = serde_json::from_slice(&response.body).map_err(|e| {
                ApiError::new(
                    ErrorCode::UpstreamError,
                    "The SQL warehouse came back in a shape brickbox cannot read.",
                )
                .with_internal(e.to_string())
            })?;
            w.state.unwrap_or_default()
        }
    };
    let starting = |message: String| {
        ApiError::new(ErrorCode::WarehouseStarting, message).with_retry_after(WAREHOUSE_RETRY_AFTER)
    };
    match state.as_str() {
        "STOPPED" => {
            retry::call(
                client,
                "sql",
                Method::Post,
                &format!("{path}/start"),
                token,
                Some(b"{}"),
                deadline,
                Policy::RATE_LIMIT_ONLY,
            )
            .await
            .map_err(|f| warehouse_failure(&f, &warehouse.id))?;
            log::info!("SQL warehouse {} was stopped: asked it to start", warehouse.id);
            Err(starting(format!(
                "SQL warehouse {:?} was stopped and is starting now; try again in {WAREHOUSE_RETRY_AFTER} s.",
                warehouse.id
            )))
        }
        "STARTING" => Err(starting(format!(
            "SQL warehouse {:?} is starting; try again in {WAREHOUSE_RETRY_AFTER} s.",
            warehouse.id
        ))),
        "STOPPING" => Err(starting(format!(
            "SQL warehouse {:?} is stopping; it will be started when you try again in {WAREHOUSE_RETRY_AFTER} s.",
            warehouse.id
        ))),
        "DELETING" | "DELETED" => Err(ApiError::new(
            ErrorCode::WarehouseUnavailable,
            format!("SQL warehouse {:?} is deleted and cannot run queries.", warehouse.id),
        )),
        _ => Ok(()),
    }
}

fn warehouse_failure(failure: &Failure, warehouse_id: &str) -> ApiError {
    match failure {
        Failure::Upstream {
            error: UpstreamError::Api { status: 404, .. },
            ..
        } => ApiError::new(
            ErrorCode::WarehouseUnavailable,
            format!("SQL warehouse {warehouse_id:?} does not exist or is not visible to you."),
        ),
        Failure::Upstream { error, .. } => map_upstream_error(error, WHAT),
        Failure::DeadlineExceeded { .. } => ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The SQL warehouse did not answer in time; try again shortly.",
        ),
    }
}

/// Run one statement to completion within `budget`: submit, poll, follow every chunk.
/// On expiry the statement is cancelled and the answer is 504 `QUERY_TIMEOUT`.
pub async fn execute(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    warehouse_id: &str,
    statement: &str,
    budget: Duration,
) -> Result<StatementResult, ApiError> {
    execute_spec(
        client,
        token,
        warehouse_id,
        StatementSpec {
            statement,
            ..StatementSpec::default()
        },
        budget,
    )
    .await
}

/// `execute` with parameters and a row limit.
pub async fn execute_spec(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    warehouse_id: &str,
    spec: StatementSpec<'_>,
    budget: Duration,
) -> Result<StatementResult, ApiError> {
    let statement = spec.statement;
    let deadline = Deadline::after(budget);
    // The server may hold the submit for up to `wait_timeout` ("0s" or 5–50 s); keep it well
    // inside our own budget so there is time left to poll and cancel.
    let wait = budget.as_secs().saturating_sub(5).min(10);
    let wait_timeout = if wait >= 5 {
        format!("{wait}s")
    } else {
        "0s".into()
    };
    let mut body = serde_json::json!({
        "statement": statement,
        "warehouse_id": warehouse_id,
        "wait_timeout": wait_timeout,
        "on_wait_timeout": "CONTINUE",
        "disposition": "INLINE",
        "format": "JSON_ARRAY",
    });
    if !spec.parameters.is_empty() {
        body["parameters"] = Value::from(spec.parameters.to_vec());
    }
    if let Some(limit) = spec.row_limit {
        body["row_limit"] = Value::from(limit);
    }
    let body = body.to_string();
    // A submission is not idempotent: only a 429 (refused before it ran) is sent again.
    let submitted = retry::call(
        client,
        "sql",
        Method::Post,
        "/api/2.0/sql/statements",
        token,
        Some(body.as_bytes()),
        deadline,
        Policy::RATE_LIMIT_ONLY,
    )
    .await
    .map_err(|f| map_submit_failure(&f, warehouse_id))?;
    let mut response = parse_statement(&submitted.body)?;
    let id = response
        .statement_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UpstreamError,
                "The SQL warehouse accepted the statement without a statement id.",
            )
        })?;
    let mut polls = 0usize;
    loop {
        match response.status.state.as_deref() {
            Some("SUCCEEDED") => break,
            Some("FAILED") => return Err(map_failed_statement(response.status.error)),
            Some(state @ ("CANCELED" | "CLOSED")) => {
                return Err(ApiError::new(
                    ErrorCode::UpstreamError,
                    format!(
                    "The statement ended {state} before it produced a result; run the query again."
                ),
                ))
            }
            _ => {}
        }
        let pause = POLL_BACKOFF[polls.min(POLL_BACKOFF.len() - 1)];
        polls += 1;
        if pause >= deadline.remaining() {
            return Err(timeout(client, token, &id, budget).await);
        }
        tokio::time::sleep(pause).await;
        let polled = retry::call(
            client,
            "sql",
            Method::Get,
            &format!("/api/2.0/sql/statements/{}", percent_encode(&id)),
            token,
            None,
            deadline,
            Policy::TRANSIENT,
        )
        .await;
        response = match polled {
            Ok(r) => parse_statement(&r.body)?,
            Err(Failure::DeadlineExceeded { .. }) => {
                return Err(timeout(client, token, &id, budget).await)
            }
            Err(Failure::Upstream { error, .. }) => return Err(map_upstream_error(&error, WHAT)),
        };
    }
    let manifest = response.manifest.take().unwrap_or_default();
    let mut truncated = manifest.truncated.unwrap_or(false);
    let columns: Vec<Column> = manifest
        .schema
        .columns
        .into_iter()
        .enumerate()
        .map(|(i, c)| Column {
            name: c.name.unwrap_or_else(|| format!("col_{i}")),
            type_name: c.type_name.unwrap_or_else(|| "STRING".into()),
        })
        .collect();
    let kinds: Vec<CellKind> = columns.iter().map(|c| CellKind::of(&c.type_name)).collect();
    let mut rows = Vec::new();
    let mut chunk = response.result.take().unwrap_or_default();
    let mut chunks = 0usize;
    loop {
        if chunk.external_links.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(ApiError::new(
                ErrorCode::UpstreamError,
                "The SQL warehouse answered with external links although INLINE results were requested.",
            ));
        }
        for row in chunk.data_array.take().unwrap_or_default() {
            if spec.row_limit.is_some_and(|limit| rows.len() >= limit) {
                truncated = true;
                break;
            }
            rows.push(
                row.into_iter()
                    .enumerate()
                    .map(|(i, cell)| {
                        typed_cell(kinds.get(i).copied().unwrap_or(CellKind::Text), cell)
                    })
                    .collect(),
            );
        }
        let next = match (&chunk.next_chunk_internal_link, chunk.next_chunk_index) {
            (Some(link), _) if link.starts_with('/') => link.clone(),
            (_, Some(index)) => format!(
                "/api/2.0/sql/statements/{}/result/chunks/{index}",
                percent_encode(&id)
            ),
            _ => break,
        };
        if spec.row_limit.is_some_and(|limit| rows.len() >= limit) {
            truncated = true;
            break;
        }
        chunks += 1;
        if chunks > 100_000 {
            return Err(ApiError::new(
                ErrorCode::UpstreamError,
                "The SQL warehouse kept returning result chunks; the result was abandoned.",
            ));
        }
        let fetched = retry::call(
            client,
            "sql",
            Method::Get,
            &next,
            token,
            None,
            deadline,
            Policy::TRANSIENT,
        )
        .await;
        chunk = match fetched {
            Ok(r) => serde_json::from_slice(&r.body).map_err(|e| {
                ApiError::new(
                    ErrorCode::UpstreamError,
                    "A result chunk came back in a shape brickbox cannot read.",
                )
                .with_internal(e.to_string())
            })?,
            Err(Failure::DeadlineExceeded { .. }) => {
                return Err(timeout(client, token, &id, budget).await)
            }
            Err(Failure::Upstream { error, .. }) => return Err(map_upstream_error(&error, WHAT)),
        };
    }
    Ok(StatementResult {
        statement_id: id,
        columns,
        rows,
        truncated,
    })
}

fn parse_statement(body: &[u8]) -> Result<StatementResponse, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::UpstreamError,
            "The SQL warehouse answered with a statement brickbox cannot read.",
        )
        .with_internal(e.to_string())
    })
}

/// Cancel (best effort, bounded) and answer 504.
async fn timeout(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    id: &str,
    budget: Duration,
) -> ApiError {
    let cancelled = retry::call(
        client,
        "sql",
        Method::Post,
        &format!("/api/2.0/sql/statements/{}/cancel", percent_encode(id)),
        token,
        Some(b"{}"),
        Deadline::after(CANCEL_BUDGET),
        Policy::ONCE,
    )
    .await;
    if let Err(e) = cancelled {
        log::warn!("cancelling statement {id} after its deadline failed: {e:?}");
    }
    ApiError::new(
        ErrorCode::QueryTimeout,
        format!(
            "The query did not finish within {} s and was cancelled. Query fewer rows, or try again when the warehouse is less busy.",
            budget.as_secs()
        ),
    )
}

/// The submit's own HTTP failures: a warehouse that is missing or unusable is 503
/// `WAREHOUSE_UNAVAILABLE`; the rest maps like any upstream failure.
fn map_submit_failure(failure: &Failure, warehouse_id: &str) -> ApiError {
    match failure {
        Failure::DeadlineExceeded { .. } => ApiError::new(
            ErrorCode::QueryTimeout,
            "The SQL warehouse did not accept the query in time; try again.",
        ),
        Failure::Upstream { error, .. } => {
            if let UpstreamError::Api {
                status,
                error_code,
                message,
                ..
            } = error
            {
                let about_warehouse = message.to_lowercase().contains("warehouse");
                if *status == 404 || (*status == 400 && about_warehouse) {
                    return ApiError::new(
                        ErrorCode::WarehouseUnavailable,
                        format!(
                            "SQL warehouse {warehouse_id:?} cannot run queries: {}",
                            quote_upstream(message)
                        ),
                    )
                    .with_internal(format!("HTTP {status} {error_code}"));
                }
            }
            map_upstream_error(error, WHAT)
        }
    }
}

/// A FAILED statement (HTTP 200, `status.error`)
fn map_failed_statement(error: Option<StatusError>) -> ApiError {
    let error = error.unwrap_or_default();
    let code = match &error.error_code {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let message = error
        .message
        .unwrap_or_else(|| "the statement failed without a message".into());
    let internal = format!("FAILED {code}: {message}");
    let has = |needle: &str| message.contains(needle);
    if has("TABLE_OR_VIEW_NOT_FOUND") {
        return unity_catalog::not_found(ErrorCode::TableNotFound).with_internal(internal);
    }
    if has("SCHEMA_NOT_FOUND") {
        return unity_catalog::not_found(ErrorCode::SchemaNotFound).with_internal(internal);
    }
    if has("CATALOG_NOT_FOUND") || has("NO_SUCH_CATALOG") {
        return unity_catalog::not_found(ErrorCode::CatalogNotFound).with_internal(internal);
    }
    if has("INSUFFICIENT_PERMISSIONS") || code == "PERMISSION_DENIED" {
        return ApiError::new(
            ErrorCode::PermissionDenied,
            format!(
                "You do not have permission to read this table: {}",
                quote_upstream(&message)
            ),
        )
        .with_internal(internal);
    }
    match code.as_str() {
        "UNAUTHENTICATED" => ApiError::new(
            ErrorCode::AuthInvalid,
            "The access token was not accepted by the SQL warehouse. Reload the page to sign in again.",
        ),
        "DEADLINE_EXCEEDED" => ApiError::new(
            ErrorCode::QueryTimeout,
            "The SQL warehouse stopped the query because it ran too long.",
        )
        .with_internal(internal),
        "RESOURCE_EXHAUSTED"
        | "TEMPORARILY_UNAVAILABLE"
        | "SERVICE_UNDER_MAINTENANCE"
        | "WORKSPACE_TEMPORARILY_UNAVAILABLE"
        | "INTERNAL_ERROR"
        | "IO_ERROR" => ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The SQL warehouse could not run the query right now; try again shortly.",
        )
        .with_retry_after(5)
        .with_internal(internal),
        _ => ApiError::invalid_request(format!("The query failed: {}", quote_upstream(&message)))
            .with_internal(internal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_typed_from_the_manifest() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(typed_cell(CellKind::of("LONG"), s("42")), Value::from(42));
        assert_eq!(typed_cell(CellKind::of("INT"), s("-7")), Value::from(-7));
        assert_eq!(
            typed_cell(CellKind::of("DOUBLE"), s("2.5")),
            Value::from(2.5)
        );
        assert_eq!(
            typed_cell(CellKind::of("DOUBLE"), s("NaN")),
            Value::from("NaN")
        );
        assert_eq!(
            typed_cell(CellKind::of("BOOLEAN"), s("true")),
            Value::Bool(true)
        );
        assert_eq!(
            typed_cell(CellKind::of("DECIMAL"), s("10.50")),
            Value::from("10.50")
        );
        assert_eq!(
            typed_cell(CellKind::of("TIMESTAMP"), s("2026-01-01T00:00:00Z")),
            Value::from("2026-01-01T00:00:00Z")
        );
        assert_eq!(typed_cell(CellKind::of("LONG"), None), Value::Null);
    }

    #[test]
    fn failed_statements_map_per_spec() {
        let failed = |code: &str, message: &str| {
            map_failed_statement(Some(StatusError {
                error_code: Some(Value::from(code)),
                message: Some(message.into()),
            }))
        };
        assert_eq!(
            failed(
                "BAD_REQUEST",
                "[TABLE_OR_VIEW_NOT_FOUND] The table `a`.`b`.`c` cannot be found."
            )
            .code,
            ErrorCode::TableNotFound
        );
        assert_eq!(
            failed(
                "BAD_REQUEST",
                "[INSUFFICIENT_PERMISSIONS] User does not have SELECT"
            )
            .code,
            ErrorCode::PermissionDenied
        );
        let other = failed(
            "BAD_REQUEST",
            "[PARSE_SYNTAX_ERROR] Syntax error at or near 'x'",
        );
        assert_eq!(other.code, ErrorCode::InvalidRequest);
        assert!(other.message.contains("PARSE_SYNTAX_ERROR"));
        assert_eq!(map_failed_statement(None).code, ErrorCode::InvalidRequest);
    }
}
