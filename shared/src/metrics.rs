//! Request metrics: the in-process Prometheus counters, and the bounded queue
//! plus background batch writer that store every `/api/*` request in `performance_metrics`.
//!
//! The request path only counts (atomics per route template, in a read-locked map of the
//! calling thread's shard, so two cores never write one cache line) and pushes a
//! record onto a `VecDeque` under a mutex held for one `push_back`: no allocation beyond the
//! record, no I/O, no await. The writer drains the queue every `FLUSH_INTERVAL` (sooner when a
//! batch is full) into one `INSERT … SELECT * FROM UNNEST(…)` per batch. A dead database never
//! slows a request: the writer backs off (up to 30 s, cut short when the health check sees the
//! database back) while the queue fills, and past `QUEUE_CAPACITY` new records are dropped and
//! counted. On shutdown what is queued is flushed within a deadline.

use crate::db::{self, Database};
use crate::identity::Identity;
use crate::state::AppState;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;
use tokio::sync::Notify;

/// At most this many records wait in memory (about 150 bytes each): 10 s at 5,000 requests/s.
pub const QUEUE_CAPACITY: usize = 50_000;
/// Rows per INSERT.
pub const BATCH_SIZE: usize = 5_000;
/// The writer flushes at least this often, so a row is visible well within 2 s.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Shutdown flushes for at most this long (exit within 10 s).
pub const SHUTDOWN_FLUSH: Duration = Duration::from_millis(1500);

/// One `/api/*` request, as `performance_metrics` stores it.
pub struct RequestRecord {
    pub timestamp: SystemTime,
    /// The route template, `<unmatched>` for an unknown `/api` path.
    pub endpoint: &'static str,
    pub method: &'static str,
    pub status_code: u16,
    pub response_time_ms: f64,
    /// The resolved caller (an `Arc` clone: no copy of the name on the request path).
    pub user: Option<Arc<Identity>>,
    /// The `error_code` of a response with status ≥ 400.
    pub error_type: Option<&'static str>,
    pub correlation_id: String,
}

/// HTTP methods as bounded label values.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
];
/// `brickbox_http_request_duration_seconds` bucket bounds.
const BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A method as a bounded, static label value.
pub fn method_label(method: &str) -> &'static str {
    METHODS[method_index(method)]
}

fn method_index(method: &str) -> usize {
    METHODS[..7].iter().position(|m| *m == method).unwrap_or(7)
}

/// Counter shards: each thread counts into one (threads beyond this many share), and `/metrics`
/// sums them. One shared set of counters had both cores write the same cache lines, and the
/// lock's reader count, on every request.
const SHARDS: usize = 16;

/// The counters of one shard, by route label. Aligned so two shards' locks never share a line.
#[repr(align(128))]
#[derive(Default)]
struct RouteShard(RwLock<HashMap<&'static str, RouteStats>>);

/// The calling thread's shard, handed out round-robin on a thread's first request.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.try_with(|s| *s).unwrap_or(0)
}

#[derive(Default)]
struct RouteStats {
    /// `[method][status class 1xx..5xx]`.
    requests: [[AtomicU64; 5]; 8],
    buckets: [AtomicU64; 13],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

pub struct Metrics {
    /// Collection into Lakebase is on (Lakebase is configured).
    collecting: bool,
    queue: Mutex<VecDeque<RequestRecord>>,
    /// Records taken by the writer but not yet written (retried after a failure).
    in_writer: AtomicUsize,
    depth: AtomicUsize,
    full_batch: Notify,
    written: AtomicU64,
    dropped: AtomicU64,
    write_errors: AtomicU64,
    routes: Box<[RouteShard]>,
    /// Streamed responses still being written (`brickbox_http_streams_open`).
    streams_open: AtomicUsize,
}

impl Metrics {
    pub fn new(collecting: bool) -> Metrics {
        Metrics {
            collecting,
            queue: Mutex::new(VecDeque::new()),
            in_writer: AtomicUsize::new(0),
            depth: AtomicUsize::new(0),
            full_batch: Notify::new(),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            routes: (0..SHARDS).map(|_| RouteShard::default()).collect(),
            streams_open: AtomicUsize::new(0),
        }
    }

