//! `POST /api/queries/{name}`: run one named query (docs/queries.md).
//!
//! The body's values are checked against the file's `@param` types (422 listing every
//! problem) and sent as Statement Execution `parameters`, never written into the text. With
//! `@cache N` an answer is reused for N seconds, per user or for everyone (`@scope`), and
//! identical concurrent requests share one statement. A stopped warehouse is started and the
//! answer is 503 `WAREHOUSE_STARTING` with `Retry-After`.

use serde::Serialize;
use serde_json::Value;
use shared::databricks::statements::{self, Column, StatementSpec, STATEMENT_DEADLINE};
use shared::queries::cache::{Flight, Shared};
use shared::queries::{self, QueryDef, Scope};
use shared::{
    util, ApiError, Auth, Ctx, ErrorCode, Function, Method, Request, RequestBody, Response,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// At most this many rows come back (`truncated` says when there were more).
pub const MAX_ROWS: usize = 10_000;

pub const REQUEST_SCHEMA: &str = r#"{"type":"object","additionalProperties":false,"properties":{"parameters":{"type":"object","additionalProperties":{"type":["string","number","boolean","null"]}}}}"#;

pub const RESPONSE_SCHEMA: &str = r#"{"type":"object","required":["name","columns","rows","row_count","truncated","cached","executed_at","execution_time_ms","warehouse_id"],"properties":{"name":{"type":"string"},"columns":{"type":"array","items":{"type":"object","required":["name","type_name"],"properties":{"name":{"type":"string"},"type_name":{"type":"string"}}}},"rows":{"type":"array","items":{"type":"array"}},"row_count":{"type":"integer"},"truncated":{"type":"boolean"},"cached":{"type":"boolean"},"executed_at":{"type":"string","format":"date-time"},"execution_time_ms":{"type":"number"},"warehouse_id":{"type":"string"}}}"#;

pub const FUNCTION: Function = Function {
    name: "queries_run",
    method: Method::Post,
    path: "/api/queries/{name}",
    auth: Auth::User,
    summary: "Run a named SQL query with typed parameters (cached per its file)",
    query: &[],
    request_body: Some(REQUEST_SCHEMA),
    success_status: 200,
    response_body: Some(RESPONSE_SCHEMA),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

#[derive(Serialize)]
struct Answer<'a> {
    name: &'a str,
    columns: &'a [Column],
    rows: &'a [Vec<Value>],
    row_count: usize,
    truncated: bool,
    cached: bool,
    executed_at: &'a str,
    execution_time_ms: f64,
    warehouse_id: &'a str,
}

/// The fresh answer (`cached: false`) and the one to store (`cached: true`).
struct Bodies {
    fresh: Arc<Vec<u8>>,
    stored: Arc<Vec<u8>>,
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let name = req.path_param("name").unwrap_or_default();
    let Some(def) = queries::by_name(name) else {
        return Err(ApiError::new(
            ErrorCode::QueryNotFound,
            format!("There is no query named {name:?}; GET /api/queries lists them."),
        ));
    };
    let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        req.json_value(false)?
    };
    let bound = queries::bind(def, &body).map_err(ApiError::validation)?;
    let user = ctx.user()?.user_name.clone();
    let key = queries::cache_key(def, &user, &bound);
    let db = ctx.state.db.as_ref();
    let cache = &ctx.state.query_cache;
    let ttl = Duration::from_secs(def.cache_seconds);
    if !ttl.is_zero() {
        if let Some(hit) = cache.get(db, &key).await {
            return Ok(json_body(hit.as_slice()));
        }
    }
    let parameters: Vec<Value> = bound.iter().map(queries::Bound::to_json).collect();
    loop {
        match cache.join(&key) {
            Flight::Follower(rx) => match rx.await {
                Ok(Ok(fresh)) => return Ok(json_body(fresh.as_slice())),
                Ok(Err(e)) => return Err(e),
                Err(_) => continue, // the leader went away: lead now
            },
            Flight::Leader(guard) => {
                // The answer may have been stored between the miss above and now.
                if !ttl.is_zero() {
                    if let Some(hit) = cache.get(db, &key).await {
                        guard.finish(&Ok(Arc::clone(&hit)));
                        return Ok(json_body(hit.as_slice()));
                    }
                }
                let outcome = run(&ctx, def, &parameters).await;
                if let (Ok(bodies), false) = (&outcome, ttl.is_zero()) {
                    let owner = (def.scope == Scope::User).then_some(user.as_str());
                    cache
                        .put(db, &key, &def.name, owner, Arc::clone(&bodies.stored), ttl)
                        .await;
                }
                let shared: Shared = outcome.map(|b| b.fresh);
                guard.finish(&shared);
                return shared.map(|fresh| json_body(fresh.as_slice()));
            }
        }
    }
}

fn json_body(bytes: &[u8]) -> Response {
    Response::text(200, "application/json", bytes.to_vec())
}

/// Choose the warehouse, make sure it runs, run the statement with its parameters.
async fn run(ctx: &Ctx, def: &QueryDef, parameters: &[Value]) -> Result<Bodies, ApiError> {
    let token = ctx.user_token()?;
    let client = &ctx.state.databricks;
    let started = Instant::now();
    let executed_at = util::now_rfc3339();
    let warehouse =
        statements::select_warehouse(client, token, ctx.state.config.warehouse_id.as_deref())
            .await?;
    statements::ensure_running(client, token, &warehouse).await?;
    let result = statements::execute_spec(
        client,
        token,
        &warehouse.id,
        StatementSpec {
            statement: &def.sql,
            parameters,
            row_limit: Some(MAX_ROWS),
        },
        STATEMENT_DEADLINE,
    )
    .await?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let mut answer = Answer {
        name: &def.name,
        columns: &result.columns,
        rows: &result.rows,
        row_count: result.rows.len(),
        truncated: result.truncated,
        cached: false,
        executed_at: &executed_at,
        execution_time_ms: (elapsed * 1000.0).round() / 1000.0,
        warehouse_id: &warehouse.id,
    };
    let fresh = serde_json::to_vec(&answer).map_err(ApiError::internal)?;
    answer.cached = true;
    let stored = serde_json::to_vec(&answer).map_err(ApiError::internal)?;
    Ok(Bodies {
        fresh: Arc::new(fresh),
        stored: Arc::new(stored),
    })
}
