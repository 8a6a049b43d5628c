//! The Databricks REST client: one ureq agent with timeouts, blocking calls run on tokio's
//! blocking pool (`spawn_blocking`) so they never hold an async worker.
//!
//! It returns the upstream status, body and the headers we use, and parses error bodies in every
//! shape the reference (§10.1) lists — including a numeric `error_code`. Mapping upstream errors
//! to our `ApiError`s is the caller's job, because the right mapping depends on the surface
//! (identity, Unity Catalog, serving). It never retries on its own: retry policy is per surface.

use crate::error::{ApiError, ErrorCode};
use crate::secret::Secret;
use crate::Method;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default overall deadline of one upstream call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound on an upstream body read into memory.
const MAX_BODY: u64 = 64 * 1024 * 1024;

#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// `X-Databricks-Org-Id`: the workspace id (SCIM Me sends it).
    pub org_id: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamError {
    /// `DATABRICKS_HOST` is not set.
    NotConfigured,
    /// No HTTP answer: connection refused or reset, DNS, TLS, or the deadline passed.
    Transport { timeout: bool, message: String },
    /// An HTTP answer with status ≥ 400, its body parsed.
    Api {
        status: u16,
        /// The upstream `error_code`, as text even when it came as a number.
        error_code: String,
        message: String,
        retry_after: Option<u64>,
    },
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::NotConfigured => f.write_str("DATABRICKS_HOST is not set"),
            UpstreamError::Transport {
                timeout: true,
                message,
            } => write!(f, "timed out: {message}"),
            UpstreamError::Transport { message, .. } => write!(f, "transport error: {message}"),
            UpstreamError::Api {
                status,
                error_code,
                message,
                ..
            } => {
                write!(f, "HTTP {status} {error_code}: {message}")
            }
        }
    }
}

pub struct DatabricksClient {
    host: Option<String>,
    agent: ureq::Agent,
    /// `brickbox_upstream_requests_total{service,outcome}`.
    counts: Mutex<HashMap<(&'static str, &'static str), u64>>,
    /// Total wall time spent inside upstream calls, so benchmarks can report server-side time
    /// without the upstream's own latency.
    wait_nanos: AtomicU64,
}

impl DatabricksClient {
    pub fn new(host: Option<String>) -> DatabricksClient {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(DEFAULT_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("brickbox/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        DatabricksClient {
            host,
            agent,
            counts: Mutex::new(HashMap::new()),
            wait_nanos: AtomicU64::new(0),
        }
    }

    /// Total time spent waiting on the workspace since start (all calls, all threads).
    pub fn upstream_wait(&self) -> Duration {
        Duration::from_nanos(self.wait_nanos.load(Ordering::Relaxed))
    }

    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The agent, for surfaces that stream (files): they build their own requests.
    pub(crate) fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// Count one upstream call of `service` in `brickbox_upstream_requests_total`, for surfaces
    /// that make their own requests.
    pub(crate) fn record(&self, service: &'static str, result: Result<(), &UpstreamError>) {
        let outcome = outcome(result);
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry((service, outcome)).or_insert(0) += 1;
        }
    }

    /// One blocking call. `path` starts with `/` and may carry a query string; `body` is JSON.
    pub fn call_blocking(
        &self,
        service: &'static str,
        method: Method,
        path: &str,
        token: &Secret,
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let Some(host) = &self.host else {
            return Err(UpstreamError::NotConfigured);
        };
        let url = format!("{host}{path}");
        let auth = format!("Bearer {}", token.expose());
        let started = Instant::now();
        let result = self.send(method, &url, &auth, "application/json", body, timeout);
        let waited = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.wait_nanos.fetch_add(waited, Ordering::Relaxed);
        self.finish(service, result)
    }

    /// A blocking form-encoded POST with an arbitrary `Authorization` value (OAuth token endpoint).
    pub fn post_form_blocking(
        &self,
        service: &'static str,
        path: &str,
        authorization: &Secret,
        form: &str,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let Some(host) = &self.host else {
            return Err(UpstreamError::NotConfigured);
        };
        let url = format!("{host}{path}");
        let result = self.send(
            Method::Post,
            &url,
            authorization.expose(),
            "application/x-www-form-urlencoded",
            Some(form.as_bytes()),
            None,
        );
        self.finish(service, result)
    }

