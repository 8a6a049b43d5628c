//! A fake Databricks workspace: a real HTTP server on loopback that answers with the shapes and
//! quirks of the real workspace REST API (numeric `error_code` on 403, `Retry-After` on 429,
//! `X-Databricks-Org-Id` on SCIM Me, …) and counts calls per route and token.
//!
//! Each Databricks surface is a module with its own state and `handle` fn; `route` below is the
//! one list of which module answers which path. Tests change behaviour through `FakeWorkspace`
//! methods, which lock the shared state.

pub mod database;
pub mod files;
pub mod genie;
pub mod oauth;
pub mod scim;
pub mod serving;
pub mod sql;
pub mod unity_catalog;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A response body: whole, or streamed (Files API downloads).
pub type FakeBody = BoxBody<Bytes, std::io::Error>;

/// The workspace id the fake reports in `X-Databricks-Org-Id`.
pub const ORG_ID: &str = "900800700600";

pub struct FakeRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lowercased names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl FakeRequest {
    /// The bearer token, if any.
    pub fn bearer(&self) -> Option<&str> {
        self.headers
            .get("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
    }

    pub fn query_value(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| v.replace('+', " ").replace("%20", " "))
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub struct FakeResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (a slow upstream).
    pub delay: Option<Duration>,
}

impl FakeResponse {
    pub fn json(status: u16, body: serde_json::Value) -> FakeResponse {
        FakeResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            delay: None,
        }
    }

    /// The platform's error shape: `{"error_code": …, "message": …}`.
    pub fn error(status: u16, error_code: &str, message: &str) -> FakeResponse {
        FakeResponse::json(
            status,
            serde_json::json!({"error_code": error_code, "message": message}),
        )
    }

    pub fn header(mut self, name: &str, value: &str) -> FakeResponse {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> FakeResponse {
        self.delay = Some(delay);
        self
    }
}

/// Everything the fake knows; each surface keeps its own part.
#[derive(Default)]
pub struct FakeState {
    /// `(path, bearer token or "-") → calls`.
    pub calls: HashMap<(String, String), usize>,
    pub scim: scim::ScimState,
    pub uc: unity_catalog::UcState,
    pub sql: sql::SqlState,
    pub serving: serving::ServingState,
    /// One-shot answers per path, used before any surface answers (error injection).
    pub injected: HashMap<String, VecDeque<FakeResponse>>,
    pub oauth: oauth::OAuthState,
    pub database: database::DatabaseState,
    pub genie: genie::GenieState,
    pub files: files::FilesState,
}

/// Whether `token` belongs to a known user (every data surface accepts only those).
pub fn known_user(state: &FakeState, token: &str) -> bool {
    state
        .scim
        .tokens
        .get(token)
        .is_some_and(|b| matches!(b, scim::Behaviour::User(_)))
}

/// Which module answers which path.
fn route(state: &mut FakeState, req: &FakeRequest) -> FakeResponse {
    if let Some(next) = state
        .injected
        .get_mut(&req.path)
        .and_then(VecDeque::pop_front)
    {
        return next;
    }
    // SCIM, the OAuth token endpoint and the database credential endpoints check their own
    // credentials (user tokens, Basic auth, service-principal tokens the fake issued).
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/2.0/preview/scim/v2/Me") => return scim::me(&mut state.scim, req),
        ("POST", "/oidc/v1/token") => return oauth::token(&mut state.oauth, req),
        ("POST", "/api/2.0/database/credentials") => {
            return database::credentials(
                &mut state.database,
                &state.oauth.issued,
                database::Api::Instance,
                req,
            )
        }
        ("POST", "/api/2.0/postgres/credentials") => {
            return database::credentials(
                &mut state.database,
                &state.oauth.issued,
                database::Api::Endpoint,
                req,
            )
        }
        _ => {}
    }
    // Every other surface accepts only the tokens of known users (the platform's numeric 403).
    let known = req.bearer().is_some_and(|t| known_user(state, t));
    if !known {
        return FakeResponse::json(
            403,
            serde_json::json!({"error_code": 403, "message": "Invalid access token."}),
        )
        .header("X-Databricks-Reason-Phrase", "Invalid access token.");
    }
    let answer = None
        .or_else(|| unity_catalog::route(&mut state.uc, req))
        .or_else(|| sql::route(&mut state.sql, req))
        .or_else(|| serving::route(&mut state.serving, req))
        .or_else(|| genie::route(&mut state.genie, req));
    match answer {
        Some(response) => response,
        None => FakeResponse::error(
            404,
            "ENDPOINT_NOT_FOUND",
            &format!("No API found for '{} {}'", req.method, req.path),
        ),
    }
}

