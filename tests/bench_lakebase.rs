//! Lakebase benchmarks (`scripts/bench-lakebase`, release build): ignored by the normal suite.
//! Each prints one `BENCH {json}` line with what it measured; `docs/BENCHMARKS.md` records them.
//!
//! * `collection_overhead`: the request path's collection work (counters + record + enqueue),
//!   timed per call with collection on and off, while the real writer drains into Postgres.
//! * `sustained_5000_rps`: 5,000 requests/s for 30 s on `/api/user/me` (authenticated), then
//!   rows stored, time until all are visible, peak queue depth.
//! * `usage_events_batch_1000`: end-to-end latency of a 1,000-event POST.
//! * `postgres_stopped`: requests/s and p50 of `/api/user/me` with Postgres up, then stopped.

use crate::lakebase::eventually;
use crate::support::db::TestDb;
use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::pg_cluster::PgCluster;
use crate::support::TestServer;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use shared::metrics::RequestRecord;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// One request on a kept-alive connection; `(status, latency)`.
async fn request(
    sender: &mut Sender,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&[u8]>,
) -> (u16, Duration) {
    let started = Instant::now();
    sender.ready().await.expect("connection ready");
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench")
        .header("x-forwarded-access-token", token);
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let req = builder
        .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
        .expect("request");
    let response = sender.send_request(req).await.expect("response");
    let status = response.status().as_u16();
    response.into_body().collect().await.expect("body");
    (status, started.elapsed())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 10.0).round() / 100.0
}

fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64 / 10.0).round() / 100.0
}

/// The collection work of one request, exactly as `runtime::http` does it after the response.
fn collect_one(
    app: &shared::AppState,
    user: &Arc<shared::identity::Identity>,
    cid: &str,
) -> Duration {
    let t = Instant::now();
    let timestamp = SystemTime::now();
    let elapsed = Duration::from_micros(180);
    let metrics = &app.metrics;
    metrics.observe("/api/user/me", "GET", 200, elapsed);
    if metrics.is_collecting() {
        metrics.enqueue(RequestRecord {
            timestamp,
            endpoint: "/api/user/me",
            method: shared::metrics::method_label("GET"),
            status_code: 200,
            response_time_ms: elapsed.as_secs_f64() * 1000.0,
            user: Some(Arc::clone(user)),
            error_type: None,
            correlation_id: cid.to_string(),
        });
    }
    t.elapsed()
}

fn overhead_samples(server: &TestServer, n: usize) -> Vec<Duration> {
    let user = Arc::new(shared::identity::Identity {
        user_name: "alice@example.com".into(),
        display_name: None,
        active: Some(true),
        emails: vec![],
        groups: vec![],
        is_admin: false,
        is_service_principal: false,
        workspace_id: None,
    });
    let cid = shared::util::uuid_v4();
    let mut samples = Vec::with_capacity(n);
    // 20,000 records/s: what the queue and writer see under load, not a tight loop that fills it.
    let pace = Duration::from_micros(50);
    let mut next = Instant::now();
    for _ in 0..n {
        while Instant::now() < next {
            std::hint::spin_loop();
        }
        next += pace;
        samples.push(collect_one(&server.app, &user, &cid));
    }
    samples.sort();
    samples
}

#[test]
#[ignore = "benchmark: scripts/bench-lakebase"]
fn collection_overhead() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let on = crate::lakebase::server_on(&fake, &db);
    let off = TestServer::with_workspace(&fake, &[]);
    let n = 100_000;
    overhead_samples(&off, 10_000);
    let with = overhead_samples(&on, n);
    let without = overhead_samples(&off, n);
    assert!(eventually(Duration::from_secs(10), || on
        .app
        .metrics
        .queue_depth()
        == 0));
    let (written, dropped, _) = on.app.metrics.counts();
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "collection_overhead",
            "calls": n,
            "with_collection_us": {"p50": us(percentile(&with, 0.5)), "p99": us(percentile(&with, 0.99)), "max": us(*with.last().unwrap())},
            "without_collection_us": {"p50": us(percentile(&without, 0.5)), "p99": us(percentile(&without, 0.99))},
            "overhead_us": {"p50": us(percentile(&with, 0.5).saturating_sub(percentile(&without, 0.5))), "p99": us(percentile(&with, 0.99).saturating_sub(percentile(&without, 0.99)))},
            "rows_written": written, "rows_dropped": dropped,
        })
    );
    assert_eq!(
        db.count("SELECT count(*) FROM performance_metrics"),
        n as i64
    );
}