    /// A streamed response started (`true`) or ended (`false`).
    pub fn stream_open(&self, open: bool) {
        if open {
            self.streams_open.fetch_add(1, Ordering::Relaxed);
        } else {
            self.streams_open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn streams_open(&self) -> usize {
        self.streams_open.load(Ordering::Relaxed)
    }

    pub fn is_collecting(&self) -> bool {
        self.collecting
    }

    /// Count one request for Prometheus. `route` is a template or a fixed pseudo-route.
    pub fn observe(&self, route: &'static str, method: &str, status: u16, elapsed: Duration) {
        let m = method_index(method);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let secs = elapsed.as_secs_f64();
        let record = |stats: &RouteStats| {
            stats.requests[m][class].fetch_add(1, Ordering::Relaxed);
            if let Some(b) = BUCKETS.iter().position(|bound| secs <= *bound) {
                stats.buckets[b].fetch_add(1, Ordering::Relaxed);
            }
            stats.count.fetch_add(1, Ordering::Relaxed);
            stats
                .sum_micros
                .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        };
        let shard = &self.routes[shard_index()].0;
        if let Ok(routes) = shard.read() {
            if let Some(stats) = routes.get(route) {
                record(stats);
                return;
            }
        }
        // First request on this route in this shard: insert under the write lock.
        if let Ok(mut routes) = shard.write() {
            record(routes.entry(route).or_default());
        }
    }

    /// Every route's counters, summed over the shards, by route label.
    fn route_snapshots(&self) -> Vec<RouteSnapshot> {
        let mut all: Vec<RouteSnapshot> = Vec::new();
        for shard in self.routes.iter() {
            let Ok(routes) = shard.0.read() else {
                continue;
            };
            all.extend(routes.iter().map(|(route, s)| {
                let requests = std::array::from_fn(|i| {
                    std::array::from_fn(|j| s.requests[i][j].load(Ordering::Relaxed))
                });
                let buckets = std::array::from_fn(|i| s.buckets[i].load(Ordering::Relaxed));
                let (count, sum) = (&s.count, &s.sum_micros);
                (
                    *route,
                    requests,
                    buckets,
                    count.load(Ordering::Relaxed),
                    sum.load(Ordering::Relaxed),
                )
            }));
        }
        all.sort_by_key(|r| r.0);
        // One row per route: add each shard's row into the first of its route.
        let mut sums: Vec<RouteSnapshot> = Vec::with_capacity(all.len());
        for row in all {
            match sums.last_mut() {
                Some(sum) if sum.0 == row.0 => {
                    for (by_class, more) in sum.1.iter_mut().zip(&row.1) {
                        for (n, m) in by_class.iter_mut().zip(more) {
                            *n += m;
                        }
                    }
                    for (n, m) in sum.2.iter_mut().zip(&row.2) {
                        *n += m;
                    }
                    sum.3 += row.3;
                    sum.4 += row.4;
                }
                _ => sums.push(row),
            }
        }
        sums
    }

    /// Queue one record for Lakebase (a no-op when collection is off). Never blocks on I/O.
    pub fn enqueue(&self, record: RequestRecord) {
        if !self.collecting {
            return;
        }
        let len = match self.queue.lock() {
            Ok(mut queue) if queue.len() < QUEUE_CAPACITY => {
                queue.push_back(record);
                queue.len()
            }
            _ => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        self.depth.store(len, Ordering::Relaxed);
        if len == BATCH_SIZE {
            self.full_batch.notify_one();
        }
    }

    /// Records waiting to be written (queued plus held by the writer).
    pub fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed) + self.in_writer.load(Ordering::Relaxed)
    }

    /// `(rows written, rows dropped, failed batch writes)` since start.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.written.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
            self.write_errors.load(Ordering::Relaxed),
        )
    }

    fn take_batch(&self, into: &mut Vec<RequestRecord>) {
        if let Ok(mut queue) = self.queue.lock() {
            let n = queue.len().min(BATCH_SIZE - into.len().min(BATCH_SIZE));
            into.extend(queue.drain(..n));
            self.depth.store(queue.len(), Ordering::Relaxed);
        }
        self.in_writer.store(into.len(), Ordering::Relaxed);
    }
}

