//! Logging: `RUST_LOG` filtering (env_filter, the filter half of env_logger) and the one-line
//! format (text for people, JSON for the Apps log viewer), written to stderr by a background
//! thread.
//!
//! Why not env_logger itself: per line it formatted into its own buffer, then copied that under a
//! second process-wide lock into ours. Here a line is formatted into a per-thread buffer and
//! appended under the one lock.
//!
//! Why a thread: a `write(2)` per line under a global lock was the largest cost on the request
//! path, and so was waking a writer thread per line. Each thread appends its lines to its own
//! buffer (a lock no other request takes, no syscall), and the writer thread takes every
//! thread's buffer every few milliseconds, merges their lines by timestamp and writes them in one
//! call. One shared buffer cost more: its lock and its last cache line moved between the cores on
//! every line (`perf`: about 4 % of `/health`'s requests per second). A thread's lines keep their
//! order, and lines of different threads come out in timestamp order. If stderr stalls and a
//! thread's buffer passes its cap, its new lines are dropped and counted rather than blocking a
//! request. `flush()` writes what is left before the process exits.
//!
//! Log lines never carry tokens: nothing logs headers or secrets, and crates that log request
//! headers at debug/trace are capped at `info`.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Crates whose debug and trace lines include request headers, so an `Authorization: Bearer`
/// value. They are capped at `info` whatever `RUST_LOG` says.
const HEADER_LOGGING_CRATES: &[&str] = &[
    "ureq",
    "ureq_proto",
    "rustls",
    "tokio_postgres",
    "postgres_protocol",
];
/// Bytes of one thread's log lines waiting for the writer before its new lines are dropped.
const THREAD_BUFFER_CAP: usize = 4 * 1024 * 1024;
/// How often the writer thread writes what has accumulated.
const WRITE_INTERVAL: Duration = Duration::from_millis(5);

/// Bytes a spare buffer keeps between writes; a burst above this is given back afterwards.
const SPARE_CAPACITY: usize = 1024 * 1024;

/// Lines waiting for the writer, each with its time so the writer can merge threads in order.
#[derive(Default)]
struct Lines {
    bytes: Vec<u8>,
    /// Per line, in append order: (µs since the Unix epoch, end offset in `bytes`).
    ends: Vec<(u64, usize)>,
}

type ThreadLines = Arc<Mutex<Lines>>;

/// Every thread that has logged, with its pending lines. A buffer stays listed while its thread
/// lives (the thread-local holds the second reference) or while it still holds lines.
static THREADS: Mutex<Vec<ThreadLines>> = Mutex::new(Vec::new());
/// Held while taking the buffers and writing them, so the writer thread and `flush` keep order.
/// It keeps the spare buffers swapped in for the taken ones: a thread then appends into capacity
/// that already grew, instead of regrowing an empty `Vec` every few milliseconds.
static WRITING: Mutex<Writing> = Mutex::new(Writing {
    spares: Vec::new(),
    out: Vec::new(),
});
static DROPPED: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicBool = AtomicBool::new(false);
/// Whether `RUST_LOG` lets `brickbox::request` lines through, and in which format: decided once
/// by `init`, so `request` skips the filter and `fmt` on every request.
static REQUEST_LINES: AtomicBool = AtomicBool::new(false);
static JSON: AtomicBool = AtomicBool::new(false);

struct Writing {
    spares: Vec<Lines>,
    out: Vec<u8>,
}

thread_local! {
    /// Each thread formats a line here, then appends it to its `PENDING` lines.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// This thread's lines waiting for the writer (listed in `THREADS` on first use).
    static PENDING: ThreadLines = {
        let lines = ThreadLines::default();
        if let Ok(mut threads) = THREADS.lock() {
            threads.push(Arc::clone(&lines));
        }
        lines
    };
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
        emit(|line, ts| self.format(line, ts, record));
    }

    fn flush(&self) {}
}

impl Logger {
    fn format(&self, out: &mut Vec<u8>, ts: &str, record: &log::Record<'_>) {
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

/// The per-request line at INFO on target `brickbox::request`, the same text as
/// `log::info!(target: "brickbox::request", "{method} {path} {status} {ms}ms route={route}
/// cid={cid} user={user}")` would give, written without the `fmt` machinery and the filter:
/// it is the one line every request pays for.
pub struct RequestLine<'a> {
    /// When the response was ready: the line's timestamp.
    pub ended: SystemTime,
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
    emit_at(line.ended, |out, ts| write_request(out, ts, line));
}

/// Format one line with `fill` (given the line's timestamp) into this thread's buffer and append
/// it for the writer thread.
fn emit(fill: impl FnOnce(&mut Vec<u8>, &str)) {
    emit_at(SystemTime::now(), fill);
}

/// `emit` for a line whose time the caller has read already.
fn emit_at(time: SystemTime, fill: impl FnOnce(&mut Vec<u8>, &str)) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ts = shared::util::rfc3339_micros(since_epoch);
    let ts = ts.as_str();
    let at = u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX);
    let mut fill = Some(fill);
    let _ = LINE.try_with(|line| {
        if let Ok(mut line) = line.try_borrow_mut() {
            line.clear();
            if let Some(fill) = fill.take() {
                fill(&mut line, ts);
            }
            append(at, &line);
        }
    });
    // A line logged while formatting another, or while the thread exits: a fresh buffer.
    if let Some(fill) = fill {
        let mut line = Vec::new();
        fill(&mut line, ts);
        append(at, &line);
    }
}