pub struct FakeWorkspace {
    pub addr: SocketAddr,
    state: Arc<Mutex<FakeState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeWorkspace {
    pub fn start() -> FakeWorkspace {
        let state = Arc::new(Mutex::new(FakeState {
            scim: scim::ScimState::with_default_users(),
            ..FakeState::default()
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fake workspace runtime");
            rt.block_on(serve(shared, ready_tx, stopped));
        });
        let addr = ready_rx.recv().expect("fake workspace started");
        FakeWorkspace {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, for `DATABRICKS_HOST`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().expect("fake state lock")
    }

    /// Answer the next call to `path` with `response` (queued after earlier injections).
    pub fn inject(&self, path: &str, response: FakeResponse) {
        self.state()
            .injected
            .entry(path.to_string())
            .or_default()
            .push_back(response);
    }

    /// Calls to `path` made with `token`.
    pub fn calls(&self, path: &str, token: &str) -> usize {
        let key = (path.to_string(), token.to_string());
        self.state().calls.get(&key).copied().unwrap_or(0)
    }

    /// Calls to `path` with any token.
    pub fn total_calls(&self, path: &str) -> usize {
        self.state()
            .calls
            .iter()
            .filter(|((p, _), _)| p == path)
            .map(|(_, n)| n)
            .sum()
    }
}

impl Drop for FakeWorkspace {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    state: Arc<Mutex<FakeState>>,
    ready: std::sync::mpsc::Sender<SocketAddr>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("fake workspace binds");
    ready
        .send(listener.local_addr().expect("bound address"))
        .expect("test waits for the address");
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted { Ok(c) => c, Err(_) => continue },
            _ = &mut stopped => return,
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let state = Arc::clone(&state);
                async move {
                    let (parts, body) = req.into_parts();
                    // The Files API over volumes streams its bodies both ways (model files
                    // under /Models are the serving surface's).
                    if files::handles(parts.uri.path()) {
                        return Ok::<_, std::convert::Infallible>(
                            files::serve(state, parts, body).await,
                        );
                    }
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes().to_vec())
                        .unwrap_or_default();
                    let request = FakeRequest {
                        method: parts.method.to_string(),
                        path: parts.uri.path().to_string(),
                        query: parts.uri.query().unwrap_or("").to_string(),
                        headers: parts
                            .headers
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                            })
                            .collect(),
                        body,
                    };
                    let response = {
                        let mut state = state.lock().expect("fake state lock");
                        let key = (
                            request.path.clone(),
                            request.bearer().unwrap_or("-").to_string(),
                        );
                        *state.calls.entry(key).or_insert(0) += 1;
                        route(&mut state, &request)
                    };
                    if let Some(delay) = response.delay {
                        tokio::time::sleep(delay).await;
                    }
                    let mut builder = hyper::Response::builder().status(response.status);
                    for (k, v) in &response.headers {
                        builder = builder.header(k, v);
                    }
                    Ok::<_, std::convert::Infallible>(
                        builder
                            .body(
                                Full::new(Bytes::from(response.body))
                                    .map_err(|never| match never {})
                                    .boxed(),
                            )
                            .expect("fake response"),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
