//! `brickbox job aggregate-metrics`: roll raw metrics older than 7 days into hourly
//! buckets, apply retention, check the tables' size, print a JSON summary.
//!
//! Everything that touches rows is SQL in `sql/aggregate_*.sql`; this file only sequences the
//! statements in one transaction and never sees a raw row. Exit codes: 0 done (or another run
//! holds the lock), 1 the database is unreachable or not configured, 2 anything else (the
//! transaction is rolled back, so nothing changed).

use serde_json::json;
use shared::config::Config;
use shared::AppState;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

use shared::sql;

const SESSION: &str = sql!("aggregate_session.sql");
const CUTOFF: &str = sql!("aggregate_cutoff.sql");
const REQUESTS: &str = sql!("aggregate_requests.sql");
const EVENTS: &str = sql!("aggregate_events.sql");
const RETENTION: &str = sql!("aggregate_retention.sql");
const SIZES: &str = sql!("aggregate_sizes.sql");

/// Advisory-lock key of the aggregation job ("bbaggreg"), distinct from the migrations' key.
pub const LOCK_KEY: i64 = 0x6262_6167_6772_6567;
/// size check, in rows of the metrics tables.
pub const WARN_ROWS: i64 = 800_000;
pub const ALERT_ROWS: i64 = 1_000_000;
/// How long to wait for a connection before calling the database unreachable.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// The jobs `brickbox job NAME` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobName {
    AggregateMetrics,
    /// Only the summaries refresh that `aggregate-metrics` ends with (and `serve` runs every
    /// minute): for a deployment that turned the server's refresh off, and for tests.
    RefreshMetricsSummaries,
}

impl JobName {
    pub const ALL: &'static str = "aggregate-metrics, refresh-metrics-summaries";
    /// Each job and its command-line name.
    const NAMES: [(JobName, &'static str); 2] = [
        (JobName::AggregateMetrics, "aggregate-metrics"),
        (
            JobName::RefreshMetricsSummaries,
            "refresh-metrics-summaries",
        ),
    ];

    pub fn parse(name: &str) -> Option<JobName> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(job, _)| *job)
    }

    fn label(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(job, _)| *job == self)
            .map_or("job", |(_, n)| n)
    }
}

/// How long a job spends on the summaries before leaving the rest to the server's refresher.
const SUMMARY_BUDGET: Duration = Duration::from_secs(120);

/// Why a run failed, which decides the exit code.
#[derive(Debug)]
pub enum JobError {
    /// Not configured, misconfigured or unreachable: exit 1.
    Database(String),
    /// Anything else (a failing statement): exit 2, after rollback.
    Other(String),
}

impl JobError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            JobError::Database(_) => ExitCode::from(1),
            JobError::Other(_) => ExitCode::from(2),
        }
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Database(m) | JobError::Other(m) => f.write_str(m),
        }
    }
}

fn classify(what: &str, e: tokio_postgres::Error) -> JobError {
    let detail = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => shared::db::pool::error_chain(&e),
    };
    let message = format!("{what} failed: {detail}");
    if shared::db::migrate::is_transient(&e) {
        JobError::Database(message)
    } else {
        JobError::Other(message)
    }
}

/// The size check's verdict on a row total.
#[derive(Debug, PartialEq, Eq)]
pub enum SizeLevel {
    Ok,
    Warn,
    Alert,
}

pub fn size_level(total: i64) -> SizeLevel {
    if total >= ALERT_ROWS {
        SizeLevel::Alert
    } else if total >= WARN_ROWS {
        SizeLevel::Warn
    } else {
        SizeLevel::Ok
    }
}

/// Run the job once: the whole command, from configuration to exit code.
pub fn run(config: Config, job: JobName) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    match runtime.block_on(aggregate(config, job)) {
        Ok(mut summary) => {
            summary["duration_ms"] = json!(started.elapsed().as_millis() as u64);
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("brickbox: {}: {e}", job.label());
            e.exit_code()
        }
    }
}

