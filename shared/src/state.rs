//! `AppState`: what lives for the whole process and every `Ctx` points to.

use crate::config::Config;
use crate::databricks::DatabricksClient;
use crate::identity::IdentityCache;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub struct AppState {
    pub config: Config,
    pub databricks: Arc<DatabricksClient>,
    pub identities: IdentityCache,
    pub started: Instant,
    /// Set once the server serves (and, with Lakebase, once migrations are applied).
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
        AppState {
            config,
            databricks,
            identities: IdentityCache::new(),
            started: Instant::now(),
            ready: AtomicBool::new(false),
            lakebase_connected: AtomicU8::new(LAKEBASE_UNKNOWN),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
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
