//! The real `brickbox` binary: CLI commands, SIGTERM with a request in flight, and that nothing
//! it prints contains a token.

use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::{get, get_as, BinaryServer};
use std::process::Command;
use std::time::{Duration, Instant};

fn brickbox(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_brickbox"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("brickbox runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn routes_and_openapi_print_the_registry() {
    let (code, out, _) = brickbox(&["routes"], &[]);
    assert_eq!(code, 0);
    assert!(out.starts_with("METHOD"));
    for f in functions::ALL {
        assert!(
            out.contains(f.path) && out.contains(f.name),
            "{} missing",
            f.name
        );
    }
    let (code, out, _) = brickbox(&["openapi"], &[]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn bad_arguments_print_usage_and_exit_2() {
    for args in [
        &["nonsense"][..],
        &["serve", "--port", "x"],
        &["invoke"],
        &["routes", "extra"],
    ] {
        let (code, _, err) = brickbox(args, &[]);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("usage:"), "{args:?}: {err}");
    }
    let (code, _, err) = brickbox(&["invoke", "no_such_function"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("brickbox routes"), "{err}");
    let (code, _, err) = brickbox(&[], &[("PORT", "not-a-port")]);
    assert_eq!(code, 2);
    assert!(err.contains("PORT"), "{err}");
}

#[test]
fn invoke_runs_one_function_in_process() {
    let fake = FakeWorkspace::start();
    let host = fake.url();
    let (code, out, _) = brickbox(
        &["invoke", "user_me", "--token", scim::ALICE],
        &[("DATABRICKS_HOST", &host)],
    );
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"]["user_name"], "alice@example.com");

    // DATABRICKS_TOKEN is the default caller; a failure exits 1 and prints the error body.
    let (code, out, _) = brickbox(
        &["invoke", "user_me"],
        &[
            ("DATABRICKS_HOST", &host),
            ("DATABRICKS_TOKEN", "unknown-token"),
        ],
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], 401);
    assert_eq!(v["body"]["error_code"], "AUTH_INVALID");

    let (code, out, _) = brickbox(&["invoke", "ping"], &[]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["body"],
        "pong"
    );
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let fake = FakeWorkspace::start();
    fake.state().scim.delay = Some(Duration::from_millis(1500));
    let host = fake.url();
    let mut server = BinaryServer::start(&[("DATABRICKS_HOST", &host)]);
    let url = server.url("/api/user/me");
    let in_flight = std::thread::spawn(move || get_as(&url, scim::ALICE));
    std::thread::sleep(Duration::from_millis(400));
    let signalled = Instant::now();
    server.sigterm();
    let reply = in_flight.join().unwrap();
    assert_eq!(
        reply.status,
        200,
        "the in-flight request completes: {}",
        reply.text()
    );
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits within 10 s");
    assert!(status.success(), "exit status {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
    assert!(server.output().contains("shutting down"));
}

#[test]
fn nothing_the_process_prints_contains_a_token() {
    let fake = FakeWorkspace::start();
    let host = fake.url();
    let dev_token = "dev-token-SHOULD-NOT-APPEAR";
    let mut server = BinaryServer::start(&[
        ("DATABRICKS_HOST", &host),
        ("DATABRICKS_TOKEN", dev_token),
        (
            "DATABRICKS_CLIENT_SECRET",
            "client-secret-SHOULD-NOT-APPEAR",
        ),
        ("RUST_LOG", "trace,ureq::run=trace,ureq_proto::client=trace"),
    ]);
    let tokens = [
        scim::ALICE,
        scim::BOB_ADMIN,
        "unknown-token-SHOULD-NOT-APPEAR",
        scim::RATE_LIMITED,
        scim::UPSTREAM_DOWN,
    ];
    let mut bodies = String::new();
    for token in tokens {
        for path in [
            "/api/user/me",
            "/api/user/me/workspace",
            "/api/nope",
            "/health",
        ] {
            bodies.push_str(&get_as(&server.url(path), token).text());
        }
    }
    bodies.push_str(&get(&server.url("/api/user/me"), &[]).text());
    server.sigterm();
    server.wait_exit(Duration::from_secs(10)).expect("exits");
    let printed = server.output();
    assert!(
        printed.contains("/api/user/me"),
        "request lines are logged:\n{printed}"
    );
    for secret in tokens
        .iter()
        .copied()
        .chain([dev_token, "client-secret-SHOULD-NOT-APPEAR"])
    {
        assert!(
            !printed.contains(secret),
            "{secret} appears in the output:\n{printed}"
        );
        assert!(!bodies.contains(secret), "{secret} appears in a response");
    }
    assert!(printed.contains("local development token is ON"));
}

#[test]
fn inside_apps_it_binds_all_interfaces_and_logs_json() {
    let mut server = BinaryServer::start(&[("DATABRICKS_APP_PORT", "8000")]);
    assert_eq!(server.addr.ip().to_string(), "0.0.0.0");
    let local = format!("http://127.0.0.1:{}/health", server.addr.port());
    assert_eq!(get(&local, &[]).status, 200);
    server.sigterm();
    server.wait_exit(Duration::from_secs(10)).expect("exits");
    let printed = server.output();
    for line in printed.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            v["ts"].as_str().unwrap().ends_with('Z') && v["level"].is_string(),
            "{line}"
        );
    }
    assert!(printed.contains("Databricks Apps"));
    // The request's line: its fields, and the message as the text format has it.
    let request = printed
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["target"] == "brickbox::request")
        .unwrap_or_else(|| panic!("no request line: {printed}"));
    assert_eq!(request["level"], "INFO", "{request}");
    let message = request["message"].as_str().unwrap();
    let words: Vec<&str> = message.split(' ').collect();
    assert_eq!(words[..3], ["GET", "/health", "200"], "{message}");
    let ms = words[3].strip_suffix("ms").unwrap();
    assert!(
        ms.parse::<f64>().is_ok() && ms.split('.').nth(1).unwrap().len() == 3,
        "{message}"
    );
    assert_eq!(words[4], "route=/health", "{message}");
    assert!(
        shared::util::is_uuid(words[5].strip_prefix("cid=").unwrap()),
        "{message}"
    );
    assert_eq!(words[6], "user=-", "{message}");
}

#[test]
fn each_request_logs_one_text_line() {
    let mut server = BinaryServer::start(&[("LOG_FORMAT", "text")]);
    assert_eq!(get(&server.url("/ping"), &[]).status, 200);
    assert_eq!(get(&server.url("/nope.txt"), &[]).status, 404);
    server.sigterm();
    server.wait_exit(Duration::from_secs(10)).expect("exits");
    let printed = server.output();
    let lines: Vec<&str> = printed
        .lines()
        .filter(|l| l.contains(" brickbox::request "))
        .collect();
    assert_eq!(lines.len(), 2, "{printed}");
    for (line, (path, status, route)) in lines
        .iter()
        .zip([("/ping", "200", "/ping"), ("/nope.txt", "404", "<static>")])
    {
        let words: Vec<&str> = line.split(' ').collect();
        assert!(shared::util::parse_rfc3339(words[0]).is_some(), "{line}");
        assert_eq!(words[1..4], ["INFO", "", "brickbox::request"], "{line}");
        assert_eq!(words[4..7], ["GET", path, status], "{line}");
        assert!(words[7].ends_with("ms"), "{line}");
        assert_eq!(words[8], format!("route={route}"), "{line}");
        assert!(
            words[9].starts_with("cid=") && words[10] == "user=-",
            "{line}"
        );
    }
}
