//! brickbox's integration tests: one binary made of modules. Every test starts the real server
//! (in-process on an ephemeral port, or the real binary) against the fake workspace.

// Support code serves every module; not each module uses every helper.
#[allow(dead_code)]
mod support;

mod aggregation_job;
mod auth;
mod bench_databricks;
mod bench_files;
mod bench_lakebase;
mod bench_streaming;
mod binary;
mod client;
mod deploy;
mod e2e;
mod files;
mod genie;
mod hardening;
mod http_server;
mod lakebase;
mod metrics_api;
mod model_serving;
mod queries;
mod static_files;
mod streaming;
mod unity_catalog;
