//! The Files API of Unity Catalog Volumes (`/api/2.0/fs/files{path}`, `/api/2.0/fs/directories{path}`),
//! with its quirks: listing pages with `next_page_token` (and pages shorter than `page_size`),
//! `overwrite` defaulting to true, 409 on an existing file with `overwrite=false` and on a
//! directory over a file, 400 with `details[].reason = FILES_API_DIRECTORY_IS_NOT_EMPTY` for a
//! non-empty directory, 403 `PERMISSION_DENIED`, 404 `NOT_FOUND`, `HEAD` errors without a body,
//! `Range` answered 206.
//!
//! Bodies stream both ways and large files never sit in memory: an upload is read frame by
//! frame and only its size and SHA-256 are kept (and its bytes when it is small); files under
//! `GENERATED_DIR` named `<size>.bin` are served from a seeded pattern (`generated_sha256` gives
//! their hash); an upload whose body does not reach its end is counted in `aborted_uploads` and
//! stores nothing.

use super::{known_user, FakeBody, FakeState};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

pub const FILES: &str = "/api/2.0/fs/files";
pub const DIRECTORIES: &str = "/api/2.0/fs/directories";
/// The volume most tests use.
pub const VOLUME: &str = "/Volumes/main/app/uploads";
/// Files here named `<size>.bin` exist with `size` bytes of the seeded pattern.
pub const GENERATED_DIR: &str = "/Volumes/main/gen/files";
/// Everything under this volume answers 403.
pub const DENIED_VOLUME: &str = "/Volumes/main/secret/vault";
/// A directory of `MANY_ENTRIES` generated entries, listed in the upstream's own order.
pub const MANY_DIR: &str = "/Volumes/main/gen/many";
/// Uploads keep their bytes up to this size.
const KEEP_BYTES: u64 = 8 * 1024 * 1024;
/// The seeded pattern's period (a prime, so it never lines up with chunk sizes).
const PERIOD: usize = 65_521;
/// `last_modified` of every seeded entry: 2025-08-19T10:20:00Z.
pub const SEEDED_MS: i64 = 1_755_598_800_000;

pub struct StoredFile {
    pub size: u64,
    pub sha256: String,
    /// The bytes, for files up to 8 MiB.
    pub bytes: Option<Vec<u8>>,
    pub modified_ms: i64,
}

/// One call that reached the Files API.
#[derive(Clone, Debug)]
pub struct FilesCall {
    pub method: String,
    /// Decoded.
    pub path: String,
    /// As it came on the wire (percent-encoded).
    pub raw_path: String,
    pub query: String,
    pub token: String,
    pub range: Option<String>,
    pub content_length: Option<String>,
    pub chunked: bool,
}

pub struct FilesState {
    pub files: BTreeMap<String, StoredFile>,
    pub dirs: BTreeSet<String>,
    pub calls: Vec<FilesCall>,
    /// Entries in `MANY_DIR`.
    pub many_entries: usize,
    /// Answer listings with at most this many entries per page (whatever `page_size` says).
    pub page_cap: Option<usize>,
    /// Uploads whose body broke before its end (nothing stored).
    pub aborted_uploads: usize,
    /// Generated downloads (the body streams) cut before their end.
    pub cut_downloads: Arc<AtomicUsize>,
    /// Generated downloads served to their end.
    pub finished_downloads: Arc<AtomicUsize>,
    /// Generated files whose body fails after this many bytes (a broken upstream).
    pub break_after: HashMap<String, u64>,
    /// Uploads in progress (body being read).
    pub uploads_in_progress: Arc<AtomicUsize>,
}

impl Default for FilesState {
    fn default() -> FilesState {
        let mut state = FilesState {
            files: BTreeMap::new(),
            dirs: BTreeSet::new(),
            calls: Vec::new(),
            many_entries: 10_000,
            page_cap: None,
            aborted_uploads: 0,
            cut_downloads: Arc::new(AtomicUsize::new(0)),
            finished_downloads: Arc::new(AtomicUsize::new(0)),
            break_after: HashMap::new(),
            uploads_in_progress: Arc::new(AtomicUsize::new(0)),
        };
        for dir in [
            VOLUME,
            "/Volumes/main/app/uploads/raw",
            "/Volumes/main/app/uploads/Archive",
            GENERATED_DIR,
            MANY_DIR,
            DENIED_VOLUME,
        ] {
            state.dirs.insert(dir.to_string());
        }
        for (name, body) in [
            ("report.pdf", &b"%PDF-1.7 fake report"[..]),
            ("notes.txt", b"hello, volume\n"),
            ("b.csv", b"a,b\n1,2\n"),
            ("Alpha.json", b"{\"a\":1}"),
            ("raw/inner.txt", b"inner"),
        ] {
            state.put_file(&format!("{VOLUME}/{name}"), body.to_vec(), SEEDED_MS);
        }
        state.put_file(
            &format!("{DENIED_VOLUME}/secret.txt"),
            b"no".to_vec(),
            SEEDED_MS,
        );
        state
    }
}

