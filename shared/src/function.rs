//! The function model. A function is a plain `async fn(Ctx, Request) -> Result<Response, ApiError>`
//! described by a `const Function`; the runtime routes to it, enforces its `Auth` level before
//! calling it, and turns its `ApiError` into the JSON error body. Nothing here knows about hyper,
//! so a function can be called from a unit test or `brickbox invoke` with no server.

use crate::error::{ApiError, ErrorCode, FieldError};
use crate::identity::Identity;
use crate::secret::Secret;
use crate::state::AppState;
use crate::stream::{BodyStream, ResponseStream};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub fn parse(text: &str) -> Option<Method> {
        match text {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
}

/// Who may call a function. Checked by the runtime before the handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Anyone; no identity is resolved.
    Public,
    /// A signed-in user (a valid `X-Forwarded-Access-Token`).
    User,
    /// A signed-in user in one of `ADMIN_GROUPS`.
    Admin,
}

impl Auth {
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Public => "public",
            Auth::User => "user",
            Auth::Admin => "admin",
        }
    }
}

/// A query parameter, for OpenAPI and `brickbox routes`. `schema` is JSON Schema text.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub required: bool,
    pub schema: &'static str,
    pub description: &'static str,
}

/// The content type of server-sent events.
pub const SSE_CONTENT_TYPE: &str = "text/event-stream; charset=utf-8";

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send>>;
pub type Handler = fn(Ctx, Request) -> HandlerFuture;

/// One API function. Each function module declares exactly one `pub const FUNCTION`.
#[derive(Clone, Copy)]
pub struct Function {
    /// Unique, snake_case; what `brickbox invoke NAME` takes.
    pub name: &'static str,
    pub method: Method,
    /// matchit syntax: `/api/preferences/{preference_key}`. Also the metrics `endpoint` label.
    pub path: &'static str,
    pub auth: Auth,
    pub summary: &'static str,
    pub query: &'static [Param],
    /// JSON Schema text of the request body, when the function takes one.
    pub request_body: Option<&'static str>,
    /// Success status and the JSON Schema text of its body (`None` for no body, e.g. 204).
    pub success_status: u16,
    pub response_body: Option<&'static str>,
    /// How the runtime reads the request body: buffered up to a limit (the default,
    /// `RequestBody::DEFAULT`, 1 MiB) or streamed to the function.
    pub body: RequestBody,
    pub handler: Handler,
}

/// How a function takes its request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestBody {
    /// Read whole into `Request::body` before the handler runs, up to `max_bytes` (at most
    /// `MAX_BUFFERED_BODY`; more answers 413 without being read).
    Buffered { max_bytes: usize },
    /// Handed to the handler as `Request::stream` as it arrives, up to `max_bytes` (more answers
    /// 413: at once for a larger `Content-Length`, else when the limit is passed).
    Streamed { max_bytes: u64 },
}

/// The largest body a function may take buffered; anything larger must be streamed.
pub const MAX_BUFFERED_BODY: usize = 1024 * 1024;

impl RequestBody {
    /// A buffered body of at most 1 MiB: what every function takes unless it says otherwise.
    pub const DEFAULT: RequestBody = RequestBody::Buffered {
        max_bytes: MAX_BUFFERED_BODY,
    };

    pub fn max_bytes(self) -> u64 {
        match self {
            RequestBody::Buffered { max_bytes } => max_bytes.min(MAX_BUFFERED_BODY) as u64,
            RequestBody::Streamed { max_bytes } => max_bytes,
        }
    }
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Function({} {} {})",
            self.name,
            self.method.as_str(),
            self.path
        )
    }
}

