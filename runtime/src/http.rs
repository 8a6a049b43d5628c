//! The request path: correlation id → route → body (≤ 1 MiB) → token → function → response
//! headers → one log line. Everything HTTP-specific lives here; functions never see hyper.

use crate::call::call_function;
use crate::respond::error_response;
use crate::router::{Lookup, Router};
use crate::static_files::StaticFiles;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue};
use shared::metrics::{method_label, RequestRecord};
use shared::{util, ApiError, AppState, ErrorCode, Request, Response, Secret};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Request bodies above this answer 413 without being read (SPEC §5.1).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

/// What the HTTP layer shares across connections.
pub struct Service {
    pub app: Arc<AppState>,
    pub router: Router,
    pub static_files: StaticFiles,
}

pub type HttpResponse = hyper::Response<Full<Bytes>>;

impl Service {
    pub async fn handle(
        self: Arc<Self>,
        peer: SocketAddr,
        req: hyper::Request<Incoming>,
    ) -> Result<HttpResponse, std::convert::Infallible> {
        let started = Instant::now();
        let timestamp = SystemTime::now();
        let headers = req.headers();
        let correlation_id = correlation_id(headers);
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let is_head = method == "HEAD";
        let is_api = path == "/api" || path.starts_with("/api/");

        // (response, route label, caller, error_code of an error response)
        let (response, route, user, error_code) = match self.router.lookup(&method, &path) {
            Lookup::Found { function, params } => {
                let token = self.token(headers, peer);
                let outcome = match self.read_request(req, params).await {
                    Ok(request) => {
                        call_function(&self.app, function, token, request, correlation_id.clone())
                            .await
                    }
                    Err(e) => crate::call::Outcome {
                        result: Err(e),
                        user: None,
                    },
                };
                let (response, code) = match outcome.result {
                    Ok(r) => (r, None),
                    Err(e) => {
                        let code = e.code.as_str();
                        (self.log_error(e, &correlation_id), Some(code))
                    }
                };
                (response, function.path, outcome.user, code)
            }
            Lookup::MethodNotAllowed { allow, .. } if method == "OPTIONS" => {
                let mut r = Response::empty(204);
                r.headers.push(("allow", allow));
                (r, "<options>", None, None)
            }
            Lookup::MethodNotAllowed { allow, template } => {
                let e = ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("{method} is not allowed on {path}; use one of: {allow}."),
                );
                let mut r = error_response(&e, &correlation_id);
                r.headers.push(("allow", allow));
                (r, template, None, Some(e.code.as_str()))
            }
            Lookup::NotFound if is_api => {
                let e = ApiError::new(
                    ErrorCode::NotFound,
                    format!("No function at {path}; GET /openapi.json lists them all."),
                );
                (
                    error_response(&e, &correlation_id),
                    "<unmatched>",
                    None,
                    Some(e.code.as_str()),
                )
            }
            Lookup::NotFound if method == "GET" || is_head => {
                let inm = headers.get("if-none-match").and_then(|v| v.to_str().ok());
                let (response, code) = match self.static_files.serve(&path, inm).await {
                    Some(r) => (r, None),
                    None => {
                        let e = ApiError::new(ErrorCode::NotFound, format!("No file at {path}."));
                        (error_response(&e, &correlation_id), Some(e.code.as_str()))
                    }
                };
                (response, "<static>", None, code)
            }
            Lookup::NotFound => {
                let e = ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("{method} is not allowed on {path}; static files take GET or HEAD."),
                );
                let mut r = error_response(&e, &correlation_id);
                r.headers.push(("allow", "GET, HEAD".to_string()));
                (r, "<static>", None, Some(e.code.as_str()))
            }
        };

        let status = response.status;
        let http = into_http(response, &correlation_id, is_head);
        let elapsed = started.elapsed();
        log::info!(
            target: "brickbox::request",
            "{method} {path} {status} {:.3}ms route={route} cid={correlation_id} user={}",
            elapsed.as_secs_f64() * 1000.0,
            user.as_deref().map(|u| u.user_name.as_str()).unwrap_or("-"),
        );
        let metrics = &self.app.metrics;
        metrics.observe(route, &method, status, elapsed);
        // SPEC §7: every /api/* request except preflights is stored; the rest only counted.
        if is_api && method != "OPTIONS" && metrics.is_collecting() {
            metrics.enqueue(RequestRecord {
                timestamp,
                endpoint: route,
                method: method_label(&method),
                status_code: status,
                response_time_ms: elapsed.as_secs_f64() * 1000.0,
                user,
                error_type: if status >= 400 { error_code } else { None },
                correlation_id,
            });
        }
        Ok(http)
    }

    /// The OBO token: `X-Forwarded-Access-Token` trimmed (empty = absent); else, for a local
    /// development server and a request from loopback, `DATABRICKS_TOKEN`.
    fn token(&self, headers: &HeaderMap, peer: SocketAddr) -> Option<Secret> {
        let forwarded = headers
            .get("x-forwarded-access-token")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        match forwarded {
            Some(t) => Some(Secret::new(t)),
            None if peer.ip().is_loopback() => self.app.config.local_dev_token().cloned(),
            None => None,
        }
    }

    async fn read_request(
        &self,
        req: hyper::Request<Incoming>,
        params: Vec<(String, String)>,
    ) -> Result<Request, ApiError> {
        let too_large = || {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("The request body is larger than {MAX_BODY_BYTES} bytes (1 MiB)."),
            )
        };
        let declared = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let path_params = params
            .into_iter()
            .map(|(k, v)| match util::percent_decode(&v, false) {
                Some(decoded) => Ok((k, decoded)),
                None => Err(ApiError::invalid_request(format!(
                    "The path parameter {k} has a malformed %-escape."
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (parts, body) = req.into_parts();
        let body = Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    too_large()
                } else {
                    ApiError::invalid_request("The request body could not be read.")
                        .with_internal(e.to_string())
                }
            })?
            .to_bytes();
        Ok(Request {
            path_params,
            query: parts.uri.query().unwrap_or("").to_string(),
            content_type: parts
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: body.to_vec(),
        })
    }

    fn log_error(&self, e: ApiError, correlation_id: &str) -> Response {
        if e.status() >= 500 {
            log::error!(target: "brickbox::error", "cid={correlation_id} {e}");
        } else if let Some(internal) = &e.internal {
            log::debug!(target: "brickbox::error", "cid={correlation_id} {}: {internal}", e.code.as_str());
        }
        error_response(&e, correlation_id)
    }
}