fn write_request(out: &mut Vec<u8>, ts: &str, line: &RequestLine<'_>) {
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

/// Append one formatted line, logged at `at` (µs since the epoch), for the writer thread (or
/// write it at once before the thread runs, or while this thread exits).
fn append(at: u64, line: &[u8]) {
    if STARTED.load(Ordering::Relaxed) {
        let appended = PENDING.try_with(|pending| match pending.lock() {
            Ok(mut lines) if lines.bytes.len() + line.len() <= THREAD_BUFFER_CAP => {
                lines.bytes.extend_from_slice(line);
                let end = lines.bytes.len();
                lines.ends.push((at, end));
            }
            _ => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        });
        if appended.is_ok() {
            return;
        }
    }
    let _ = std::io::stderr().write_all(line);
}

/// Write everything buffered so far to stderr.
fn write_out() {
    let Ok(mut writing) = WRITING.lock() else {
        return;
    };
    let Writing { spares, out } = &mut *writing;
    let threads = match THREADS.lock() {
        Ok(mut threads) => {
            // A thread that has exited leaves its buffer here; drop it once it is empty.
            threads
                .retain(|t| Arc::strong_count(t) > 1 || t.lock().is_ok_and(|l| !l.ends.is_empty()));
            threads.clone()
        }
        Err(_) => return,
    };
    let mut taken = Vec::new();
    for thread in &threads {
        if let Ok(mut lines) = thread.lock() {
            if !lines.ends.is_empty() {
                let spare = spares.pop().unwrap_or_default();
                taken.push(std::mem::replace(&mut *lines, spare));
            }
        }
    }
    out.clear();
    merge_lines(&taken, out);
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        out.extend_from_slice(
            format!("WARN  brickbox::logging {dropped} log lines were dropped: stderr could not keep up\n").as_bytes(),
        );
    }
    if !out.is_empty() {
        let _ = std::io::stderr().write_all(out);
    }
    out.shrink_to(SPARE_CAPACITY);
    for mut lines in taken {
        lines.bytes.clear();
        lines.ends.clear();
        lines.bytes.shrink_to(SPARE_CAPACITY);
        lines.ends.shrink_to(SPARE_CAPACITY / 64);
        spares.push(lines);
    }
}

/// Append the lines of every buffer to `out` in timestamp order, each buffer's lines in their
/// own order (a thread's clock read can step back; its lines still keep their order).
fn merge_lines(buffers: &[Lines], out: &mut Vec<u8>) {
    if let [only] = buffers {
        out.extend_from_slice(&only.bytes);
        return;
    }
    // The next line of each buffer: a linear scan per line, as there are about as many
    // buffers as cores.
    let mut next = vec![0; buffers.len()];
    loop {
        let mut earliest: Option<(usize, u64)> = None;
        for (i, lines) in buffers.iter().enumerate() {
            if let Some(&(at, _)) = lines.ends.get(next[i]) {
                if earliest.is_none_or(|(_, best)| at < best) {
                    earliest = Some((i, at));
                }
            }
        }
        let Some((i, _)) = earliest else {
            return;
        };
        let lines = &buffers[i];
        let start = match next[i] {
            0 => 0,
            n => lines.ends[n - 1].1,
        };
        out.extend_from_slice(&lines.bytes[start..lines.ends[next[i]].1]);
        next[i] += 1;
    }
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
            ended: SystemTime::now(),
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

    fn lines(entries: &[(u64, &str)]) -> Lines {
        let mut lines = Lines::default();
        for (at, text) in entries {
            lines.bytes.extend_from_slice(text.as_bytes());
            let end = lines.bytes.len();
            lines.ends.push((*at, end));
        }
        lines
    }

    #[test]
    fn threads_lines_are_merged_by_time_each_keeping_its_own_order() {
        let a = lines(&[(10, "a1\n"), (30, "a2\n"), (30, "a3\n"), (70, "a4\n")]);
        // b's clock stepped back between b2 and b3: b3 still follows b2.
        let b = lines(&[(20, "b1\n"), (40, "b2\n"), (15, "b3\n"), (80, "b4\n")]);
        let c = lines(&[(5, "c1\n")]);
        let mut out = Vec::new();
        merge_lines(&[a, b, c], &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "c1\na1\nb1\na2\na3\nb2\nb3\na4\nb4\n"
        );

        let mut out = b"kept ".to_vec();
        merge_lines(&[lines(&[(9, "x\n"), (1, "y\n")])], &mut out);
        assert_eq!(out, b"kept x\ny\n");
        merge_lines(&[], &mut out);
        assert_eq!(out, b"kept x\ny\n");
    }

    #[test]
    fn lines_logged_on_many_threads_all_reach_the_writer_in_time_order() {
        // As after `init`, but with no writer thread: this test takes the buffers itself.
        STARTED.store(true, Ordering::Relaxed);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..200 {
                        append(1_000 + i * 4 + t, format!("merge {t} {i}\n").as_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // The threads have exited; their buffers wait for the writer. Take them as it would.
        let taken: Vec<Lines> = THREADS
            .lock()
            .unwrap()
            .iter()
            .map(|t| std::mem::take(&mut *t.lock().unwrap()))
            .collect();
        let mut out = Vec::new();
        merge_lines(&taken, &mut out);
        // Other tests of this binary may log meanwhile; keep this test's lines.
        let text: String = String::from_utf8(out)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("merge "))
            .map(|l| format!("{l}\n"))
            .collect();
        let expected: String = (0..200)
            .flat_map(|i| (0..4).map(move |t| format!("merge {t} {i}\n")))
            .collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let now = shared::util::now_micros();
        let ts = now.as_str();
        assert_eq!(ts.len(), "2026-11-26T12:00:00.123456Z".len(), "{ts}");
        assert!(shared::util::parse_rfc3339(ts).is_some(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
