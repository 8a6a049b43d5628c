//! The accept loop: HTTP/1.1 and h2c (prior knowledge) on one port, a connection cap, a header
//! read timeout, and graceful shutdown that lets in-flight requests finish.
//!
//! `run` takes an already bound listener and a shutdown future, so tests bind port 0 and
//! production binds the configured address.

use crate::http::Service;
use crate::router::Router;
use crate::static_files::StaticFiles;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use shared::AppState;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Open connections beyond this wait in the kernel's accept backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// A client has this long to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// In-flight requests get this long after the shutdown signal (SPEC: exit within 10 s).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

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
    }))
}

pub async fn run(listener: TcpListener, service: Arc<Service>, shutdown: impl Future<Output = ()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
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
        let svc = service_fn(move |req| Arc::clone(&service).handle(peer, req));
        let conn = builder
            .serve_connection(TokioIo::new(stream), svc)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                log::debug!("connection from {peer} ended: {e}");
            }
            drop(permit);
        });
    }

    drop(listener);
    log::info!("shutting down: no new connections, waiting for in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => log::info!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => log::warn!("shutdown grace period over; closing remaining connections"),
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
    /// flushes what is queued (SPEC §5.1) within its deadline.
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
