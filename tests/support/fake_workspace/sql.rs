//! SQL warehouses and the Statement Execution API (reference §6): one STOPPED and one RUNNING
//! warehouse (on two pages), statements that go PENDING → RUNNING → SUCCEEDED over polls,
//! results split into two chunks linked by `next_chunk_index` / `next_chunk_internal_link`,
//! every cell a string or null, SQL errors as HTTP 200 with `state: FAILED`, and cancel.
//! Named parameters (`parameters: [{name, value, type}]`) are recorded and bound: a `:name`
//! marker without its parameter fails as `UNBOUND_SQL_PARAMETER`, a non-string value is a 400.
//! `system.information_schema` queries are answered from the fake's tables. A warehouse can be
//! started (`POST …/{id}/start`): STOPPED → STARTING → RUNNING after `start_takes`.

use super::{FakeRequest, FakeResponse};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A table the fake can SELECT from: `(name, type_name)` columns and string cells.
#[derive(Clone)]
pub struct TableData {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Option<String>>>,
}

pub struct Statement {
    pub sql: String,
    pub warehouse_id: String,
    /// Polls left before the final state.
    pub polls_left: usize,
    pub outcome: Outcome,
    pub cancelled: bool,
    /// `row_limit` cut the rows (`manifest.truncated`).
    pub truncated: bool,
}

#[derive(Clone)]
pub enum Outcome {
    Rows(TableData),
    Failed {
        error_code: String,
        message: String,
    },
    /// Never finishes (for deadline tests).
    Forever,
}

pub struct SqlState {
    pub warehouses: Vec<Value>,
    /// `c.s.t` → data.
    pub tables: HashMap<String, TableData>,
    /// `c.s.t` of tables whose SELECT fails for lack of privileges.
    pub no_select: Vec<String>,
    /// `c.s.t` of tables whose statements never finish.
    pub endless: Vec<String>,
    pub statements: HashMap<String, Statement>,
    /// Every statement text received, in order.
    pub received: Vec<String>,
    /// Polls answered PENDING/RUNNING before a statement's final state (0: final at submit).
    pub polls_before_done: usize,
    /// The `parameters` of every statement received, in order (Null when none were sent).
    pub received_parameters: Vec<Value>,
    /// Every `POST /api/2.0/sql/warehouses/{id}/start`, by id.
    pub starts: Vec<String>,
    /// How long a started warehouse stays STARTING.
    pub start_takes: Duration,
    /// Warehouses STARTING since when.
    starting: HashMap<String, Instant>,
    next_id: u64,
}

impl SqlState {
    /// Flip STARTING warehouses whose start time has passed to RUNNING.
    fn advance(&mut self) {
        let now = Instant::now();
        let takes = self.start_takes;
        let done: Vec<String> = self
            .starting
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= takes)
            .map(|(id, _)| id.clone())
            .collect();
        for id in done {
            self.starting.remove(&id);
            self.set_state(&id, "RUNNING");
        }
    }

    pub fn set_state(&mut self, id: &str, state: &str) {
        for w in &mut self.warehouses {
            if w["id"] == id {
                w["state"] = json!(state);
            }
        }
    }

    pub fn warehouse_state(&self, id: &str) -> Option<String> {
        self.warehouses
            .iter()
            .find(|w| w["id"] == id)
            .and_then(|w| w["state"].as_str().map(String::from))
    }
}

