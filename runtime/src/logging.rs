//! Logging: `RUST_LOG` filtering (env_filter, the filter half of env_logger) and the one-line
//! format (text for people, JSON for the Apps log viewer), written to stderr by a background
//! thread.
//!
//! Why not env_logger itself: per line it formatted into its own buffer, then copied that under a
//! second process-wide lock into ours. Here a line is formatted into a per-thread buffer and
//! appended under the one lock.
//!
//! Why a thread: a `write(2)` per line under a global lock was the largest cost on the request
//! path, and so was waking a writer thread per line. Lines are appended to a shared buffer (a
//! short uncontended lock, no syscall) and the writer thread writes whatever has accumulated every
//! few milliseconds in one call. If stderr stalls and the buffer passes its cap, lines are dropped
//! and counted rather than blocking a request. `flush()` writes what is left before the process
//! exits.
//!
//! Log lines never carry tokens: nothing logs headers or secrets, and crates that log request
//! headers at debug/trace are capped at `info`.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Crates whose debug and trace lines include request headers, so an `Authorization: Bearer`
/// value. They are capped at `info` whatever `RUST_LOG` says.
const HEADER_LOGGING_CRATES: &[&str] = &[
    "ureq",
    "ureq_proto",
    "rustls",
    "tokio_postgres",
    "postgres_protocol",
];
/// Bytes of log lines waiting for the writer before new lines are dropped.
const BUFFER_CAP: usize = 8 * 1024 * 1024;
/// How often the writer thread writes what has accumulated.
const WRITE_INTERVAL: Duration = Duration::from_millis(5);

/// Bytes a spare buffer keeps between writes; a burst above this is given back afterwards.
const SPARE_CAPACITY: usize = 1024 * 1024;

static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Held while taking the buffer and writing it, so the writer thread and `flush` keep order.
/// It holds the spare buffer that is swapped for `BUFFER`: the request path then appends into
/// capacity that already grew, instead of regrowing an empty `Vec` (a realloc and copy per
/// doubling, and a large free) every few milliseconds.
static WRITING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static DROPPED: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicBool = AtomicBool::new(false);
/// Whether `RUST_LOG` lets `brickbox::request` lines through, and in which format: decided once
/// by `init`, so `request` skips the filter and `fmt` on every request.
static REQUEST_LINES: AtomicBool = AtomicBool::new(false);
static JSON: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Each thread formats its lines here, then appends them to `BUFFER` under its lock.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

struct Logger {
    filter: env_filter::Filter,
    json: bool,
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.filter.matches(record) || logs_headers(record) {
            return;
        }
        emit(|line| self.format(line, record));
    }

    fn flush(&self) {}
}

impl Logger {
    fn format(&self, out: &mut Vec<u8>, record: &log::Record<'_>) {
        let ts = shared::util::now_rfc3339_micros();
        let _ = if self.json {
            let line = serde_json::json!({
                "ts": ts,
                "level": record.level().as_str(),
                "target": record.target(),
                "message": record.args().to_string(),
            });
            writeln!(out, "{line}")
        } else {
            // The padded level as text, rather than `{:<5}` padding on every line.
            let level = match record.level() {
                log::Level::Error => "ERROR",
                log::Level::Warn => "WARN ",
                log::Level::Info => "INFO ",
                log::Level::Debug => "DEBUG",
                log::Level::Trace => "TRACE",
            };
            writeln!(out, "{ts} {level} {} {}", record.target(), record.args())
        };
    }
}

/// The per-request line (SPEC §5.1) at INFO on target `brickbox::request`, the same text as
/// `log::info!(target: "brickbox::request", "{method} {path} {status} {ms}ms route={route}
/// cid={cid} user={user}")` would give, written without the `fmt` machinery and the filter:
/// it is the one line every request pays for.
pub struct RequestLine<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub micros: u64,
    pub route: &'a str,
    pub correlation_id: &'a str,
    pub user: &'a str,
}

pub fn request(line: &RequestLine<'_>) {
    if !REQUEST_LINES.load(Ordering::Relaxed) {
        return;
    }
    emit(|out| write_request(out, line));
}

/// Format one line with `fill` into this thread's buffer and append it for the writer thread.
fn emit(fill: impl FnOnce(&mut Vec<u8>)) {
    let mut fill = Some(fill);
    let _ = LINE.try_with(|line| {
        if let Ok(mut line) = line.try_borrow_mut() {
            line.clear();
            if let Some(fill) = fill.take() {
                fill(&mut line);
            }
            append(&line);
        }
    });
    // A line logged while formatting another, or while the thread exits: a fresh buffer.
    if let Some(fill) = fill {
        let mut line = Vec::new();
        fill(&mut line);
        append(&line);
    }
}

