//! Lakebase (Databricks-managed Postgres): the pool, credentials, TLS, migrations and the
//! background health check.
//!
//! Layout:
//! * `settings`    — host, user, database, TLS mode and the password source, from `Config`.
//! * `credentials` — static, minted (Lakebase credential APIs) or OAuth M2M passwords, cached.
//! * `tls`         — rustls for tokio-postgres, public roots plus `PGSSLROOTCERT`.
//! * `pool`        — at most 20 connections, 5 s acquire deadline, 45-minute recycling, TCP
//!   keepalive.
//! * `deadline`    — a request's connection: every statement under a deadline (10 s, 60 s for
//!   admin metrics), cancelled on the server when it passes.
//! * `migrate`     — numbered migrations under an advisory lock, checksummed.
//! * `sql`         — every statement, embedded from `sql/`.
//! * `logs`        — inserts and reads of the model-serving tables, for the functions that own
//!   them.
//!
//! `Database` is what `AppState` holds. Functions get a connection through `Ctx::db()`, which
//! turns every failure into the right 503 (`DATABASE_UNAVAILABLE` with `retry_after`) and
//! gives every statement a deadline.

pub mod credentials;
pub mod deadline;
pub mod logs;
pub mod migrate;
pub mod pool;
pub mod settings;
pub mod sql;
pub mod summaries;
pub mod tls;

use crate::config::Config;
use crate::databricks::DatabricksClient;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
pub use deadline::{
    RequestClient, RequestTransaction, ADMIN_STATEMENT_DEADLINE, USER_STATEMENT_DEADLINE,
};
pub use pool::{PoolError, PoolStats, PooledClient};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a request waits for a connection before 503 `DATABASE_UNAVAILABLE`.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Background work (checks, migrations, the metrics writer) may wait longer.
pub const BACKGROUND_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// The health check runs this often while the database answers (at least every 5 s)…
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// …and this often while it does not, so a recovery shows (and unblocks requests) quickly.
pub const CHECK_INTERVAL_DOWN: Duration = Duration::from_secs(1);
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// `retry_after` (seconds) on 503 `DATABASE_UNAVAILABLE`.
pub const RETRY_AFTER_SECONDS: u64 = 5;

pub struct Database {
    pool: Arc<pool::Pool>,
    migrated: AtomicBool,
}

impl Database {
    /// `Ok(None)` when Lakebase is not configured; `Err` for a configuration that cannot work
    /// (the message names the variable).
    pub fn from_config(
        config: &Config,
        client: Arc<DatabricksClient>,
    ) -> Result<Option<Database>, String> {
        let Some(settings) = settings::ConnectSettings::from_config(config)? else {
            return Ok(None);
        };
        let credentials = credentials::Credentials::new(settings.password.clone(), config, client);
        let pool = pool::Pool::new(settings, credentials, pool::DEFAULT_MAX_CONNECTIONS)?;
        Ok(Some(Database {
            pool: Arc::new(pool),
            migrated: AtomicBool::new(false),
        }))
    }

    /// `user@host:port/db (TLS)`, for the startup line.
    pub fn describe(&self) -> String {
        self.pool.settings().describe()
    }

    pub fn stats(&self) -> PoolStats {
        self.pool.stats()
    }

    pub fn credentials(&self) -> &credentials::Credentials {
        self.pool.credentials()
    }

    pub fn is_migrated(&self) -> bool {
        self.migrated.load(Ordering::Acquire)
    }

    /// A connection for a request: 503 at once while the database is known to be down or the
    /// schema is not migrated yet, else within `ACQUIRE_TIMEOUT`. Each of its statements has
    /// `USER_STATEMENT_DEADLINE` unless the caller sets another (`RequestClient::with_deadline`).
    pub async fn get(&self) -> Result<RequestClient, ApiError> {
        if !self.is_migrated() {
            return Err(ApiError::new(
                ErrorCode::DatabaseUnavailable,
                "The database is not ready yet (its schema is being prepared); retry shortly.",
            )
            .with_retry_after(RETRY_AFTER_SECONDS));
        }
        let client = self
            .pool
            .get(ACQUIRE_TIMEOUT, true)
            .await
            .map_err(pool_error)?;
        Ok(RequestClient::new(client, Arc::clone(&self.pool)))
    }

    /// A connection for background work: ignores the down flag (it is how recovery is found).
    pub async fn get_background(&self, wait: Duration) -> Result<PooledClient, PoolError> {
        self.pool.get(wait, false).await
    }

