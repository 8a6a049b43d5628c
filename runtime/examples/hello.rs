//! The baseline for `scripts/bench-runtime`: a minimal hyper hello-world built from the same
//! crates and the same accept loop shape (hyper-util auto = HTTP/1.1 + h2c, tokio multi-thread),
//! with no routing, logging, headers or JSON. brickbox's figures are stated as ratios to it.
//!
//! `hello PORT BUSY_NS` spins for BUSY_NS nanoseconds in each request: `scripts/bench-runtime`
//! uses it to show how much a fraction of a microsecond of work per request moves wrk's p50.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8001);
    let busy = std::time::Duration::from_nanos(
        std::env::args()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind");
            println!(
                "listening on http://{}",
                listener.local_addr().expect("addr")
            );
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let svc = service_fn(move |_req| async move {
                        if !busy.is_zero() {
                            let start = std::time::Instant::now();
                            while start.elapsed() < busy {
                                std::hint::spin_loop();
                            }
                        }
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(b"ok"),
                        )))
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
}
