//! Deployment pieces, run for real: the job launcher (`jobs/launch_aggregation.py`) starting the
//! real binary the way a Databricks job does, and the startup line `serve` prints, with every
//! secret set.

use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::{get, BinaryServer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LAUNCHER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../jobs/launch_aggregation.py");

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "brickbox-deploy-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The real binary copied into `dir` as a plain file without the exec bit, as a workspace
/// upload leaves it.
fn uploaded_binary(dir: &Path) -> PathBuf {
    let path = dir.join("brickbox");
    std::fs::copy(env!("CARGO_BIN_EXE_brickbox"), &path).expect("copy the binary");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod 644");
    path
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `python3 jobs/launch_aggregation.py ARGS` with exactly `env` (plus PATH), and a TMPDIR of
/// its own so the test can see that the launcher cleans up.
fn launch(args: &[&str], env: &[(&str, &str)], tmp: &Path) -> Run {
    let mut cmd = Command::new("python3");
    cmd.arg(LAUNCHER)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TMPDIR", tmp)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("python3 runs the launcher");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn launcher_lines(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| l.starts_with("launcher: "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn launcher_copies_the_uploaded_binary_and_propagates_exit_0() {
    let upload = TempDir::new();
    let tmp = TempDir::new();
    let binary = uploaded_binary(upload.path());
    let binary = binary.to_str().unwrap();

    let run = launch(&[binary, "--", "routes"], &[], tmp.path());
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("METHOD"),
        "the binary's stdout is forwarded: {}",
        run.stdout
    );
    assert!(run.stdout.contains("/api/user/me"));
    let own = launcher_lines(&run.stderr);
    assert!(
        own.contains(&format!(
            "launcher: binary {binary} ({})",
            std::env::consts::ARCH
        )),
        "{own}"
    );
    assert!(own.contains("running brickbox routes"), "{own}");
    assert!(own.contains("brickbox exited with 0"), "{own}");
    // The uploaded file is left as it was; the executable copy is gone afterwards.
    let mode = std::fs::metadata(binary).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

#[test]
fn launcher_propagates_exit_2_for_bad_arguments() {
    let upload = TempDir::new();
    let tmp = TempDir::new();
    let binary = uploaded_binary(upload.path());
    let run = launch(
        &[binary.to_str().unwrap(), "--", "nonsense"],
        &[],
        tmp.path(),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown command \"nonsense\"") && run.stderr.contains("usage:"),
        "the binary's stderr is forwarded: {}",
        run.stderr
    );
    assert!(run.stderr.contains("brickbox exited with 2"));

    // The launcher's own bad arguments exit 2 too, before anything runs.
    let run = launch(&[], &[], tmp.path());
    assert_eq!(run.code, 2);
    assert!(run
        .stderr
        .contains("the first parameter must be the brickbox binary's path"));
    let run = launch(&[binary.to_str().unwrap(), "--pguser"], &[], tmp.path());
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--pguser needs a value"),
        "{}",
        run.stderr
    );
}