impl FilesState {
    /// Store a small file (and its parent directories).
    pub fn put_file(&mut self, path: &str, bytes: Vec<u8>, modified_ms: i64) {
        self.add_parents(path);
        self.files.insert(
            path.to_string(),
            StoredFile {
                size: bytes.len() as u64,
                sha256: shared::util::hex(&shared::util::sha256(&bytes)),
                bytes: Some(bytes),
                modified_ms,
            },
        );
    }

    fn add_parents(&mut self, path: &str) {
        let mut parent = path;
        while let Some((p, _)) = parent.rsplit_once('/') {
            if p.matches('/').count() < 4 {
                break;
            }
            self.dirs.insert(p.to_string());
            parent = p;
        }
    }

    fn is_dir(&self, path: &str) -> bool {
        self.dirs.contains(path)
    }

    /// The size of a generated file (`GENERATED_DIR/<size>.bin`).
    fn generated_size(path: &str) -> Option<u64> {
        let name = path.strip_prefix(GENERATED_DIR)?.strip_prefix('/')?;
        name.strip_suffix(".bin")?.parse().ok()
    }

    fn file_size(&self, path: &str) -> Option<u64> {
        self.files
            .get(path)
            .map(|f| f.size)
            .or_else(|| FilesState::generated_size(path))
    }

    /// Direct children of a directory, in the upstream's own order (reverse name order, so a
    /// listing that is not sorted by the caller shows it).
    fn children(&self, dir: &str) -> Vec<serde_json::Value> {
        let prefix = format!("{dir}/");
        let direct = |p: &&String| {
            p.strip_prefix(&prefix)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
        };
        let mut out: Vec<(String, serde_json::Value)> = Vec::new();
        for d in self.dirs.iter().filter(direct) {
            let name = d[prefix.len()..].to_string();
            out.push((
                name.clone(),
                json!({"path": format!("{d}/"), "name": name, "is_directory": true}),
            ));
        }
        for (p, f) in self.files.iter().filter(|(p, _)| direct(p)) {
            let name = p[prefix.len()..].to_string();
            out.push((
                name.clone(),
                json!({"path": p, "name": name, "is_directory": false, "file_size": f.size, "last_modified": f.modified_ms}),
            ));
        }
        if dir == MANY_DIR {
            for i in 0..self.many_entries {
                let name = format!("entry-{i:06}.dat");
                out.push((
                    name.clone(),
                    json!({"path": format!("{dir}/{name}"), "name": name, "is_directory": false, "file_size": i, "last_modified": SEEDED_MS}),
                ));
            }
        }
        out.sort_by(|a, b| b.0.cmp(&a.0));
        out.into_iter().map(|(_, v)| v).collect()
    }
}

/// Whether a request path is this module's: the Files API over `/Volumes/`.
pub fn handles(path: &str) -> bool {
    [FILES, DIRECTORIES].iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with("/Volumes/"))
    })
}

/// The seeded pattern, twice over, so any window of up to `PERIOD` bytes is one slice.
fn pattern() -> &'static Bytes {
    static PATTERN: OnceLock<Bytes> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut x: u32 = 0x2545_f491;
        let one: Vec<u8> = (0..PERIOD)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        let mut twice = one.clone();
        twice.extend_from_slice(&one);
        Bytes::from(twice)
    })
}

/// Bytes `offset..offset+len` of a generated file.
pub fn generated(offset: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut at = offset;
    while out.len() < len {
        let start = (at % PERIOD as u64) as usize;
        let n = (len - out.len()).min(PERIOD);
        out.extend_from_slice(&pattern()[start..start + n]);
        at += n as u64;
    }
    out
}