    /// `call_blocking` on tokio's blocking pool.
    pub async fn call(
        self: &Arc<Self>,
        service: &'static str,
        method: Method,
        path: String,
        token: Secret,
        body: Option<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let client = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            client.call_blocking(service, method, &path, &token, body.as_deref(), timeout)
        })
        .await
        .unwrap_or_else(|e| {
            Err(UpstreamError::Transport {
                timeout: false,
                message: format!("upstream call task failed: {e}"),
            })
        })
    }

    fn send(
        &self,
        method: Method,
        url: &str,
        authorization: &str,
        content_type: &str,
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<UpstreamResponse, UpstreamError> {
        macro_rules! with_config {
            ($builder:expr) => {{
                let b = $builder
                    .header("Authorization", authorization)
                    .header("Accept", "application/json");
                match timeout {
                    Some(t) => b.config().timeout_global(Some(t)).build(),
                    None => b,
                }
            }};
        }
        let result = match method {
            Method::Get => with_config!(self.agent.get(url)).call(),
            Method::Delete => with_config!(self.agent.delete(url)).call(),
            Method::Post | Method::Put | Method::Patch => {
                let builder = match method {
                    Method::Post => self.agent.post(url),
                    Method::Put => self.agent.put(url),
                    _ => self.agent.patch(url),
                };
                with_config!(builder)
                    .header("Content-Type", content_type)
                    .send(body.unwrap_or_default())
            }
        };
        let mut response = result.map_err(transport_error)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let org_id = header("x-databricks-org-id");
        let content_type = header("content-type");
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let reason = header("x-databricks-reason-phrase");
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(transport_error)?;
        if status >= 400 {
            let (error_code, message) = parse_error_body(status, &body, reason.as_deref());
            return Err(UpstreamError::Api {
                status,
                error_code,
                message,
                retry_after,
            });
        }
        Ok(UpstreamResponse {
            status,
            body,
            org_id,
            content_type,
        })
    }

    fn finish(
        &self,
        service: &'static str,
        result: Result<UpstreamResponse, UpstreamError>,
    ) -> Result<UpstreamResponse, UpstreamError> {
        self.record(service, result.as_ref().map(|_| ()));
        result
    }

    /// Count one call made outside this client (a streamed invocation), under the same
    /// `(service, outcome)` labels as `finish`.
    pub(crate) fn count_outcome(&self, service: &'static str, error: Option<&UpstreamError>) {
        let outcome = match error {
            None => "ok",
            Some(UpstreamError::Api { status, .. }) if *status < 500 => "client_error",
            Some(UpstreamError::Api { .. }) => "server_error",
            Some(UpstreamError::Transport { timeout: true, .. }) => "timeout",
            Some(_) => "transport_error",
        };
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry((service, outcome)).or_insert(0) += 1;
        }
    }

    /// Snapshot of `(service, outcome) → count`, for `/metrics`.
    pub fn counts(&self) -> Vec<((&'static str, &'static str), u64)> {
        let mut v: Vec<_> = self
            .counts
            .lock()
            .map(|c| c.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// the workspace rejected the caller's token itself — a 401, or a 403 whose message is
/// about the token ("Invalid access token", "Token is expired"). Every surface maps these the same
/// way, to 401 `AUTH_INVALID` / `AUTH_EXPIRED`; `None` for any other failure.
pub fn token_rejection(status: u16, message: &str) -> Option<ApiError> {
    if status != 401 && status != 403 {
        return None;
    }
    let lower = message.to_lowercase();
    let expired = lower.contains("expired") || lower.contains("expiring");
    // "Provided OAuth token does not have required scopes" mentions a token but is a scope
    // problem, not a bad token.
    let about_token = lower.contains("token") && !lower.contains("scope");
    if expired && (status == 401 || about_token) {
        Some(ApiError::new(
            ErrorCode::AuthExpired,
            "Your access token has expired. Reload the page to sign in again.",
        ))
    } else if status == 401 || about_token {
        Some(ApiError::new(
            ErrorCode::AuthInvalid,
            "The access token was not accepted by the workspace. Reload the page to sign in again.",
        ))
    } else {
        None
    }
}

/// The mapping every data surface (Unity Catalog, SQL, serving) shares for failures it has no
/// more specific answer to: a rejected token as identity maps it, 403 → `PERMISSION_DENIED`,
/// 429 → `RATE_LIMITED`, 5xx or no answer → `SERVICE_UNAVAILABLE`, anything else → 502
/// `UPSTREAM_ERROR`. `what` names the surface in the message ("Unity Catalog").
pub fn map_upstream_error(e: &UpstreamError, what: &str) -> ApiError {
    match e {
        UpstreamError::NotConfigured => ApiError::new(
            ErrorCode::ServiceUnavailable,
            format!("DATABRICKS_HOST is not set, so {what} cannot be reached. Set it to the workspace URL."),
        ),
        UpstreamError::Transport { message, .. } => ApiError::new(
            ErrorCode::ServiceUnavailable,
            format!("{what} could not be reached; try again shortly."),
        )
        .with_retry_after(5)
        .with_internal(message.clone()),
        UpstreamError::Api {
            status,
            error_code,
            message,
            retry_after,
        } => {
            if let Some(rejected) = token_rejection(*status, message) {
                return rejected;
            }
            let internal = format!("HTTP {status} {error_code}: {message}");
            match status {
                403 => ApiError::new(
                    ErrorCode::PermissionDenied,
                    format!(
                        "You do not have permission for this in {what}: {}",
                        crate::error::quote_upstream(message)
                    ),
                )
                .with_internal(internal),
                429 => ApiError::new(
                    ErrorCode::RateLimited,
                    format!("{what} is rate limiting requests; retry after the given delay."),
                )
                .with_retry_after(retry_after.unwrap_or(1).max(1))
                .with_internal(internal),
                500..=599 => ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    format!("{what} is unavailable (HTTP {status}); try again shortly."),
                )
                .with_retry_after(retry_after.unwrap_or(5).max(1))
                .with_internal(internal),
                _ => ApiError::new(
                    ErrorCode::UpstreamError,
                    format!(
                        "{what} answered HTTP {status} {error_code}: {}",
                        crate::error::quote_upstream(message)
                    ),
                )
                .with_internal(internal),
            }
        }
    }
}

/// The `outcome` label of one upstream call.
fn outcome(result: Result<(), &UpstreamError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(UpstreamError::Api { status, .. }) if *status < 500 => "client_error",
        Err(UpstreamError::Api { .. }) => "server_error",
        Err(UpstreamError::Transport { timeout: true, .. }) => "timeout",
        Err(_) => "transport_error",
    }
}

