//! `AppState`: what lives for the whole process and every `Ctx` points to.

use crate::config::Config;
use crate::databricks::DatabricksClient;
use crate::db::Database;
use crate::identity::IdentityCache;
use crate::metrics::Metrics;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub struct AppState {
    pub config: Config,
    pub databricks: Arc<DatabricksClient>,
    pub identities: IdentityCache,
    /// Lakebase, when configured (and the configuration is usable).
    pub db: Option<Arc<Database>>,
    /// Why a configured Lakebase is unusable (bad `PGSSLROOTCERT`, `PGPORT`, …): `serve` stops
    /// on it; elsewhere database functions answer 503.
    pub db_error: Option<String>,
    /// Request counters for `/metrics`, and the queue the metrics writer drains.
    pub metrics: Metrics,
    /// The named queries' result cache (in memory without Lakebase) and single-flight table.
    pub query_cache: crate::queries::cache::QueryCache,
    pub started: Instant,
    /// Set once the server serves; `is_ready` also waits for migrations.
    ready: AtomicBool,
    /// Written by the background database check; read by `/health` (never a per-request query).
    lakebase_connected: AtomicU8,
}

const LAKEBASE_UNKNOWN: u8 = 0;
const LAKEBASE_CONNECTED: u8 = 1;
const LAKEBASE_UNAVAILABLE: u8 = 2;

impl AppState {
    pub fn new(config: Config) -> AppState {
        let databricks = Arc::new(DatabricksClient::new(config.databricks_host.clone()));
        let (db, db_error) = match Database::from_config(&config, Arc::clone(&databricks)) {
            Ok(db) => (db.map(Arc::new), None),
            Err(e) => (None, Some(e)),
        };
        AppState {
            config,
            databricks,
            identities: IdentityCache::new(),
            metrics: Metrics::new(db.is_some()),
            query_cache: crate::queries::cache::QueryCache::new(),
            db,
            db_error,
            started: Instant::now(),
            ready: AtomicBool::new(false),
            lakebase_connected: AtomicU8::new(LAKEBASE_UNKNOWN),
        }
    }

    /// Serving, and with Lakebase configured, its migrations applied.
    pub fn is_ready(&self) -> bool {
        let migrated = match &self.db {
            Some(db) => db.is_migrated(),
            None => !self.config.lakebase.configured(),
        };
        self.ready.load(Ordering::Acquire) && migrated
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// `not_configured`, `connected` or `unavailable`, as `/health` reports it. Until the first
    /// background check has answered, a configured database counts as unavailable.
    pub fn lakebase_status(&self) -> &'static str {
        if !self.config.lakebase.configured() {
            return "not_configured";
        }
        match self.lakebase_connected.load(Ordering::Acquire) {
            LAKEBASE_CONNECTED => "connected",
            _ => "unavailable",
        }
    }

    /// Record the outcome of a background database check.
    pub fn set_lakebase_connected(&self, connected: bool) {
        let v = if connected {
            LAKEBASE_CONNECTED
        } else {
            LAKEBASE_UNAVAILABLE
        };
        self.lakebase_connected.store(v, Ordering::Release);
    }
}
