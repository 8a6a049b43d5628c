//! Files in Unity Catalog Volumes, through the Files API (`/api/2.0/fs/files{path}` and
//! `/api/2.0/fs/directories{path}`), always with the caller's token.
//!
//! * Paths are checked by `validate_path` before any upstream call, and percent-encoded one
//!   segment at a time (`/` kept between segments).
//! * Transfers never hold a file in memory. A download reads the upstream body in 256 KiB pieces
//!   on a blocking thread and sends each down the response stream, which is a bounded channel:
//!   a slow client slows the upstream read. An upload gives ureq a `Read` over the chunks of the
//!   request body, fed from the async side through a bounded channel.
//! * An upload that does not reach its end (the client went away, the body broke, it passed the
//!   limit) makes the reader fail, so ureq never finishes the upstream request: the workspace
//!   sees a cut body and stores nothing.
//! * `overwrite` is always sent; without it the Files API would replace an existing file.

use crate::databricks::client::{parse_error_body, token_rejection, transport_error};
use crate::databricks::{map_upstream_error, DatabricksClient, UpstreamError};
use crate::error::{ApiError, ErrorCode};
use crate::secret::Secret;
use crate::stream::{BodyStream, StreamSender};
use crate::util::percent_encode;
use serde::Serialize;
use serde_json::Value;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The largest file the Files API takes in one `PUT`.
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// The longest path accepted, in characters.
pub const MAX_PATH_CHARS: usize = 4096;
/// Entries a listing returns at most; beyond it the answer says `truncated`.
pub const MAX_LIST_ENTRIES: usize = 10_000;
/// The Files API's largest page.
const PAGE_SIZE: usize = 1000;
/// Size of the pieces a download reads from the workspace (the response stream queues a few).
pub const CHUNK_BYTES: usize = 256 * 1024;
/// Upload chunks queued between the request body and the upstream writer.
const UPLOAD_QUEUE: usize = 8;
/// A transfer may stall this long (no byte read or written) before it fails.
const STALL: Duration = Duration::from_secs(60);
/// Time the workspace may take to answer a completed upload.
const UPLOAD_ANSWER: Duration = Duration::from_secs(300);
const SERVICE: &str = "files";
const WHAT: &str = "the Files API";

/// Why a path is refused, or `None` for a valid volume path. A trailing `/` is allowed (and
/// ignored by `validate_path`).
pub fn path_problem(raw: &str) -> Option<&'static str> {
    if raw.is_empty() {
        return Some("is empty");
    }
    if raw.chars().count() > MAX_PATH_CHARS {
        return Some("is longer than 4096 characters");
    }
    if raw.chars().any(char::is_control) {
        return Some("contains a NUL or control character");
    }
    let Some(rest) = raw.strip_prefix("/Volumes/") else {
        return Some("is not an absolute path under /Volumes/");
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Some("has an empty segment (`//`)");
    }
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Some("has a `.` or `..` segment");
    }
    if segments.len() < 3 {
        return Some("does not name a volume (/Volumes/<catalog>/<schema>/<volume>)");
    }
    None
}

/// The path without its trailing `/`, or 400 `INVALID_PATH` before any upstream call.
pub fn validate_path(raw: &str) -> Result<String, ApiError> {
    match path_problem(raw) {
        None => Ok(raw.strip_suffix('/').unwrap_or(raw).to_string()),
        Some(problem) => Err(ApiError::new(
            ErrorCode::InvalidPath,
            format!(
                "The path {problem}: use an absolute path /Volumes/<catalog>/<schema>/<volume>[/…] of at most 4096 characters, without `.`, `..` or empty segments and without control characters."
            ),
        )
        .with_details(serde_json::json!({"errors": [{"field": "path", "message": problem}]}))),
    }
}

/// `/Volumes/a b/c` → `/Volumes/a%20b/c`: each segment percent-encoded, `/` kept between them.
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// The last segment of a validated path.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn files_path(path: &str) -> String {
    format!("/api/2.0/fs/files{}", encode_path(path))
}