#[test]
#[ignore = "benchmark: scripts/bench-lakebase"]
fn sustained_5000_rps() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = crate::lakebase::server_on(&fake, &db);
    let rate = 5_000u64;
    let seconds = 30u64;
    let connections = 32u64;
    let addr = server.addr;
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let peak_depth = Arc::new(AtomicU64::new(0));
    let app = Arc::clone(&server.app);
    let sampler = {
        let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak_depth));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(app.metrics.queue_depth() as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let rt = runtime();
    let started = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (sent, errors, latencies) = (
                Arc::clone(&sent),
                Arc::clone(&errors),
                Arc::clone(&latencies),
            );
            tasks.push(tokio::spawn(async move {
                let mut sender = connect(addr).await;
                let period = Duration::from_nanos(1_000_000_000 * connections / rate);
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
                let mut mine = Vec::new();
                while tokio::time::Instant::now() < end {
                    tick.tick().await;
                    let (status, latency) =
                        request(&mut sender, "GET", "/api/user/me", scim::ALICE, None).await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    mine.push(latency);
                }
                latencies.lock().unwrap().extend(mine);
            }));
        }
        for t in tasks {
            t.await.expect("load task");
        }
    });
    let duration = started.elapsed();
    let last_request = Instant::now();
    let total = sent.load(Ordering::Relaxed) as i64;
    let visible = eventually(Duration::from_secs(10), || {
        db.count("SELECT count(*) FROM performance_metrics WHERE endpoint = '/api/user/me'")
            >= total
    });
    let visible_after = last_request.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let stored =
        db.count("SELECT count(*) FROM performance_metrics WHERE endpoint = '/api/user/me'");
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let (_, dropped, write_errors) = server.app.metrics.counts();
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "sustained_5000_rps",
            "target_rps": rate, "seconds": seconds, "connections": connections,
            "requests": total, "non_200": errors.load(Ordering::Relaxed),
            "achieved_rps": (total as f64 / duration.as_secs_f64()).round(),
            "latency_ms": {"p50": ms(percentile(&lat, 0.5)), "p99": ms(percentile(&lat, 0.99))},
            "rows_stored": stored, "stored_pct": (stored as f64 * 10000.0 / total as f64).round() / 100.0,
            "all_visible_ms_after_last_request": if visible { serde_json::json!(visible_after.as_millis()) } else { serde_json::Value::Null },
            "peak_queue_depth": peak_depth.load(Ordering::Relaxed), "queue_capacity": shared::metrics::QUEUE_CAPACITY,
            "rows_dropped": dropped, "write_errors": write_errors,
        })
    );
    assert!(visible);
    assert_eq!(stored, total);
}

#[test]
#[ignore = "benchmark: scripts/bench-lakebase"]
fn usage_events_batch_1000() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = crate::lakebase::server_on(&fake, &db);
    let now = shared::util::now_rfc3339();
    let events: Vec<_> = (0..1000)
        .map(|i| serde_json::json!({"event_type": "click", "timestamp": now, "page_name": "catalog", "element_id": format!("button-{i}"), "success": true, "metadata": {"i": i, "note": "benchmark"}}))
        .collect();
    let body = serde_json::json!({ "events": events }).to_string();
    let runs = 60;
    let rt = runtime();
    let mut samples = rt.block_on(async {
        let mut sender = connect(server.addr).await;
        let mut samples = Vec::new();
        for i in 0..runs + 5 {
            let (status, latency) = request(
                &mut sender,
                "POST",
                "/api/v1/metrics/usage-events",
                scim::ALICE,
                Some(body.as_bytes()),
            )
            .await;
            assert_eq!(status, 202);
            if i >= 5 {
                samples.push(latency); // the first few warm the pool and caches
            }
        }
        samples
    });
    samples.sort();
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "usage_events_batch_1000", "runs": runs, "body_bytes": body.len(),
            "latency_ms": {"p50": ms(percentile(&samples, 0.5)), "p95": ms(percentile(&samples, 0.95)), "max": ms(*samples.last().unwrap())},
        })
    );
    assert_eq!(
        db.count("SELECT count(*) FROM usage_events"),
        (runs as i64 + 5) * 1000
    );
}