fn orders() -> TableData {
    let s = |v: &str| Some(v.to_string());
    TableData {
        columns: [
            ("id", "LONG"),
            ("amount", "DECIMAL"),
            ("price", "DOUBLE"),
            ("active", "BOOLEAN"),
            ("customer", "STRING"),
            ("created_at", "TIMESTAMP"),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect(),
        rows: (1..=5)
            .map(|i| {
                vec![
                    s(&i.to_string()),
                    s(&format!("{i}0.50")),
                    if i == 3 { None } else { s(&format!("{i}.25")) },
                    s(if i % 2 == 0 { "false" } else { "true" }),
                    s(&format!("customer {i}")),
                    s(&format!("2026-01-0{i}T10:00:00.000Z")),
                ]
            })
            .collect(),
    }
}

/// `rows` rows of an (INT id, STRING label, DOUBLE score, BOOLEAN flag) table.
pub fn generated(rows: usize) -> TableData {
    TableData {
        columns: [
            ("id", "INT"),
            ("label", "STRING"),
            ("score", "DOUBLE"),
            ("flag", "BOOLEAN"),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect(),
        rows: (0..rows)
            .map(|i| {
                vec![
                    Some(i.to_string()),
                    Some(format!("row number {i}")),
                    if i % 10 == 0 {
                        None
                    } else {
                        Some(format!("{}.5", i))
                    },
                    Some((i % 2 == 0).to_string()),
                ]
            })
            .collect(),
    }
}

impl Default for SqlState {
    fn default() -> SqlState {
        let mut tables = HashMap::new();
        tables.insert("main.sales.orders".to_string(), orders());
        tables.insert("main.sales.big".to_string(), generated(2500));
        SqlState {
            warehouses: vec![
                json!({"id": "wh-stopped", "name": "Starter Warehouse", "state": "STOPPED", "cluster_size": "2X-Small", "warehouse_type": "PRO", "enable_serverless_compute": true}),
                json!({"id": "wh-running", "name": "Shared Warehouse", "state": "RUNNING", "cluster_size": "Small", "warehouse_type": "PRO", "enable_serverless_compute": true}),
            ],
            tables,
            no_select: vec!["main.sales.payroll".into()],
            endless: vec!["main.sales.archive".into()],
            statements: HashMap::new(),
            received: Vec::new(),
            polls_before_done: 2,
            received_parameters: Vec::new(),
            starts: Vec::new(),
            start_takes: Duration::from_millis(300),
            starting: HashMap::new(),
            next_id: 0,
        }
    }
}

pub fn route(state: &mut SqlState, req: &FakeRequest) -> Option<FakeResponse> {
    let path = req.path.as_str();
    state.advance();
    if let Some(rest) = path.strip_prefix("/api/2.0/sql/warehouses/") {
        let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
        let Some(current) = state.warehouse_state(id) else {
            return Some(FakeResponse::error(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                &format!("Warehouse {id} does not exist."),
            ));
        };
        return Some(match (req.method.as_str(), action) {
            ("GET", "") => {
                let w = state.warehouses.iter().find(|w| w["id"] == id).cloned();
                FakeResponse::json(200, w.unwrap_or_default())
            }
            ("POST", "start") => {
                state.starts.push(id.to_string());
                if current == "STOPPED" {
                    state.set_state(id, "STARTING");
                    state.starting.insert(id.to_string(), Instant::now());
                }
                FakeResponse::json(200, json!({}))
            }
            _ => FakeResponse::error(404, "ENDPOINT_NOT_FOUND", "No such warehouse action"),
        });
    }
    if req.method == "GET" && path == "/api/2.0/sql/warehouses" {
        // One warehouse per page, so selection has to follow the token.
        let i: usize = req
            .query_value("page_token")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let mut body =
            json!({"warehouses": state.warehouses.get(i).into_iter().collect::<Vec<_>>()});
        if i + 1 < state.warehouses.len() {
            body["next_page_token"] = json!((i + 1).to_string());
        }
        return Some(FakeResponse::json(200, body));
    }
    if req.method == "POST" && path == "/api/2.0/sql/statements" {
        return Some(submit(state, req));
    }
    let rest = path.strip_prefix("/api/2.0/sql/statements/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let response = match (req.method.as_str(), parts.as_slice()) {
        ("GET", [id]) => match state.statements.get_mut(*id) {
            None => unknown(id),
            Some(st) => {
                st.polls_left = st.polls_left.saturating_sub(1);
                FakeResponse::json(200, render(id, st))
            }
        },
        ("GET", [id, "result", "chunks", n]) => match state.statements.get(*id) {
            None => unknown(id),
            Some(st) => match (&st.outcome, n.parse::<usize>()) {
                (Outcome::Rows(data), Ok(n)) if n >= 1 && n < chunks(data).len() => {
                    FakeResponse::json(200, chunk(id, data, n))
                }
                _ => FakeResponse::error(404, "NOT_FOUND", "No such chunk"),
            },
        },
        ("POST", [id, "cancel"]) => match state.statements.get_mut(*id) {
            None => unknown(id),
            Some(st) => {
                st.cancelled = true;
                FakeResponse::json(200, json!({}))
            }
        },
        _ => return None,
    };
    Some(response)
}

fn unknown(id: &str) -> FakeResponse {
    FakeResponse::error(404, "NOT_FOUND", &format!("Statement {id} not found"))
}

fn submit(state: &mut SqlState, req: &FakeRequest) -> FakeResponse {
    let body = req.json();
    let mut truncated = false;
    let sql = body["statement"].as_str().unwrap_or_default().to_string();
    let warehouse_id = body["warehouse_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    state.received.push(sql.clone());
    state.received_parameters.push(body["parameters"].clone());
    if !state
        .warehouses
        .iter()
        .any(|w| w["id"] == warehouse_id.as_str())
    {
        return FakeResponse::error(
            404,
            "RESOURCE_DOES_NOT_EXIST",
            &format!("Warehouse {warehouse_id} does not exist."),
        );
    }
    let params = match bind_parameters(&body["parameters"]) {
        Ok(p) => p,
        Err(message) => return FakeResponse::error(400, "INVALID_PARAMETER_VALUE", &message),
    };
    let mut outcome = match unbound(&sql, &params) {
        Some(name) => failed(
            "BAD_REQUEST",
            &format!("[UNBOUND_SQL_PARAMETER] Found the unbound parameter: {name}. Please, fix `args` and provide a mapping of the parameter to either a SQL literal or collection constructor functions such as `map()`, `array()`, `struct()`. SQLSTATE: 42P02"),
        ),
        None if sql.contains("system.information_schema") => information_schema(state, &sql, &params),
        None if sql.contains("current_version()") => Outcome::Rows(TableData {
            columns: vec![("dbsql_version".into(), "STRING".into()), ("dbr_version".into(), "STRING".into())],
            rows: vec![vec![Some("2026.10".into()), Some("17.3".into())]],
        }),
        None => outcome_of(state, &sql),
    };
    if let (Some(limit), Outcome::Rows(data)) = (body["row_limit"].as_u64(), &mut outcome) {
        if data.rows.len() > limit as usize {
            data.rows.truncate(limit as usize);
            truncated = true;
        }
    }
    state.next_id += 1;
    let id = format!("01ef-{:04}-stmt", state.next_id);
    let st = Statement {
        sql,
        warehouse_id,
        polls_left: state.polls_before_done,
        outcome,
        cancelled: false,
        truncated,
    };
    let rendered = render(&id, &st);
    state.statements.insert(id, st);
    FakeResponse::json(200, rendered)
}

/// What a statement does, from its text: the fake understands exactly the two statements
/// brickbox sends (page and count) over backtick-quoted names.
fn outcome_of(state: &SqlState, sql: &str) -> Outcome {
    let Some(from) = sql.split(" FROM ").nth(1) else {
        return failed(
            "BAD_REQUEST",
            "[PARSE_SYNTAX_ERROR] Syntax error at or near end of input.",
        );
    };
    let target = from.split(" LIMIT ").next().unwrap_or_default().trim();
    let parts: Vec<&str> = target
        .strip_prefix('`')
        .and_then(|t| t.strip_suffix('`'))
        .map(|t| t.split("`.`").collect())
        .unwrap_or_default();
    if parts.len() != 3 {
        return failed(
            "BAD_REQUEST",
            &format!("[PARSE_SYNTAX_ERROR] Syntax error at or near '{target}'."),
        );
    }
    let key = parts.join(".");
    if state.endless.contains(&key) {
        return Outcome::Forever;
    }
    if state.no_select.contains(&key) {
        return failed(
            "BAD_REQUEST",
            &format!("[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have SELECT on Table '{key}'. SQLSTATE: 42501"),
        );
    }
    let Some(data) = state.tables.get(&key) else {
        return failed(
            "BAD_REQUEST",
            &format!("[TABLE_OR_VIEW_NOT_FOUND] The table or view {target} cannot be found. Verify the spelling and correctness of the schema and catalog. SQLSTATE: 42P01"),
        );
    };
    if sql.starts_with("SELECT COUNT(*)") {
        return Outcome::Rows(TableData {
            columns: vec![("count(1)".into(), "LONG".into())],
            rows: vec![vec![Some(data.rows.len().to_string())]],
        });
    }
    let number_after = |word: &str| -> Option<usize> {
        sql.split(word)
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let limit = number_after(" LIMIT ").unwrap_or(usize::MAX);
    let offset = number_after(" OFFSET ").unwrap_or(0);
    Outcome::Rows(TableData {
        columns: data.columns.clone(),
        rows: data.rows.iter().skip(offset).take(limit).cloned().collect(),
    })
}

/// `parameters` as the API takes them: each `{name, value?: string|null, type?}`.
fn bind_parameters(parameters: &Value) -> Result<HashMap<String, Option<String>>, String> {
    let mut out = HashMap::new();
    let Some(list) = parameters.as_array() else {
        return Ok(out);
    };
    for p in list {
        let Some(name) = p["name"].as_str() else {
            return Err("A parameter has no name.".into());
        };
        let value = match &p["value"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => {
                return Err(format!(
                    "Parameter {name}: value must be a string, got {other}."
                ))
            }
        };
        if !p["type"].is_null() && !p["type"].is_string() {
            return Err(format!("Parameter {name}: type must be a string."));
        }
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

/// The first `:name` marker (outside quotes) without a parameter.
fn unbound(sql: &str, params: &HashMap<String, Option<String>>) -> Option<String> {
    let mut quote: Option<char> = None;
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => quote = Some(c),
            None if c == ':' && chars.get(i + 1) == Some(&':') => i += 1,
            None if c == ':'
                && chars
                    .get(i + 1)
                    .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_') =>
            {
                let name: String = chars[i + 1..]
                    .iter()
                    .take_while(|n| n.is_ascii_alphanumeric() || **n == '_')
                    .collect();
                if !params.contains_key(&name) {
                    return Some(name);
                }
            }
            None => {}
        }
        i += 1;
    }
    None
}

/// `system.information_schema` over the fake's tables: `catalogs`, `tables` (filtered by the
/// `catalog` and `schema` parameters), and the version query.
fn information_schema(
    state: &SqlState,
    sql: &str,
    params: &HashMap<String, Option<String>>,
) -> Outcome {
    let cols = |names: &[(&str, &str)]| -> Vec<(String, String)> {
        names
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    };
    let mut keys: Vec<&String> = state.tables.keys().collect();
    keys.sort();
    if sql.contains("information_schema.catalogs") {
        let mut catalogs: Vec<String> = keys
            .iter()
            .map(|k| k.split('.').next().unwrap_or_default().to_string())
            .collect();
        catalogs.dedup();
        return Outcome::Rows(TableData {
            columns: cols(&[
                ("catalog_name", "STRING"),
                ("catalog_owner", "STRING"),
                ("comment", "STRING"),
                ("created", "TIMESTAMP"),
            ]),
            rows: catalogs
                .into_iter()
                .map(|c| {
                    vec![
                        Some(c),
                        Some("admins".into()),
                        None,
                        Some("2026-01-01T00:00:00.000Z".into()),
                    ]
                })
                .collect(),
        });
    }
    if sql.contains("information_schema.tables") {
        let get = |n: &str| params.get(n).cloned().flatten().unwrap_or_default();
        let prefix = format!("{}.{}.", get("catalog"), get("schema"));
        let max: usize = get("max_rows").parse().unwrap_or(usize::MAX);
        return Outcome::Rows(TableData {
            columns: cols(&[
                ("table_name", "STRING"),
                ("table_type", "STRING"),
                ("table_owner", "STRING"),
                ("comment", "STRING"),
                ("created", "TIMESTAMP"),
                ("last_altered", "TIMESTAMP"),
            ]),
            rows: keys
                .iter()
                .filter_map(|k| k.strip_prefix(&prefix))
                .take(max)
                .map(|t| {
                    vec![
                        Some(t.to_string()),
                        Some("MANAGED".into()),
                        Some("admins".into()),
                        None,
                        Some("2026-01-02T00:00:00.000Z".into()),
                        Some("2026-01-03T00:00:00.000Z".into()),
                    ]
                })
                .collect(),
        });
    }
    failed("BAD_REQUEST", "[TABLE_OR_VIEW_NOT_FOUND] The fake knows only catalogs and tables of system.information_schema. SQLSTATE: 42P01")
}

fn failed(code: &str, message: &str) -> Outcome {
    Outcome::Failed {
        error_code: code.into(),
        message: message.into(),
    }
}

/// Two chunks (first half, second half) whenever there are at least two rows.
fn chunks(data: &TableData) -> Vec<(usize, usize)> {
    let n = data.rows.len();
    if n < 2 {
        return vec![(0, n)];
    }
    let half = n.div_ceil(2);
    vec![(0, half), (half, n)]
}

fn chunk(id: &str, data: &TableData, index: usize) -> Value {
    let all = chunks(data);
    let (start, end) = all[index];
    let mut c = json!({
        "chunk_index": index,
        "row_offset": start,
        "row_count": end - start,
        "data_array": data.rows[start..end],
    });
    if index + 1 < all.len() {
        c["next_chunk_index"] = json!(index + 1);
        c["next_chunk_internal_link"] = json!(format!(
            "/api/2.0/sql/statements/{id}/result/chunks/{}",
            index + 1
        ));
    }
    c
}

fn render(id: &str, st: &Statement) -> Value {
    if st.cancelled {
        return json!({"statement_id": id, "status": {"state": "CANCELED"}});
    }
    if matches!(st.outcome, Outcome::Forever) {
        return json!({"statement_id": id, "status": {"state": "RUNNING"}});
    }
    if st.polls_left > 0 {
        let state = if st.polls_left > 1 {
            "PENDING"
        } else {
            "RUNNING"
        };
        return json!({"statement_id": id, "status": {"state": state}});
    }
    match &st.outcome {
        Outcome::Failed {
            error_code,
            message,
        } => json!({
            "statement_id": id,
            "status": {"state": "FAILED", "error": {"error_code": error_code, "message": message}, "sql_state": "42P01"},
        }),
        Outcome::Rows(data) => {
            let all = chunks(data);
            json!({
                "statement_id": id,
                "status": {"state": "SUCCEEDED"},
                "manifest": {
                    "format": "JSON_ARRAY",
                    "schema": {
                        "column_count": data.columns.len(),
                        "columns": data.columns.iter().enumerate().map(|(i, (n, t))| json!({
                            "name": n, "position": i, "type_name": t, "type_text": t.to_lowercase(),
                        })).collect::<Vec<_>>(),
                    },
                    "total_chunk_count": all.len(),
                    "chunks": all.iter().enumerate().map(|(i, (s, e))| json!({"chunk_index": i, "row_offset": s, "row_count": e - s})).collect::<Vec<_>>(),
                    "total_row_count": data.rows.len(),
                    "truncated": st.truncated,
                },
                "result": chunk(id, data, 0),
            })
        }
        Outcome::Forever => unreachable!("handled above"),
    }
}