/// Write one batch in one statement.
async fn write_batch(db: &Database, batch: &[RequestRecord]) -> Result<u64, String> {
    let client = db
        .get_background(db::BACKGROUND_ACQUIRE_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let n = batch.len();
    let mut timestamp = Vec::with_capacity(n);
    let mut endpoint = Vec::with_capacity(n);
    let mut method = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut response_ms = Vec::with_capacity(n);
    let mut user = Vec::with_capacity(n);
    let mut error = Vec::with_capacity(n);
    let mut correlation = Vec::with_capacity(n);
    for r in batch {
        timestamp.push(OffsetDateTime::from(r.timestamp));
        endpoint.push(r.endpoint);
        method.push(r.method);
        status.push(i32::from(r.status_code));
        response_ms.push(r.response_time_ms);
        user.push(r.user.as_ref().map(|u| u.user_name.as_str()));
        error.push(r.error_type);
        correlation.push(r.correlation_id.as_str());
    }
    let result = client
        .execute(
            db::sql::PERFORMANCE_METRICS_INSERT,
            &[
                &timestamp,
                &endpoint,
                &method,
                &status,
                &response_ms,
                &user,
                &error,
                &correlation,
            ],
        )
        .await;
    match result {
        Ok(rows) => Ok(rows),
        Err(e) => {
            if e.is_closed() {
                client.discard();
            }
            Err(db::pool::error_chain(&e))
        }
    }
}

/// The background writer. Runs until `stop` resolves, then flushes within `SHUTDOWN_FLUSH`.
pub async fn run_writer(app: Arc<AppState>, stop: tokio::sync::oneshot::Receiver<()>) {
    let Some(db) = app.db.clone() else { return };
    let metrics = &app.metrics;
    let mut stop = stop;
    let mut batch: Vec<RequestRecord> = Vec::with_capacity(BATCH_SIZE);
    let mut backoff = Duration::ZERO;
    loop {
        let wait = backoff.max(FLUSH_INTERVAL);
        let stopping = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = metrics.full_batch.notified(), if backoff.is_zero() => false,
            _ = db.recovered(), if !backoff.is_zero() => false,
            _ = &mut stop => true,
        };
        if stopping {
            break;
        }
        if !db.is_migrated() {
            continue;
        }
        // Drain everything there is, one batch at a time.
        loop {
            metrics.take_batch(&mut batch);
            if batch.is_empty() {
                backoff = Duration::ZERO;
                break;
            }
            match write_batch(&db, &batch).await {
                Ok(rows) => {
                    metrics.written.fetch_add(rows, Ordering::Relaxed);
                    batch.clear();
                    metrics.in_writer.store(0, Ordering::Relaxed);
                    backoff = Duration::ZERO;
                }
                Err(e) => {
                    metrics.write_errors.fetch_add(1, Ordering::Relaxed);
                    backoff = (backoff * 2)
                        .max(Duration::from_millis(250))
                        .min(MAX_BACKOFF);
                    log::warn!(
                        "metrics: writing {} rows failed ({e}); {} queued, retrying in {} ms",
                        batch.len(),
                        metrics.queue_depth(),
                        backoff.as_millis()
                    );
                    break;
                }
            }
        }
    }
    // Shutdown: flush what is queued, within the deadline.
    let flush = async {
        loop {
            metrics.take_batch(&mut batch);
            if batch.is_empty() {
                return;
            }
            match write_batch(&db, &batch).await {
                Ok(rows) => {
                    metrics.written.fetch_add(rows, Ordering::Relaxed);
                    batch.clear();
                    metrics.in_writer.store(0, Ordering::Relaxed);
                }
                Err(e) => {
                    log::warn!("metrics: flush on shutdown failed: {e}");
                    return;
                }
            }
        }
    };
    if tokio::time::timeout(SHUTDOWN_FLUSH, flush).await.is_err() {
        log::warn!("metrics: flush on shutdown ran out of time");
    }
    let left = metrics.queue_depth();
    if left > 0 {
        log::warn!("metrics: {left} request records were not written before shutdown");
    }
}

