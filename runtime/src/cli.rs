//! The command line: argument parsing, `routes`, `openapi` and `invoke`.
//! `serve` itself lives in main.rs.

use crate::call::call_function;
use crate::job::JobName;
use crate::respond::error_response;
use shared::stream::{BodyStream, Chunk};
use shared::{AppState, Request, RequestBody, Secret};
use std::io::Read;
use std::sync::Arc;

pub const USAGE: &str = "\
usage:
  brickbox [serve] [--host HOST] [--port PORT]   start the server (the default)
  brickbox routes                                table of METHOD PATH AUTH FUNCTION SUMMARY
  brickbox openapi                               print the OpenAPI 3.1 document
  brickbox migrate                               apply the Lakebase schema migrations and exit
  brickbox job aggregate-metrics                 roll raw metrics older than 7 days into hourly
                                                 buckets, apply retention, print a JSON summary;
                                                 exit 0 ok, 1 database or configuration failure,
                                                 2 any other failure (rolled back); then
                                                 refreshes the metrics summaries
  brickbox job refresh-metrics-summaries         only refresh the metrics summaries (serve does
                                                 it every METRICS_SUMMARY_REFRESH_SECONDS)
  brickbox gen-client [--check] [FILE]           write the web UI's API client (default
                                                 static/js/api.js) from the registry; --check
                                                 only compares and exits 1 when FILE is stale
  brickbox invoke NAME [--param k=v]... [--query k=v]... [--body FILE|-] [--token TOKEN]
                                                 run one function in-process and print
                                                 {\"status\": …, \"body\": …}; exit 0 on 2xx
  brickbox help                                  this text

Configuration comes from the environment; see the README's configuration table.
invoke uses --token, else DATABRICKS_TOKEN, as the caller's token.";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Serve {
        host: Option<String>,
        port: Option<u16>,
    },
    Routes,
    OpenApi,
    GenClient {
        check: bool,
        path: String,
    },
    Migrate,
    Job(JobName),
    Invoke(InvokeArgs),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct InvokeArgs {
    pub name: String,
    pub params: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Option<String>,
    pub token: Option<String>,
}

/// Parse the arguments after the program name. `Err` carries a message naming what was wrong.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut it = args.iter();
    let command = it.next().map(String::as_str);
    let rest: Vec<&String> = it.collect();
    match command {
        None => Ok(Command::Serve {
            host: None,
            port: None,
        }),
        Some("serve") => parse_serve(&rest),
        Some(flag) if flag.starts_with("--") && flag != "--help" => {
            let all: Vec<&String> = args.iter().collect();
            parse_serve(&all)
        }
        Some("help" | "--help" | "-h") => Ok(Command::Help),
        Some("routes") => no_more(&rest, "routes").map(|_| Command::Routes),
        Some("openapi") => no_more(&rest, "openapi").map(|_| Command::OpenApi),
        Some("migrate") => no_more(&rest, "migrate").map(|_| Command::Migrate),
        Some("invoke") => parse_invoke(&rest),
        Some("job") => parse_job(&rest),
        Some("gen-client") => parse_gen_client(&rest),
        Some(other) => Err(format!(
            "unknown command {other:?}: use serve, routes, openapi, migrate, job, gen-client or invoke"
        )),
    }
}

fn no_more(rest: &[&String], command: &str) -> Result<(), String> {
    match rest.first() {
        Some(extra) => Err(format!("{command} takes no arguments, but got {extra:?}")),
        None => Ok(()),
    }
}

fn parse_job(rest: &[&String]) -> Result<Command, String> {
    match rest {
        [name] => JobName::parse(name)
            .map(Command::Job)
            .ok_or_else(|| format!("unknown job {name:?}: the jobs are {}", JobName::ALL)),
        [] => Err(format!("job needs a job name: {}", JobName::ALL)),
        [_, extra, ..] => Err(format!("job takes one job name, but also got {extra:?}")),
    }
}

fn parse_serve(rest: &[&String]) -> Result<Command, String> {
    let (mut host, mut port) = (None, None);
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .map(|v| v.to_string())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--host" => host = Some(value()?),
            "--port" => {
                let v = value()?;
                port = Some(
                    v.parse()
                        .map_err(|_| format!("--port {v:?} is not a port number (0 to 65535)"))?,
                );
            }
            other => {
                return Err(format!(
                    "serve does not take {other:?}; it takes --host and --port"
                ))
            }
        }
    }
    Ok(Command::Serve { host, port })
}