#[test]
fn launcher_hands_over_the_workspace_credential_and_propagates_exit_1() {
    let fake = FakeWorkspace::start();
    let host = fake.url();
    let upload = TempDir::new();
    let tmp = TempDir::new();
    let binary = uploaded_binary(upload.path());
    let binary = binary.to_str().unwrap();

    let run = launch(
        &[binary, "--", "invoke", "user_me"],
        &[
            ("DATABRICKS_HOST", &host),
            ("DATABRICKS_TOKEN", scim::ALICE),
        ],
        tmp.path(),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(out["body"]["user_name"], "alice@example.com");
    assert_eq!(fake.calls("/api/2.0/preview/scim/v2/Me", scim::ALICE), 1);
    assert!(run
        .stderr
        .contains("workspace credential: DATABRICKS_TOKEN from the environment"));

    // A credential the workspace refuses: the binary exits 1, and so does the launcher.
    let bad = "unknown-token-SHOULD-NOT-APPEAR";
    let run = launch(
        &[binary, "--", "invoke", "user_me"],
        &[("DATABRICKS_HOST", &host), ("DATABRICKS_TOKEN", bad)],
        tmp.path(),
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(out["body"]["error_code"], "AUTH_INVALID");
    assert!(run.stderr.contains("brickbox exited with 1"));
    assert!(!run.stdout.contains(bad) && !run.stderr.contains(bad));
}

/// A workspace stub for the launcher's look-ups: canned JSON per path; records each request's
/// path and `Authorization` header.
struct Stub {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl Stub {
    fn start(routes: Vec<(String, serde_json::Value)>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
        let addr = listener.local_addr().expect("stub address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut authorization = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("authorization") {
                            authorization = value.trim().to_string();
                        }
                    }
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                seen.lock().unwrap().push((path.clone(), authorization));
                let (status, body) = match routes.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => (200, body.to_string()),
                    None => (
                        404,
                        serde_json::json!({"error_code": "NOT_FOUND", "message": format!("no {path}")})
                            .to_string(),
                    ),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Stub { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.requests.lock().unwrap().clone()
    }
}

#[test]
fn launcher_fills_in_lakebase_settings_from_the_endpoint_and_the_identity() {
    let endpoint = "projects/brickbox/branches/production/endpoints/primary";
    let stub = Stub::start(vec![
        (
            format!("/api/2.0/postgres/{endpoint}"),
            serde_json::json!({"name": endpoint, "status": {"current_state": "ACTIVE",
                "hosts": {"host": "127.0.0.1"}}}),
        ),
        (
            "/api/2.0/preview/scim/v2/Me".into(),
            serde_json::json!({"userName": "job-owner@example.com"}),
        ),
        (
            "/api/2.0/database/instances/legacy".into(),
            serde_json::json!({"name": "legacy", "state": "AVAILABLE",
                "read_write_dns": "instance-1.database.example.com"}),
        ),
    ]);
    let host = stub.url();
    let token = "job-token-SHOULD-NOT-APPEAR";
    let upload = TempDir::new();
    let tmp = TempDir::new();
    let binary = uploaded_binary(upload.path());
    let binary = binary.to_str().unwrap();

    // PGPORT 1: nothing listens there, so nothing below can reach a real database.
    let run = launch(
        &[
            binary,
            "--lakebase-endpoint",
            endpoint,
            "--pgdatabase=metrics",
            "--pgport",
            "1",
            "--",
            "invoke",
            "health",
        ],
        &[("DATABRICKS_HOST", &host), ("DATABRICKS_TOKEN", token)],
        tmp.path(),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let own = launcher_lines(&run.stderr);
    for setting in [
        "PGHOST=127.0.0.1",
        "PGPORT=1",
        "PGDATABASE=metrics",
        "PGUSER=job-owner@example.com",
        "PGSSLMODE=require",
        &format!("LAKEBASE_ENDPOINT={endpoint}"),
    ] {
        assert!(own.contains(setting), "{setting} missing: {own}");
    }
    // The settings reached the binary: Lakebase counts as configured (not yet connected).
    let out: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(out["body"]["lakebase"], "unavailable", "{}", run.stdout);
    let requests = stub.requests();
    assert_eq!(
        requests,
        vec![
            (
                format!("/api/2.0/postgres/{endpoint}"),
                format!("Bearer {token}")
            ),
            (
                "/api/2.0/preview/scim/v2/Me".into(),
                format!("Bearer {token}")
            ),
            // The binary mints the database credential with the workspace credential it was
            // handed (before migrating), as docs/api.md says for the job.
            (
                "/api/2.0/postgres/credentials".into(),
                format!("Bearer {token}")
            ),
        ]
    );
    assert!(!run.stdout.contains(token) && !run.stderr.contains(token));

    // A provisioned instance, with the user given: only the instance is looked up.
    let run = launch(
        &[
            binary,
            "--lakebase-instance",
            "legacy",
            "--pguser",
            "etl@example.com",
            "--",
            "invoke",
            "health",
        ],
        &[
            ("DATABRICKS_HOST", &host),
            ("DATABRICKS_TOKEN", token),
            ("PGPORT", "1"),
        ],
        tmp.path(),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let own = launcher_lines(&run.stderr);
    assert!(
        own.contains("PGHOST=instance-1.database.example.com")
            && own.contains("PGUSER=etl@example.com")
            && own.contains("LAKEBASE_INSTANCE_NAME=legacy"),
        "{own}"
    );
    // The instance look-up by the launcher, then the binary minting the instance credential.
    let requests = stub.requests();
    assert_eq!(
        requests[3..]
            .iter()
            .map(|(path, _)| path.as_str())
            .collect::<Vec<_>>(),
        [
            "/api/2.0/database/instances/legacy",
            "/api/2.0/database/credentials"
        ]
    );
}

#[test]
fn launcher_exits_1_when_lakebase_cannot_be_worked_out() {
    let stub = Stub::start(vec![]);
    let host = stub.url();
    let upload = TempDir::new();
    let tmp = TempDir::new();
    let binary = uploaded_binary(upload.path());
    let binary = binary.to_str().unwrap();
    let endpoint = "projects/nope/branches/production/endpoints/primary";

    let run = launch(
        &[binary, "--lakebase-endpoint", endpoint],
        &[("DATABRICKS_HOST", &host), ("DATABRICKS_TOKEN", "t")],
        tmp.path(),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "GET /api/2.0/postgres/{endpoint} answered 404 no /api/2.0/postgres/{endpoint}"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("running brickbox"), "nothing ran");

    // No credential at all: said so, exit 1.
    let run = launch(&[binary, "--lakebase-endpoint", endpoint], &[], tmp.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no workspace credential"),
        "{}",
        run.stderr
    );
}

#[test]
fn launcher_refuses_binaries_it_cannot_run() {
    let dir = TempDir::new();
    let tmp = TempDir::new();
    // A 64-bit little-endian ELF header for the other architecture.
    let (other, e_machine): (&str, u16) = if std::env::consts::ARCH == "x86_64" {
        ("aarch64", 0xB7)
    } else {
        ("x86_64", 0x3E)
    };
    let mut header = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    header.resize(16, 0);
    header.extend_from_slice(&2u16.to_le_bytes()); // e_type: executable
    header.extend_from_slice(&e_machine.to_le_bytes());
    header.resize(64, 0);
    let foreign = dir.path().join("brickbox-foreign");
    std::fs::write(&foreign, &header).unwrap();
    let run = launch(&[foreign.to_str().unwrap()], &[], tmp.path());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "is built for {other}, but this machine is {}",
            std::env::consts::ARCH
        )),
        "{}",
        run.stderr
    );

    let script = dir.path().join("not-elf");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let run = launch(&[script.to_str().unwrap()], &[], tmp.path());
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("is not a Linux (ELF) executable"),
        "{}",
        run.stderr
    );

    let missing = dir.path().join("missing");
    let run = launch(&[missing.to_str().unwrap()], &[], tmp.path());
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read the binary") && run.stderr.contains("scripts/package"),
        "{}",
        run.stderr
    );
    assert!(entries(tmp.path()).is_empty());
}