/// Closed loop on `/api/user/me` for `for_how_long`: `(requests/s, p50)`.
fn closed_loop(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    connections: usize,
    for_how_long: Duration,
) -> (f64, Duration) {
    let (count, mut lat) = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..connections {
            tasks.push(tokio::spawn(async move {
                let mut sender = connect(addr).await;
                let end = Instant::now() + for_how_long;
                let mut mine = Vec::new();
                while Instant::now() < end {
                    let (status, latency) =
                        request(&mut sender, "GET", "/api/user/me", scim::ALICE, None).await;
                    assert_eq!(status, 200);
                    mine.push(latency);
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("load task"));
        }
        (all.len(), all)
    });
    lat.sort();
    (
        count as f64 / for_how_long.as_secs_f64(),
        percentile(&lat, 0.5),
    )
}

/// Open loop: `rate` requests/s on `/api/user/me` over `connections` for `for_how_long`:
/// `(achieved requests/s, p50)`.
fn paced(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    rate: u64,
    connections: u64,
    for_how_long: Duration,
) -> (f64, Duration) {
    let started = Instant::now();
    let mut lat = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..connections {
            tasks.push(tokio::spawn(async move {
                let mut sender = connect(addr).await;
                let mut tick =
                    tokio::time::interval(Duration::from_nanos(1_000_000_000 * connections / rate));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let end = tokio::time::Instant::now() + for_how_long;
                let mut mine = Vec::new();
                while tokio::time::Instant::now() < end {
                    tick.tick().await;
                    let (status, latency) =
                        request(&mut sender, "GET", "/api/user/me", scim::ALICE, None).await;
                    assert_eq!(status, 200);
                    mine.push(latency);
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("load task"));
        }
        all
    });
    let elapsed = started.elapsed();
    lat.sort();
    (
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5),
    )
}

fn change_pct(down: f64, up: f64) -> f64 {
    ((down / up - 1.0) * 1000.0).round() / 10.0
}

/// `/api/user/me` with Postgres healthy, then stopped, in alternating rounds of one run: at a
/// fixed offered rate (2,000 requests/s) and flat out (closed loop, 8 connections). The machine
/// is shared, so the summary is the median over rounds of each round's change.
#[test]
#[ignore = "benchmark: scripts/bench-lakebase"]
fn postgres_stopped() {
    let mut cluster = PgCluster::start();
    let fake = FakeWorkspace::start();
    let server = cluster.app_server(&fake);
    let rt = runtime();
    let phase = Duration::from_secs(5);
    let rate = 2_000;
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let health = || {
        crate::support::get(&server.url("/health"), &[]).json()["lakebase"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let dropped = || server.app.metrics.counts().1;
    closed_loop(&rt, server.addr, 8, Duration::from_secs(2)); // warm-up
    let mut rounds = Vec::new();
    let mut changes: [Vec<f64>; 4] = Default::default();
    for _ in 0..5 {
        assert!(eventually(Duration::from_secs(30), || server
            .app
            .metrics
            .queue_depth()
            == 0));
        assert_eq!(health(), "connected");
        let d0 = dropped();
        let up_paced = paced(&rt, server.addr, rate, 16, phase);
        let up_flat = closed_loop(&rt, server.addr, 8, phase);
        let dropped_up = dropped() - d0;
        cluster.stop();
        assert!(eventually(Duration::from_secs(10), || health() == "unavailable"));
        let d1 = dropped();
        let down_paced = paced(&rt, server.addr, rate, 16, phase);
        let down_flat = closed_loop(&rt, server.addr, 8, phase);
        let dropped_down = dropped() - d1;
        cluster.start_again();
        assert!(eventually(Duration::from_secs(15), || health() == "connected"));
        changes[0].push(change_pct(down_paced.0, up_paced.0));
        changes[1].push(change_pct(
            down_paced.1.as_secs_f64(),
            up_paced.1.as_secs_f64(),
        ));
        changes[2].push(change_pct(down_flat.0, up_flat.0));
        changes[3].push(change_pct(
            down_flat.1.as_secs_f64(),
            up_flat.1.as_secs_f64(),
        ));
        rounds.push(serde_json::json!({
            "fixed_rate": {
                "offered_rps": rate,
                "healthy": {"rps": up_paced.0.round(), "p50_ms": ms(up_paced.1)},
                "postgres_stopped": {"rps": down_paced.0.round(), "p50_ms": ms(down_paced.1)},
                "rps_change_pct": change_pct(down_paced.0, up_paced.0),
                "p50_change_pct": change_pct(down_paced.1.as_secs_f64(), up_paced.1.as_secs_f64()),
            },
            "closed_loop": {
                "healthy": {"rps": up_flat.0.round(), "p50_ms": ms(up_flat.1)},
                "postgres_stopped": {"rps": down_flat.0.round(), "p50_ms": ms(down_flat.1)},
                "rps_change_pct": change_pct(down_flat.0, up_flat.0),
                "p50_change_pct": change_pct(down_flat.1.as_secs_f64(), up_flat.1.as_secs_f64()),
            },
            "rows_dropped": {"healthy": dropped_up, "postgres_stopped": dropped_down},
        }));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "postgres_stopped", "phase_seconds": phase.as_secs(),
            "median_change_pct": {
                "fixed_rate_rps": median(&mut changes[0]), "fixed_rate_p50": median(&mut changes[1]),
                "closed_loop_rps": median(&mut changes[2]), "closed_loop_p50": median(&mut changes[3]),
            },
            "loadavg_before": load_before.trim(),
            "loadavg_after": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
            "rounds": rounds,
        })
    );
}
