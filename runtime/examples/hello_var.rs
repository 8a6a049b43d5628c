use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::Arc;
use std::time::Duration;

fn on(name: &str) -> bool {
    std::env::var(name).is_ok()
}

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8001);
    let (graceful_on, watchdog, sem, h2cfg, owned) = (
        on("GRACEFUL"),
        on("WATCHDOG"),
        on("SEM"),
        on("H2CFG"),
        on("OWNED"),
    );
    eprintln!("graceful {graceful_on} watchdog {watchdog} sem {sem} h2cfg {h2cfg} owned {owned}");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind");
            let mut builder = auto::Builder::new(TokioExecutor::new());
            if h2cfg {
                builder
                    .http2()
                    .timer(TokioTimer::new())
                    .max_concurrent_streams(256)
                    .keep_alive_interval(Some(Duration::from_secs(30)));
            }
            let builder = Arc::new(builder);
            let graceful = GracefulShutdown::new();
            let permits = Arc::new(tokio::sync::Semaphore::new(1024));
            loop {
                let permit = if sem {
                    Some(Arc::clone(&permits).acquire_owned().await.unwrap())
                } else {
                    None
                };
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let hdrs = on("HDRS");
                let spin: u64 = std::env::var("SPIN_NS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let svc = service_fn(move |_req| async move {
                    if spin > 0 {
                        let t = std::time::Instant::now();
                        while (t.elapsed().as_nanos() as u64) < spin {
                            std::hint::spin_loop();
                        }
                    }
                    let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"pong")));
                    if hdrs {
                        let h = r.headers_mut();
                        h.insert(
                            "x-correlation-id",
                            hyper::header::HeaderValue::from_static(
                                "33e26475-0a39-4942-a00b-1e0d65ac28b7",
                            ),
                        );
                        h.insert(
                            "x-content-type-options",
                            hyper::header::HeaderValue::from_static("nosniff"),
                        );
                        h.insert(
                            "content-type",
                            hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
                        );
                    }
                    Ok::<_, std::convert::Infallible>(r)
                });
                let b = Arc::clone(&builder);
                if owned || graceful_on || watchdog {
                    let conn = b.serve_connection(TokioIo::new(stream), svc).into_owned();
                    if graceful_on {
                        let conn = graceful.watch(conn);
                        if watchdog {
                            tokio::spawn(async move {
                                tokio::select! {
                                    _ = conn => {},
                                    _ = tokio::time::sleep(Duration::from_secs(1000)) => {},
                                }
                                drop(permit);
                            });
                        } else {
                            tokio::spawn(async move {
                                let _ = conn.await;
                                drop(permit);
                            });
                        }
                    } else if watchdog {
                        tokio::spawn(async move {
                            tokio::select! {
                                _ = conn => {},
                                _ = tokio::time::sleep(Duration::from_secs(1000)) => {},
                            }
                            drop(permit);
                        });
                    } else {
                        tokio::spawn(async move {
                            let _ = conn.await;
                            drop(permit);
                        });
                    }
                } else {
                    tokio::spawn(async move {
                        let _ = b.serve_connection(TokioIo::new(stream), svc).await;
                        drop(permit);
                    });
                }
            }
        });
}