    /// Resolves when a check or a connect finds the database reachable after an outage.
    pub async fn recovered(&self) {
        self.pool.recovered().await
    }

    /// One health check: `SELECT 1` on a pooled connection; a broken idle connection gets one
    /// more try on a fresh one, so a restarted database shows as connected at once.
    pub async fn check(&self) -> bool {
        for _ in 0..2 {
            let client = match self.pool.get(CHECK_TIMEOUT, false).await {
                Ok(c) => c,
                Err(e) => {
                    log::debug!("database check: {e}");
                    self.pool.set_down(true);
                    return false;
                }
            };
            match tokio::time::timeout(CHECK_TIMEOUT, client.query_one(sql::HEALTH_CHECK, &[]))
                .await
            {
                Ok(Ok(_)) => {
                    self.pool.set_down(false);
                    return true;
                }
                Ok(Err(e)) => log::debug!("database check query failed: {e}"),
                Err(_) => {
                    // No answer is not a broken connection: the server (or the path to it) is
                    // frozen, and a fresh connection would only wait as long again.
                    log::debug!("database check query timed out");
                    client.discard();
                    self.pool.clear_idle();
                    break;
                }
            }
            client.discard();
            // Whatever broke this connection broke its idle siblings too.
            self.pool.clear_idle();
        }
        self.pool.set_down(true);
        false
    }

    /// Apply the migrations of `sql::MIGRATIONS` and mark the schema ready.
    pub async fn migrate(&self) -> Result<Vec<&'static str>, migrate::MigrateError> {
        let mut client = self
            .get_background(BACKGROUND_ACQUIRE_TIMEOUT)
            .await
            .map_err(|e| migrate::MigrateError::Unavailable(e.to_string()))?;
        let applied = migrate::apply(&mut client, sql::MIGRATIONS).await?;
        self.migrated.store(true, Ordering::Release);
        Ok(applied)
    }
}

fn pool_error(e: PoolError) -> ApiError {
    let message = match e {
        PoolError::Timeout => "All database connections are busy; retry shortly.",
        PoolError::Down | PoolError::Connect(_) => {
            "The database is unavailable right now; retry later."
        }
    };
    ApiError::new(ErrorCode::DatabaseUnavailable, message)
        .with_retry_after(RETRY_AFTER_SECONDS)
        .with_internal(e.to_string())
}

/// Map a query error: losing the database is 503 `DATABASE_UNAVAILABLE`, anything else is a
/// bug on our side (500, detail logged).
pub fn query_error(e: tokio_postgres::Error) -> ApiError {
    if migrate::is_transient(&e) {
        ApiError::new(
            ErrorCode::DatabaseUnavailable,
            "The database is unavailable right now; retry later.",
        )
        .with_retry_after(RETRY_AFTER_SECONDS)
        .with_internal(e.to_string())
    } else {
        let detail = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        ApiError::internal(format!("database query failed: {detail}"))
    }
}

/// The background health check: feeds `/health` (never a per-request query) and the pool's
/// fail-fast flag. Runs for the life of the process.
pub async fn run_health_checks(app: Arc<AppState>) {
    let Some(db) = app.db.clone() else { return };
    let mut was: Option<bool> = None;
    loop {
        let ok = db.check().await;
        app.set_lakebase_connected(ok);
        if was != Some(ok) {
            if ok {
                log::info!("lakebase: connected to {}", db.describe());
            } else {
                log::warn!("lakebase: unavailable ({})", db.describe());
            }
            was = Some(ok);
        }
        tokio::time::sleep(if ok {
            CHECK_INTERVAL
        } else {
            CHECK_INTERVAL_DOWN
        })
        .await;
    }
}

/// Apply migrations in the background, retrying while the database is unreachable. Returns
/// `Err` only for a fatal problem (an edited or failing migration), which must stop startup.
pub async fn run_migrations(app: Arc<AppState>) -> Result<(), String> {
    let Some(db) = app.db.clone() else {
        return Ok(());
    };
    let mut delay = Duration::from_millis(500);
    loop {
        match db.migrate().await {
            Ok(applied) => {
                if applied.is_empty() {
                    log::info!("lakebase: schema up to date");
                } else {
                    log::info!("lakebase: applied migrations {}", applied.join(", "));
                }
                return Ok(());
            }
            Err(e) if e.is_fatal() => return Err(e.to_string()),
            Err(e) => {
                log::warn!("lakebase: {e}; retrying in {} ms", delay.as_millis());
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = db.recovered() => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}
