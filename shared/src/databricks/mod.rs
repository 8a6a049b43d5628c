//! Everything that talks to the Databricks workspace, always with the caller's token (OBO).
//!
//! * `client`        — the blocking ureq client for the REST API, run off the async workers, and
//!   the upstream-failure mapping the data surfaces share.
//! * `files`         — files in Unity Catalog Volumes: listings, streamed downloads and uploads.
//! * `retry`         — retry policy and the one overall deadline across attempts.
//! * `genie`         — Genie spaces, conversations, messages (start, continue, poll), results.
//! * `unity_catalog` — paginated catalog / schema / table listings, identifier validation.
//! * `statements`    — SQL statement execution: warehouse choice, polling, chunks, typed cells.
//! * `serving`       — Model Serving: endpoint state and type, invocation.
//! * `serving_schema` — input-schema detection of serving endpoints.
//! * `serving_stream` — streamed chat with serving endpoints: formats, request bodies, events.
//! * `stream_client` — a small async HTTP/1.1 client for upstream answers read as a stream.

pub mod client;
pub mod files;
pub mod genie;
pub mod retry;
pub mod serving;
pub mod serving_schema;
pub mod serving_stream;
pub mod statements;
pub mod stream_client;
pub mod unity_catalog;

pub use client::*;