#[test]
fn launcher_streams_output_and_forwards_sigterm() {
    let upload = TempDir::new();
    let tmp = TempDir::new();
    let binary = uploaded_binary(upload.path());
    let mut child = Command::new("python3")
        .arg(LAUNCHER)
        .args([binary.to_str().unwrap(), "--", "serve", "--port", "0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TMPDIR", tmp.path())
        .env("LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("launcher starts");
    let (tx, rx) = std::sync::mpsc::channel();
    let mut stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
    });
    let stderr = child.stderr.take().unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let collected = Arc::clone(&output);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr: Option<SocketAddr> =
                    rest.split_whitespace().next().and_then(|a| a.parse().ok());
                let _ = tx.send(addr);
            }
            collected.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    // The server's lines arrive while it runs: the launcher forwards line by line.
    let addr = rx
        .recv_timeout(Duration::from_secs(15))
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!("no startup line: {}", output.lock().unwrap())
        });
    assert_eq!(get(&format!("http://{addr}/health"), &[]).status, 200);
    // SIGTERM to the launcher (what cancelling a run does) reaches the server, which stops
    // cleanly: exit 0 all the way up.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("launcher still running: {}", output.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{}", output.lock().unwrap());
    std::thread::sleep(Duration::from_millis(100));
    let printed = output.lock().unwrap().clone();
    assert!(printed.contains("shutting down"), "{printed}");
    assert!(entries(tmp.path()).is_empty());
}