/// What a function sees of the HTTP request.
#[derive(Debug, Default)]
pub struct Request {
    /// Path parameters from the route template, already percent-decoded.
    pub path_params: Vec<(String, String)>,
    /// The raw query string, without `?`.
    pub query: String,
    pub content_type: Option<String>,
    /// The whole body, for functions with a buffered body (`RequestBody::Buffered`).
    pub body: Vec<u8>,
    /// The body as it arrives, for functions with `RequestBody::Streamed` (then `body` is empty).
    pub stream: Option<BodyStream>,
    /// Request headers a function asked for by name (lowercase), e.g. `range`.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// A request header's value, if the runtime passed it (see `Request::headers`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The streamed body; 500 for a function that did not declare `RequestBody::Streamed`.
    pub fn take_stream(&mut self) -> Result<BodyStream, ApiError> {
        self.stream
            .take()
            .ok_or_else(|| ApiError::internal("the function has no streamed request body"))
    }

    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.path_params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Decoded query pairs; 400 when the query string is malformed.
    pub fn query_pairs(&self) -> Result<Vec<(String, String)>, ApiError> {
        crate::util::parse_query(&self.query)
            .ok_or_else(|| ApiError::invalid_request("The query string has a malformed %-escape."))
    }

    /// The last value of query parameter `name`, if present.
    pub fn query_value(&self, name: &str) -> Result<Option<String>, ApiError> {
        Ok(self
            .query_pairs()?
            .into_iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v))
    }

    /// The media type of the body, lowercased, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.content_type.as_deref().map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// Parse the body as JSON. 415 for another media type (`text/plain` is accepted only when
    /// `allow_text_plain`), 400 for a body that is not JSON at all.
    pub fn json_value(&self, allow_text_plain: bool) -> Result<serde_json::Value, ApiError> {
        match self.media_type().as_deref() {
            Some("application/json") => {}
            Some("text/plain") if allow_text_plain => {}
            other => {
                let allowed = if allow_text_plain {
                    "application/json or text/plain"
                } else {
                    "application/json"
                };
                return Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    format!(
                        "Content-Type {} is not supported: send the body as {allowed}.",
                        other
                            .map(|o| format!("{o:?}"))
                            .unwrap_or_else(|| "(none)".into())
                    ),
                ));
            }
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::invalid_request(format!("The request body is not valid JSON: {e}."))
        })
    }

    /// Parse a JSON body into `T`. Unparseable JSON is 400; a well-formed body whose fields do
    /// not fit `T` is 422 `VALIDATION_FAILED` naming the field (`limit`, `filters.name`,
    /// `items[2]`), type errors included.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let value = self.json_value(false)?;
        match serde_json::from_value::<T>(value.clone()) {
            Ok(v) => Ok(v),
            Err(e) => Err(ApiError::validation(vec![field_of::<T>(&value, &e)])),
        }
    }
}

/// Name the field a `serde_json` error is about. serde names a field only in its "missing
/// field" and "unknown field" messages; for a type error the field is found by taking parts of
/// the body out one at a time: the first whose removal changes the error is the one it is about
/// (descending into objects and arrays). Runs only on the error path, over a body of ≤ 1 MiB.
fn field_of<T: DeserializeOwned>(body: &serde_json::Value, e: &serde_json::Error) -> FieldError {
    let text = e.to_string();
    if let Some(name) = text
        .split('`')
        .nth(1)
        .filter(|_| text.contains("missing field") || text.contains("unknown field"))
    {
        let message = if text.contains("missing field") {
            "is required".to_string()
        } else {
            format!("unknown field ({text})")
        };
        return FieldError {
            field: name.to_string(),
            message,
        };
    }
    let mut path: Vec<PathPart> = Vec::new();
    while let Some(here) = at(body, &path) {
        let parts: Vec<PathPart> = match here {
            serde_json::Value::Object(m) => m.keys().cloned().map(PathPart::Key).collect(),
            // A body that is not an object is wrong as a whole.
            serde_json::Value::Array(a) if !path.is_empty() => {
                (0..a.len()).map(PathPart::Index).collect()
            }
            _ => break,
        };
        let culprit = parts.into_iter().find(|part| {
            let mut without = body.clone();
            remove(&mut without, &path, part);
            match serde_json::from_value::<T>(without) {
                Ok(_) => true,
                Err(other) => other.to_string() != text,
            }
        });
        match culprit {
            Some(part) => path.push(part),
            None => break,
        }
    }
    let field = if path.is_empty() {
        "body".to_string()
    } else {
        path_text(&path)
    };
    FieldError {
        field,
        message: type_message(&text),
    }
}

#[derive(Clone)]
enum PathPart {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a serde_json::Value, path: &[PathPart]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(v, |v, p| match p {
        PathPart::Key(k) => v.get(k),
        PathPart::Index(i) => v.get(*i),
    })
}

