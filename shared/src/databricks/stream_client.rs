//! A small asynchronous HTTP/1.1 client for upstream responses that arrive as a stream (model
//! serving's server-sent events), on tokio and tokio-rustls.
//!
//! Why not the ureq client of `client`: a blocking client holds one thread of tokio's blocking
//! pool for as long as a stream lasts, so hundreds of open chats would need hundreds of threads
//! and would starve the identity lookups that share that pool. Here a stream costs one task and
//! one socket on the async workers.
//!
//! What it does, and no more: one request per connection (`Connection: close`), `http://` or
//! `https://` (rustls, public roots), the response head read up to `MAX_HEAD` bytes, then the
//! body chunk by chunk as it arrives, framed by `Transfer-Encoding: chunked`, `Content-Length`,
//! or the end of the connection. Dropping a `StreamResponse` closes the socket at once, which is
//! how a client that goes away closes the upstream call.

use std::io;
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The largest response head accepted (status line and headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// The largest chunk-size or trailer line accepted in a chunked body.
const MAX_LINE: usize = 4096;
/// Bytes read from the socket at a time.
const READ_SIZE: usize = 16 * 1024;

/// Why a streamed request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// The URL is not `http://host[:port]/…` or `https://…`.
    BadUrl(String),
    /// No connection: DNS, refused, reset, TLS handshake.
    Connect(String),
    /// The deadline passed before the response head arrived.
    Timeout,
    /// The upstream answered something that is not HTTP/1.1 as this client reads it (a head
    /// larger than `MAX_HEAD`, a malformed chunk).
    Protocol(String),
    /// The connection broke (or was closed) in the middle of the response.
    Broken(String),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::BadUrl(m) => write!(f, "bad URL: {m}"),
            StreamError::Connect(m) => write!(f, "connection failed: {m}"),
            StreamError::Timeout => f.write_str("timed out before the response head"),
            StreamError::Protocol(m) => write!(f, "protocol error: {m}"),
            StreamError::Broken(m) => write!(f, "connection lost: {m}"),
        }
    }
}

/// One request to send.
#[derive(Debug)]
pub struct StreamRequest<'a> {
    pub method: &'a str,
    /// `http://host[:port]/path?query` or `https://…`.
    pub url: &'a str,
    /// Extra headers (`Host`, `Content-Length` and `Connection` are written by the client).
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// A URL split into what a request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    /// Without brackets for an IPv6 literal.
    host: String,
    port: u16,
    /// The `Host` header: as the URL wrote it.
    authority: String,
    /// Path and query, at least `/`.
    path: String,
}

fn parse_url(url: &str) -> Result<Target, StreamError> {
    let bad = || StreamError::BadUrl(url.chars().take(200).collect());
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(bad());
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, p)) => (host.to_string(), p.parse().map_err(|_| bad())?),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Target {
        tls,
        host,
        port,
        authority: authority.to_string(),
        path,
    })
}

/// The socket, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, StreamError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| crate::db::tls::client_config(None))
        .clone()
        .map_err(StreamError::Connect)
}

async fn connect(target: &Target) -> Result<Box<dyn Io>, StreamError> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| StreamError::Connect(format!("{}:{}: {e}", target.host, target.port)))?;
    // Small SSE events must not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    if !target.tls {
        return Ok(Box::new(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|_| StreamError::Connect(format!("{:?} is not a TLS name", target.host)))?;
    let tls = tokio_rustls::TlsConnector::from(tls_config()?)
        .connect(name, tcp)
        .await
        .map_err(|e| StreamError::Connect(format!("TLS with {}: {e}", target.host)))?;
    Ok(Box::new(tls))
}

/// How the body ends.
#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(ChunkState),
    UntilClose,
    Done,
}

#[derive(Debug, Clone, Copy)]
enum ChunkState {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last (zero) chunk: trailer lines up to an empty one.
    Trailers,
}

/// A response whose head has arrived; the body is read with `chunk`.
pub struct StreamResponse {
    pub status: u16,
    /// Names lowercased, in order.
    pub headers: Vec<(String, String)>,
    io: Box<dyn Io>,
    /// Bytes read from the socket and not yet handed out.
    buf: Vec<u8>,
    framing: Framing,
}

impl std::fmt::Debug for StreamResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamResponse({})", self.status)
    }
}

/// Send `request` and wait for the response head until `deadline`. Neither retries nor follows
/// redirects; the body is left to `StreamResponse::chunk`.
pub async fn send(
    request: &StreamRequest<'_>,
    deadline: Instant,
) -> Result<StreamResponse, StreamError> {
    let target = parse_url(request.url)?;
    for (name, value) in request.headers {
        // A value with a line break would split the request: refuse it instead of sending it.
        if value.contains(['\r', '\n']) || name.contains(['\r', '\n', ':']) {
            return Err(StreamError::Protocol(format!(
                "header {name:?} holds a line break"
            )));
        }
    }
    match tokio::time::timeout_at(deadline, exchange(&target, request)).await {
        Ok(result) => result,
        Err(_) => Err(StreamError::Timeout),
    }
}

