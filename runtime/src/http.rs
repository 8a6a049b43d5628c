//! The request path: correlation id → route → body (≤ 1 MiB) → token → function → response
//! headers → one log line. Everything HTTP-specific lives here; functions never see hyper.

use crate::call::call_function;
use crate::respond::error_response;
use crate::router::{Lookup, Router};
use crate::static_files::StaticFiles;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use shared::metrics::{method_label, RequestRecord};
use shared::{util, ApiError, AppState, Auth, ErrorCode, Request, Response, Secret};
use std::convert::Infallible;
use std::future::Future;
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

/// What the request path needs from the request head, copied out of it when hyper calls the
/// service.
struct Head {
    started: Instant,
    method: hyper::Method,
    path: String,
    query: String,
    correlation_id: String,
    lookup: Lookup,
    /// The caller's token, read only when the path is a function.
    token: Option<Secret>,
    /// Refused before routing, auth and the body (`origin`, an ambiguous token): the answer.
    refused: Option<ApiError>,
    content_length: Option<u64>,
    content_type: Option<String>,
    if_none_match: Option<String>,
}

impl Service {
    /// Not an `async fn` on purpose: the request head is copied into a `Head` and dropped when
    /// hyper calls the service, before the returned future first runs. While that future runs,
    /// hyper already reads the connection's next bytes into the buffer the head was parsed from;
    /// as long as a header value or the URI of this request is alive, that buffer is shared and
    /// hyper allocates a fresh 8 KiB one for every request (`perf`: that allocation and the
    /// `malloc_consolidate` it sets off cost more than the few small copies made here).
    pub fn handle(
        self: Arc<Self>,
        peer: SocketAddr,
        req: hyper::Request<Incoming>,
    ) -> impl Future<Output = Result<HttpResponse, Infallible>> + Send + 'static {
        let started = Instant::now();
        let (parts, body) = req.into_parts();
        let headers = &parts.headers;
        let path = parts.uri.path();
        let authority = parts.uri.authority();
        let in_apps = self.app.config.in_apps;
        let mut refused = crate::origin::check(&parts.method, headers, authority, in_apps).err();
        let lookup = self.router.lookup(parts.method.as_str(), path);
        // Public functions never see a token (`call_function`), so it is not looked for.
        let token = match &lookup {
            Lookup::Found { function, .. }
                if function.auth != Auth::Public && refused.is_none() =>
            {
                match self.token(headers, authority, peer) {
                    Ok(token) => token,
                    Err(e) => {
                        refused = Some(e);
                        None
                    }
                }
            }
            _ => None,
        };
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let head = Head {
            started,
            method: parts.method.clone(),
            path: path.to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            correlation_id: correlation_id(headers),
            lookup,
            token,
            refused,
            content_length: headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok()),
            content_type: text(header::CONTENT_TYPE),
            if_none_match: text(header::IF_NONE_MATCH),
        };
        drop(parts);
        async move { Ok(self.respond(head, body).await) }
    }

    async fn respond(&self, mut head: Head, body: Incoming) -> HttpResponse {
        // Moved, not cloned, into the function: an Apps token is a JWT of about 1 KB.
        let token = head.token.take();
        let refused = head.refused.take();
        let Head {
            started,
            method,
            path,
            correlation_id,
            lookup,
            ..
        } = &head;
        let (method, path) = (method.as_str(), path.as_str());
        let is_head = method == "HEAD";
        let is_api = path == "/api" || path.starts_with("/api/");

        // (response, route label, caller, error_code of an error response)
        let (response, route, user, error_code) = match lookup {
            _ if refused.is_some() => {
                let e = refused.as_ref().expect("checked just above");
                let code = Some(e.code.as_str());
                (error_response(e, correlation_id), "<refused>", None, code)
            }
            Lookup::Found { function, params } => {
                let outcome = match self.read_request(&head, body, params).await {
                    Ok(request) => {
                        let cid = correlation_id.clone();
                        call_function(&self.app, function, token, request, cid).await
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
                        (self.log_error(e, correlation_id), Some(code))
                    }
                };
                (response, function.path, outcome.user, code)
            }
            Lookup::MethodNotAllowed { allow, .. } if method == "OPTIONS" => {
                let mut r = Response::empty(204);
                r.headers.push(("allow", allow.clone()));
                (r, "<options>", None, None)
            }
            Lookup::MethodNotAllowed { allow, template } => {
                let e = ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("{method} is not allowed on {path}; use one of: {allow}."),
                );
                let mut r = error_response(&e, correlation_id);
                r.headers.push(("allow", allow.clone()));
                (r, *template, None, Some(e.code.as_str()))
            }
            Lookup::NotFound if is_api => {
                let e = ApiError::new(
                    ErrorCode::NotFound,
                    format!("No function at {path}; GET /openapi.json lists them all."),
                );
                (
                    error_response(&e, correlation_id),
                    "<unmatched>",
                    None,
                    Some(e.code.as_str()),
                )
            }
            Lookup::NotFound if method == "GET" || is_head => {
                let inm = head.if_none_match.as_deref();
                let (response, code) = match self.static_files.serve(path, inm).await {
                    Some(r) => (r, None),
                    None => {
                        let e = ApiError::new(ErrorCode::NotFound, format!("No file at {path}."));
                        (error_response(&e, correlation_id), Some(e.code.as_str()))
                    }
                };
                (response, "<static>", None, code)
            }
            Lookup::NotFound => {
                let e = ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("{method} is not allowed on {path}; static files take GET or HEAD."),
                );
                let mut r = error_response(&e, correlation_id);
                r.headers.push(("allow", "GET, HEAD".to_string()));
                (r, "<static>", None, Some(e.code.as_str()))
            }
        };

        let status = response.status;
        let http = into_http(response, correlation_id, is_head);
        let elapsed = started.elapsed();
        // One wall-clock read per request: the log line's time, and (less the duration) the
        // stored row's request time.
        let ended = SystemTime::now();
        // Integer microseconds print the same text as `{:.3}` of the milliseconds, without
        // float (or u128) formatting on every request.
        crate::logging::request(&crate::logging::RequestLine {
            ended,
            method,
            path,
            status,
            micros: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            route,
            correlation_id,
            user: user.as_deref().map(|u| u.user_name.as_str()).unwrap_or("-"),
        });
        let metrics = &self.app.metrics;
        metrics.observe(route, method, status, elapsed);
        // SPEC §7: every /api/* request except preflights is stored; the rest only counted.
        if is_api && method != "OPTIONS" && metrics.is_collecting() {
            metrics.enqueue(RequestRecord {
                timestamp: ended.checked_sub(elapsed).unwrap_or(ended),
                endpoint: route,
                method: method_label(method),
                status_code: status,
                response_time_ms: elapsed.as_secs_f64() * 1000.0,
                user,
                error_type: if status >= 400 { error_code } else { None },
                correlation_id: head.correlation_id,
            });
        }
        http
    }

    /// The OBO token: `X-Forwarded-Access-Token` trimmed (empty = absent); else, for a local
    /// development server, a request from loopback addressed to a loopback name,
    /// `DATABRICKS_TOKEN`. Two `X-Forwarded-Access-Token` headers are an ambiguous credential.
    fn token(
        &self,
        headers: &HeaderMap,
        authority: Option<&hyper::http::uri::Authority>,
        peer: SocketAddr,
    ) -> Result<Option<Secret>, ApiError> {
        let mut values = headers.get_all(X_FORWARDED_ACCESS_TOKEN).iter();
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::invalid_request(
                "The request carries more than one X-Forwarded-Access-Token header; send exactly one.",
            ));
        }
        let forwarded = first
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        match forwarded {
            Some(t) => Ok(Some(Secret::new(t))),
            None if peer.ip().is_loopback() => match self.app.config.local_dev_token() {
                Some(token) => {
                    crate::origin::check_loopback_host(headers, authority)?;
                    Ok(Some(token.clone()))
                }
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    async fn read_request(
        &self,
        head: &Head,
        body: Incoming,
        params: &[(String, String)],
    ) -> Result<Request, ApiError> {
        let too_large = || {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("The request body is larger than {MAX_BODY_BYTES} bytes (1 MiB)."),
            )
        };
        if head
            .content_length
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(too_large());
        }
        let path_params = params
            .iter()
            .map(|(k, v)| match util::percent_decode(v, false) {
                Some(decoded) => Ok((k.clone(), decoded)),
                None => Err(ApiError::invalid_request(format!(
                    "The path parameter {k} has a malformed %-escape."
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
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
            query: head.query.clone(),
            content_type: head.content_type.clone(),
            body: body.to_vec(),
            stream: None,
            headers: Vec::new(),
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
    [X_CORRELATION_ID, X_REQUEST_ID]
        .iter()
        .filter_map(|name| headers.get(name))
        .find(|v| valid(v))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(util::fast_uuid_v4)
}

/// Add the headers every response carries, and the HTML ones (SPEC §5.1).
///
/// Fixed names and values are `from_static` and go straight into a pre-sized `HeaderMap`: the
/// `http::response::Builder` parsed and copied every one of them on every request.
pub fn into_http(response: Response, correlation_id: &str, is_head: bool) -> HttpResponse {
    // Room for 6 (8 slots): every non-HTML response fits, and the map stays under 1 KiB; glibc
    // serves larger requests from its "large" bins, consolidating the heap first (`perf`
    // showed `malloc_consolidate` per request with `with_capacity(8)`, which is 16 slots).
    let mut headers = HeaderMap::with_capacity(6);
    let Ok(cid) = HeaderValue::from_str(correlation_id) else {
        return internal_error();
    };
    headers.insert(X_CORRELATION_ID, cid);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !response.content_type.is_empty() {
        // Content types are `&'static str`: checked, but not copied.
        let static_bytes = Bytes::from_static(response.content_type.as_bytes());
        let Ok(value) = HeaderValue::from_maybe_shared(static_bytes) else {
            return internal_error();
        };
        headers.insert(header::CONTENT_TYPE, value);
    }
    if response.content_type.starts_with("text/html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        headers.insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
    }
    let has_cache_control = response.headers.iter().any(|(k, _)| *k == "cache-control");
    if response.content_type.starts_with("application/json") && !has_cache_control {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    for (name, value) in &response.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return internal_error();
        };
        headers.append(name, value);
    }
    let body = if is_head {
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(response.body.len()),
        );
        Bytes::new()
    } else {
        Bytes::from(response.body)
    };
    let mut http = hyper::Response::new(Full::new(body));
    *http.headers_mut() = headers;
    match hyper::StatusCode::from_u16(response.status) {
        Ok(status) => *http.status_mut() = status,
        Err(_) => return internal_error(),
    }
    http
}

// Names as constants: a `&str` key is parsed and checked on every lookup.
const X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_ACCESS_TOKEN: HeaderName = HeaderName::from_static("x-forwarded-access-token");

/// A header or status the code produced is invalid: a bug, answered as a bare 500.
fn internal_error() -> HttpResponse {
    let mut fallback = hyper::Response::new(Full::new(Bytes::new()));
    *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_correlation_id_is_the_first_valid_of_x_correlation_id_then_x_request_id() {
        let cid = |pairs| correlation_id(&headers(pairs));
        assert_eq!(
            cid(&[("x-correlation-id", "a-1"), ("x-request-id", "r-1")]),
            "a-1"
        );
        assert_eq!(
            cid(&[("x-request-id", "r-1"), ("x-correlation-id", "a-1")]),
            "a-1"
        );
        assert_eq!(
            cid(&[("x-correlation-id", "bad id"), ("x-request-id", "r-1")]),
            "r-1"
        );
        // Only the first value of a name counts, as with `HeaderMap::get`.
        assert_eq!(
            cid(&[
                ("x-correlation-id", "bad id"),
                ("x-correlation-id", "a-2"),
                ("x-request-id", "r-1")
            ]),
            "r-1"
        );
        let fresh = cid(&[("host", "x"), ("x-correlation-id", "")]);
        assert_eq!(fresh.len(), 36, "{fresh}");
        assert_ne!(fresh, cid(&[]));
    }
}