fn parse_gen_client(rest: &[&String]) -> Result<Command, String> {
    let mut check = false;
    let mut path = None;
    for arg in rest {
        match arg.as_str() {
            "--check" => check = true,
            flag if flag.starts_with("--") => {
                return Err(format!(
                    "gen-client does not take {flag:?}; it takes --check and a FILE"
                ))
            }
            file if path.is_none() => path = Some(file.to_string()),
            extra => {
                return Err(format!(
                    "gen-client takes one FILE, got a second: {extra:?}"
                ))
            }
        }
    }
    Ok(Command::GenClient {
        check,
        path: path.unwrap_or_else(|| crate::client_gen::DEFAULT_PATH.to_string()),
    })
}

/// `brickbox gen-client`: write the client, or with `check` compare it. `Ok(false)` = stale.
pub fn gen_client(check: bool, path: &std::path::Path) -> Result<bool, String> {
    let fresh = crate::client_gen::generate(functions::ALL);
    if check {
        return match std::fs::read_to_string(path) {
            Ok(current) => Ok(current == fresh),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(format!("could not read {}: {e}", path.display())),
        };
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, fresh).map_err(|e| format!("could not write {}: {e}", path.display()))?;
    Ok(true)
}

fn parse_invoke(rest: &[&String]) -> Result<Command, String> {
    let mut args = InvokeArgs::default();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .map(|v| v.to_string())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let pair = |flag: &str, v: String| {
            v.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("{flag} takes key=value, got {v:?}"))
        };
        match arg.as_str() {
            "--param" => args.params.push(pair("--param", value("--param")?)?),
            "--query" => args.query.push(pair("--query", value("--query")?)?),
            "--body" => args.body = Some(value("--body")?),
            "--token" => args.token = Some(value("--token")?),
            flag if flag.starts_with("--") => {
                return Err(format!("invoke does not take {flag:?}"));
            }
            name if args.name.is_empty() => args.name = name.to_string(),
            extra => {
                return Err(format!(
                    "invoke takes one function name, got a second: {extra:?}"
                ))
            }
        }
    }
    if args.name.is_empty() {
        return Err("invoke needs a function name; `brickbox routes` lists them".to_string());
    }
    Ok(Command::Invoke(args))
}

/// `brickbox routes`: one line per function.
pub fn routes_table() -> String {
    let rows: Vec<[&str; 5]> = functions::ALL
        .iter()
        .map(|f| {
            [
                f.method.as_str(),
                f.path,
                f.auth.as_str(),
                f.name,
                f.summary,
            ]
        })
        .collect();
    let header = ["METHOD", "PATH", "AUTH", "FUNCTION", "SUMMARY"];
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: [&str; 5]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    std::iter::once(line(header))
        .chain(rows.into_iter().map(line))
        .collect()
}

