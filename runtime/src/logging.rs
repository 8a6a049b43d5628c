//! Log setup: env_logger for filtering and the one-line format (text for people, JSON for the
//! Apps log viewer), written to stderr by a background thread.
//!
//! Why a thread: a `write(2)` per line under a global lock was the largest cost on the request
//! path (~15 % of `/ping` throughput). Lines go through a bounded channel and the writer thread
//! writes whatever has queued in one call, so under load many lines share a syscall and when idle
//! each line still appears at once. If stderr stalls and the channel fills, lines are dropped and
//! counted rather than blocking a request. `flush()` drains the channel before the process exits.
//!
//! Log lines never carry tokens: nothing logs headers or secrets, and crates that log request
//! headers at debug/trace are capped at `info`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::OnceLock;
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
const QUEUED_LINES: usize = 65_536;

enum Message {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

static SENDER: OnceLock<SyncSender<Message>> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);

struct ChannelWriter(SyncSender<Message>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.try_send(Message::Line(buf.to_vec())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
            // The writer thread is gone (process exit): write directly.
            Err(TrySendError::Disconnected(_)) => {
                let _ = std::io::stderr().write_all(buf);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn writer_thread(rx: Receiver<Message>) {
    let mut stderr = std::io::stderr();
    let mut batch = Vec::with_capacity(64 * 1024);
    let mut acks = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Line(line) => batch.extend_from_slice(&line),
                Message::Flush(ack) => acks.push(ack),
            }
            if batch.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            batch.extend_from_slice(format!("WARN  brickbox::logging {dropped} log lines were dropped: stderr could not keep up\n").as_bytes());
        }
        let _ = stderr.write_all(&batch);
        batch.clear();
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

pub fn init(json: bool) {
    let (tx, rx) = sync_channel(QUEUED_LINES);
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    for module in HEADER_LOGGING_CRATES {
        builder.filter_module(module, log::LevelFilter::Info);
    }
    builder.target(env_logger::Target::Pipe(Box::new(ChannelWriter(
        tx.clone(),
    ))));
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
        let ts = shared::util::now_rfc3339();
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
    if builder.try_init().is_ok() && SENDER.set(tx).is_ok() {
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer_thread(rx));
        if spawned.is_err() {
            eprintln!("brickbox: could not start the log writer thread; logs may be lost");
        }
    }
}

/// Wait (at most 2 s) until every queued line is written. Call before the process exits.
pub fn flush() {
    if let Some(sender) = SENDER.get() {
        let (ack_tx, ack_rx) = sync_channel(1);
        if sender.send(Message::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv_timeout(Duration::from_secs(2));
        }
    }
}
