//! brickbox's shared crate: everything a function needs that is not HTTP.
//!
//! Layout:
//! * `config`     — the environment read once at startup.
//! * `error`      — `ApiError` and the closed set of `ErrorCode`s; the one error type
//!   every function returns.
//! * `function`   — the function model: `Function`, `Auth`, `Request`, `Response`, `Ctx`. A function
//!   is a plain async fn over these types, callable without a server.
//! * `stream`     — streamed bodies both ways (chunks, SSE events), free of hyper.
//! * `state`      — `AppState`, the process-wide state every `Ctx` points to.
//! * `identity`   — OBO identity: SCIM Me through the identity cache, the admin decision.
//! * `databricks` — everything that talks to the workspace: the REST client, retries, Unity
//!   Catalog, statements, Model Serving (one file each, see `databricks/mod.rs`).
//! * `db`         — Lakebase: pool, credentials, TLS, migrations, health check, table helpers.
//! * `metrics`    — Prometheus counters, and the bounded queue + batch writer that store every
//!   `/api/*` request in Lakebase.
//! * `queries`    — the named SQL queries of `sql/queries/`, their parameter checks and cache.
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
pub mod queries;
pub mod secret;
pub mod sql_text;
pub mod state;
pub mod stream;
pub mod util;

pub use error::{ApiError, ErrorCode};
pub use function::{Auth, Ctx, Function, Method, Param, Request, RequestBody, Response};
pub use secret::Secret;
pub use state::AppState;

/// The version reported by `/health`, the OpenAPI document and the startup line.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
