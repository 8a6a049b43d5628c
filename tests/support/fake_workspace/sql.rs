//! SQL warehouses and the Statement Execution API (reference §6): one STOPPED and one RUNNING
//! warehouse (on two pages), statements that go PENDING → RUNNING → SUCCEEDED over polls,
//! results split into two chunks linked by `next_chunk_index` / `next_chunk_internal_link`,
//! every cell a string or null, SQL errors as HTTP 200 with `state: FAILED`, and cancel.

use super::{FakeRequest, FakeResponse};
use serde_json::{json, Value};
use std::collections::HashMap;

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
    next_id: u64,
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
            next_id: 0,
        }
    }
}

pub fn route(state: &mut SqlState, req: &FakeRequest) -> Option<FakeResponse> {
    let path = req.path.as_str();
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
    let sql = body["statement"].as_str().unwrap_or_default().to_string();
    let warehouse_id = body["warehouse_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    state.received.push(sql.clone());
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
    let outcome = outcome_of(state, &sql);
    state.next_id += 1;
    let id = format!("01ef-{:04}-stmt", state.next_id);
    let st = Statement {
        sql,
        warehouse_id,
        polls_left: state.polls_before_done,
        outcome,
        cancelled: false,
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
                    "truncated": false,
                },
                "result": chunk(id, data, 0),
            })
        }
        Outcome::Forever => unreachable!("handled above"),
    }
}
