//! brickbox's shared crate: everything a function needs that is not HTTP.
//!
//! Layout:
//! * `config`     — the environment read once at startup (SPEC §3).
//! * `error`      — `ApiError` and the closed set of `ErrorCode`s (SPEC §5.3); the one error type
//!   every function returns.
//! * `function`   — the function model: `Function`, `Auth`, `Request`, `Response`, `Ctx`. A function
//!   is a plain async fn over these types, callable without a server.
//! * `state`      — `AppState`, the process-wide state every `Ctx` points to.
//! * `identity`   — OBO identity: SCIM Me through the identity cache, the admin decision.
//! * `databricks` — the blocking ureq client for the workspace REST API, run off the async workers,
//!   and the upstream-failure mapping the data surfaces share.
//! * `retry`      — retry policy and the one overall deadline across attempts (SPEC §6.2).
//! * `unity_catalog` — paginated catalog / schema / table listings, identifier validation.
//! * `statements` — SQL statement execution: warehouse choice, polling, chunks, typed cells.
//! * `serving`    — Model Serving: endpoint state and type, schema detection, invocation.
//! * `databricks` — the blocking ureq client for the workspace REST API, run off the async workers.
//! * `db`         — Lakebase: pool, credentials, TLS, migrations, health check, table helpers.
//! * `metrics`    — Prometheus counters, and the bounded queue + batch writer that store every
//!   `/api/*` request in Lakebase (SPEC §7).
//! * `secret`     — `Secret`, a string that never prints.
//! * `util`       — UUIDs, hashing, base64, RFC 3339 times, percent-decoding.
//!
//! This crate never depends on hyper or matchit.

pub mod config;
pub mod databricks;
pub mod db;
pub mod error;
pub mod function;
pub mod identity;
pub mod metrics;
pub mod retry;
pub mod secret;
pub mod serving;
pub mod sql_text;
pub mod state;
pub mod statements;
pub mod unity_catalog;
pub mod util;

pub use error::{ApiError, ErrorCode};
pub use function::{Auth, Ctx, Function, Method, Param, Request, Response};
pub use secret::Secret;
pub use state::AppState;

/// The version reported by `/health`, the OpenAPI document and the startup line.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
