//! Log setup: env_logger with a one-line format, text for people or JSON for the Apps log
//! viewer (`LOG_FORMAT`). Log lines never carry tokens: nothing logs headers or secrets.

use std::io::Write;

/// Crates whose debug and trace lines include request headers, so an `Authorization: Bearer`
/// value. They are capped at `info` whatever `RUST_LOG` says.
const HEADER_LOGGING_CRATES: &[&str] = &[
    "ureq",
    "ureq_proto",
    "rustls",
    "tokio_postgres",
    "postgres_protocol",
];

pub fn init(json: bool) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    for module in HEADER_LOGGING_CRATES {
        builder.filter_module(module, log::LevelFilter::Info);
    }
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
    // A second init (tests start several servers in one process) is harmless.
    let _ = builder.try_init();
}
