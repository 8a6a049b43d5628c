//! The brickbox runtime: the HTTP server and the CLI around the function registry.
//!
//! Layout — the request path, in order:
//! * `server`       — accept loop: HTTP/1.1 + h2c, connection cap, graceful shutdown.
//! * `http`         — per request: correlation id, route, 1 MiB body limit, OBO token, security
//!   headers, the request log line.
//! * `router`       — the matchit route table built from `functions::ALL`; 404 vs 405, HEAD as GET.
//! * `call`         — auth enforcement (public/user/admin) and the handler call, panics → 500.
//! * `respond`      — the one place an `ApiError` becomes the JSON error body.
//! * `static_files` — the web UI from `static/`.
//! * `cli`          — `routes`, `openapi`, `invoke`, `gen-client`.
//! * `client_gen`   — the web UI's API client (`static/js/api.js`), generated from the registry.
//! * `job`          — `brickbox job aggregate-metrics`: sequences the aggregation SQL.
//! * `logging`      — the logger: RUST_LOG filter, text or JSON.
//! * `startup`      — the startup line: what `serve` detected (never a secret).

pub mod body;
pub mod call;
pub mod cli;
pub mod client_gen;
pub mod http;
pub mod job;
pub mod logging;
pub mod respond;
pub mod router;
pub mod server;
pub mod startup;
pub mod static_files;