/// `(route, requests[method][class], buckets, count, sum in µs)`: a route's counters.
type RouteSnapshot = (&'static str, [[u64; 5]; 8], [u64; 13], u64, u64);

/// The Prometheus text exposition (format 0.0.4) of everything `/metrics` shows.
pub fn render(app: &AppState) -> String {
    let m = &app.metrics;
    let mut out = String::with_capacity(8 * 1024);
    let routes = m.route_snapshots();

    out.push_str("# HELP brickbox_http_requests_total HTTP requests served, by route template, method and status class.\n# TYPE brickbox_http_requests_total counter\n");
    for (route, requests, _, _, _) in &routes {
        for (mi, by_class) in requests.iter().enumerate() {
            for (ci, n) in by_class.iter().enumerate() {
                if *n > 0 {
                    let _ = writeln!(
                        out,
                        "brickbox_http_requests_total{{route=\"{}\",method=\"{}\",status_class=\"{}xx\"}} {n}",
                        escape(route),
                        METHODS[mi],
                        ci + 1
                    );
                }
            }
        }
    }
    out.push_str("# HELP brickbox_http_request_duration_seconds Time from request to response, by route template.\n# TYPE brickbox_http_request_duration_seconds histogram\n");
    for (route, _, buckets, count, sum_micros) in &routes {
        let route = escape(route);
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += buckets[i];
            let _ = writeln!(
                out,
                "brickbox_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "brickbox_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}\nbrickbox_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\nbrickbox_http_request_duration_seconds_count{{route=\"{route}\"}} {count}",
            *sum_micros as f64 / 1e6
        );
    }
    let (written, dropped, errors) = m.counts();
    let _ = write!(
        out,
        "# HELP brickbox_metrics_collection_enabled 1 when requests are stored in Lakebase.\n# TYPE brickbox_metrics_collection_enabled gauge\nbrickbox_metrics_collection_enabled {}\n\
         # HELP brickbox_metrics_queue_depth Request records waiting to be written to Lakebase.\n# TYPE brickbox_metrics_queue_depth gauge\nbrickbox_metrics_queue_depth {}\n\
         # HELP brickbox_metrics_queue_capacity Records the queue holds before it drops new ones.\n# TYPE brickbox_metrics_queue_capacity gauge\nbrickbox_metrics_queue_capacity {QUEUE_CAPACITY}\n\
         # HELP brickbox_metrics_rows_written_total Request records written to performance_metrics.\n# TYPE brickbox_metrics_rows_written_total counter\nbrickbox_metrics_rows_written_total {written}\n\
         # HELP brickbox_metrics_rows_dropped_total Request records dropped because the queue was full.\n# TYPE brickbox_metrics_rows_dropped_total counter\nbrickbox_metrics_rows_dropped_total {dropped}\n\
         # HELP brickbox_metrics_write_errors_total Batch writes that failed (and were retried).\n# TYPE brickbox_metrics_write_errors_total counter\nbrickbox_metrics_write_errors_total {errors}\n",
        u8::from(m.collecting),
        m.queue_depth(),
    );
    let _ = write!(
        out,
        "# HELP brickbox_http_streams_open Streamed responses (SSE or bytes) still being written.\n# TYPE brickbox_http_streams_open gauge\nbrickbox_http_streams_open {}\n",
        m.streams_open()
    );
    let stats = app.db.as_ref().map(|d| d.stats()).unwrap_or_default();
    let _ = write!(
        out,
        "# HELP brickbox_db_pool_connections Lakebase pool connections by state.\n# TYPE brickbox_db_pool_connections gauge\nbrickbox_db_pool_connections{{state=\"idle\"}} {}\nbrickbox_db_pool_connections{{state=\"in_use\"}} {}\nbrickbox_db_pool_connections{{state=\"max\"}} {}\n",
        stats.idle, stats.in_use, stats.max
    );
    let _ = write!(
        out,
        "# HELP brickbox_lakebase_up 1 when the background check reaches Lakebase.\n# TYPE brickbox_lakebase_up gauge\nbrickbox_lakebase_up {}\n",
        u8::from(app.lakebase_status() == "connected")
    );
    if let Some(db) = &app.db {
        let (oauth, mints) = db.credentials().counts();
        let _ = write!(
            out,
            "# HELP brickbox_db_credential_requests_total Workspace calls made for database passwords.\n# TYPE brickbox_db_credential_requests_total counter\nbrickbox_db_credential_requests_total{{kind=\"oauth_token\"}} {oauth}\nbrickbox_db_credential_requests_total{{kind=\"database_credential\"}} {mints}\n"
        );
    }
    let (hits, misses) = app.identities.stats();
    let _ = write!(
        out,
        "# HELP brickbox_identity_cache_total OBO identity lookups by cache result.\n# TYPE brickbox_identity_cache_total counter\nbrickbox_identity_cache_total{{result=\"hit\"}} {hits}\nbrickbox_identity_cache_total{{result=\"miss\"}} {misses}\n"
    );
    out.push_str("# HELP brickbox_upstream_requests_total Calls to the Databricks REST API by service and outcome.\n# TYPE brickbox_upstream_requests_total counter\n");
    for ((service, outcome), n) in app.databricks.counts() {
        let _ = writeln!(
            out,
            "brickbox_upstream_requests_total{{service=\"{}\",outcome=\"{}\"}} {n}",
            escape(service),
            escape(outcome)
        );
    }
    out
}

/// Label-value escaping of the text format: backslash, double quote, newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cid: &str) -> RequestRecord {
        RequestRecord {
            timestamp: SystemTime::now(),
            endpoint: "/api/x",
            method: "GET",
            status_code: 200,
            response_time_ms: 1.0,
            user: None,
            error_type: None,
            correlation_id: cid.into(),
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_collection_off_stores_nothing() {
        let m = Metrics::new(true);
        for i in 0..QUEUE_CAPACITY + 3 {
            m.enqueue(record(&i.to_string()));
        }
        assert_eq!(m.queue_depth(), QUEUE_CAPACITY);
        assert_eq!(m.counts().1, 3);
        let mut batch = Vec::new();
        m.take_batch(&mut batch);
        assert_eq!(batch.len(), BATCH_SIZE);
        assert_eq!(batch[0].correlation_id, "0", "oldest first");
        assert_eq!(m.queue_depth(), QUEUE_CAPACITY);

        let off = Metrics::new(false);
        off.enqueue(record("a"));
        assert_eq!((off.queue_depth(), off.counts().1), (0, 0));
    }

    #[test]
    fn histograms_and_counters_use_bounded_labels() {
        let m = Metrics::new(false);
        m.observe("/api/x", "GET", 200, Duration::from_micros(700));
        m.observe("/api/x", "GET", 503, Duration::from_millis(30));
        m.observe("/api/x", "BREW", 404, Duration::from_secs(60));
        assert_eq!(method_label("BREW"), "OTHER");
        let routes = m.route_snapshots();
        let (route, requests, buckets, count, _) = &routes[0];
        assert_eq!((routes.len(), *route), (1, "/api/x"));
        assert_eq!(requests[0][1], 1);
        assert_eq!(requests[0][4], 1);
        assert_eq!(requests[7][3], 1);
        assert_eq!(buckets[1], 1, "0.7 ms ≤ 1 ms");
        assert_eq!(*count, 3);
    }

    #[test]
    fn counts_from_many_threads_are_summed_over_the_shards() {
        let m = Arc::new(Metrics::new(false));
        let threads: Vec<_> = (0..(SHARDS + 3))
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        m.observe("/api/a", "GET", 200, Duration::from_micros(300));
                        m.observe("/api/b", "POST", 500, Duration::from_millis(2));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let routes = m.route_snapshots();
        let n = 100 * (SHARDS as u64 + 3);
        assert_eq!(routes.len(), 2);
        let (a, b) = (&routes[0], &routes[1]);
        assert_eq!(
            (a.0, a.1[0][1], a.2[0], a.3, a.4),
            ("/api/a", n, n, n, 300 * n)
        );
        assert_eq!(
            (b.0, b.1[2][4], b.2[2], b.3, b.4),
            ("/api/b", n, n, n, 2_000 * n)
        );
    }
}
