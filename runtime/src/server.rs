//! The accept loop: HTTP/1.1 and h2c (prior knowledge) on one port, a connection cap, a header
//! read timeout, and graceful shutdown that lets in-flight requests finish.
//!
//! `run` takes an already bound listener and a shutdown future, so tests bind port 0 and
//! production binds the configured address.

use crate::body::ResponseBody;
use crate::http::Service;
use crate::router::Router;
use crate::static_files::StaticFiles;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use shared::AppState;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Open connections beyond this wait in the kernel's accept backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// A client has this long to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// An HTTP/2 connection with no open stream for this long is closed (pings do not count).
pub const HTTP2_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// In-flight requests get this long after the shutdown signal: the streams' own grace period
/// (`body::STREAM_SHUTDOWN_GRACE`, after which they send their error event and end) and a moment
/// to write that event. With the metrics flush after it, the process exits within 10 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(8300);

/// Build the HTTP service: the route table from the registry, and the static dir.
pub fn service(app: Arc<AppState>) -> Result<Arc<Service>, String> {
    service_with(app, functions::ALL)
}

/// `service` over any function list (tests add functions that panic or need admins).
pub fn service_with(
    app: Arc<AppState>,
    registry: &'static [shared::Function],
) -> Result<Arc<Service>, String> {
    let router = Router::new(registry)?;
    let static_dir = StaticFiles::locate(app.config.static_dir.as_deref());
    Ok(Arc::new(Service {
        app,
        router,
        static_files: StaticFiles::new(static_dir),
        body_bytes_in_flight: std::sync::atomic::AtomicU64::new(0),
        shutting_down: tokio::sync::watch::Sender::new(false),
    }))
}

pub async fn run(listener: TcpListener, service: Arc<Service>, shutdown: impl Future<Output = ()>) {
    // No `header_read_timeout` here: `HeadWait` below enforces the same rule more cheaply.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = Arc::clone(&service);
        let wait = Arc::new(HeadWait::new());
        let serving = Arc::clone(&wait);
        let handler = Arc::clone(&service);
        let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let request = serving.begin(req.version());
            let response = Arc::clone(&handler).handle(peer, req);
            async move {
                let mut response = response.await;
                // A stream is in flight until its body ends, not when its head is sent.
                match response.as_mut().map(|r| r.body_mut()) {
                    Ok(ResponseBody::Stream(stream)) => stream.in_flight = Some(Box::new(request)),
                    _ => drop(request),
                }
                response
            }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), svc)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            tokio::select! {
                ended = conn => if let Err(e) = ended {
                    log::debug!("connection from {peer} ended: {e}");
                },
                _ = wait.expired() => log::debug!(
                    "connection from {peer} closed: no request head within {} s",
                    HEADER_READ_TIMEOUT.as_secs()
                ),
            }
            drop(permit);
        });
    }

    drop(listener);
    service.shutting_down.send_replace(true);
    log::info!("shutting down: no new connections, waiting for in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => log::info!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => log::warn!("shutdown grace period over; closing remaining connections"),
    }
}

/// The header-read timeout, one timer per connection: an HTTP/1 connection that has waited
/// `HEADER_READ_TIMEOUT` for a request head — since it opened, or since its last response ended
/// — with no request in flight is closed (slow-header clients, idle keep-alive). An HTTP/2
/// connection is closed after `HTTP2_IDLE_TIMEOUT` with no open stream (its pings do not count).
/// hyper's own `header_read_timeout` does the same with a new boxed timer registered and
/// dropped for every request, about 1.5 % of a `/health` request's CPU; this costs a clock read
/// and two atomic operations per request. A streamed response is in flight until its body ends.
struct HeadWait {
    opened: Instant,
    /// When the connection began waiting for a head, in ms after `opened` (valid while
    /// `in_flight` is 0).
    waiting_since_ms: AtomicU64,
    in_flight: AtomicUsize,
    http2: AtomicBool,
}

/// One request of a connection, from its head to its response; dropping it ends the request.
struct InFlight(Arc<HeadWait>);

impl HeadWait {
    fn new() -> HeadWait {
        HeadWait {
            opened: Instant::now(),
            waiting_since_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            http2: AtomicBool::new(false),
        }
    }

    fn begin(self: &Arc<Self>, version: hyper::Version) -> InFlight {
        if version == hyper::Version::HTTP_2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(self))
    }

    /// Since when the connection has been waiting for a head, if it is.
    fn waiting_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let ms = self.waiting_since_ms.load(Ordering::SeqCst);
        Some(self.opened + Duration::from_millis(ms))
    }

    /// Resolves once the connection has waited too long for a request.
    async fn expired(&self) {
        loop {
            let now = Instant::now();
            let limit = if self.http2.load(Ordering::Relaxed) {
                HTTP2_IDLE_TIMEOUT
            } else {
                HEADER_READ_TIMEOUT
            };
            let deadline = match self.waiting_since() {
                Some(since) if now >= since + limit => return,
                Some(since) => since + limit,
                None => now + limit,
            };
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let wait = &self.0;
        let ms = u64::try_from(wait.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        // The time first, then the count: `waiting_since` never sees 0 in flight with an old time.
        wait.waiting_since_ms.store(ms, Ordering::SeqCst);
        wait.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The background work of `serve`: the Lakebase health check and migrations (and, when
/// Lakebase is configured, the metrics writer). Started by `main` and by the tests' in-process
/// server alike, so both behave the same.
pub struct Background {
    fatal: Option<tokio::sync::oneshot::Receiver<String>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    writer: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

/// Spawn the background tasks on the current runtime.
pub fn start_background(app: &Arc<AppState>) -> Background {
    let (fatal_tx, fatal_rx) = tokio::sync::oneshot::channel();
    let mut tasks = Vec::new();
    let mut writer = None;
    if app.metrics.is_collecting() {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(shared::metrics::run_writer(Arc::clone(app), stopped));
        writer = Some((stop, task));
    }
    if app.db.is_some() {
        tasks.push(tokio::spawn(shared::db::run_health_checks(Arc::clone(app))));
        if let Some(every) = app.config.metrics_summary_refresh {
            tasks.push(tokio::spawn(shared::db::summaries::run_refresher(
                Arc::clone(app),
                every,
            )));
        }
        let migrating = Arc::clone(app);
        tasks.push(tokio::spawn(async move {
            if let Err(message) = shared::db::run_migrations(migrating).await {
                let _ = fatal_tx.send(message);
            }
        }));
    }
    Background {
        fatal: Some(fatal_rx),
        tasks,
        writer,
    }
}

impl Background {
    /// Resolves with the message of a problem that must stop the server (an edited migration);
    /// never resolves otherwise. Can be taken once.
    pub fn fatal(&mut self) -> impl Future<Output = String> {
        let rx = self.fatal.take();
        async move {
            if let Some(rx) = rx {
                if let Ok(message) = rx.await {
                    return message;
                }
            }
            std::future::pending().await
        }
    }

    /// Stop the background tasks after the server has stopped serving: the metrics writer
    /// flushes what is queued within its deadline.
    pub async fn shutdown(self) {
        if let Some((stop, task)) = self.writer {
            let _ = stop.send(());
            let limit = shared::metrics::SHUTDOWN_FLUSH + Duration::from_millis(500);
            if tokio::time::timeout(limit, task).await.is_err() {
                log::warn!("metrics writer did not stop in time");
            }
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