fn directories_path(path: &str) -> String {
    format!("/api/2.0/fs/directories{}", encode_path(path))
}

/// One entry of a directory listing.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Entry {
    pub name: String,
    pub path: String,
    pub is_directory: bool,
    pub size: Option<u64>,
    pub modified_at: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Listing {
    pub path: String,
    pub entries: Vec<Entry>,
    pub truncated: bool,
}

/// Directories first, then by name ignoring case (then exactly, so the order is total). Each
/// name is lowercased once, not once per comparison.
pub fn sort_entries(entries: &mut Vec<Entry>) {
    let mut keyed: Vec<(bool, String, Entry)> = entries
        .drain(..)
        .map(|e| (!e.is_directory, e.name.to_lowercase(), e))
        .collect();
    keyed.sort_unstable_by(|a, b| {
        (a.0, &a.1)
            .cmp(&(b.0, &b.1))
            .then_with(|| a.2.name.cmp(&b.2.name))
    });
    entries.extend(keyed.into_iter().map(|(_, _, e)| e));
}

/// One entry of an upstream page, read leniently: a missing name comes from the path, a
/// missing path from the directory and the name, a missing `is_directory` is a file.
fn parse_entry(dir: &str, item: &Value) -> Option<Entry> {
    let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
    let path = text("path");
    let name = text("name").or_else(|| {
        path.as_deref()
            .map(|p| file_name(p.trim_end_matches('/')).to_string())
    })?;
    let path = path.unwrap_or_else(|| format!("{dir}/{name}"));
    let path = path.strip_suffix('/').unwrap_or(&path).to_string();
    let is_directory = item
        .get("is_directory")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let size = if is_directory {
        None
    } else {
        item.get("file_size").and_then(Value::as_u64)
    };
    let modified_at = item
        .get("last_modified")
        .and_then(Value::as_i64)
        .and_then(|ms| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
        })
        .map(crate::util::rfc3339);
    Some(Entry {
        name,
        path,
        is_directory,
        size,
        modified_at,
    })
}

/// An answer of the workspace: status, the headers the transfers pass on, and the body (read
/// whole only for small answers: JSON pages and errors).
struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: ureq::Body,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    fn read_small(&mut self) -> Result<Vec<u8>, UpstreamError> {
        self.body
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_vec()
            .map_err(transport_error)
    }

    /// The upstream error of a status ≥ 400; its body read and kept whole for `map_error`.
    fn into_error(mut self) -> FilesError {
        let body = self.read_small().unwrap_or_default();
        let reason = self.header("x-databricks-reason-phrase");
        let retry_after = self
            .header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let (error_code, message) = parse_error_body(self.status, &body, reason.as_deref());
        FilesError {
            upstream: UpstreamError::Api {
                status: self.status,
                error_code,
                message,
                retry_after,
            },
            body,
        }
    }
}

/// A failure of a Files API call, with the raw error body for the reasons only it carries
/// (`details[].reason`).
#[derive(Debug)]
struct FilesError {
    upstream: UpstreamError,
    body: Vec<u8>,
}

impl From<UpstreamError> for FilesError {
    fn from(upstream: UpstreamError) -> FilesError {
        FilesError {
            upstream,
            body: Vec::new(),
        }
    }
}

/// What a call is doing, for the error mapping: a 409 means different things to an upload and
/// to a new directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    List,
    Download,
    Upload,
    Delete,
    CreateDirectory,
    Head,
}

/// Whether an error body names the non-empty-directory reason (google.rpc `ErrorInfo` in
/// `details`, or the code or the message itself).
fn is_directory_not_empty(error_code: &str, message: &str, body: &[u8]) -> bool {
    const REASON: &str = "FILES_API_DIRECTORY_IS_NOT_EMPTY";
    if error_code == REASON || message.to_lowercase().contains("not empty") {
        return true;
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("details").and_then(Value::as_array).cloned())
        .is_some_and(|details| {
            details
                .iter()
                .any(|d| d.get("reason").and_then(Value::as_str) == Some(REASON))
        })
}

