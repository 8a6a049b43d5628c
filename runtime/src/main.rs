//! `brickbox`: the binary. Parses the command line and runs one command.

use runtime::cli::{self, Command};
use runtime::server;
use shared::config::Config;
use shared::AppState;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("brickbox: {message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::Routes => {
            print!("{}", cli::routes_table());
            ExitCode::SUCCESS
        }
        Command::OpenApi => {
            let doc = functions::openapi::document(functions::ALL);
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Command::GenClient { check, path } => gen_client(check, &path),
        Command::Serve { host, port } => {
            let code = serve(host, port);
            runtime::logging::flush();
            code
        }
        Command::Migrate => {
            let code = migrate();
            runtime::logging::flush();
            code
        }
        Command::Invoke(args) => {
            let code = invoke(args);
            runtime::logging::flush();
            code
        }
        Command::Job(name) => {
            let code = match config() {
                Ok(config) => {
                    runtime::logging::init(config.log_json);
                    runtime::job::run(config, name)
                }
                // A configuration the job cannot use is a configuration failure: exit 1.
                Err(_) => ExitCode::from(1),
            };
            runtime::logging::flush();
            code
        }
    }
}

fn config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|message| {
        eprintln!("brickbox: configuration error: {message}");
        ExitCode::from(2)
    })
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
}

fn serve(host: Option<String>, port: Option<u16>) -> ExitCode {
    let mut config = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(host) = host {
        match host.parse() {
            Ok(ip) => config.bind_host = ip,
            Err(_) => {
                eprintln!(
                    "brickbox: --host {host:?} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"
                );
                return ExitCode::from(2);
            }
        }
    }
    if let Some(port) = port {
        config.port = port;
    }
    runtime::logging::init(config.log_json);
    let addr = SocketAddr::new(config.bind_host, config.port);
    let app = Arc::new(AppState::new(config));
    if let Some(e) = &app.db_error {
        eprintln!("brickbox: configuration error: {e}");
        return ExitCode::from(2);
    }
    let service = match server::service(Arc::clone(&app)) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::from(1);
        }
    };
    tokio_runtime().block_on(async move {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                log::error!("cannot listen on {addr}: {e}. Pick another port with --port or PORT.");
                return ExitCode::from(1);
            }
        };
        let local = listener.local_addr().unwrap_or(addr);
        let cfg = &app.config;
        log::info!(
            "{}",
            runtime::startup::summary(cfg, local, service.static_files.root())
        );
        if cfg.local_dev_token().is_some() {
            log::warn!("local development token is ON: loopback requests without X-Forwarded-Access-Token act as the DATABRICKS_TOKEN user");
        }
        match &app.db {
            Some(db) => log::info!("lakebase: {} (migrations run in the background; /ready waits for them)", db.describe()),
            None => log::debug!("lakebase is not configured: metrics collection is off and database functions answer 503"),
        }
        let mut background = server::start_background(&app);
        let fatal = background.fatal();
        let fatal_message = Arc::new(std::sync::Mutex::new(None));
        let seen = Arc::clone(&fatal_message);
        let shutdown = async move {
            tokio::select! {
                _ = server::shutdown_signal() => {}
                message = fatal => {
                    log::error!("cannot start: {message}");
                    if let Ok(mut slot) = seen.lock() {
                        *slot = Some(message);
                    }
                }
            }
        };
        app.set_ready(true);
        server::run(listener, service, shutdown).await;
        background.shutdown().await;
        let fatal = fatal_message.lock().ok().and_then(|mut m| m.take());
        match fatal {
            Some(message) => {
                eprintln!("brickbox: {message}");
                ExitCode::from(1)
            }
            None => {
                log::info!("stopped");
                ExitCode::SUCCESS
            }
        }
    })
}

fn gen_client(check: bool, path: &str) -> ExitCode {
    match cli::gen_client(check, std::path::Path::new(path)) {
        Ok(true) if check => {
            println!("{path} is up to date");
            ExitCode::SUCCESS
        }
        Ok(true) => {
            println!("wrote {path}");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!(
                "brickbox: {path} is stale: it does not match the function registry; run `brickbox gen-client {path}` and commit the result"
            );
            ExitCode::from(1)
        }
        Err(message) => {
            eprintln!("brickbox: {message}");
            ExitCode::from(1)
        }
    }
}

/// `brickbox migrate`: apply the migrations once and exit (0 applied or up to date, 1 failed,
/// 2 not configured or misconfigured).
fn migrate() -> ExitCode {
    let config = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    runtime::logging::init(config.log_json);
    let app = AppState::new(config);
    if let Some(e) = &app.db_error {
        eprintln!("brickbox: configuration error: {e}");
        return ExitCode::from(2);
    }
    let Some(db) = app.db.clone() else {
        eprintln!(
            "brickbox: Lakebase is not configured: set PGHOST (or DATABASE_URL) to run migrations"
        );
        return ExitCode::from(2);
    };
    match tokio_runtime().block_on(db.migrate()) {
        Ok(applied) => {
            let out = serde_json::json!({
                "database": db.describe(),
                "applied": applied,
                "migrations": shared::db::sql::MIGRATIONS.len(),
            });
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("brickbox: {e}");
            ExitCode::from(1)
        }
    }
}

fn invoke(args: cli::InvokeArgs) -> ExitCode {
    let config = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    runtime::logging::init(false);
    let app = Arc::new(AppState::new(config));
    let rt = tokio_runtime();
    if let Some(db) = app.db.clone() {
        // A database function needs the schema; a failure here leaves it answering 503.
        match rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(15), db.migrate()).await })
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log::warn!("lakebase: {e}"),
            Err(_) => log::warn!("lakebase: migrations did not finish within 15 s"),
        }
    }
    let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
    match rt.block_on(cli::invoke(app, args, &mut stdout, &mut stderr)) {
        Ok((output, ok)) => {
            if let Some(output) = output {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&output).unwrap_or_default()
                );
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(message) => {
            eprintln!("brickbox: {message}");
            ExitCode::from(2)
        }
    }
}
