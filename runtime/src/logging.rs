//! Log setup: env_logger for filtering and the one-line format (text for people, JSON for the
//! Apps log viewer), written to stderr by a background thread.
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

struct BufferWriter;

impl Write for BufferWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        if !STARTED.load(Ordering::Relaxed) {
            let _ = std::io::stderr().write_all(line);
            return Ok(line.len());
        }
        match BUFFER.lock() {
            Ok(mut buf) if buf.len() + line.len() <= BUFFER_CAP => buf.extend_from_slice(line),
            _ => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    for module in HEADER_LOGGING_CRATES {
        builder.filter_module(module, log::LevelFilter::Info);
    }
    builder.target(env_logger::Target::Pipe(Box::new(BufferWriter)));
    builder.format(move |buf, record| {
        // Second line of defence: a more specific RUST_LOG directive (`ureq::run=trace`) wins over
        // the caps above, so such lines are dropped here instead.
        let target = record.target();
        if record.level() > log::Level::Info
            && HEADER_LOGGING_CRATES
                .iter()
                .any(|c| target == *c || target.starts_with(&format!("{c}::")))
        {
            return Ok(());
        }
        let ts = shared::util::now_rfc3339_micros();
        if json {
            let line = serde_json::json!({
                "ts": ts,
                "level": record.level().as_str(),
                "target": record.target(),
                "message": record.args().to_string(),
            });
            writeln!(buf, "{line}")
        } else {
            writeln!(
                buf,
                "{ts} {:<5} {} {}",
                record.level(),
                record.target(),
                record.args()
            )
        }
    });
    // A second init (tests start several servers in one process) keeps the first logger.
    if builder.try_init().is_ok() {
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(writer_thread);
        // Without the thread, lines go straight to stderr (BufferWriter checks STARTED).
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