fn map_error(e: FilesError, op: Op, path: &str) -> ApiError {
    if let UpstreamError::Api {
        status,
        error_code,
        message,
        ..
    } = &e.upstream
    {
        if token_rejection(*status, message).is_none() {
            let internal = format!("HTTP {status} {error_code}: {message}");
            let quoted = crate::error::quote_upstream(message);
            match (status, op) {
                (404, _) => {
                    return ApiError::new(
                        ErrorCode::FileNotFound,
                        format!("{path} does not exist (or is not visible to you)."),
                    )
                    .with_internal(internal)
                }
                (403, _) => {
                    return ApiError::new(
                        ErrorCode::PermissionDenied,
                        format!("You do not have permission for {path}: {quoted}"),
                    )
                    .with_internal(internal)
                }
                (409, Op::Upload) => return file_exists(path).with_internal(internal),
                (409, Op::CreateDirectory) => {
                    return ApiError::new(
                        ErrorCode::FileExists,
                        format!("{path} is an existing file, so it cannot be a directory."),
                    )
                    .with_internal(internal)
                }
                (400 | 409, Op::Delete) if is_directory_not_empty(error_code, message, &e.body) => {
                    return ApiError::new(
                        ErrorCode::DirectoryNotEmpty,
                        format!(
                            "{path} is a directory that is not empty: delete what is in it first."
                        ),
                    )
                    .with_internal(internal)
                }
                (416, Op::Download) => return ApiError::invalid_request(
                    "The Range cannot be satisfied for this file: ask for bytes inside its size.",
                )
                .with_internal(internal),
                _ => {}
            }
        }
    }
    map_upstream_error(&e.upstream, WHAT)
}

fn file_exists(path: &str) -> ApiError {
    ApiError::new(
        ErrorCode::FileExists,
        format!("{path} already exists: upload with overwrite=true to replace it."),
    )
}

/// One small call: the whole answer read for errors and JSON, counted for `/metrics`.
fn call(
    client: &DatabricksClient,
    method: &str,
    upstream_path: &str,
    token: &Secret,
) -> Result<(u16, Vec<u8>), FilesError> {
    let result = (|| {
        let mut answer = send(client, method, upstream_path, token, &[], None, None)?;
        if answer.status >= 400 {
            return Err(answer.into_error());
        }
        let body = answer.read_small()?;
        Ok((answer.status, body))
    })();
    client.record(
        SERVICE,
        result.as_ref().map(|_| ()).map_err(|e| &e.upstream),
    );
    result
}