/// SHA-256 (hex) of a whole generated file of `size` bytes.
pub fn generated_sha256(size: u64) -> String {
    let mut hasher = shared::util::Sha256::default();
    let mut at = 0;
    while at < size {
        let n = (size - at).min(PERIOD as u64) as usize;
        hasher.update(&generated(at, n));
        at += n as u64;
    }
    shared::util::hex(&hasher.finish())
}

/// The path of a generated file of `size` bytes.
pub fn generated_path(size: u64) -> String {
    format!("{GENERATED_DIR}/{size}.bin")
}

/// A generated file's body, produced as it is sent (zero-copy slices of the pattern).
struct Generated {
    offset: u64,
    end: u64,
    fail_at: Option<u64>,
    cut: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

impl hyper::body::Body for Generated {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.offset >= this.end {
            return Poll::Ready(None);
        }
        if this.fail_at.is_some_and(|at| this.offset >= at) {
            return Poll::Ready(Some(Err(std::io::Error::other("the fake upstream broke"))));
        }
        let start = (this.offset % PERIOD as u64) as usize;
        let mut n = (this.end - this.offset).min(PERIOD as u64);
        if let Some(at) = this.fail_at {
            n = n.min(at - this.offset);
        }
        this.offset += n;
        if this.offset >= this.end {
            this.finished.fetch_add(1, Ordering::Relaxed);
        }
        Poll::Ready(Some(Ok(Frame::data(
            pattern().slice(start..start + n as usize),
        ))))
    }

    fn is_end_stream(&self) -> bool {
        self.offset >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.offset)
    }
}