/// `brickbox invoke`: run one function through the same auth and error mapping as the server.
/// Returns the JSON to print and whether the status was 2xx. A streamed answer is written to
/// `out` as it arrives (its status first, on `status_out`), and the JSON to print is then `None`.
pub async fn invoke(
    app: Arc<AppState>,
    args: InvokeArgs,
    out: &mut (dyn std::io::Write + Send),
    status_out: &mut (dyn std::io::Write + Send),
) -> Result<(Option<serde_json::Value>, bool), String> {
    let function = functions::by_name(&args.name).ok_or_else(|| {
        format!(
            "no function named {:?}; `brickbox routes` lists them",
            args.name
        )
    })?;
    let body = match args.body.as_deref() {
        None => Vec::new(),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("could not read the body from stdin: {e}"))?;
            buf
        }
        Some(file) => {
            std::fs::read(file).map_err(|e| format!("could not read --body {file}: {e}"))?
        }
    };
    for expected in functions::openapi::path_params(function.path) {
        if !args.params.iter().any(|(k, _)| k == expected) {
            return Err(format!("{} needs --param {expected}=VALUE", function.name));
        }
    }
    let query = args
        .query
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                shared::util::percent_encode(k),
                shared::util::percent_encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let content_type = (!body.is_empty()).then(|| "application/json".to_string());
    let request = match function.body {
        RequestBody::Streamed { .. } => Request {
            path_params: args.params,
            query,
            content_type,
            stream: Some(BodyStream::from_bytes(body)),
            ..Request::default()
        },
        RequestBody::Buffered { .. } => Request {
            path_params: args.params,
            query,
            content_type,
            body,
            ..Request::default()
        },
    };
    let token = args
        .token
        .map(Secret::new)
        .or_else(|| app.config.databricks_token.clone());
    let correlation_id = shared::util::uuid_v4();
    let outcome = call_function(&app, function, token, request, correlation_id.clone()).await;
    let mut response = match outcome.result {
        Ok(r) => r,
        Err(e) => {
            if let Some(internal) = &e.internal {
                log::error!("cid={correlation_id} {}: {internal}", e.code.as_str());
            }
            error_response(&e, &correlation_id)
        }
    };
    let ok = (200..300).contains(&response.status);
    if let Some(mut stream) = response.stream.take() {
        let write_failed = |e: std::io::Error| format!("could not write the stream: {e}");
        writeln!(
            status_out,
            "status: {} ({})",
            response.status, response.content_type
        )
        .map_err(write_failed)?;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Chunk::Data(bytes) => {
                    out.write_all(&bytes).map_err(write_failed)?;
                    out.flush().map_err(write_failed)?;
                }
                Chunk::Abort => return Err("the function aborted its stream".to_string()),
            }
        }
        return Ok((None, ok));
    }
    let body = if response.content_type.starts_with("application/json") {
        serde_json::from_slice(&response.body).unwrap_or(serde_json::Value::Null)
    } else if response.body.is_empty() {
        serde_json::Value::Null
    } else {
        String::from_utf8_lossy(&response.body).into_owned().into()
    };
    Ok((
        Some(serde_json::json!({"status": response.status, "body": body})),
        ok,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_each_command() {
        assert_eq!(
            parse(&args(&[])).unwrap(),
            Command::Serve {
                host: None,
                port: None
            }
        );
        assert_eq!(
            parse(&args(&["serve", "--port", "9000", "--host", "0.0.0.0"])).unwrap(),
            Command::Serve {
                host: Some("0.0.0.0".into()),
                port: Some(9000)
            }
        );
        assert_eq!(
            parse(&args(&["--port", "1"])).unwrap(),
            Command::Serve {
                host: None,
                port: Some(1)
            }
        );
        assert_eq!(parse(&args(&["routes"])).unwrap(), Command::Routes);
        assert_eq!(
            parse(&args(&["gen-client"])).unwrap(),
            Command::GenClient {
                check: false,
                path: "static/js/api.js".into()
            }
        );
        assert_eq!(
            parse(&args(&["gen-client", "--check", "x.js"])).unwrap(),
            Command::GenClient {
                check: true,
                path: "x.js".into()
            }
        );
        assert_eq!(
            parse(&args(&["job", "aggregate-metrics"])).unwrap(),
            Command::Job(JobName::AggregateMetrics)
        );
        let Command::Invoke(i) = parse(&args(&[
            "invoke", "user_me", "--query", "a=b=c", "--token", "t",
        ]))
        .unwrap() else {
            panic!("invoke expected")
        };
        assert_eq!(i.name, "user_me");
        assert_eq!(i.query, vec![("a".to_string(), "b=c".to_string())]);
        assert_eq!(i.token.as_deref(), Some("t"));
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        assert!(parse(&args(&["frobnicate"]))
            .unwrap_err()
            .contains("frobnicate"));
        assert!(parse(&args(&["serve", "--port", "x"]))
            .unwrap_err()
            .contains("--port"));
        assert!(parse(&args(&["invoke"]))
            .unwrap_err()
            .contains("function name"));
        assert!(parse(&args(&["invoke", "a", "--param", "novalue"]))
            .unwrap_err()
            .contains("key=value"));
        assert!(parse(&args(&["gen-client", "--force"]))
            .unwrap_err()
            .contains("--force"));
        assert!(parse(&args(&["gen-client", "a", "b"]))
            .unwrap_err()
            .contains("one FILE"));
        assert!(parse(&args(&["job", "compact"]))
            .unwrap_err()
            .contains("aggregate-metrics"));
        assert!(parse(&args(&["job"])).unwrap_err().contains("job name"));
        assert!(parse(&args(&["routes", "x"]))
            .unwrap_err()
            .contains("no arguments"));
    }

    #[test]
    fn the_routes_table_lists_every_function() {
        let table = routes_table();
        for f in functions::ALL {
            assert!(table.contains(f.name));
        }
    }
}