/// Send one request. `body` (a reader) makes it a streamed upload; `transfer` removes the
/// overall deadline in favour of a stall limit.
fn send(
    client: &DatabricksClient,
    method: &str,
    upstream_path: &str,
    token: &Secret,
    headers: &[(&str, &str)],
    body: Option<Box<dyn Read + Send>>,
    transfer: Option<Duration>,
) -> Result<Answer, FilesError> {
    let host = client.host().ok_or(UpstreamError::NotConfigured)?;
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{host}{upstream_path}"))
        .header("Authorization", format!("Bearer {}", token.expose()));
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let agent = client.agent();
    let result = match body {
        None => {
            let request = builder.body(()).map_err(bad_request)?;
            let request = match transfer {
                Some(answer) => agent
                    .configure_request(request)
                    .timeout_global(None)
                    .timeout_recv_response(Some(answer))
                    .timeout_per_read(Some(STALL))
                    .build(),
                None => request,
            };
            agent.run(request)
        }
        Some(reader) => {
            let request = builder
                .body(ureq::SendBody::from_owned_reader(reader))
                .map_err(bad_request)?;
            let request = agent
                .configure_request(request)
                .timeout_global(None)
                .timeout_recv_response(Some(transfer.unwrap_or(UPLOAD_ANSWER)))
                .timeout_per_write(Some(STALL))
                .timeout_per_read(Some(STALL))
                .build();
            agent.run(request)
        }
    };
    let response = result.map_err(transport_error)?;
    let (parts, body) = response.into_parts();
    Ok(Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

fn bad_request(e: ureq::http::Error) -> FilesError {
    UpstreamError::Transport {
        timeout: false,
        message: format!("request could not be built: {e}"),
    }
    .into()
}

/// Run `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(format!("files task failed: {e}"))))
}

/// The entries of a directory: every page followed, at most `MAX_LIST_ENTRIES` (then
/// `truncated`), sorted directories first and then by name.
pub async fn list(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    path: &str,
) -> Result<Listing, ApiError> {
    let (client, token, path) = (Arc::clone(client), token.clone(), path.to_string());
    blocking(move || {
        let base = directories_path(&path);
        let mut entries = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut query = format!("?page_size={PAGE_SIZE}");
            if let Some(t) = &page_token {
                query.push_str("&page_token=");
                query.push_str(&percent_encode(t));
            }
            let (_, body) = call(&client, "GET", &format!("{base}{query}"), &token)
                .map_err(|e| map_error(e, Op::List, &path))?;
            let page: Value = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body).map_err(|e| {
                    ApiError::new(
                        ErrorCode::UpstreamError,
                        "The Files API answered a listing that is not JSON.",
                    )
                    .with_internal(e.to_string())
                })?
            };
            if let Some(items) = page.get("contents").and_then(Value::as_array) {
                entries.extend(items.iter().filter_map(|item| parse_entry(&path, item)));
            }
            page_token = page
                .get("next_page_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if page_token.is_none() || entries.len() > MAX_LIST_ENTRIES {
                break;
            }
        }
        let truncated = entries.len() > MAX_LIST_ENTRIES;
        entries.truncate(MAX_LIST_ENTRIES);
        sort_entries(&mut entries);
        Ok(Listing {
            path,
            entries,
            truncated,
        })
    })
    .await
}

/// Whether a file exists at `path` (`HEAD`): 404 is `false`; other failures are errors.
pub async fn exists(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    path: &str,
) -> Result<bool, ApiError> {
    let (client, token, path) = (Arc::clone(client), token.clone(), path.to_string());
    blocking(
        move || match call(&client, "HEAD", &files_path(&path), &token) {
            Ok(_) => Ok(true),
            Err(FilesError {
                upstream: UpstreamError::Api { status: 404, .. },
                ..
            }) => Ok(false),
            Err(e) => Err(map_error(e, Op::Head, &path)),
        },
    )
    .await
}

/// Delete a file, or an empty directory. Which one it is comes from `HEAD` on the directory
/// (200 for a directory, 404 otherwise).
pub async fn delete(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    path: &str,
) -> Result<(), ApiError> {
    let (client, token, path) = (Arc::clone(client), token.clone(), path.to_string());
    blocking(move || {
        let is_directory = match call(&client, "HEAD", &directories_path(&path), &token) {
            Ok(_) => true,
            Err(FilesError {
                upstream: UpstreamError::Api { status: 404, .. },
                ..
            }) => false,
            Err(e) => return Err(map_error(e, Op::Delete, &path)),
        };
        let target = if is_directory {
            directories_path(&path)
        } else {
            files_path(&path)
        };
        call(&client, "DELETE", &target, &token).map_err(|e| map_error(e, Op::Delete, &path))?;
        Ok(())
    })
    .await
}

/// Create a directory and its parents (idempotent over directories; 409 over a file).
pub async fn create_directory(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    path: &str,
) -> Result<(), ApiError> {
    let (client, token, path) = (Arc::clone(client), token.clone(), path.to_string());
    blocking(move || {
        call(&client, "PUT", &directories_path(&path), &token)
            .map_err(|e| map_error(e, Op::CreateDirectory, &path))?;
        Ok(())
    })
    .await
}

