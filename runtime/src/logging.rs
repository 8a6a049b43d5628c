//! Log setup: env_logger with a one-line format, text for people or JSON for the Apps log
//! viewer (`LOG_FORMAT`). Log lines never carry tokens: nothing logs headers or secrets.

use std::io::Write;

pub fn init(json: bool) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    builder.format(move |buf, record| {
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
            writeln!(buf, "{ts} {:<5} {} {}", record.level(), record.target(), record.args())
        }
    });
    // A second init (tests start several servers in one process) is harmless.
    let _ = builder.try_init();
}