async fn exchange(
    target: &Target,
    request: &StreamRequest<'_>,
) -> Result<StreamResponse, StreamError> {
    let mut io = connect(target).await?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        request.method,
        target.path,
        target.authority,
        request.body.len()
    );
    for (name, value) in request.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(request.body);
    let broken = |e: io::Error| StreamError::Broken(format!("sending the request: {e}"));
    io.write_all(&out).await.map_err(broken)?;
    io.flush().await.map_err(broken)?;
    read_head(io).await
}

/// Read the response head (skipping interim 1xx answers) and pick the body's framing.
async fn read_head(mut io: Box<dyn Io>) -> Result<StreamResponse, StreamError> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD {
                return Err(StreamError::Protocol(format!(
                    "the response head is larger than {MAX_HEAD} bytes"
                )));
            }
            if fill(&mut io, &mut buf).await? == 0 {
                return Err(StreamError::Broken(
                    "the connection closed before the response head".into(),
                ));
            }
        };
        if end > MAX_HEAD {
            return Err(StreamError::Protocol(format!(
                "the response head is larger than {MAX_HEAD} bytes"
            )));
        }
        let text = std::str::from_utf8(&buf[..end])
            .map_err(|_| StreamError::Protocol("the response head is not UTF-8".into()))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|s| (100..=999).contains(s))
            .ok_or_else(|| {
                StreamError::Protocol(format!(
                    "bad status line {:?}",
                    status_line.chars().take(100).collect::<String>()
                ))
            })?;
        if !version.starts_with("HTTP/1.") {
            return Err(StreamError::Protocol(format!(
                "not an HTTP/1 answer: {version:?}"
            )));
        }
        let mut headers = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| StreamError::Protocol("a header line without ':'".into()))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        buf.drain(..end);
        if (100..200).contains(&status) {
            // `100 Continue` and friends: the real answer follows.
            continue;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let framing = if status == 204 || status == 304 {
            Framing::Done
        } else if header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            Framing::Chunked(ChunkState::Size)
        } else if let Some(length) = header("content-length") {
            let length: u64 = length
                .parse()
                .map_err(|_| StreamError::Protocol(format!("bad Content-Length {length:?}")))?;
            if length == 0 {
                Framing::Done
            } else {
                Framing::Length(length)
            }
        } else {
            Framing::UntilClose
        };
        return Ok(StreamResponse {
            status,
            headers,
            io,
            buf,
            framing,
        });
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Read once from the socket into `buf`; the number of bytes read (0 at the end).
async fn fill(io: &mut Box<dyn Io>, buf: &mut Vec<u8>) -> Result<usize, StreamError> {
    let start = buf.len();
    buf.resize(start + READ_SIZE, 0);
    let result = io.read(&mut buf[start..]).await;
    match result {
        Ok(n) => {
            buf.truncate(start + n);
            Ok(n)
        }
        Err(e) => {
            buf.truncate(start);
            Err(StreamError::Broken(e.to_string()))
        }
    }
}

impl StreamResponse {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The next piece of the body as it arrives; `Ok(None)` at its end. A body cut short (the
    /// connection closed inside a chunk or before `Content-Length` bytes) is `Broken`.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, StreamError> {
        loop {
            match &mut self.framing {
                Framing::Done => return Ok(None),
                Framing::UntilClose => {
                    if !self.buf.is_empty() {
                        return Ok(Some(std::mem::take(&mut self.buf)));
                    }
                    if fill(&mut self.io, &mut self.buf).await? == 0 {
                        self.framing = Framing::Done;
                        return Ok(None);
                    }
                }
                Framing::Length(left) => {
                    if !self.buf.is_empty() {
                        let n = (*left).min(self.buf.len() as u64) as usize;
                        let piece: Vec<u8> = self.buf.drain(..n).collect();
                        *left -= n as u64;
                        if *left == 0 {
                            self.framing = Framing::Done;
                        }
                        return Ok(Some(piece));
                    }
                    if fill(&mut self.io, &mut self.buf).await? == 0 {
                        return Err(StreamError::Broken(
                            "the connection closed before the end of the body".into(),
                        ));
                    }
                }
                Framing::Chunked(state) => {
                    let state = *state;
                    if let Some(piece) = self.step_chunked(state)? {
                        if !piece.is_empty() {
                            return Ok(Some(piece));
                        }
                        continue;
                    }
                    // The buffer holds too little for the next step: read more.
                    if fill(&mut self.io, &mut self.buf).await? == 0 {
                        return Err(StreamError::Broken(
                            "the connection closed inside a chunked body".into(),
                        ));
                    }
                }
            }
        }
    }