/// What the workspace answered a download with, for the response head.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownloadHead {
    /// 200, or 206 for a `Range`.
    pub status: u16,
    pub content_length: Option<String>,
    pub content_range: Option<String>,
    pub last_modified: Option<String>,
    pub accept_ranges: Option<String>,
}

/// Start a download. Once the workspace has answered 2xx this returns its head, and a blocking
/// task goes on reading the body in `CHUNK_BYTES` pieces and sending each to `sender` until the
/// end (then the sender is dropped: the stream is complete), the client leaves (the upstream
/// connection is closed), or the upstream breaks (the stream is aborted, so the client sees a
/// cut body, never a short file taken as whole). Failures before the head are errors.
pub async fn download(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    path: &str,
    range: Option<&str>,
    sender: StreamSender,
) -> Result<DownloadHead, ApiError> {
    let (client, token, path) = (Arc::clone(client), token.clone(), path.to_string());
    let range = range.map(str::to_string);
    let runtime = tokio::runtime::Handle::current();
    let (head_tx, head_rx) = oneshot::channel::<Result<DownloadHead, ApiError>>();
    tokio::task::spawn_blocking(move || {
        let mut headers = vec![("Accept", "application/octet-stream")];
        if let Some(r) = &range {
            headers.push(("Range", r.as_str()));
        }
        let started = send(
            &client,
            "GET",
            &files_path(&path),
            &token,
            &headers,
            None,
            Some(STALL),
        )
        .and_then(|answer| {
            if answer.status >= 400 {
                Err(answer.into_error())
            } else {
                Ok(answer)
            }
        });
        client.record(
            SERVICE,
            started.as_ref().map(|_| ()).map_err(|e| &e.upstream),
        );
        let answer = match started {
            Ok(answer) => answer,
            Err(e) => {
                let _ = head_tx.send(Err(map_error(e, Op::Download, &path)));
                return;
            }
        };
        let head = DownloadHead {
            status: if answer.status == 206 { 206 } else { 200 },
            content_length: answer.header("content-length"),
            content_range: answer.header("content-range"),
            last_modified: answer.header("last-modified"),
            accept_ranges: answer.header("accept-ranges"),
        };
        if head_tx.send(Ok(head)).is_err() {
            return;
        }
        let mut reader = answer.body.into_reader();
        loop {
            // One piece of up to `CHUNK_BYTES`, read straight into the buffer that is sent (no
            // copy, no zeroing): fewer, larger pieces cost less per byte on the way out.
            let mut piece = Vec::with_capacity(CHUNK_BYTES);
            let read = (&mut reader)
                .take(CHUNK_BYTES as u64)
                .read_to_end(&mut piece);
            if let Err(e) = read {
                log::warn!(target: "brickbox::files", "download of {path} broke: {e}");
                runtime.block_on(sender.abort());
                return;
            }
            let ended = piece.len() < CHUNK_BYTES;
            if !piece.is_empty() && runtime.block_on(sender.send(piece)).is_err() {
                // The client went away: dropping the reader closes the upstream connection.
                return;
            }
            if ended {
                return;
            }
        }
    });
    head_rx.await.unwrap_or_else(|_| {
        Err(ApiError::internal(
            "the download task ended before its head",
        ))
    })
}

/// What feeds an upload's reader.
enum Feed {
    Data(Vec<u8>),
    /// The whole body has been read: the reader may report its end.
    End,
}

/// `Read` over the chunks of a request body. The channel closing without `Feed::End` (the
/// client went away, the body broke or was too large) is an error, so ureq never completes
/// the request.
struct ChannelReader {
    receiver: mpsc::Receiver<Feed>,
    current: Vec<u8>,
    position: usize,
    ended: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.position < self.current.len() {
                let n = out.len().min(self.current.len() - self.position);
                out[..n].copy_from_slice(&self.current[self.position..self.position + n]);
                self.position += n;
                return Ok(n);
            }
            if self.ended {
                return Ok(0);
            }
            match self.receiver.blocking_recv() {
                Some(Feed::Data(chunk)) => {
                    self.current = chunk;
                    self.position = 0;
                }
                Some(Feed::End) => self.ended = true,
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "the upload was abandoned before its end",
                    ))
                }
            }
        }
    }
}

