//! Every SQL statement brickbox runs, embedded from `sql/` (one statement per file, each with a
//! header comment listing its parameters and result columns).

use crate::sql;

/// Migrations are embedded verbatim: their text is checksummed into `schema_migrations`.
macro_rules! migration {
    ($file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/", $file))
    };
}

pub const HEALTH_CHECK: &str = sql!("health_check.sql");
pub const SCHEMA_MIGRATIONS_QUIET: &str = sql!("schema_migrations_quiet.sql");
pub const SCHEMA_MIGRATIONS_LOCK: &str = sql!("schema_migrations_lock.sql");
pub const SCHEMA_MIGRATIONS_CREATE: &str = sql!("schema_migrations_create.sql");
pub const SCHEMA_MIGRATIONS_LIST: &str = sql!("schema_migrations_list.sql");
pub const SCHEMA_MIGRATIONS_INSERT: &str = sql!("schema_migrations_insert.sql");
pub const PREFERENCES_LIST: &str = sql!("preferences_list.sql");
pub const PREFERENCES_UPSERT: &str = sql!("preferences_upsert.sql");
pub const PREFERENCES_DELETE: &str = sql!("preferences_delete.sql");
pub const USAGE_EVENTS_INSERT: &str = sql!("usage_events_insert.sql");
pub const USAGE_COUNT: &str = sql!("usage_count.sql");
pub const PERFORMANCE_METRICS_INSERT: &str = sql!("performance_metrics_insert.sql");
pub const INFERENCE_LOG_INSERT: &str = sql!("inference_log_insert.sql");
pub const INFERENCE_LOGS_LIST: &str = sql!("inference_logs_list.sql");
pub const INFERENCE_LOGS_COUNT: &str = sql!("inference_logs_count.sql");
pub const SCHEMA_DETECTION_INSERT: &str = sql!("schema_detection_insert.sql");
pub const METRICS_SESSION: &str = sql!("metrics_session.sql");
pub const ADVISORY_XACT_TRY_LOCK: &str = sql!("advisory_xact_try_lock.sql");
pub const SUMMARIES_PRUNE: &str = sql!("summaries_prune.sql");
pub const SUMMARIES_BUILD: &str = sql!("summaries_build.sql");
pub const QUERY_CACHE_GET: &str = sql!("query_cache_get.sql");
pub const QUERY_CACHE_PUT: &str = sql!("query_cache_put.sql");

/// The schema migrations, in order. A new migration is a new file in `sql/migrations/` and one
/// line here; an applied migration is never edited (its checksum is recorded).
pub const MIGRATIONS: &[super::migrate::Migration] = &[
    super::migrate::Migration {
        version: 1,
        name: "0001_initial.sql",
        sql: migration!("migrations/0001_initial.sql"),
    },
    // The aggregation tables (issue 4).
    super::migrate::Migration {
        version: 2,
        name: "0002_aggregation.sql",
        sql: migration!("migrations/0002_aggregation.sql"),
    },
    // The metrics summaries and their hour versions (issue 4's query speed).
    super::migrate::Migration {
        version: 3,
        name: "0003_summaries.sql",
        sql: migration!("migrations/0003_summaries.sql"),
    },
    // The named queries' result cache (issue 15).
    super::migrate::Migration {
        version: 4,
        name: "0004_query_cache.sql",
        sql: migration!("migrations/0004_query_cache.sql"),
    },
];