    /// One step of the chunked decoder on what is buffered. `Some(data)` when it moved on
    /// (data may be empty after a size line or CRLF), `None` when it needs more bytes.
    fn step_chunked(&mut self, state: ChunkState) -> Result<Option<Vec<u8>>, StreamError> {
        let protocol = |m: &str| StreamError::Protocol(format!("chunked body: {m}"));
        match state {
            ChunkState::Size => {
                let Some(end) = find(&self.buf, b"\r\n") else {
                    if self.buf.len() > MAX_LINE {
                        return Err(protocol("a chunk-size line is too long"));
                    }
                    return Ok(None);
                };
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                let hex = line.split(';').next().unwrap_or_default().trim();
                let size = u64::from_str_radix(hex, 16)
                    .map_err(|_| protocol(&format!("bad chunk size {hex:?}")))?;
                self.framing = Framing::Chunked(if size == 0 {
                    ChunkState::Trailers
                } else {
                    ChunkState::Data(size)
                });
                Ok(Some(Vec::new()))
            }
            ChunkState::Data(left) => {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let n = left.min(self.buf.len() as u64) as usize;
                let piece: Vec<u8> = self.buf.drain(..n).collect();
                let left = left - n as u64;
                self.framing = Framing::Chunked(if left == 0 {
                    ChunkState::DataEnd
                } else {
                    ChunkState::Data(left)
                });
                Ok(Some(piece))
            }
            ChunkState::DataEnd => {
                if self.buf.len() < 2 {
                    return Ok(None);
                }
                if &self.buf[..2] != b"\r\n" {
                    return Err(protocol("chunk data not followed by CRLF"));
                }
                self.buf.drain(..2);
                self.framing = Framing::Chunked(ChunkState::Size);
                Ok(Some(Vec::new()))
            }
            ChunkState::Trailers => {
                let Some(end) = find(&self.buf, b"\r\n") else {
                    if self.buf.len() > MAX_LINE {
                        return Err(protocol("a trailer line is too long"));
                    }
                    return Ok(None);
                };
                self.buf.drain(..end + 2);
                if end == 0 {
                    self.framing = Framing::Done;
                }
                Ok(Some(Vec::new()))
            }
        }
    }

