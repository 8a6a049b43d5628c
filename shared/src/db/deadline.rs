//! Statement deadlines for the request path.
//!
//! A request's connection (`Ctx::db()`, `Database::get()`) is a `RequestClient`: it has no way to
//! run a statement without a deadline. Each statement gets `USER_STATEMENT_DEADLINE` (10 s), or
//! what `with_deadline` set (the admin metrics take `ADMIN_STATEMENT_DEADLINE`, 60 s). A
//! statement past its deadline answers 503 `DATABASE_UNAVAILABLE` at once; the statement is
//! cancelled on the server (a cancel request on a connection of its own, in the background, so a
//! frozen server cannot hold the request), and the connection is closed instead of going back to
//! the pool, since its state is unknown.
//!
//! Background work (health checks, migrations, the metrics writer, the aggregation job) uses
//! `PooledClient` directly and keeps its own limits.

use super::pool::{Pool, PooledClient};
use super::{query_error, RETRY_AFTER_SECONDS};
use crate::error::{ApiError, ErrorCode};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{CancelToken, Row, Transaction};

/// Every statement of a user function.
pub const USER_STATEMENT_DEADLINE: Duration = Duration::from_secs(10);
/// Every statement of an admin metrics function (one aggregate over up to 90 days).
pub const ADMIN_STATEMENT_DEADLINE: Duration = Duration::from_secs(60);

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A pooled connection for one request, every statement under a deadline.
pub struct RequestClient {
    client: PooledClient,
    guard: Guard,
}

struct Guard {
    deadline: Duration,
    cancel: CancelToken,
    pool: Arc<Pool>,
    /// A statement ran past its deadline: the connection is closed, not reused.
    timed_out: AtomicBool,
}

impl RequestClient {
    pub(super) fn new(client: PooledClient, pool: Arc<Pool>) -> RequestClient {
        let cancel = client.cancel_token();
        RequestClient {
            client,
            guard: Guard {
                deadline: USER_STATEMENT_DEADLINE,
                cancel,
                pool,
                timed_out: AtomicBool::new(false),
            },
        }
    }

    /// The same connection with another per-statement deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> RequestClient {
        self.guard.deadline = deadline;
        self
    }

    pub fn deadline(&self) -> Duration {
        self.guard.deadline
    }

    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, ApiError> {
        self.guard.run(self.client.query(sql, params)).await
    }

    pub async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, ApiError> {
        self.guard.run(self.client.query_one(sql, params)).await
    }

    pub async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, ApiError> {
        self.guard.run(self.client.execute(sql, params)).await
    }

    /// `BEGIN` (read-only when asked); every statement in it, `COMMIT` included, has the deadline.
    pub async fn transaction(
        &mut self,
        read_only: bool,
    ) -> Result<RequestTransaction<'_>, ApiError> {
        let RequestClient { client, guard } = self;
        let tx = guard
            .run(client.build_transaction().read_only(read_only).start())
            .await?;
        Ok(RequestTransaction { tx, guard })
    }
}

impl Drop for RequestClient {
    fn drop(&mut self) {
        if self.guard.timed_out.load(Ordering::Relaxed) {
            self.client.close_on_drop();
        }
    }
}

/// A transaction on a `RequestClient`; rolled back when dropped without `commit`.
pub struct RequestTransaction<'a> {
    tx: Transaction<'a>,
    guard: &'a Guard,
}

impl RequestTransaction<'_> {
    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, ApiError> {
        self.guard.run(self.tx.query(sql, params)).await
    }

    pub async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, ApiError> {
        self.guard.run(self.tx.query_one(sql, params)).await
    }

    pub async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, ApiError> {
        self.guard.run(self.tx.execute(sql, params)).await
    }

    /// Several statements without parameters, under one deadline.
    pub async fn batch_execute(&self, sql: &str) -> Result<(), ApiError> {
        self.guard.run(self.tx.batch_execute(sql)).await
    }

    pub async fn commit(self) -> Result<(), ApiError> {
        self.guard.run(self.tx.commit()).await
    }
}

impl Guard {
    async fn run<T>(
        &self,
        statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.deadline, statement).await {
            Ok(result) => result.map_err(query_error),
            Err(_) => {
                self.timed_out.store(true, Ordering::Relaxed);
                self.pool.cancel(self.cancel.clone());
                Err(ApiError::new(
                    ErrorCode::DatabaseUnavailable,
                    format!(
                        "The database did not answer within {} s, so the statement was cancelled; retry shortly.",
                        self.deadline.as_secs()
                    ),
                )
                .with_retry_after(RETRY_AFTER_SECONDS)
                .with_internal(format!(
                    "statement deadline of {} ms passed",
                    self.deadline.as_millis()
                )))
            }
        }
    }
}
