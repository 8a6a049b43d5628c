//! The request path: correlation id → route → token → identity → body → function → response
//! headers → one log line (for a stream, when it ends). Everything HTTP-specific lives here;
//! functions never see hyper.
//!
//! The identity is resolved before the first byte of the body is read, so a request without a
//! valid token never has its body buffered. Buffered bodies have a deadline and share one memory
//! budget; streamed bodies are handed to the function as they arrive (`body_pump`).

use crate::body::{Finish, ResponseBody, StreamBody};
use crate::call::{authorize, run_handler};
use crate::respond::error_response;
use crate::router::{Lookup, Router};
use crate::static_files::StaticFiles;
use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use shared::identity::Identity;
use shared::metrics::{method_label, RequestRecord};
use shared::stream::{body_channel, BodyError, BodySender, ResponseStream};
use shared::{
    util, ApiError, AppState, Auth, ErrorCode, Function, Request, RequestBody, Response, Secret,
};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Request bodies above this answer 413 without being read, unless the function declares a
/// larger streamed body.
pub const MAX_BODY_BYTES: usize = shared::function::MAX_BUFFERED_BODY;
/// A buffered body must be complete this long after the request head arrived; a streamed body
/// may not stall longer than this between chunks. Else 408 and the connection is closed.
pub const BODY_DEADLINE: Duration = Duration::from_secs(30);
/// Buffered request bodies in flight hold at most this much memory together; a body that would
/// pass it answers 503 with `Retry-After: 1`.
pub const BODY_BUDGET_BYTES: u64 = 256 * 1024 * 1024;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

/// What the HTTP layer shares across connections.
pub struct Service {
    pub app: Arc<AppState>,
    pub router: Router,
    pub static_files: StaticFiles,
    /// Bytes of buffered request bodies in flight (see `BODY_BUDGET_BYTES`).
    pub body_bytes_in_flight: AtomicU64,
    /// Set once the server begins to shut down: open streams then get their grace period.
    pub shutting_down: tokio::sync::watch::Sender<bool>,
}

pub type HttpResponse = hyper::Response<ResponseBody>;