fn write_request(out: &mut Vec<u8>, line: &RequestLine<'_>) {
    let ts = shared::util::now_rfc3339_micros();
    if JSON.load(Ordering::Relaxed) {
        let mut message = Vec::with_capacity(128);
        request_message(&mut message, line);
        let entry = serde_json::json!({
            "ts": ts,
            "level": "INFO",
            "target": "brickbox::request",
            "message": String::from_utf8_lossy(&message),
        });
        let _ = writeln!(out, "{entry}");
    } else {
        out.extend_from_slice(ts.as_bytes());
        out.extend_from_slice(b" INFO  brickbox::request ");
        request_message(out, line);
        out.push(b'\n');
    }
}

fn request_message(out: &mut Vec<u8>, line: &RequestLine<'_>) {
    out.extend_from_slice(line.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(line.path.as_bytes());
    out.push(b' ');
    push_decimal(out, u64::from(line.status));
    out.push(b' ');
    push_decimal(out, line.micros / 1000);
    out.push(b'.');
    let fraction = line.micros % 1000;
    out.extend_from_slice(&[
        b'0' + (fraction / 100) as u8,
        b'0' + (fraction / 10 % 10) as u8,
        b'0' + (fraction % 10) as u8,
    ]);
    out.extend_from_slice(b"ms route=");
    out.extend_from_slice(line.route.as_bytes());
    out.extend_from_slice(b" cid=");
    out.extend_from_slice(line.correlation_id.as_bytes());
    out.extend_from_slice(b" user=");
    out.extend_from_slice(line.user.as_bytes());
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Second line of defence: a more specific RUST_LOG directive (`ureq::run=trace`) wins over the
/// caps in `init`, so such lines are dropped here instead.
fn logs_headers(record: &log::Record<'_>) -> bool {
    let target = record.target();
    record.level() > log::Level::Info
        && HEADER_LOGGING_CRATES
            .iter()
            .any(|c| target == *c || (target.starts_with(c) && target[c.len()..].starts_with("::")))
}

/// Append one formatted line for the writer thread (or write it at once before it runs).
fn append(line: &[u8]) {
    if !STARTED.load(Ordering::Relaxed) {
        let _ = std::io::stderr().write_all(line);
        return;
    }
    match BUFFER.lock() {
        Ok(mut buf) if buf.len() + line.len() <= BUFFER_CAP => buf.extend_from_slice(line),
        _ => {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Write everything buffered so far to stderr.
fn write_out() {
    let Ok(mut pending) = WRITING.lock() else {
        return;
    };
    if let Ok(mut buf) = BUFFER.lock() {
        std::mem::swap(&mut *buf, &mut *pending);
    }
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        pending.extend_from_slice(
            format!("WARN  brickbox::logging {dropped} log lines were dropped: stderr could not keep up\n").as_bytes(),
        );
    }
    if !pending.is_empty() {
        let _ = std::io::stderr().write_all(&pending);
    }
    pending.clear();
    pending.shrink_to(SPARE_CAPACITY);
}

fn writer_thread() {
    loop {
        std::thread::sleep(WRITE_INTERVAL);
        write_out();
    }
}

pub fn init(json: bool) {
    let mut builder = env_filter::Builder::new();
    builder.parse(&std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string()));
    for module in HEADER_LOGGING_CRATES {
        builder.filter_module(module, log::LevelFilter::Info);
    }
    let filter = builder.build();
    let max_level = filter.filter();
    let request_lines = filter.enabled(
        &log::Metadata::builder()
            .level(log::Level::Info)
            .target("brickbox::request")
            .build(),
    );
    // A second init (tests start several servers in one process) keeps the first logger.
    if log::set_boxed_logger(Box::new(Logger { filter, json })).is_ok() {
        log::set_max_level(max_level);
        REQUEST_LINES.store(request_lines, Ordering::Relaxed);
        JSON.store(json, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(writer_thread);
        // Without the thread, lines go straight to stderr (`append` checks STARTED).
        STARTED.store(spawned.is_ok(), Ordering::Relaxed);
    }
}

/// Write every buffered line. Call before the process exits.
pub fn flush() {
    write_out();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_reads_as_the_format_string_would() {
        let line = RequestLine {
            method: "GET",
            path: "/api/user/me",
            status: 200,
            micros: 12_045,
            route: "/api/user/me",
            correlation_id: "c1d",
            user: "alice@example.com",
        };
        let mut out = Vec::new();
        request_message(&mut out, &line);
        let expected = format!(
            "GET /api/user/me 200 {:.3}ms route=/api/user/me cid=c1d user=alice@example.com",
            12_045.0 / 1000.0
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        for (micros, text) in [
            (0, "0.000"),
            (7, "0.007"),
            (1_000, "1.000"),
            (123_456_789, "123456.789"),
        ] {
            let mut out = Vec::new();
            request_message(&mut out, &RequestLine { micros, ..line });
            let out = String::from_utf8(out).unwrap();
            assert!(out.contains(&format!(" 200 {text}ms ")), "{out}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let ts = shared::util::now_rfc3339_micros();
        assert_eq!(ts.len(), "2026-11-26T12:00:00.123456Z".len(), "{ts}");
        assert!(shared::util::parse_rfc3339(&ts).is_some(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
