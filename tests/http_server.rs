//! The server itself: public functions, headers, correlation ids, 404/405, HEAD, body limits,
//! panics, h2c.

use crate::support::{get, raw, send, TestServer};
use shared::{Auth, Function, Method, Response};

#[test]
fn health_ready_ping_and_openapi() {
    let server = TestServer::start(&[]);
    let health = get(&server.url("/health"), &[]);
    assert_eq!(health.status, 200);
    let body = health.json();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["lakebase"], "not_configured");
    assert_eq!(body["version"], shared::VERSION);
    assert!(body["uptime_seconds"].is_u64());
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    assert_eq!(get(&server.url("/ready"), &[]).json()["ready"], true);
    let ping = get(&server.url("/ping"), &[]);
    assert_eq!((ping.status, ping.text().as_str()), (200, "pong"));

    let doc = get(&server.url("/openapi.json"), &[]).json();
    assert_eq!(doc["openapi"], "3.1.0");
    for f in functions::ALL {
        let op = &doc["paths"][f.path][f.method.as_str().to_ascii_lowercase()];
        assert_eq!(op["x-brickbox-auth"], f.auth.as_str(), "{}", f.name);
    }
}

#[test]
fn ready_is_503_until_the_server_says_so() {
    let server = TestServer::start(&[]);
    server.app.set_ready(false);
    let r = get(&server.url("/ready"), &[]);
    assert_eq!((r.status, r.code().as_str()), (503, "SERVICE_UNAVAILABLE"));
}

#[test]
fn correlation_ids_are_validated_and_echoed_everywhere() {
    let server = TestServer::start(&[]);
    let r = get(
        &server.url("/health"),
        &[("X-Correlation-ID", "abc-123:x.y_z")],
    );
    assert_eq!(r.header("x-correlation-id"), Some("abc-123:x.y_z"));

    let too_long = "a".repeat(129);
    for bad in ["has space", "semi;colon", too_long.as_str()] {
        let r = get(&server.url("/health"), &[("X-Correlation-ID", bad)]);
        let id = r.header("x-correlation-id").unwrap();
        assert!(
            shared::util::is_uuid(id),
            "{bad:?} should be replaced, got {id}"
        );
    }
    let r = get(
        &server.url("/health"),
        &[
            ("X-Correlation-ID", "bad id"),
            ("X-Request-Id", "proxy-req-1"),
        ],
    );
    assert_eq!(r.header("x-correlation-id"), Some("proxy-req-1"));

    // 404s, 405s, static files and errors carry it too, and error bodies repeat it.
    for (method, path) in [
        ("GET", "/api/nope"),
        ("POST", "/health"),
        ("GET", "/"),
        ("GET", "/nope.css"),
    ] {
        let r = send(
            method,
            &server.url(path),
            &[("X-Correlation-ID", "cid-everywhere")],
            None,
        );
        assert_eq!(
            r.header("x-correlation-id"),
            Some("cid-everywhere"),
            "{method} {path}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{method} {path}"
        );
        if r.status >= 400 {
            assert_eq!(r.json()["correlation_id"], "cid-everywhere");
        }
    }
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let server = TestServer::start(&[]);
    let r = get(&server.url("/api/does/not/exist"), &[]);
    assert_eq!((r.status, r.code().as_str()), (404, "NOT_FOUND"));
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("/api/does/not/exist"));

    let r = send("DELETE", &server.url("/api/user/me"), &[], None);
    assert_eq!((r.status, r.code().as_str()), (405, "METHOD_NOT_ALLOWED"));
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));

    let r = send("OPTIONS", &server.url("/api/user/me"), &[], None);
    assert_eq!(
        (r.status, r.header("allow")),
        (204, Some("GET, HEAD, OPTIONS"))
    );

    let r = send("POST", &server.url("/index.html"), &[], None);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
}

#[test]
fn head_is_served_as_get_without_a_body() {
    let server = TestServer::start(&[]);
    let get_reply = get(&server.url("/health"), &[]);
    let head = send("HEAD", &server.url("/health"), &[], None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), Some("application/json"));
    let len: usize = head.header("content-length").unwrap().parse().unwrap();
    assert!(
        len.abs_diff(get_reply.body.len()) <= 2,
        "HEAD length {len} vs GET {}",
        get_reply.body.len()
    );
}

static ECHO_AND_PANIC: [Function; 2] = [
    Function {
        name: "echo",
        method: Method::Post,
        path: "/api/echo",
        auth: Auth::Public,
        summary: "echo the body length",
        query: &[],
        request_body: None,
        success_status: 200,
        response_body: None,
        body: shared::RequestBody::DEFAULT,
        handler: |_ctx, req| Box::pin(async move { Response::ok(&req.body.len()) }),
    },
    Function {
        name: "boom",
        method: Method::Get,
        path: "/api/boom",
        auth: Auth::Public,
        summary: "panics",
        query: &[],
        request_body: None,
        success_status: 200,
        response_body: None,
        body: shared::RequestBody::DEFAULT,
        handler: |_ctx, _req| Box::pin(async move { panic!("deliberate test panic") }),
    },
];