    /// The whole (remaining) body, at most `max` bytes (an error body, typically).
    pub async fn read_to_end(&mut self, max: usize) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        while let Some(piece) = self.chunk().await? {
            if out.len() + piece.len() > max {
                out.extend_from_slice(&piece[..max - out.len()]);
                break;
            }
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::net::TcpListener;

    #[test]
    fn urls_are_split() {
        let t =
            parse_url("https://adb-1.azuredatabricks.net/serving-endpoints/a/invocations").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (
                true,
                "adb-1.azuredatabricks.net",
                443,
                "/serving-endpoints/a/invocations"
            )
        );
        let t = parse_url("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.tls, t.port, t.path.as_str()), (false, 8080, "/"));
        assert_eq!(t.authority, "127.0.0.1:8080");
        let t = parse_url("http://[::1]:9/x?y=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 9, "/x?y=1")
        );
        let t = parse_url("http://h?q").unwrap();
        assert_eq!(t.path, "/?q");
        for bad in [
            "ftp://x",
            "http://",
            "http://:80/",
            "http://h:x/",
            "http://u@h/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    /// A one-connection server: reads the request head, then plays `script` (bytes to write,
    /// pauses between them) and reports whether the client closed the connection.
    async fn serve(
        script: Vec<(Vec<u8>, u64)>,
    ) -> (String, tokio::sync::oneshot::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/path", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while find(&request, b"\r\n\r\n").is_none() {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            for (bytes, pause_ms) in script {
                if socket.write_all(&bytes).await.is_err() {
                    let _ = tx.send(String::from_utf8_lossy(&request).into_owned());
                    return;
                }
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            }
            let _ = socket.flush().await;
            // Hold the connection open until the client goes away.
            let mut rest = [0u8; 64];
            let _ = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut rest)).await;
            let _ = tx.send(String::from_utf8_lossy(&request).into_owned());
        });
        (url, rx)
    }

    async fn body(response: &mut StreamResponse) -> Result<Vec<Vec<u8>>, StreamError> {
        let mut pieces = Vec::new();
        while let Some(p) = response.chunk().await? {
            pieces.push(p);
        }
        Ok(pieces)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    fn post<'a>(url: &'a str, headers: &'a [(&'a str, &'a str)]) -> StreamRequest<'a> {
        StreamRequest {
            method: "POST",
            url,
            headers,
            body: b"{\"stream\":true}",
        }
    }

    #[tokio::test]
    async fn a_chunked_body_arrives_piece_by_piece() {
        let (url, seen) = serve(vec![
            (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                0,
            ),
            (b"6;ext=1\r\nhello \r\n".to_vec(), 30),
            (b"5\r\nwor".to_vec(), 30),
            (b"ld\r\n0\r\nX-Trailer: 1\r\n\r\n".to_vec(), 0),
        ])
        .await;
        let headers = [
            ("Authorization", "Bearer t"),
            ("Accept", "text/event-stream"),
        ];
        let mut r = send(&post(&url, &headers), soon()).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("text/event-stream"));
        let first = r.chunk().await.unwrap().unwrap();
        assert_eq!(first, b"hello ");
        let rest = body(&mut r).await.unwrap().concat();
        assert_eq!(rest, b"world");
        drop(r);
        let request = seen.await.unwrap();
        assert!(request.starts_with("POST /path HTTP/1.1\r\n"), "{request}");
        assert!(
            request.contains("\r\nAuthorization: Bearer t\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nContent-Length: 15\r\n"), "{request}");
        assert!(request.ends_with("{\"stream\":true}"), "{request}");
    }

    #[tokio::test]
    async fn content_length_and_close_delimited_bodies() {
        let (url, _seen) = serve(vec![(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 11\r\n\r\n{\"a\":\"b\"}\r\nEXTRA".to_vec(),
            0,
        )])
        .await;
        let mut r = send(&post(&url, &[]), soon()).await.unwrap();
        assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
        assert_eq!(r.read_to_end(1024).await.unwrap(), b"{\"a\":\"b\"}\r\n");

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            socket
                .write_all(b"HTTP/1.0 200 OK\r\n\r\ndata: 1\n\n")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            socket.write_all(b"data: 2\n\n").await.unwrap();
            // Closing ends the body.
        });
        let mut r = send(&post(&url, &[]), soon()).await.unwrap();
        assert_eq!(
            body(&mut r).await.unwrap().concat(),
            b"data: 1\n\ndata: 2\n\n"
        );
    }

    #[tokio::test]
    async fn a_body_cut_short_is_broken() {
        let (url, _seen) = serve(vec![(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort".to_vec(),
            0,
        )])
        .await;
        let mut r = send(&post(&url, &[]), soon()).await.unwrap();
        // The server holds the connection open: the read would wait; close it from our side of
        // the test by timing out, then check a closed one.
        assert_eq!(r.chunk().await.unwrap().unwrap(), b"short");
        drop(r);

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
                .await;
        });
        let mut r = send(&post(&url, &[]), soon()).await.unwrap();
        assert_eq!(r.chunk().await.unwrap().unwrap(), b"ab");
        assert!(matches!(r.chunk().await, Err(StreamError::Broken(_))));
    }

    #[tokio::test]
    async fn a_stalled_server_times_out_and_dropping_closes_the_socket() {
        // No head at all: the deadline ends the wait.
        let (url, _seen) = serve(vec![(Vec::new(), 3000)]).await;
        let started = std::time::Instant::now();
        let e = send(
            &post(&url, &[]),
            Instant::now() + Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert_eq!(e, StreamError::Timeout);
        assert!(started.elapsed() < Duration::from_secs(2));

        // A head, then nothing: the caller's timeout on `chunk`, then drop → the server sees EOF.
        let (url, seen) = serve(vec![(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            0,
        )])
        .await;
        let mut r = send(&post(&url, &[]), soon()).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(100), r.chunk()).await;
        assert!(waited.is_err(), "no chunk arrives");
        let dropped = std::time::Instant::now();
        drop(r);
        tokio::time::timeout(Duration::from_secs(1), seen)
            .await
            .expect("the server saw the close within 1 s")
            .unwrap();
        assert!(dropped.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_huge_head_and_connection_failures_are_refused() {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        while head.len() <= MAX_HEAD {
            head.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let (url, _seen) = serve(vec![(head, 0)]).await;
        let e = send(&post(&url, &[]), soon()).await.unwrap_err();
        assert!(
            matches!(e, StreamError::Protocol(ref m) if m.contains("larger")),
            "{e}"
        );

        // A port nobody listens on.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let e = send(&post(&url, &[]), soon()).await.unwrap_err();
        assert!(matches!(e, StreamError::Connect(_)), "{e}");

        let e = send(&post("http://h/", &[("X", "a\r\nB: c")]), soon())
            .await
            .unwrap_err();
        assert!(matches!(e, StreamError::Protocol(_)), "{e}");
    }
}