impl Drop for Generated {
    fn drop(&mut self) {
        if self.offset < self.end {
            self.cut.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn full(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> hyper::Response<FakeBody> {
    let mut builder = hyper::Response::builder().status(status);
    for (k, v) in &headers {
        builder = builder.header(k, v);
    }
    builder
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("fake response")
}

fn error(status: u16, code: &str, message: &str) -> hyper::Response<FakeBody> {
    full(
        status,
        vec![("content-type".into(), "application/json".into())],
        json!({"error_code": code, "message": message})
            .to_string()
            .into_bytes(),
    )
}

/// `HEAD` errors carry no body.
fn head_error(status: u16) -> hyper::Response<FakeBody> {
    full(status, Vec::new(), Vec::new())
}

fn http_date(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000).expect("valid time");
    t.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .expect("formats")
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` → `(start, end_exclusive)`; `Err(())` when it cannot be
/// satisfied; `Ok(None)` for anything else (ignored: the whole file).
fn parse_range(range: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = range.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            (size.saturating_sub(n), size)
        }
        (a, "") => (a.parse().map_err(|_| ())?, size),
        (a, b) => {
            let a: u64 = a.parse().map_err(|_| ())?;
            let b: u64 = b.parse().map_err(|_| ())?;
            (a, (b + 1).min(size))
        }
    };
    if start >= size || start >= end {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Answer one Files API request; the body is read (uploads) or produced (downloads) as a
/// stream. `raw_path` is the request path as sent.
pub async fn serve(
    state: Arc<Mutex<FakeState>>,
    parts: hyper::http::request::Parts,
    body: Incoming,
) -> hyper::Response<FakeBody> {
    let raw_path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let token = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
        .unwrap_or_else(|| "-".into());
    let method = parts.method.to_string();
    let (kind, encoded) = if let Some(rest) = raw_path.strip_prefix(FILES) {
        ("files", rest)
    } else if let Some(rest) = raw_path.strip_prefix(DIRECTORIES) {
        ("directories", rest)
    } else {
        return error(404, "ENDPOINT_NOT_FOUND", "No API found");
    };
    let Some(path) = shared::util::percent_decode(encoded, false) else {
        return error(400, "INVALID_PARAMETER_VALUE", "bad escape");
    };
    let path = path.strip_suffix('/').unwrap_or(&path).to_string();
    let query_value = |name: &str| {
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| shared::util::percent_decode(v, true).unwrap_or_default())
        })
    };
    let is_head = method == "HEAD";
    // Checks made before the body: recorded call, injected answer, token, permission, volume.
    let early = {
        let mut st = state.lock().expect("fake state lock");
        *st.calls
            .entry((raw_path.clone(), token.clone()))
            .or_insert(0) += 1;
        st.files.calls.push(FilesCall {
            method: method.clone(),
            path: path.clone(),
            raw_path: raw_path.clone(),
            query: query.clone(),
            token: token.clone(),
            range: header("range"),
            content_length: header("content-length"),
            chunked: header("transfer-encoding").is_some_and(|v| v.contains("chunked")),
        });
        if let Some(injected) = st
            .injected
            .get_mut(&raw_path)
            .and_then(std::collections::VecDeque::pop_front)
        {
            Some(full(injected.status, injected.headers, injected.body))
        } else if !known_user(&st, &token) {
            Some(full(
                403,
                vec![("content-type".into(), "application/json".into())],
                br#"{"error_code": 403, "message": "Invalid access token."}"#.to_vec(),
            ))
        } else if path == DENIED_VOLUME || path.starts_with(&format!("{DENIED_VOLUME}/")) {
            Some(if is_head {
                head_error(403)
            } else {
                error(
                    403,
                    "PERMISSION_DENIED",
                    "User does not have READ VOLUME on Volume 'main.secret.vault'.",
                )
            })
        } else {
            let volume: String = path.split('/').take(5).collect::<Vec<_>>().join("/");
            (!st.files.is_dir(&volume)).then(|| {
                if is_head {
                    head_error(404)
                } else {
                    error(
                        404,
                        "NOT_FOUND",
                        &format!("Volume '{volume}' does not exist."),
                    )
                }
            })
        }
    };
    if let Some(response) = early {
        // Read what the client sends, so it sees the answer rather than a reset.
        let _ = body.collect().await;
        return response;
    }
    match (kind, method.as_str()) {
        ("files", "PUT") => upload(state, path, query_value("overwrite"), body).await,
        ("files", "GET" | "HEAD") => {
            let st = state.lock().expect("fake state lock");
            download(&st.files, &path, header("range"), is_head)
        }
        ("files", "DELETE") => {
            let mut st = state.lock().expect("fake state lock");
            match st.files.files.remove(&path) {
                Some(_) => full(200, Vec::new(), Vec::new()),
                None => error(404, "NOT_FOUND", &format!("File '{path}' does not exist.")),
            }
        }
        ("directories", "HEAD") => {
            let st = state.lock().expect("fake state lock");
            head_error(if st.files.is_dir(&path) { 200 } else { 404 })
        }
        ("directories", "PUT") => {
            let mut st = state.lock().expect("fake state lock");
            if st.files.file_size(&path).is_some() {
                return error(
                    409,
                    "RESOURCE_ALREADY_EXISTS",
                    "The given path points to an existing file.",
                );
            }
            st.files.add_parents(&format!("{path}/x"));
            full(200, Vec::new(), Vec::new())
        }
        ("directories", "DELETE") => {
            let mut st = state.lock().expect("fake state lock");
            if !st.files.is_dir(&path) {
                return error(
                    404,
                    "NOT_FOUND",
                    &format!("Directory '{path}' does not exist."),
                );
            }
            if !st.files.children(&path).is_empty() {
                return full(
                    400,
                    vec![("content-type".into(), "application/json".into())],
                    json!({"error_code": "BAD_REQUEST", "message": "Directory is not empty.",
                        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "FILES_API_DIRECTORY_IS_NOT_EMPTY", "domain": "filesystem.databricks.com"}]})
                    .to_string()
                    .into_bytes(),
                );
            }
            st.files.dirs.remove(&path);
            full(200, Vec::new(), Vec::new())
        }
        ("directories", "GET") => {
            let st = state.lock().expect("fake state lock");
            if !st.files.is_dir(&path) {
                return error(
                    404,
                    "NOT_FOUND",
                    &format!("Directory '{path}' does not exist."),
                );
            }
            let children = st.files.children(&path);
            let page_size = query_value("page_size")
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| (1..=1000).contains(n))
                .unwrap_or(1000)
                .min(st.files.page_cap.unwrap_or(usize::MAX));
            let start = query_value("page_token")
                .and_then(|t| t.strip_prefix("offset-").and_then(|n| n.parse().ok()))
                .unwrap_or(0usize);
            let end = (start + page_size).min(children.len());
            let mut page = json!({"contents": children.get(start..end).unwrap_or_default()});
            if end < children.len() {
                page["next_page_token"] = json!(format!("offset-{end}"));
            }
            full(
                200,
                vec![("content-type".into(), "application/json".into())],
                page.to_string().into_bytes(),
            )
        }
        _ => error(405, "METHOD_NOT_ALLOWED", "not supported by the fake"),
    }
}

fn download(
    files: &FilesState,
    path: &str,
    range: Option<String>,
    is_head: bool,
) -> hyper::Response<FakeBody> {
    let Some(size) = files.file_size(path) else {
        return if is_head {
            head_error(404)
        } else {
            error(404, "NOT_FOUND", &format!("File '{path}' does not exist."))
        };
    };
    let modified = files
        .files
        .get(path)
        .map(|f| f.modified_ms)
        .unwrap_or(SEEDED_MS);
    let (status, start, end) = match range.as_deref().map(|r| parse_range(r, size)) {
        None | Some(Ok(None)) => (200, 0, size),
        Some(Ok(Some((a, b)))) => (206, a, b),
        Some(Err(())) => {
            return full(
                416,
                vec![("content-range".into(), format!("bytes */{size}"))],
                Vec::new(),
            )
        }
    };
    let mut builder = hyper::Response::builder()
        .status(status)
        .header("content-type", "application/octet-stream")
        .header("content-length", (end - start).to_string())
        .header("last-modified", http_date(modified))
        .header("accept-ranges", "bytes");
    if status == 206 {
        builder = builder.header("content-range", format!("bytes {start}-{}/{size}", end - 1));
    }
    if is_head {
        return builder
            .body(
                Full::new(Bytes::new())
                    .map_err(|never| match never {})
                    .boxed(),
            )
            .expect("fake response");
    }
    let body: FakeBody = match files.files.get(path) {
        Some(StoredFile {
            bytes: Some(bytes), ..
        }) => Full::new(Bytes::copy_from_slice(&bytes[start as usize..end as usize]))
            .map_err(|never| match never {})
            .boxed(),
        Some(_) => {
            return error(
                501,
                "NOT_IMPLEMENTED",
                "the fake keeps no bytes of large uploads",
            )
        }
        None => Generated {
            offset: start,
            end,
            fail_at: files.break_after.get(path).copied(),
            cut: Arc::clone(&files.cut_downloads),
            finished: Arc::clone(&files.finished_downloads),
        }
        .boxed(),
    };
    builder.body(body).expect("fake response")
}

/// Read an upload frame by frame, keeping its size and hash (and small bodies), then store it
/// — or nothing, when the body breaks before its end.
async fn upload(
    state: Arc<Mutex<FakeState>>,
    path: String,
    overwrite: Option<String>,
    mut body: Incoming,
) -> hyper::Response<FakeBody> {
    let in_progress = Arc::clone(&state.lock().expect("lock").files.uploads_in_progress);
    in_progress.fetch_add(1, Ordering::SeqCst);
    let mut hasher = shared::util::Sha256::default();
    let mut size: u64 = 0;
    let mut kept = Some(Vec::new());
    let complete = loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    hasher.update(&data);
                    size += data.len() as u64;
                    match &mut kept {
                        Some(bytes) if size <= KEEP_BYTES => bytes.extend_from_slice(&data),
                        _ => kept = None,
                    }
                }
            }
            Some(Err(_)) => break false,
            None => break true,
        }
    };
    in_progress.fetch_sub(1, Ordering::SeqCst);
    let mut st = state.lock().expect("fake state lock");
    if !complete {
        st.files.aborted_uploads += 1;
        return error(400, "BAD_REQUEST", "The request body was cut.");
    }
    // The Files API's own default is to overwrite.
    let overwrite = overwrite.as_deref() != Some("false");
    if st.files.is_dir(&path) {
        return error(
            409,
            "RESOURCE_ALREADY_EXISTS",
            "The given path is a directory.",
        );
    }
    if !overwrite && st.files.file_size(&path).is_some() {
        return error(
            409,
            "RESOURCE_ALREADY_EXISTS",
            "The file being created already exists.",
        );
    }
    st.files.add_parents(&path);
    let modified_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("fits");
    st.files.files.insert(
        path,
        StoredFile {
            size,
            sha256: shared::util::hex(&hasher.finish()),
            bytes: kept,
            modified_ms,
        },
    );
    full(200, Vec::new(), Vec::new())
}
