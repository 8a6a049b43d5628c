//! Test support: the in-process `TestServer` on an ephemeral port, the real-binary
//! `BinaryServer`, a tiny blocking HTTP client, and the fake Databricks workspace.

pub mod db;
pub mod fake_workspace;
pub mod metrics_db;
pub mod pg_cluster;
pub mod proxy;

use shared::config::Config;
use shared::AppState;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The server running in this process, on its own runtime thread, with configuration from
/// `env` only (never the test process's environment). Shuts down on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(env: &[(&str, &str)]) -> TestServer {
        TestServer::start_with(env, functions::ALL)
    }

    /// A server over a custom registry (functions that panic, admin-only test functions, …).
    pub fn start_with(env: &[(&str, &str)], registry: &'static [shared::Function]) -> TestServer {
        let vars: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = Config::from_lookup(|k| vars.get(k).cloned())
            .and_then(|c| c.with_volumes(vars.clone()))
            .expect("test configuration is valid");
        TestServer::start_config(config, registry)
    }

    /// A server with a configuration built (and adjusted) by the test, e.g. a faster Genie poll.
    pub fn start_config(config: Config, registry: &'static [shared::Function]) -> TestServer {
        let app = Arc::new(AppState::new(config));
        let service =
            runtime::server::service_with(Arc::clone(&app), registry).expect("registry builds");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let server_app = Arc::clone(&app);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("test server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind port 0");
                // The same background work as `serve`: health check, migrations, metrics writer.
                let mut background = runtime::server::start_background(&server_app);
                let fatal = background.fatal();
                server_app.set_ready(true);
                ready_tx
                    .send(listener.local_addr().expect("bound address"))
                    .expect("test waits");
                runtime::server::run(listener, service, async {
                    tokio::select! {
                        _ = stopped => {}
                        message = fatal => eprintln!("test server stopping: {message}"),
                    }
                })
                .await;
                background.shutdown().await;
            });
        });
        let addr = ready_rx.recv().expect("test server started");
        TestServer {
            addr,
            app,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// A server whose workspace is `fake` (plus `env`).
    pub fn with_workspace(
        fake: &fake_workspace::FakeWorkspace,
        env: &[(&str, &str)],
    ) -> TestServer {
        let url = fake.url();
        let mut all: Vec<(&str, &str)> = vec![("DATABRICKS_HOST", url.as_str())];
        all.extend_from_slice(env);
        TestServer::start(&all)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Wait until `/ready` answers 200 (migrations applied when Lakebase is configured).
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.app.is_ready() {
            assert!(
                Instant::now() < deadline,
                "the server did not become ready in 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The real `brickbox` binary, started with exactly `env` (plus PATH), on an ephemeral port.
/// Everything it prints is captured in `output`. Killed on drop if still running.
pub struct BinaryServer {
    pub child: Child,
    pub addr: SocketAddr,
    pub output: Arc<Mutex<String>>,
}

impl BinaryServer {
    pub fn start(env: &[(&str, &str)]) -> BinaryServer {
        BinaryServer::start_binary(env!("CARGO_BIN_EXE_brickbox"), env)
    }

    /// `start` with another build of the binary (benchmarks of a release build).
    pub fn start_binary(binary: &str, env: &[(&str, &str)]) -> BinaryServer {
        let mut cmd = Command::new(binary);
        cmd.args(["serve", "--port", "0"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("brickbox binary starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout piped")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr piped")),
        ] {
            let output = Arc::clone(&output);
            let addr_tx = addr_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        if let Some(addr) =
                            rest.split_whitespace().next().and_then(|a| a.parse().ok())
                        {
                            let _ = addr_tx.send(addr);
                        }
                    }
                    let mut out = output.lock().expect("output lock");
                    out.push_str(&line);
                    out.push('\n');
                }
            });
        }
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                panic!(
                    "brickbox did not report its address; output:\n{}",
                    output.lock().unwrap()
                )
            });
        BinaryServer {
            child,
            addr,
            output,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn output(&self) -> String {
        self.output.lock().expect("output lock").clone()
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Wait for exit; `None` if it is still running after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send raw bytes and read the raw answer (for requests a client library would normalise).
pub fn raw(addr: SocketAddr, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The server may answer and close before reading everything (e.g. a 413): ignore EPIPE.
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A response as the tests see it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error_code` of an error body.
    pub fn code(&self) -> String {
        self.json()["error_code"].as_str().unwrap_or("").to_string()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Send one request. `body` goes out with the given headers as they are.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    let agent = agent();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let result = match body {
        Some(b) => agent.run(builder.body(b.to_vec()).expect("request builds")),
        None => agent.run(builder.body(()).expect("request builds")),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    send("GET", url, headers, None)
}

/// GET with `X-Forwarded-Access-Token: token`.
pub fn get_as(url: &str, token: &str) -> Reply {
    send("GET", url, &[("X-Forwarded-Access-Token", token)], None)
}

/// POST a JSON body with `X-Forwarded-Access-Token: token`.
pub fn post_json(url: &str, token: &str, body: &serde_json::Value) -> Reply {
    send(
        "POST",
        url,
        &[
            ("X-Forwarded-Access-Token", token),
            ("Content-Type", "application/json"),
        ],
        Some(body.to_string().as_bytes()),
    )
}
