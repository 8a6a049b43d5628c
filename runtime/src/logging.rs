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
        thread_local! {
            static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        let formatted = LINE
            .try_with(|line| {
                let Ok(mut line) = line.try_borrow_mut() else {
                    return false;
                };
                line.clear();
                self.format(&mut line, record);
                append(&line);
                true
            })
            .unwrap_or(false);
        // A line logged while formatting another, or while the thread exits: a fresh buffer.
        if !formatted {
            let mut line = Vec::new();
            self.format(&mut line, record);
            append(&line);
        }
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
    // A second init (tests start several servers in one process) keeps the first logger.
    if log::set_boxed_logger(Box::new(Logger { filter, json })).is_ok() {
        log::set_max_level(max_level);
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
    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let ts = shared::util::now_rfc3339_micros();
        assert_eq!(ts.len(), "2026-11-26T12:00:00.123456Z".len(), "{ts}");
        assert!(shared::util::parse_rfc3339(&ts).is_some(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