async fn aggregate(config: Config, job: JobName) -> Result<serde_json::Value, JobError> {
    if !config.lakebase.configured() {
        return Err(JobError::Database(
            "Lakebase is not configured: set PGHOST (or DATABASE_URL) for the job".into(),
        ));
    }
    let app = AppState::new(config);
    if let Some(e) = &app.db_error {
        return Err(JobError::Database(format!("configuration error: {e}")));
    }
    let Some(db) = app.db.clone() else {
        return Err(JobError::Database("Lakebase is not configured".into()));
    };
    // The job may run before any server has started on a fresh database: bring the schema up
    // to date first (idempotent, under the migrations' own advisory lock).
    db.migrate().await.map_err(|e| {
        if e.is_fatal() {
            JobError::Other(e.to_string())
        } else {
            JobError::Database(e.to_string())
        }
    })?;
    let mut client = db
        .get_background(CONNECT_WAIT)
        .await
        .map_err(|e| JobError::Database(format!("cannot connect to the database: {e}")))?;
    if job == JobName::RefreshMetricsSummaries {
        let r = shared::db::summaries::refresh(&mut client, SUMMARY_BUDGET)
            .await
            .map_err(|e| classify("the summaries refresh", e))?;
        return Ok(json!({"status": "ok", "summaries": summaries_json(r)}));
    }
    let mut summary = run_transaction(&mut client).await?;
    // The moved hours' summaries are stale now: rebuild them, so the dashboard stays fast.
    // The aggregation is committed whatever happens here (summaries are only a cache).
    summary["summaries"] = match shared::db::summaries::refresh(&mut client, SUMMARY_BUDGET).await {
        Ok(r) => summaries_json(r),
        Err(e) => {
            log::warn!("aggregate-metrics: the summaries refresh failed (queries compute from the sources until the server's next refresh): {e}");
            json!({"error": e.to_string()})
        }
    };
    let sizes = client
        .query_one(SIZES, &[])
        .await
        .map_err(|e| classify("the size check", e))?;
    let tables = [
        "performance_metrics",
        "usage_events",
        "aggregated_metrics",
        "aggregated_users",
    ];
    let mut total = 0i64;
    let mut rows = serde_json::Map::new();
    for table in tables {
        let n: i64 = sizes.get(table);
        total += n;
        rows.insert(table.to_string(), json!(n));
    }
    match size_level(total) {
        SizeLevel::Alert => log::error!(
            "ALERT: the metrics tables hold {total} rows, at or above the {ALERT_ROWS} threshold: aggregate more often, shorten retention or move to a larger Lakebase instance"
        ),
        SizeLevel::Warn => log::warn!(
            "the metrics tables hold {total} rows, at or above 80% of the {ALERT_ROWS}-row threshold ({WARN_ROWS})"
        ),
        SizeLevel::Ok => {}
    }
    summary["table_rows"] = serde_json::Value::Object(rows);
    summary["total_rows"] = json!(total);
    summary["size_level"] = json!(format!("{:?}", size_level(total)).to_lowercase());
    Ok(summary)
}

fn summaries_json(r: shared::db::summaries::Refreshed) -> serde_json::Value {
    json!({"pruned": r.pruned, "built": r.built, "skipped": r.skipped})
}

/// The aggregation and retention, all or nothing.
async fn run_transaction(client: &mut Client) -> Result<serde_json::Value, JobError> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| classify("BEGIN", e))?;
    tx.batch_execute(SESSION)
        .await
        .map_err(|e| classify("the session settings", e))?;
    let locked: bool = tx
        .query_one(shared::db::sql::ADVISORY_XACT_TRY_LOCK, &[&LOCK_KEY])
        .await
        .map_err(|e| classify("the advisory lock", e))?
        .get("locked");
    if !locked {
        log::info!("aggregate-metrics: another run holds the lock; nothing to do");
        tx.commit().await.map_err(|e| classify("COMMIT", e))?;
        return Ok(json!({"status": "skipped", "lock": "held by another run"}));
    }
    let cutoff: time::OffsetDateTime = tx
        .query_one(CUTOFF, &[])
        .await
        .map_err(|e| classify("the cutoff", e))?
        .get("cutoff");
    let moved = |row: tokio_postgres::Row| {
        json!({
            "rows_aggregated": row.get::<_, i64>("rows_moved"),
            "buckets_inserted": row.get::<_, i64>("buckets_inserted"),
            "buckets_merged": row.get::<_, i64>("buckets_merged"),
            "users_inserted": row.get::<_, i64>("users_inserted"),
        })
    };
    let requests = tx
        .query_one(REQUESTS, &[&cutoff])
        .await
        .map_err(|e| classify("aggregating performance_metrics", e))?;
    let events = tx
        .query_one(EVENTS, &[&cutoff])
        .await
        .map_err(|e| classify("aggregating usage_events", e))?;
    let retention = tx
        .query_one(RETENTION, &[])
        .await
        .map_err(|e| classify("retention", e))?;
    tx.commit().await.map_err(|e| classify("COMMIT", e))?;
    Ok(json!({
        "status": "ok",
        "lock": "acquired",
        "cutoff": shared::util::rfc3339(cutoff),
        "requests": moved(requests),
        "events": moved(events),
        "retention": {
            "aggregated_deleted": retention.get::<_, i64>("aggregated_deleted"),
            "aggregated_users_deleted": retention.get::<_, i64>("users_deleted"),
            "inference_logs_deleted": retention.get::<_, i64>("inference_logs_deleted"),
            "detection_events_deleted": retention.get::<_, i64>("detection_events_deleted"),
            "query_cache_deleted": retention.get::<_, i64>("query_cache_deleted"),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_thresholds() {
        assert_eq!(size_level(799_999), SizeLevel::Ok);
        assert_eq!(size_level(800_000), SizeLevel::Warn);
        assert_eq!(size_level(999_999), SizeLevel::Warn);
        assert_eq!(size_level(1_000_000), SizeLevel::Alert);
    }

    #[test]
    fn job_names() {
        assert_eq!(
            JobName::parse("aggregate-metrics"),
            Some(JobName::AggregateMetrics)
        );
        assert_eq!(JobName::parse("aggregate_metrics"), None);
        assert_eq!(
            JobName::parse("refresh-metrics-summaries"),
            Some(JobName::RefreshMetricsSummaries)
        );
    }
}