#[test]
fn bodies_over_one_mib_are_refused_without_reading_them() {
    let server = TestServer::start_with(&[], &ECHO_AND_PANIC);
    let ok = send(
        "POST",
        &server.url("/api/echo"),
        &[],
        Some(&vec![b'x'; 1024 * 1024]),
    );
    assert_eq!((ok.status, ok.text().as_str()), (200, "1048576"));

    // One byte over: 413 (the server may answer before the client has sent it all).
    let mut over = b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\nConnection: close\r\n\r\n".to_vec();
    over.extend(std::iter::repeat_n(b'x', 1024 * 1024 + 1));
    let answer = raw(server.addr, &over);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert!(answer.contains("PAYLOAD_TOO_LARGE"));

    // A declared 10 GiB body is refused at once: the server answers without waiting for it.
    let answer = raw(
        server.addr,
        b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10737418240\r\nConnection: close\r\n\r\nxxxx",
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Chunked, no length: refused once the limit is crossed.
    let mut chunked = b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..5 {
        chunked.extend_from_slice(b"40000\r\n");
        chunked.extend(std::iter::repeat_n(b'y', 0x40000));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(server.addr, &chunked);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        &answer[..answer.len().min(200)]
    );
}

#[test]
fn a_panicking_function_is_a_500_and_the_server_keeps_serving() {
    let server = TestServer::start_with(&[], &ECHO_AND_PANIC);
    let r = get(&server.url("/api/boom"), &[("X-Correlation-ID", "panic-1")]);
    assert_eq!((r.status, r.code().as_str()), (500, "INTERNAL_ERROR"));
    assert!(
        !r.text().contains("deliberate"),
        "panic text must not reach the client"
    );
    assert_eq!(r.json()["correlation_id"], "panic-1");
    let again = send("POST", &server.url("/api/echo"), &[], Some(b"abc"));
    assert_eq!(again.status, 200);
}

#[test]
fn http2_cleartext_with_prior_knowledge_is_served() {
    let server = TestServer::start(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body, version) = rt.block_on(async {
        use http_body_util::{BodyExt, Empty};
        let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .expect("h2c handshake");
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .uri(format!("http://{}/ping", server.addr))
            .body(Empty::<hyper::body::Bytes>::new())
            .unwrap();
        let res = sender.send_request(req).await.expect("h2 request");
        let status = res.status().as_u16();
        let version = res.version();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, body, version)
    });
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"pong");
    assert_eq!(version, hyper::Version::HTTP_2);
}

#[test]
fn json_answers_are_not_cached_and_html_gets_a_strict_policy() {
    let server = TestServer::start(&[]);
    let api = get(&server.url("/health"), &[]);
    assert_eq!(api.header("cache-control"), Some("no-store"));
    assert!(api.header("content-security-policy").is_none());
}

/// The header-read timeout (`runtime::server::HEADER_READ_TIMEOUT`, 10 s): a client that does not
/// finish its request head in time, or keeps an idle connection open, is disconnected; a
/// connection that is serving a request is not.
#[test]
fn slow_request_heads_and_idle_connections_are_closed_after_the_header_timeout() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let server = TestServer::start(&[]);
    let limit = runtime::server::HEADER_READ_TIMEOUT;
    // Send `bytes` on a new connection, then read until the server closes it: how long that
    // took after sending, and what came.
    let addr = server.addr;
    let send_until_closed = move |bytes: &'static [u8]| {
        std::thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.write_all(bytes).unwrap();
            let started = Instant::now();
            stream
                .set_read_timeout(Some(limit + Duration::from_secs(10)))
                .unwrap();
            let mut got = Vec::new();
            let closed = stream.read_to_end(&mut got).is_ok();
            assert!(closed, "still open after {:?}", started.elapsed());
            (
                started.elapsed(),
                String::from_utf8_lossy(&got).into_owned(),
            )
        })
    };
    let slow_head = send_until_closed(b"GET /health HTTP/1.1\r\nHost: x\r\n");
    let idle = send_until_closed(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    let (waited, got) = slow_head.join().unwrap();
    assert!(got.is_empty(), "{got}");
    assert!(
        waited >= limit - Duration::from_millis(500) && waited < limit + Duration::from_secs(3),
        "{waited:?}"
    );
    let (waited, got) = idle.join().unwrap();
    assert!(
        got.starts_with("HTTP/1.1 200") && got.ends_with("pong"),
        "{got}"
    );
    assert!(
        waited >= limit - Duration::from_millis(500) && waited < limit + Duration::from_secs(3),
        "{waited:?}"
    );
}
