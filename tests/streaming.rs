//! The streaming function model against the real server: streamed responses (SSE and bytes)
//! written as they arrive, keep-alive comments, a client that leaves cancelling the work, streamed
//! request bodies, auth before body, the body deadline, the memory budget for buffered bodies,
//! shutdown with an open stream, the HTTP/2 idle rule, and the streams gauge.
//!
//! The functions here are test functions in their own registry, so each rule is shown on the
//! runtime alone; the chat, Genie and Files tests show the same rules through real functions.

use crate::support::fake_workspace::FakeWorkspace;
use crate::support::{raw, TestServer};
use shared::stream::{channel, ClientGone};
use shared::{Auth, Function, Method, RequestBody, Response};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When each `ticker` stream (by its `id` query value) saw its client leave.
static CLOSED_AT: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

fn query(req: &shared::Request, name: &str, default: u64) -> u64 {
    req.query_value(name)
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const fn function(name: &'static str, method: Method, path: &'static str) -> Function {
    Function {
        name,
        method,
        path,
        auth: Auth::Public,
        summary: "test",
        query: &[],
        request_body: None,
        success_status: 200,
        response_body: None,
        body: RequestBody::DEFAULT,
        handler: |_, _| Box::pin(async { Ok(Response::empty(204)) }),
    }
}

static REGISTRY: [Function; 7] = [
    functions::health::FUNCTION,
    functions::metrics_prometheus::FUNCTION,
    // `n` events `tick {"i"}`, one every `ms`; records when its client left.
    Function {
        handler: |_ctx, req| {
            Box::pin(async move {
                let (n, ms) = (query(&req, "n", 3), query(&req, "ms", 100));
                let id = req.query_value("id").ok().flatten().unwrap_or_default();
                let (tx, rx) = channel(true);
                tokio::spawn(async move {
                    for i in 0..n {
                        if tx.event("tick", &serde_json::json!({ "i": i })).await == Err(ClientGone)
                        {
                            break;
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                            _ = tx.closed() => break,
                        }
                    }
                    if tx.is_closed() {
                        CLOSED_AT.lock().unwrap().push((id, Instant::now()));
                    }
                });
                Ok(Response::sse(rx))
            })
        },
        ..function("ticker", Method::Get, "/api/ticker")
    },
    // An SSE stream that sends nothing until its client leaves or the server closes it.
    Function {
        handler: |_ctx, _req| {
            Box::pin(async move {
                let (tx, rx) = channel(true);
                tokio::spawn(async move { tx.closed().await });
                Ok(Response::sse(rx))
            })
        },
        ..function("quiet", Method::Get, "/api/quiet")
    },
    // A streamed body of at most 8 MiB, for a signed-in user: answers its length.
    Function {
        auth: Auth::User,
        body: RequestBody::Streamed { max_bytes: 8 << 20 },
        handler: |_ctx, mut req| {
            Box::pin(async move {
                let mut body = req.take_stream()?;
                let mut bytes = 0usize;
                while let Some(chunk) = body.next().await.map_err(|e| e.to_api_error())? {
                    bytes += chunk.len();
                }
                Response::ok(&serde_json::json!({ "bytes": bytes }))
            })
        },
        ..function("upload", Method::Put, "/api/upload")
    },
    // A buffered body (the default 1 MiB limit), for anyone: answers its length.
    Function {
        handler: |_ctx, req| Box::pin(async move { Response::ok(&req.body.len()) }),
        ..function("echo", Method::Post, "/api/echo")
    },
    // A byte stream that sends one chunk, then fails.
    Function {
        handler: |_ctx, _req| {
            Box::pin(async move {
                let (tx, rx) = channel(false);
                tokio::spawn(async move {
                    let _ = tx.send(b"partial".to_vec()).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    tx.abort().await;
                });
                Ok(Response::streamed(200, "application/octet-stream", rx))
            })
        },
        ..function("broken", Method::Get, "/api/broken")
    },
];

fn server() -> TestServer {
    TestServer::start_with(&[], &REGISTRY)
}

/// Open a GET and return the stream after the response head, with the head's text.
fn open(addr: SocketAddr, path: &str, extra: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "connection closed in the head"
        );
        head.push(byte[0]);
    }
    (stream, String::from_utf8(head).unwrap())
}

/// Read until `needle` has arrived (or fail after the read timeout); returns all text read.
fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "closed before {needle:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&seen).contains(needle) {
            return String::from_utf8_lossy(&seen).into_owned();
        }
    }
}