fn remove(v: &mut serde_json::Value, path: &[PathPart], part: &PathPart) {
    let parent = path.iter().try_fold(v, |v, p| match p {
        PathPart::Key(k) => v.get_mut(k),
        PathPart::Index(i) => v.get_mut(*i),
    });
    match (parent, part) {
        (Some(serde_json::Value::Object(m)), PathPart::Key(k)) => {
            m.remove(k);
        }
        (Some(serde_json::Value::Array(a)), PathPart::Index(i)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

/// `filters.name`, `items[2].id`.
fn path_text(path: &[PathPart]) -> String {
    let mut out = String::new();
    for p in path {
        match p {
            PathPart::Key(k) if out.is_empty() => out.push_str(k),
            PathPart::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            PathPart::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// serde's "invalid type: string \"x\", expected i64" as "must be an integer (got a string)".
fn type_message(text: &str) -> String {
    let Some((_, expected)) = text.rsplit_once("expected ") else {
        return text.to_string();
    };
    let wanted = match expected.trim() {
        e if e.starts_with('i') || e.starts_with('u') => "must be an integer",
        e if e.starts_with('f') => "must be a number",
        "a string" | "a borrowed string" | "a character" => "must be a string",
        "a boolean" => "must be true or false",
        e if e.starts_with("a sequence") || e.starts_with("an array") => "must be an array",
        e if e.starts_with("struct") || e.starts_with("a map") => "must be a JSON object",
        _ => return text.to_string(),
    };
    let got = text
        .strip_prefix("invalid type: ")
        .or_else(|| text.strip_prefix("invalid value: "))
        .and_then(|t| t.split(", expected").next());
    match got {
        Some(got) => format!("{wanted} (got {got})"),
        None => wanted.to_string(),
    }
}

/// What a function returns on success.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// A streamed body (then `body` is empty): the runtime writes each chunk as it arrives.
    pub stream: Option<ResponseStream>,
}

impl Response {
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<Response, ApiError> {
        // Most bodies are small: one allocation up front instead of a doubling series from 0.
        let mut body = Vec::with_capacity(256);
        serde_json::to_writer(&mut body, value).map_err(ApiError::internal)?;
        Ok(Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
            stream: None,
        })
    }

    pub fn ok<T: Serialize + ?Sized>(value: &T) -> Result<Response, ApiError> {
        Response::json(200, value)
    }

    pub fn text(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
            stream: None,
        }
    }

    /// A streamed body of `content_type`; the function's task sends the chunks to the other half
    /// of `stream` (see `stream::channel`).
    pub fn streamed(status: u16, content_type: &'static str, stream: ResponseStream) -> Response {
        Response {
            stream: Some(stream),
            ..Response::text(status, content_type, Vec::new())
        }
    }

    /// Server-sent events (200): the headers SSE needs through proxies, and the events the
    /// function's task sends with `StreamSender::event`.
    pub fn sse(stream: ResponseStream) -> Response {
        let mut response = Response::streamed(200, SSE_CONTENT_TYPE, stream);
        response
            .headers
            .push(("cache-control", "no-cache, no-transform".to_string()));
        response
            .headers
            .push(("x-accel-buffering", "no".to_string()));
        response
    }

    pub fn empty(status: u16) -> Response {
        Response::text(status, "", Vec::new())
    }
}

/// The context passed to every handler.
#[derive(Clone)]
pub struct Ctx {
    pub state: Arc<AppState>,
    pub correlation_id: String,
    /// The caller, resolved by the runtime for `user` and `admin` functions.
    pub identity: Option<Arc<Identity>>,
    /// The caller's OBO token, for calls to Databricks on their behalf.
    pub token: Option<Secret>,
}

impl Ctx {
    /// The caller's identity. Always present in `user` and `admin` functions.
    pub fn user(&self) -> Result<&Identity, ApiError> {
        self.identity.as_deref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::AuthMissing,
                "Sign in: this function needs the X-Forwarded-Access-Token header.",
            )
        })
    }

    /// A Lakebase connection: 503 `LAKEBASE_NOT_CONFIGURED` when there is no database, 503
    /// `DATABASE_UNAVAILABLE` (with `retry_after`) when it cannot be reached in time or a
    /// statement passes its deadline (10 s; see `db::RequestClient::with_deadline`).
    pub async fn db(&self) -> Result<crate::db::RequestClient, ApiError> {
        match (&self.state.db, &self.state.db_error) {
            (Some(db), _) => db.get().await,
            (None, Some(e)) => Err(ApiError::new(
                ErrorCode::DatabaseUnavailable,
                "The database is configured but unusable; see the server log.",
            )
            .with_retry_after(crate::db::RETRY_AFTER_SECONDS)
            .with_internal(e.clone())),
            (None, None) => Err(ApiError::lakebase_not_configured()),
        }
    }

    /// The caller's OBO token. Always present in `user` and `admin` functions.
    pub fn user_token(&self) -> Result<&Secret, ApiError> {
        self.token.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::AuthMissing,
                "Sign in: this function needs the X-Forwarded-Access-Token header.",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ct: &str, body: &str) -> Request {
        Request {
            content_type: Some(ct.into()),
            body: body.as_bytes().to_vec(),
            ..Request::default()
        }
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
    }

    #[test]
    fn json_bodies_are_checked_in_order() {
        assert_eq!(
            req("text/html", "{}").json::<Body>().unwrap_err().status(),
            415
        );
        assert_eq!(
            req("application/json", "{")
                .json::<Body>()
                .unwrap_err()
                .status(),
            400
        );
        let e = req("application/json; charset=utf-8", r#"{"name":"a","x":1}"#)
            .json::<Body>()
            .unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(e.details.unwrap()["errors"][0]["field"], "x");
        assert!(req("text/plain", "{}").json_value(true).is_ok());
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Query {
        table: String,
        #[serde(default)]
        limit: i64,
        #[serde(default)]
        include_total: bool,
        #[serde(default)]
        filter: Option<Filter>,
        #[serde(default)]
        ids: Vec<u32>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Filter {
        column: String,
    }

    fn field_and_message(body: &str) -> (String, String) {
        let e = req("application/json", body).json::<Query>().unwrap_err();
        assert_eq!(e.status(), 422, "{body}");
        let f = &e.details.unwrap()["errors"][0];
        (
            f["field"].as_str().unwrap().to_string(),
            f["message"].as_str().unwrap().to_string(),
        )
    }

    #[test]
    fn type_errors_name_the_field_never_the_body() {
        let (field, message) = field_and_message(r#"{"table":"t","limit":"ten"}"#);
        assert_eq!(field, "limit");
        assert!(message.starts_with("must be an integer"), "{message}");
        let (field, message) = field_and_message(r#"{"limit":1.5,"table":"t"}"#);
        assert_eq!(
            (field.as_str(), &message[..18]),
            ("limit", "must be an integer")
        );
        assert_eq!(
            field_and_message(r#"{"table":7}"#),
            ("table".into(), "must be a string (got integer `7`)".into())
        );
        assert_eq!(
            field_and_message(r#"{"table":"t","include_total":"yes"}"#).0,
            "include_total"
        );
        assert_eq!(
            field_and_message(r#"{"table":"t","filter":{"column":5}}"#).0,
            "filter.column"
        );
        assert_eq!(
            field_and_message(r#"{"table":"t","filter":{}}"#).0,
            "column",
            "serde names a missing nested field by its own name"
        );
        assert_eq!(
            field_and_message(r#"{"table":"t","ids":[1,2,"x"]}"#).0,
            "ids[2]"
        );
        assert_eq!(field_and_message(r#"{"limit":1}"#).0, "table");
        // Only a body that is not an object at all is about the body as a whole.
        assert_eq!(field_and_message(r#"[1]"#).0, "body");
    }

    #[test]
    fn query_values_are_decoded() {
        let r = Request {
            query: "a=1&time_range=7d&a=2".into(),
            ..Request::default()
        };
        assert_eq!(r.query_value("a").unwrap().as_deref(), Some("2"));
        assert_eq!(r.query_value("b").unwrap(), None);
        let bad = Request {
            query: "a=%zz".into(),
            ..Request::default()
        };
        assert_eq!(bad.query_value("a").unwrap_err().status(), 400);
    }
}
