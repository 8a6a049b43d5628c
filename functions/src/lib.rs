//! brickbox's API functions: one module per endpoint, and `ALL`, the explicit registry.
//!
//! Reading `ALL` tells you every route. Each module declares one `pub const FUNCTION` and its
//! `handle` fn; the runtime builds the router from `ALL` and reports conflicts by name.
//! This crate never depends on hyper or matchit: functions see only `shared`'s types.

use shared::Function;

pub mod common;
pub mod files_delete;
pub mod files_directory_create;
pub mod files_download;
pub mod files_list;
pub mod files_upload;
pub mod files_volumes;
pub mod genie_conversations_list;
pub mod genie_message_create;
pub mod genie_message_result;
pub mod genie_messages_list;
pub mod genie_spaces_list;
pub mod health;
pub mod metrics_common;
pub mod metrics_performance;
pub mod metrics_prometheus;
pub mod metrics_time_series;
pub mod metrics_usage;
pub mod model_endpoint_get;
pub mod model_endpoint_schema;
pub mod model_endpoints_list;
pub mod model_invoke;
pub mod model_logs;
pub mod openapi;
pub mod openapi_json;
pub mod ping;
pub mod preferences_delete;
pub mod preferences_list;
pub mod preferences_upsert;
pub mod queries_list;
pub mod queries_run;
pub mod ready;
pub mod uc_catalogs;
pub mod uc_query;
pub mod uc_query_get;
pub mod uc_schemas;
pub mod uc_table_names;
pub mod uc_tables;
pub mod usage_count;
pub mod usage_events_create;
pub mod user_me;
pub mod user_workspace;

/// Every function brickbox serves, in the order `brickbox routes` lists them.
pub const ALL: &[Function] = &[
    health::FUNCTION,
    ready::FUNCTION,
    ping::FUNCTION,
    openapi_json::FUNCTION,
    metrics_prometheus::FUNCTION,
    user_me::FUNCTION,
    user_workspace::FUNCTION,
    uc_catalogs::FUNCTION,
    uc_schemas::FUNCTION,
    uc_table_names::FUNCTION,
    uc_tables::FUNCTION,
    uc_query::FUNCTION,
    uc_query_get::FUNCTION,
    model_endpoints_list::FUNCTION,
    model_endpoint_get::FUNCTION,
    model_endpoint_schema::FUNCTION,
    model_invoke::FUNCTION,
    model_logs::FUNCTION,
    preferences_list::FUNCTION,
    preferences_upsert::FUNCTION,
    preferences_delete::FUNCTION,
    queries_list::FUNCTION,
    queries_run::FUNCTION,
    usage_events_create::FUNCTION,
    usage_count::FUNCTION,
    genie_spaces_list::FUNCTION,
    genie_conversations_list::FUNCTION,
    genie_messages_list::FUNCTION,
    genie_message_create::FUNCTION,
    genie_message_result::FUNCTION,
    metrics_performance::FUNCTION,
    metrics_usage::FUNCTION,
    metrics_time_series::FUNCTION,
    files_volumes::FUNCTION,
    files_list::FUNCTION,
    files_download::FUNCTION,
    files_upload::FUNCTION,
    files_delete::FUNCTION,
    files_directory_create::FUNCTION,
];

/// Look a function up by its unique name (`brickbox invoke NAME`).
pub fn by_name(name: &str) -> Option<&'static Function> {
    ALL.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_and_routes_are_unique() {
        let mut names = HashSet::new();
        let mut routes = HashSet::new();
        for f in ALL {
            assert!(names.insert(f.name), "duplicate function name {}", f.name);
            assert!(
                routes.insert((f.method, f.path)),
                "duplicate route {} {}",
                f.method.as_str(),
                f.path
            );
            assert!(
                f.name
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
                "{} is not snake_case",
                f.name
            );
            assert!(!f.summary.is_empty(), "{} has no summary", f.name);
        }
    }

    #[test]
    fn every_schema_is_valid_json() {
        for f in ALL {
            for text in [f.request_body, f.response_body].into_iter().flatten() {
                serde_json::from_str::<serde_json::Value>(text)
                    .unwrap_or_else(|e| panic!("{}: bad schema: {e}", f.name));
            }
            for p in f.query {
                serde_json::from_str::<serde_json::Value>(p.schema)
                    .unwrap_or_else(|e| panic!("{} ?{}: bad schema: {e}", f.name, p.name));
            }
        }
    }

    /// Every `*.rs` module in src/ (but lib.rs and helpers listed here) is registered in ALL.
    #[test]
    fn every_module_is_registered() {
        const NOT_FUNCTIONS: &[&str] = &["lib", "openapi", "common", "metrics_common"];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.extension().is_some_and(|e| e == "rs")
                && !NOT_FUNCTIONS.contains(&stem.as_str())
            {
                let source = std::fs::read_to_string(&path).unwrap();
                let name = source
                    .split("name: \"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_else(|| panic!("{stem}.rs declares no FUNCTION name"));
                assert!(by_name(name).is_some(), "{stem}.rs ({name}) is not in ALL");
            }
        }
    }
}