/// Stream `body` to `PUT /api/2.0/fs/files{path}?overwrite=…`, at most `max_bytes`; the number
/// of bytes stored. A body that does not reach its end is never completed upstream.
pub async fn upload(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    path: &str,
    overwrite: bool,
    mut body: BodyStream,
    max_bytes: u64,
) -> Result<u64, ApiError> {
    let declared = body.content_length;
    if declared.is_some_and(|n| n > max_bytes) {
        return Err(too_large(max_bytes));
    }
    let (feed, receiver) = mpsc::channel::<Feed>(UPLOAD_QUEUE);
    let reader = ChannelReader {
        receiver,
        current: Vec::new(),
        position: 0,
        ended: false,
    };
    let task = {
        let (client, token, path) = (Arc::clone(client), token.clone(), path.to_string());
        tokio::task::spawn_blocking(move || {
            let upstream_path = format!(
                "{}?overwrite={}",
                files_path(&path),
                if overwrite { "true" } else { "false" }
            );
            let length = declared.map(|n| n.to_string());
            let mut headers = vec![("Content-Type", "application/octet-stream")];
            if let Some(n) = &length {
                headers.push(("Content-Length", n.as_str()));
            }
            let result = send(
                &client,
                "PUT",
                &upstream_path,
                &token,
                &headers,
                Some(Box::new(reader)),
                None,
            )
            .and_then(|mut answer| {
                if answer.status >= 400 {
                    Err(answer.into_error())
                } else {
                    // Drain the (empty) answer so the connection can be reused.
                    let _ = answer.read_small();
                    Ok(())
                }
            });
            client.record(
                SERVICE,
                result.as_ref().map(|_| ()).map_err(|e| &e.upstream),
            );
            result.map_err(|e| map_error(e, Op::Upload, &path))
        })
    };
    let mut total: u64 = 0;
    let fed: Result<(), ApiError> = loop {
        match body.next().await {
            Ok(Some(chunk)) => {
                total += chunk.len() as u64;
                if total > max_bytes {
                    break Err(too_large(max_bytes));
                }
                if feed.send(Feed::Data(chunk)).await.is_err() {
                    // The upstream call ended before the body did (it answered early or
                    // failed); its result says why.
                    break Ok(());
                }
            }
            Ok(None) => {
                if declared.is_some_and(|n| n != total) {
                    break Err(ApiError::invalid_request(format!(
                        "The request body ended after {total} of its {} declared bytes.",
                        declared.unwrap_or_default()
                    )));
                }
                let _ = feed.send(Feed::End).await;
                break Ok(());
            }
            Err(e) => break Err(e.to_api_error()),
        }
    };
    // Dropping the feed without `End` fails the reader: the upstream request is abandoned.
    drop(feed);
    let result = task
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(format!("upload task failed: {e}"))));
    fed?;
    result.map(|()| total)
}