/// SPEC §5.1: the request's `X-Correlation-ID` if it is 1–128 characters of `[A-Za-z0-9._:-]`,
/// else the proxy's `X-Request-Id` under the same rule, else a new UUID v4.
pub fn correlation_id(headers: &HeaderMap) -> String {
    let valid = |v: &HeaderValue| {
        let b = v.as_bytes();
        (1..=128).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
    };
    ["x-correlation-id", "x-request-id"]
        .iter()
        .filter_map(|name| headers.get(*name))
        .find(|v| valid(v))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(util::fast_uuid_v4)
}

/// Add the headers every response carries, and the HTML ones (SPEC §5.1).
pub fn into_http(response: Response, correlation_id: &str, is_head: bool) -> HttpResponse {
    let mut builder = hyper::Response::builder()
        .status(response.status)
        .header("x-correlation-id", correlation_id)
        .header("x-content-type-options", "nosniff");
    if !response.content_type.is_empty() {
        builder = builder.header("content-type", response.content_type);
    }
    if response.content_type.starts_with("text/html") {
        builder = builder
            .header("content-security-policy", CSP)
            .header("referrer-policy", "same-origin")
            .header("x-frame-options", "SAMEORIGIN");
    }
    let has_cache_control = response.headers.iter().any(|(k, _)| *k == "cache-control");
    if response.content_type.starts_with("application/json") && !has_cache_control {
        builder = builder.header("cache-control", "no-store");
    }
    for (name, value) in &response.headers {
        builder = builder.header(*name, value);
    }
    let body = if is_head {
        builder = builder.header("content-length", response.body.len());
        Bytes::new()
    } else {
        Bytes::from(response.body)
    };
    builder.body(Full::new(body)).unwrap_or_else(|_| {
        let mut fallback = hyper::Response::new(Full::new(Bytes::new()));
        *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}