/// Start the real server with `env`, take everything it prints until it stops.
fn startup_output(env: &[(&str, &str)]) -> String {
    let mut server = BinaryServer::start(env);
    assert_eq!(get(&server.url("/health"), &[]).status, 200);
    server.sigterm();
    server
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    server.output()
}

#[test]
fn startup_line_reports_what_was_detected_and_never_a_secret() {
    let fake = FakeWorkspace::start();
    let host = fake.url();
    let secrets = [
        ("PGPASSWORD", "pgpassword-SHOULD-NOT-APPEAR"),
        (
            "DATABRICKS_CLIENT_SECRET",
            "client-secret-SHOULD-NOT-APPEAR",
        ),
        ("DATABRICKS_TOKEN", "token-SHOULD-NOT-APPEAR"),
        (
            "DATABASE_URL",
            "postgres://app:url-password-SHOULD-NOT-APPEAR@127.0.0.1:1/app",
        ),
    ];
    let endpoint = "projects/brickbox/branches/production/endpoints/primary";
    let common = [
        ("LOG_FORMAT", "text"),
        ("DATABRICKS_HOST", host.as_str()),
        ("DATABRICKS_CLIENT_ID", "app-client-id"),
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", "1"),
        ("PGDATABASE", "appdb"),
        ("LAKEBASE_ENDPOINT", endpoint),
    ];

    // Inside Apps, with every secret set: the static password wins.
    let mut env: Vec<(&str, &str)> = common.to_vec();
    env.extend_from_slice(&secrets);
    env.extend_from_slice(&[
        ("DATABRICKS_APP_PORT", "8000"),
        ("DATABRICKS_WAREHOUSE_ID", "wh-1234"),
        ("ADMIN_GROUPS", "Ops, admins"),
    ]);
    let printed = startup_output(&env);
    let line = printed
        .lines()
        .find(|l| l.contains("listening on http://"))
        .expect("a startup line");
    for part in [
        &format!("brickbox {} listening on http://0.0.0.0:", shared::VERSION),
        &format!("(Databricks Apps; {};", std::env::consts::ARCH),
        &format!("workspace: {host};"),
        "lakebase: static password, host 127.0.0.1, database appdb;",
        "warehouse: wh-1234;",
        "admin groups: ops,admins)",
    ] {
        assert!(line.contains(part), "{part:?} missing from: {line}");
    }
    for (name, secret) in secrets {
        assert!(
            !printed.contains(secret),
            "{name}'s value appears in the output:\n{printed}"
        );
    }

    // Without a static password, the endpoint credential is what a deployed app uses (minted
    // with the app's service principal: Apps always sets its client id and secret).
    let mut env: Vec<(&str, &str)> = common.to_vec();
    env.push((
        "DATABRICKS_CLIENT_SECRET",
        "client-secret-SHOULD-NOT-APPEAR",
    ));
    let printed = startup_output(&env);
    assert!(
        !printed.contains("client-secret-SHOULD-NOT-APPEAR"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("(local; {}; static: ", std::env::consts::ARCH))
            && printed.contains(&format!(
            "lakebase: endpoint credential, host 127.0.0.1, database appdb, endpoint {endpoint};"
        )) && printed.contains("warehouse: auto"),
        "{printed}"
    );

    let printed = startup_output(&[("LOG_FORMAT", "text")]);
    assert!(
        printed.contains("lakebase: not configured;")
            && printed.contains("admin groups: admins,workspace_admins,administrators)"),
        "{printed}"
    );
}