pub(crate) fn transport_error(e: ureq::Error) -> UpstreamError {
    let timeout = matches!(e, ureq::Error::Timeout(_));
    UpstreamError::Transport {
        timeout,
        message: e.to_string(),
    }
}

/// `(error_code, message)` from an error body in any of the shapes of reference §10.1.
pub fn parse_error_body(status: u16, body: &[u8], reason: Option<&str>) -> (String, String) {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(text) {
        let code = match obj.get("error_code") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let message = obj
            .get("message")
            .or_else(|| obj.get("detail"))
            .or_else(|| obj.get("error_description"))
            .or_else(|| obj.get("error"))
            .and_then(|m| m.as_str())
            .map(str::to_string);
        let code = code
            .or_else(|| {
                obj.get("status")
                    .and_then(|s| s.as_str())
                    .map(|s| format!("SCIM_{s}"))
            })
            .or_else(|| {
                obj.get("error")
                    .and_then(|e| e.as_str())
                    .map(str::to_string)
                    .filter(|_| obj.contains_key("error_description"))
            });
        if code.is_some() || message.is_some() {
            return (
                code.unwrap_or_else(|| status_code_name(status).to_string()),
                message
                    .or_else(|| reason.map(str::to_string))
                    .unwrap_or_default(),
            );
        }
    }
    if text.starts_with('<') {
        let between = |open: &str, close: &str| {
            let start = text.find(open)? + open.len();
            let end = text[start..].find(close)? + start;
            Some(text[start..end].trim().to_string())
        };
        let message = between("<pre>", "</pre>")
            .or_else(|| between("<title>", "</title>"))
            .or_else(|| reason.map(str::to_string))
            .unwrap_or_default();
        return (status_code_name(status).to_string(), message);
    }
    if let Some((code, message)) = text.split_once(": ") {
        if !code.is_empty() && code.bytes().all(|c| c.is_ascii_uppercase() || c == b'_') {
            return (code.to_string(), message.to_string());
        }
    }
    let message = if text.is_empty() {
        reason.unwrap_or_default().to_string()
    } else {
        text.to_string()
    };
    (status_code_name(status).to_string(), message)
}

fn status_code_name(status: u16) -> &'static str {
    match status {
        400 => "BAD_REQUEST",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "RESOURCE_CONFLICT",
        429 => "REQUEST_LIMIT_EXCEEDED",
        500 => "INTERNAL_ERROR",
        502 => "BAD_GATEWAY",
        503 => "TEMPORARILY_UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_in_every_shape() {
        assert_eq!(
            parse_error_body(
                403,
                br#"{"error_code": 403, "message": "Invalid access token."}"#,
                None
            ),
            ("403".into(), "Invalid access token.".into())
        );
        assert_eq!(
            parse_error_body(
                404,
                br#"{"error_code":"CATALOG_DOES_NOT_EXIST","message":"nope"}"#,
                None
            ),
            ("CATALOG_DOES_NOT_EXIST".into(), "nope".into())
        );
        assert_eq!(
            parse_error_body(404, br#"{"detail":"User not found","status":"404"}"#, None),
            ("SCIM_404".into(), "User not found".into())
        );
        assert_eq!(
            parse_error_body(
                400,
                br#"{"error":"invalid_client","error_description":"bad secret"}"#,
                None
            ),
            ("invalid_client".into(), "bad secret".into())
        );
        assert_eq!(
            parse_error_body(
                502,
                b"<html><title>Error 502 Bad Gateway</title></html>",
                None
            ),
            ("BAD_GATEWAY".into(), "Error 502 Bad Gateway".into())
        );
        assert_eq!(
            parse_error_body(400, b"INVALID_STATE: warehouse stopped", None),
            ("INVALID_STATE".into(), "warehouse stopped".into())
        );
        assert_eq!(
            parse_error_body(403, b"", Some("Invalid access token.")),
            ("PERMISSION_DENIED".into(), "Invalid access token.".into())
        );
    }
}
