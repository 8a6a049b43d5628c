//! The metrics summaries (`sql/migrations/0003_summaries.sql`): whole past hours and days,
//! summarised once so that the admin metrics queries read a few hundred rows instead of every
//! raw row of their range. They are a cache: a query uses a summary only while its hours are
//! unchanged (versions bumped by triggers) and computes everything else from the sources, so a
//! summary that is missing or stale costs time, never correctness.
//!
//! `refresh` prunes stale summaries and builds the missing ones in small batches, each a
//! REPEATABLE READ transaction (prune and build see one snapshot) under a non-waiting advisory
//! lock, so two replicas never build the same span.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, IsolationLevel};

use super::sql;

/// Advisory-lock key of the summary builder ("bbsummar").
pub const LOCK_KEY: i64 = 0x6262_7375_6d6d_6172;
/// Spans built per statement: small enough to keep each transaction short (a raw day is
/// about one statement of hours).
const HOURS_PER_BATCH: i32 = 24;
const DAYS_PER_BATCH: i32 = 2;
/// How often the server refreshes when `METRICS_SUMMARY_REFRESH_SECONDS` is not set.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// What one refresh did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Refreshed {
    /// Stale or unwanted spans deleted.
    pub pruned: i64,
    /// Spans built.
    pub built: i64,
    /// Another builder held the lock: nothing was done.
    pub skipped: bool,
}

/// Prune, then build batches until every wanted span has a summary or `budget` is spent.
pub async fn refresh(
    client: &mut Client,
    budget: Duration,
) -> Result<Refreshed, tokio_postgres::Error> {
    let started = Instant::now();
    let mut total = Refreshed::default();
    let mut first = true;
    loop {
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .start()
            .await?;
        tx.batch_execute(sql::METRICS_SESSION).await?;
        let locked: bool = tx
            .query_one(sql::ADVISORY_XACT_TRY_LOCK, &[&LOCK_KEY])
            .await?
            .get(0);
        if !locked {
            tx.commit().await?;
            total.skipped = true;
            return Ok(total);
        }
        if std::mem::take(&mut first) {
            total.pruned = tx.query_one(sql::SUMMARIES_PRUNE, &[]).await?.get("pruned");
        }
        let mut built = 0i64;
        for (span_hours, batch) in [(24i32, DAYS_PER_BATCH), (1, HOURS_PER_BATCH)] {
            let n: i64 = tx
                .query_one(sql::SUMMARIES_BUILD, &[&span_hours, &batch])
                .await?
                .get("built");
            built += n;
        }
        tx.commit().await?;
        total.built += built;
        if built == 0 || started.elapsed() >= budget {
            return Ok(total);
        }
    }
}

/// The server's refresher: as soon as the schema is migrated, then every `every`; failures
/// are logged and retried at the next tick (queries compute from the sources meanwhile).
pub async fn run_refresher(app: Arc<crate::AppState>, every: Duration) {
    let Some(db) = app.db.clone() else { return };
    while !db.is_migrated() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            tokio::time::sleep(every).await;
        }
        let mut client = match db.get_background(Duration::from_secs(5)).await {
            Ok(c) => c,
            Err(e) => {
                log::debug!("metrics summaries: no connection ({e})");
                continue;
            }
        };
        let started = Instant::now();
        match refresh(&mut client, every / 2).await {
            Ok(r) if r.built > 0 || r.pruned > 0 => log::info!(
                "metrics summaries: built {} and pruned {} spans in {} ms",
                r.built,
                r.pruned,
                started.elapsed().as_millis()
            ),
            Ok(_) => {}
            Err(e) => log::warn!("metrics summaries: refresh failed: {e}"),
        }
    }
}