#[test]
fn smoke_check_calls_the_app_with_the_cli_token() {
    let fake = FakeWorkspace::start();
    let host = fake.url();
    // Stands in for the Apps proxy: a loopback request without a forwarded token acts as the
    // DATABRICKS_TOKEN user (local development mode).
    let mut server = BinaryServer::start(&[
        ("DATABRICKS_HOST", &host),
        ("DATABRICKS_TOKEN", scim::ALICE),
        ("LOG_FORMAT", "text"),
    ]);
    // A stand-in `databricks` CLI that records its arguments.
    let bin = TempDir::new();
    let calls = bin.path().join("calls");
    let cli = bin.path().join("databricks");
    std::fs::write(
        &cli,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\ncase \"$1 $2\" in\n  'auth token') echo '{{\"access_token\": \"cli-token-SHOULD-NOT-APPEAR\", \"token_type\": \"Bearer\"}}' ;;\n  'apps get') echo '{{\"name\": \"brickbox\", \"url\": \"http://{}/\"}}' ;;\n  *) echo \"unexpected: $*\" >&2; exit 3 ;;\nesac\n",
            calls.display(),
            server.addr
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/smoke-check"
        ))
        .args(["--app", "brickbox", "--profile", "dev"])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.path().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .stdin(Stdio::null())
        .output()
        .expect("smoke-check runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // No Lakebase here, so /health is not what a deployed app must show: one failure, exit 1.
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(
        printed.contains("FAIL /health: unexpected body")
            && printed.contains("ok   /ready")
            && printed.contains("ok   /api/user/me")
            && printed.contains("alice@example.com")
            && printed.contains("1 check(s) failed"),
        "{printed}"
    );
    assert!(
        !printed.contains("cli-token-SHOULD-NOT-APPEAR"),
        "{printed}"
    );
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "apps get brickbox --profile dev --output json\nauth token --profile dev\n"
    );
    server.sigterm();
    server.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(!server.output().contains("cli-token-SHOULD-NOT-APPEAR"));
}

#[test]
fn launcher_runs_the_aggregation_job_against_postgres() {
    let db = crate::support::db::TestDb::create();
    // A password makes this "static password" mode; the local server's trust auth ignores it.
    let url = db
        .url()
        .replacen("postgres://postgres@", "postgres://postgres:unused@", 1);
    let upload = TempDir::new();
    let tmp = TempDir::new();
    let binary = uploaded_binary(upload.path());
    let binary = binary.to_str().unwrap();
    let env = [("DATABASE_URL", url.as_str())];

    let migrate = launch(&[binary, "--", "migrate"], &env, tmp.path());
    assert_eq!(migrate.code, 0, "{}{}", migrate.stdout, migrate.stderr);
    db.sql(
        "INSERT INTO performance_metrics (timestamp, endpoint, method, status_code, response_time_ms, user_id)
         SELECT date_trunc('hour', now() - interval '8 days') + interval '10 minutes', '/api/x', 'GET', s, ms, 'a@example.com'
         FROM (VALUES (200, 10.0), (200, 20.0), (500, 30.0)) AS v(s, ms);
         INSERT INTO performance_metrics (timestamp, endpoint, method, status_code, response_time_ms)
         VALUES (now() - interval '1 hour', '/api/x', 'GET', 200, 5.0);
         INSERT INTO usage_events (timestamp, event_type, user_id, page_name)
         VALUES (now() - interval '8 days', 'page_view', 'a@example.com', 'home'),
                (now() - interval '1 hour', 'page_view', 'a@example.com', 'home');",
    );

    // No arguments after the binary: the default `job aggregate-metrics`.
    let run = launch(&[binary], &env, tmp.path());
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        launcher_lines(&run.stderr).contains("brickbox exited with 0"),
        "{}",
        run.stderr
    );
    let summary: serde_json::Value =
        serde_json::from_str(run.stdout.trim()).expect("JSON summary on stdout");
    assert!(summary.is_object(), "{summary}");
    assert!(
        !run.stdout.contains("unused") && !run.stderr.contains("unused"),
        "the password is not printed"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM performance_metrics"),
        1,
        "only the recent row is left"
    );
    assert_eq!(db.count("SELECT count(*) FROM usage_events"), 1);
    assert_eq!(
        db.sql("SELECT count || ',' || error_count || ',' || avg_ms FROM aggregated_metrics WHERE kind = 'request'"),
        "3,1,20"
    );

    // A database that cannot be reached: exit 1. An unknown job: exit 2.
    let down = [(
        "DATABASE_URL",
        "postgres://postgres:unused@127.0.0.1:1/none",
    )];
    let run = launch(&[binary], &down, tmp.path());
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let run = launch(&[binary, "--", "job", "nonsense"], &env, tmp.path());
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
}