#[test]
fn sse_events_reach_the_client_as_they_are_sent() {
    let server = server();
    let started = Instant::now();
    let (mut stream, head) = open(server.addr, "/api/ticker?n=3&ms=400", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: text/event-stream; charset=utf-8"),
        "{head}"
    );
    assert!(
        lower.contains("cache-control: no-cache, no-transform"),
        "{head}"
    );
    assert!(lower.contains("x-accel-buffering: no"), "{head}");
    assert!(lower.contains("transfer-encoding: chunked"), "{head}");
    let first = read_until(&mut stream, "event: tick\ndata: {\"i\":0}\n\n");
    let first_at = started.elapsed();
    assert!(!first.contains("\"i\":1"), "{first}");
    let rest = read_until(&mut stream, "0\r\n\r\n");
    let all_at = started.elapsed();
    assert!(rest.contains("{\"i\":2}"), "{rest}");
    // The first event came before the function had finished (two more 400 ms waits).
    assert!(
        first_at < Duration::from_millis(300),
        "first event after {first_at:?}"
    );
    assert!(
        all_at >= Duration::from_millis(800),
        "whole stream in {all_at:?}"
    );
}

#[test]
fn a_client_that_leaves_cancels_the_stream_within_a_second() {
    let server = server();
    let (mut stream, _) = open(server.addr, "/api/ticker?n=1000&ms=5000&id=leaver", "");
    read_until(&mut stream, "\"i\":0");
    drop(stream);
    let left = Instant::now();
    let deadline = left + Duration::from_secs(3);
    loop {
        let closed = CLOSED_AT
            .lock()
            .unwrap()
            .iter()
            .find(|(id, _)| id == "leaver")
            .map(|(_, at)| *at);
        if let Some(at) = closed {
            let took = at.duration_since(left);
            assert!(took < Duration::from_secs(1), "noticed after {took:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the function never saw its client leave"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The stream is no longer counted as open.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.app.metrics.streams_open() != 0 {
        assert!(
            Instant::now() < deadline,
            "streams_open never went back to 0"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_open_stream_is_counted_and_logged_when_it_ends() {
    let server = server();
    let (mut stream, _) = open(server.addr, "/api/ticker?n=2&ms=600", "");
    read_until(&mut stream, "\"i\":0");
    let metrics = shared::metrics::render(&server.app);
    assert!(
        metrics.contains("brickbox_http_streams_open 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("route=\"/api/ticker\""),
        "counted before it ended: {metrics}"
    );
    read_until(&mut stream, "0\r\n\r\n");
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let metrics = shared::metrics::render(&server.app);
        let line = metrics.lines().find(|l| {
            l.starts_with("brickbox_http_request_duration_seconds_sum{route=\"/api/ticker\"}")
        });
        if let Some(line) = line {
            // The whole stream's duration (about 600 ms), not the time to its head.
            let secs: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(secs >= 0.5, "{line}");
            assert!(
                metrics.contains("brickbox_http_streams_open 0"),
                "{metrics}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stream was never counted: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_long_stream_outlives_the_keep_alive_idle_rule_and_gets_keep_alive_comments() {
    let server = server();
    let started = Instant::now();
    let (mut stream, _) = open(server.addr, "/api/quiet", "");
    // Nothing is sent for 15 s: then a comment keeps proxies from closing the connection. The
    // connection's 10 s idle rule does not apply while the stream is open.
    let text = read_until(&mut stream, ": keep-alive\n\n");
    let at = started.elapsed();
    assert!(
        at >= Duration::from_secs(14) && at < Duration::from_secs(17),
        "{at:?}: {text}"
    );
}

#[test]
fn a_byte_stream_that_fails_is_truncated_not_completed() {
    let server = server();
    let (mut stream, head) = open(server.addr, "/api/broken", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("partial"), "{rest}");
    // No terminating zero-length chunk: the client can tell the body is incomplete.
    assert!(!rest.ends_with("0\r\n\r\n"), "{rest:?}");
}

#[test]
fn an_upload_without_a_token_is_refused_before_its_body_is_read() {
    let fake = FakeWorkspace::start();
    let server = TestServer::start_with(&[("DATABRICKS_HOST", fake.url().as_str())], &REGISTRY);
    let started = Instant::now();
    // 6 MiB announced, not one byte sent: the 401 comes at once.
    let answer = raw(
        server.addr,
        b"PUT /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6291456\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("AUTH_MISSING"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_streamed_upload_passes_its_bytes_and_its_limit() {
    let fake = FakeWorkspace::start();
    let server = TestServer::start_with(&[("DATABRICKS_HOST", fake.url().as_str())], &REGISTRY);
    let token = [(
        "X-Forwarded-Access-Token",
        crate::support::fake_workspace::scim::ALICE,
    )];
    // 5 MiB: more than any buffered body may be.
    let mut request = format!(
        "PUT /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Access-Token: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        token[0].1,
        5 << 20
    )
    .into_bytes();
    request.extend(std::iter::repeat_n(7u8, 5 << 20));
    let ok = raw(server.addr, &request);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("{\"bytes\":5242880}"), "{ok}");
    // Over the function's 8 MiB: a declared length is refused at once, unread.
    let over = raw(
        server.addr,
        format!(
            "PUT /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Access-Token: {}\r\nContent-Length: {}\r\n\r\n",
            token[0].1,
            (8 << 20) + 1
        )
        .as_bytes(),
    );
    assert!(over.starts_with("HTTP/1.1 413"), "{over}");
    assert!(over.contains("PAYLOAD_TOO_LARGE"), "{over}");
    // A chunked body with no length is cut off once it passes the limit.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "PUT /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Access-Token: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        token[0].1
    );
    stream.write_all(head.as_bytes()).unwrap();
    for _ in 0..9 {
        let _ = stream.write_all(b"100000\r\n");
        let _ = stream.write_all(&[b'c'; 0x100000]);
        let _ = stream.write_all(b"\r\n");
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[test]
fn a_buffered_body_that_does_not_arrive_in_30_seconds_is_a_408_and_the_connection_closes() {
    let server = server();
    let started = Instant::now();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(45)))
        .unwrap();
    stream
        .write_all(b"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"partial\":")
        .unwrap();
    let mut answer = Vec::new();
    // read_to_end returns only once the server closes the connection.
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        took >= Duration::from_secs(29) && took < Duration::from_secs(33),
        "{took:?}"
    );
}

#[test]
fn a_streamed_body_that_stalls_for_30_seconds_is_a_408() {
    let fake = FakeWorkspace::start();
    let server = TestServer::start_with(&[("DATABRICKS_HOST", fake.url().as_str())], &REGISTRY);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(45)))
        .unwrap();
    let head = format!(
        "PUT /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Access-Token: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        crate::support::fake_workspace::scim::ALICE
    );
    stream.write_all(head.as_bytes()).unwrap();
    // Chunks keep coming for 3 s, then nothing.
    for _ in 0..3 {
        stream.write_all(b"400\r\n").unwrap();
        stream.write_all(&[b'z'; 0x400]).unwrap();
        stream.write_all(b"\r\n").unwrap();
        std::thread::sleep(Duration::from_secs(1));
    }
    let stalled = Instant::now();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let took = stalled.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        took >= Duration::from_secs(29) && took < Duration::from_secs(33),
        "{took:?}"
    );
}

#[test]
fn buffered_bodies_in_flight_share_a_256_mib_budget() {
    let server = server();
    // 256 bodies of 1 MiB announced and not sent hold the whole budget ...
    let holders: Vec<TcpStream> = (0..256)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(
                b"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048576\r\n\r\nx",
            )
            .unwrap();
            s
        })
        .collect();
    // ... so one more answers 503 with Retry-After: 1 (once the server has read their heads).
    // Let the server read every holder's head first: a probe that came before one of them would
    // take its room, and that holder would be the one refused.
    std::thread::sleep(Duration::from_secs(2));
    // A probe sent before the server has read every holder's head gets room and waits for its
    // body: it is given up after a second (its room is given back when it closes).
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        let mut probe = TcpStream::connect(server.addr).unwrap();
        probe
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        probe
            .write_all(b"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048576\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = probe.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        if answer.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
            break answer;
        }
    };
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("SERVICE_UNAVAILABLE"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    // Once they go away the budget is free again.
    drop(holders);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ok = crate::support::send(
            "POST",
            &server.url("/api/echo"),
            &[("Content-Type", "application/json")],
            Some(&vec![b' '; 1 << 20]),
        );
        if ok.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "budget not returned: {}",
            ok.status
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn shutdown_gives_open_streams_8_seconds_then_an_error_event() {
    let server = server();
    let (mut stream, _) = open(server.addr, "/api/quiet", "");
    let stopping = Instant::now();
    let stopper = std::thread::spawn(move || drop(server));
    let text = read_until(&mut stream, "\"correlation_id\"");
    let at = stopping.elapsed();
    assert!(text.contains("event: error\ndata: {"), "{text}");
    assert!(text.contains("SERVICE_UNAVAILABLE"), "{text}");
    assert!(text.contains("\"correlation_id\""), "{text}");
    assert!(
        at >= Duration::from_secs(7) && at < Duration::from_millis(9500),
        "{at:?}"
    );
    stopper.join().unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopping.elapsed()
    );
}

#[test]
fn an_idle_http2_connection_is_closed_after_60_seconds() {
    let server = server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .timer(hyper_util::rt::TokioTimer::new())
                // Pings do not keep the connection open.
                .keep_alive_interval(Duration::from_secs(5))
                .keep_alive_while_idle(true)
                .handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        let conn = tokio::spawn(conn);
        let req = hyper::Request::builder()
            .uri(format!("http://{}/health", server.addr))
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .unwrap();
        let answer = sender.send_request(req).await.unwrap();
        assert_eq!(answer.status(), 200);
        let idle = Instant::now();
        let closed = tokio::time::timeout(Duration::from_secs(75), conn).await;
        assert!(closed.is_ok(), "still open after 75 s");
        let took = idle.elapsed();
        assert!(
            took >= Duration::from_secs(59) && took < Duration::from_secs(63),
            "{took:?}"
        );
    });
}