/// What the request path needs from the request head, copied out of it when hyper calls the
/// service.
struct Head {
    started: Instant,
    method: hyper::Method,
    version: hyper::Version,
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
    range: Option<String>,
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
            version: parts.version,
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
            range: text(header::RANGE),
        };
        drop(parts);
        async move { Ok(self.respond(head, body).await) }
    }

    async fn respond(&self, mut head: Head, body: Incoming) -> HttpResponse {
        // Moved, not cloned, into the function: an Apps token is a JWT of about 1 KB.
        let token = head.token.take();
        let refused = head.refused.take();
        let correlation_id = head.correlation_id.as_str();
        let (method, path) = (head.method.as_str(), head.path.as_str());
        let is_head = method == "HEAD";
        let is_api = path == "/api" || path.starts_with("/api/");

        // (response, route label, caller, error_code of an error response)
        let (response, route, user, error_code) = match &head.lookup {
            _ if refused.is_some() => {
                let e = refused.as_ref().expect("checked just above");
                let code = Some(e.code.as_str());
                (error_response(e, correlation_id), "<refused>", None, code)
            }
            Lookup::Found { function, params } => {
                let (result, user) = self.call(&head, body, function, params, token).await;
                let (response, code) = match result {
                    Ok(r) => (r, None),
                    Err(e) => {
                        let code = e.code.as_str();
                        (self.log_error(e, correlation_id), Some(code))
                    }
                };
                (response, function.path, user, code)
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
        let (mut http, stream) = into_http(response, correlation_id, is_head);
        if status == 408 && head.version != hyper::Version::HTTP_2 {
            // The body never arrived in time: the connection is not reused.
            http.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let completed = Completed {
            started: head.started,
            method: head.method,
            path: head.path,
            status,
            route,
            is_api,
            user,
            error_code,
            correlation_id: head.correlation_id,
        };
        match stream {
            // A HEAD request gets the head only: dropping the stream tells the function.
            Some(stream) if !is_head => {
                let body = StreamBody::new(
                    stream,
                    Arc::clone(&self.app),
                    completed.correlation_id.clone(),
                    self.shutting_down.subscribe(),
                    Box::new(completed),
                );
                *http.body_mut() = ResponseBody::Stream(Box::new(body));
            }
            _ => completed.record(&self.app),
        }
        http
    }

    /// Run a function: its identity first (before any byte of the body is read), then its body,
    /// buffered or streamed as it declares, then the handler.
    async fn call(
        &self,
        head: &Head,
        body: Incoming,
        function: &'static Function,
        params: &[(String, String)],
        token: Option<Secret>,
    ) -> (Result<Response, ApiError>, Option<Arc<Identity>>) {
        let path_params = match decode_path_params(params) {
            Ok(p) => p,
            Err(e) => return (Err(e), None),
        };
        let identity = match authorize(&self.app, function.auth, token.as_ref()).await {
            Ok(identity) => identity,
            Err(e) => return (Err(e), None),
        };
        let limit = function.body.max_bytes();
        if head.content_length.is_some_and(|n| n > limit) {
            return (Err(too_large(limit)), identity);
        }
        let mut request = Request {
            path_params,
            query: head.query.clone(),
            content_type: head.content_type.clone(),
            ..Request::default()
        };
        if let Some(range) = &head.range {
            request.headers.push(("range".to_string(), range.clone()));
        }
        // Held until the handler returns: the buffered body is in memory until then.
        let mut reservation = Reservation {
            counter: &self.body_bytes_in_flight,
            bytes: 0,
        };
        match function.body {
            RequestBody::Buffered { .. } if body.is_end_stream() => {}
            RequestBody::Buffered { .. } => {
                match read_buffered(head, body, limit, &mut reservation).await {
                    Ok(bytes) => request.body = bytes,
                    Err(e) => return (Err(e), identity),
                }
            }
            RequestBody::Streamed { max_bytes } => {
                let (sender, stream) = body_channel(head.content_length);
                tokio::spawn(body_pump(body, sender, max_bytes));
                request.stream = Some(stream);
            }
        }
        let cid = head.correlation_id.clone();
        let result = run_handler(&self.app, function, identity.clone(), token, request, cid).await;
        drop(reservation);
        (result, identity)
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

    fn log_error(&self, e: ApiError, correlation_id: &str) -> Response {
        if e.status() >= 500 {
            log::error!(target: "brickbox::error", "cid={correlation_id} {e}");
        } else if let Some(internal) = &e.internal {
            log::debug!(target: "brickbox::error", "cid={correlation_id} {}: {internal}", e.code.as_str());
        }
        error_response(&e, correlation_id)
    }
}

/// What one request's log line and metrics row need. Recorded when the response is handed to
/// hyper, or for a streamed response when the stream ends (with the stream's whole duration).
struct Completed {
    started: Instant,
    method: hyper::Method,
    path: String,
    status: u16,
    route: &'static str,
    is_api: bool,
    user: Option<Arc<Identity>>,
    error_code: Option<&'static str>,
    correlation_id: String,
}

impl Completed {
    fn record(self, app: &AppState) {
        let elapsed = self.started.elapsed();
        let method = self.method.as_str();
        // One wall-clock read per request: the log line's time, and (less the duration) the
        // stored row's request time.
        let ended = SystemTime::now();
        // Integer microseconds print the same text as `{:.3}` of the milliseconds, without
        // float (or u128) formatting on every request.
        crate::logging::request(&crate::logging::RequestLine {
            ended,
            method,
            path: &self.path,
            status: self.status,
            micros: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            route: self.route,
            correlation_id: &self.correlation_id,
            user: self
                .user
                .as_deref()
                .map(|u| u.user_name.as_str())
                .unwrap_or("-"),
        });
        let metrics = &app.metrics;
        metrics.observe(self.route, method, self.status, elapsed);
        // Every /api/* request except preflights is stored; the rest only counted.
        if self.is_api && method != "OPTIONS" && metrics.is_collecting() {
            metrics.enqueue(RequestRecord {
                timestamp: ended.checked_sub(elapsed).unwrap_or(ended),
                endpoint: self.route,
                method: method_label(method),
                status_code: self.status,
                response_time_ms: elapsed.as_secs_f64() * 1000.0,
                user: self.user,
                error_type: if self.status >= 400 {
                    self.error_code
                } else {
                    None
                },
                correlation_id: self.correlation_id,
            });
        }
    }
}

impl Finish for Completed {
    fn finish(self: Box<Self>, app: &AppState) {
        self.record(app);
    }
}

/// Bytes of one request's buffered body counted against `BODY_BUDGET_BYTES`; given back on drop.
struct Reservation<'a> {
    counter: &'a AtomicU64,
    bytes: u64,
}

impl Reservation<'_> {
    /// Count `total` bytes for this body (no-op when already counted); false when the budget
    /// has no room.
    fn grow_to(&mut self, total: u64) -> bool {
        if total <= self.bytes {
            return true;
        }
        let more = total - self.bytes;
        let before = self.counter.fetch_add(more, Ordering::AcqRel);
        if before + more > BODY_BUDGET_BYTES {
            self.counter.fetch_sub(more, Ordering::AcqRel);
            return false;
        }
        self.bytes = total;
        true
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.counter.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

fn too_large(limit: u64) -> ApiError {
    let text = if limit == MAX_BODY_BYTES as u64 {
        format!("The request body is larger than {limit} bytes (1 MiB).")
    } else {
        format!("The request body is larger than {limit} bytes.")
    };
    ApiError::new(ErrorCode::PayloadTooLarge, text)
}

fn body_budget_full() -> ApiError {
    ApiError::new(
        ErrorCode::ServiceUnavailable,
        "The server is receiving too many request bodies at once; retry in a moment.",
    )
    .with_retry_after(1)
}

fn decode_path_params(params: &[(String, String)]) -> Result<Vec<(String, String)>, ApiError> {
    params
        .iter()
        .map(|(k, v)| match util::percent_decode(v, false) {
            Some(decoded) => Ok((k.clone(), decoded)),
            None => Err(ApiError::invalid_request(format!(
                "The path parameter {k} has a malformed %-escape."
            ))),
        })
        .collect()
}

/// Read a whole body of at most `limit` bytes, due `BODY_DEADLINE` after the head arrived, with
/// its bytes counted against the shared budget (a declared `Content-Length` up front).
async fn read_buffered(
    head: &Head,
    mut body: Incoming,
    limit: u64,
    reservation: &mut Reservation<'_>,
) -> Result<Vec<u8>, ApiError> {
    if let Some(length) = head.content_length {
        if !reservation.grow_to(length) {
            return Err(body_budget_full());
        }
    }
    let deadline = tokio::time::Instant::from_std(head.started + BODY_DEADLINE);
    // At most `limit` (≤ 1 MiB) up front, so a lying Content-Length cannot reserve more.
    let capacity = head.content_length.unwrap_or(0).min(limit);
    let mut bytes = Vec::with_capacity(capacity as usize);
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(body_timeout()),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(
                    ApiError::invalid_request("The request body could not be read.")
                        .with_internal(e.to_string()),
                )
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let total = (bytes.len() + data.len()) as u64;
        if total > limit {
            return Err(too_large(limit));
        }
        if !reservation.grow_to(total) {
            return Err(body_budget_full());
        }
        bytes.extend_from_slice(&data);
    }
    Ok(bytes)
}

fn body_timeout() -> ApiError {
    ApiError::new(
        ErrorCode::RequestTimeout,
        format!(
            "The request body did not arrive in time: it must be complete within {} s.",
            BODY_DEADLINE.as_secs()
        ),
    )
}

/// Feed a streamed request body to the function, chunk by chunk, as the function takes them
/// (the bounded channel is the back-pressure): at most `max_bytes` in all, and no more than
/// `BODY_DEADLINE` between chunks. Ends when the body ends or the function drops its stream.
async fn body_pump(mut body: Incoming, sender: BodySender, max_bytes: u64) {
    let mut total: u64 = 0;
    loop {
        let frame = tokio::select! {
            frame = tokio::time::timeout(BODY_DEADLINE, body.frame()) => frame,
            // The function returned (or dropped the stream): stop reading.
            _ = sender.closed() => return,
        };
        let failure = match frame {
            Err(_) => BodyError::Stalled,
            Ok(None) => return,
            Ok(Some(Err(e))) => BodyError::Broken(e.to_string()),
            Ok(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                total += data.len() as u64;
                if total > max_bytes {
                    BodyError::TooLarge { limit: max_bytes }
                } else {
                    if sender.send(Ok(data.to_vec())).await.is_err() {
                        return;
                    }
                    continue;
                }
            }
        };
        let _ = sender.send(Err(failure)).await;
        return;
    }
}

/// The request's `X-Correlation-ID` if it is 1–128 characters of `[A-Za-z0-9._:-]`,
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

/// Add the headers every response carries, and the HTML ones.
///
/// Fixed names and values are `from_static` and go straight into a pre-sized `HeaderMap`: the
/// `http::response::Builder` parsed and copied every one of them on every request.
///
/// A streamed response comes back as the head with an empty body, and its stream.
pub fn into_http(
    mut response: Response,
    correlation_id: &str,
    is_head: bool,
) -> (HttpResponse, Option<ResponseStream>) {
    let head = into_http_head(&mut response, correlation_id, is_head);
    (head, response.stream)
}

fn into_http_head(response: &mut Response, correlation_id: &str, is_head: bool) -> HttpResponse {
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
        // A streamed response's length is only known when the function says it.
        if !headers.contains_key(header::CONTENT_LENGTH) && response.stream.is_none() {
            headers.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(response.body.len()),
            );
        }
        Bytes::new()
    } else {
        Bytes::from(std::mem::take(&mut response.body))
    };
    let mut http = hyper::Response::new(ResponseBody::full(body));
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
    let mut fallback = hyper::Response::new(ResponseBody::empty());
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