fn too_large(max_bytes: u64) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The file is larger than {max_bytes} bytes, the most one upload can take."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_rules() {
        for good in [
            "/Volumes/c/s/v",
            "/Volumes/c/s/v/",
            "/Volumes/c/s/v/dir/file.txt",
            "/Volumes/c/s/v/ünï code/a b#?%.csv",
        ] {
            assert_eq!(path_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "Volumes/c/s/v",
            "/volumes/c/s/v",
            "/Volumes/c/s",
            "/Volumes/c/s/",
            "/Volumes/c//v",
            "/Volumes/c/s/v//",
            "/Volumes/c/s/v/./x",
            "/Volumes/c/s/v/../x",
            "/Volumes/c/s/v/..",
            "/Volumes/c/s/v/a\0b",
            "/Volumes/c/s/v/a\nb",
            "/Volumes/c/s/v/a\u{7f}b",
            "/Volumes/c/s/v/a\u{85}b",
        ] {
            assert!(path_problem(bad).is_some(), "{bad:?}");
        }
        let long = format!("/Volumes/c/s/v/{}", "a".repeat(4096 - 15));
        assert_eq!(long.chars().count(), 4096);
        assert_eq!(path_problem(&long), None);
        assert!(path_problem(&format!("{long}b")).is_some());
        assert_eq!(
            validate_path("/Volumes/c/s/v/d/").unwrap(),
            "/Volumes/c/s/v/d"
        );
        let e = validate_path("/Volumes/c/s").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidPath);
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn paths_are_encoded_per_segment() {
        assert_eq!(
            encode_path("/Volumes/c/s/v/a b/ü?#%&+.txt"),
            "/Volumes/c/s/v/a%20b/%C3%BC%3F%23%25%26%2B.txt"
        );
        assert_eq!(file_name("/Volumes/c/s/v/d/x.csv"), "x.csv");
    }

    #[test]
    fn entries_sort_directories_first_then_by_name() {
        let entry = |name: &str, dir: bool| Entry {
            name: name.into(),
            path: format!("/Volumes/c/s/v/{name}"),
            is_directory: dir,
            size: None,
            modified_at: None,
        };
        let mut entries = vec![
            entry("b.txt", false),
            entry("A.txt", false),
            entry("zeta", true),
            entry("Alpha", true),
            entry("a.txt", false),
        ];
        sort_entries(&mut entries);
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Alpha", "zeta", "A.txt", "a.txt", "b.txt"]);
    }

    #[test]
    fn entries_are_read_leniently() {
        let e = parse_entry(
            "/Volumes/c/s/v",
            &serde_json::json!({"path":"/Volumes/c/s/v/r.pdf","name":"r.pdf","is_directory":false,"file_size":5,"last_modified":1755598800000u64}),
        )
        .unwrap();
        assert_eq!(e.size, Some(5));
        assert_eq!(e.modified_at.as_deref(), Some("2025-08-19T10:20:00Z"));
        let d = parse_entry(
            "/Volumes/c/s/v",
            &serde_json::json!({"path":"/Volumes/c/s/v/raw/","is_directory":true}),
        )
        .unwrap();
        assert_eq!(
            (d.name.as_str(), d.path.as_str()),
            ("raw", "/Volumes/c/s/v/raw")
        );
        assert_eq!((d.size, d.modified_at), (None, None));
    }

    #[test]
    fn the_non_empty_directory_reason_is_found_in_details() {
        let body = br#"{"error_code":"BAD_REQUEST","message":"x","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"FILES_API_DIRECTORY_IS_NOT_EMPTY"}]}"#;
        assert!(is_directory_not_empty("BAD_REQUEST", "x", body));
        assert!(!is_directory_not_empty("BAD_REQUEST", "bad path", b"{}"));
    }

    #[test]
    fn an_abandoned_feed_fails_the_reader() {
        let (tx, receiver) = mpsc::channel(2);
        let mut reader = ChannelReader {
            receiver,
            current: Vec::new(),
            position: 0,
            ended: false,
        };
        tx.try_send(Feed::Data(b"abc".to_vec())).unwrap();
        drop(tx);
        let mut out = [0u8; 8];
        assert_eq!(reader.read(&mut out).unwrap(), 3);
        assert!(reader.read(&mut out).is_err());

        let (tx, receiver) = mpsc::channel(2);
        let mut reader = ChannelReader {
            receiver,
            current: Vec::new(),
            position: 0,
            ended: false,
        };
        tx.try_send(Feed::Data(b"abc".to_vec())).unwrap();
        tx.try_send(Feed::End).unwrap();
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abc");
    }
}
