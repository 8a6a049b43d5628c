//! End-to-end tests of the web UI (`static/`) in Debian's headless chromium, driven by
//! playwright-core scripts under `tests/e2e/` (`run.mjs`, `checks.mjs`) against the real server,
//! the fake workspace and Postgres. The local development token (`DATABRICKS_TOKEN`, honoured for
//! loopback requests outside Apps) stands in for the Databricks Apps proxy, so the browser sends
//! no token at all — exactly like the deployed UI. One server per role: ALICE sees the user view,
//! BOB_ADMIN the admin view.
//!
//! Missing chromium or node packages fail the tests with the command that installs them; they are
//! never skipped.

use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::{get, TestServer};
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_path_buf()
}

/// Chromium and the node packages are there, or the test fails saying how to install them.
fn require_browser() {
    let e2e = repo_root().join("tests/e2e");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run .ci/run (or `apt-get install -y chromium`) before the e2e tests"
    );
    assert!(
        e2e.join("node_modules/playwright-core").is_dir()
            && e2e.join("node_modules/axe-core").is_dir(),
        "tests/e2e/node_modules is missing: run .ci/run (or `npm ci --prefix tests/e2e`)"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing: the e2e tests need Node 20 or later"
    );
}

/// A server for `token`'s user with the repository's UI and the fake workspace.
fn server(fake: &FakeWorkspace, token: &str, extra: &[(&str, &str)]) -> TestServer {
    let static_dir = repo_root().join("static");
    let mut env = vec![
        (
            "BRICKBOX_STATIC_DIR",
            static_dir.to_str().expect("utf-8 path"),
        ),
        ("DATABRICKS_TOKEN", token),
        ("DATABRICKS_WAREHOUSE_ID", "wh-running"),
    ];
    env.extend_from_slice(extra);
    TestServer::with_workspace(fake, &env)
}

/// Run `checks` in chromium as `role`; panics with the runner's output unless all passed.
fn run_checks(server: &TestServer, role: &str, checks: &[&str], extra: &[&str]) -> String {
    let out_dir = repo_root().join("target/e2e");
    let output = Command::new("node")
        .arg(repo_root().join("tests/e2e/run.mjs"))
        .arg(server.url(""))
        .args(["--role", role, "--checks", &checks.join(",")])
        .arg("--out")
        .arg(&out_dir)
        .args(extra)
        .current_dir(repo_root())
        .output()
        .expect("node starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "e2e checks failed ({role}); screenshots and reports are in target/\n{text}"
    );
    println!("{text}");
    text
}

fn marker() -> String {
    shared::util::uuid_v4().replace('-', "")[..12].to_string()
}

#[test]
fn the_ui_works_for_a_user() {
    require_browser();
    let fake = FakeWorkspace::start();
    let server = server(&fake, scim::ALICE, &[]);
    let marker = marker();
    run_checks(
        &server,
        "user",
        &["pages", "nav", "catalog", "models", "budget"],
        &[
            "--table",
            "main.sales.big",
            "--endpoint",
            "chat-fm",
            "--answer",
            "Hello!",
            "--marker",
            &marker,
        ],
    );
}

#[test]
fn the_ui_works_for_an_admin() {
    require_browser();
    let fake = FakeWorkspace::start();
    let server = server(&fake, scim::BOB_ADMIN, &[]);
    run_checks(&server, "admin", &["pages", "nav"], &[]);
}

/// The tracker's batching, timer, retries and page-hide beacon, with node's mocked timers
/// (`tests/e2e/tracker.test.mjs`); the browser checks then show the same code delivering.
#[test]
fn the_usage_tracker_batches_retries_and_beacons() {
    let output = Command::new("node")
        .args(["--test", "tests/e2e/"])
        .current_dir(repo_root())
        .output()
        .expect("node starts: the e2e tests need Node 20 or later");
    assert!(
        output.status.success(),
        "tracker unit tests failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// No token, secret or workspace URL is in any static file, on disk or as served by a server that
/// has both a development token and a workspace configured.
#[test]
fn static_files_hold_no_token_secret_or_workspace_url() {
    let root = repo_root().join("static");
    let fake = FakeWorkspace::start();
    let server = server(&fake, scim::ALICE, &[]);
    let host = fake.url();
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("static/ is readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 10, "static/ has only {} files", files.len());
    for path in files {
        let relative = path.strip_prefix(&root).expect("under static/");
        let url_path = format!("/{}", relative.to_string_lossy());
        let served = get(&server.url(&url_path), &[]);
        assert_eq!(served.status, 200, "{url_path}");
        let text = served.text();
        assert_eq!(
            text.as_bytes(),
            std::fs::read(&path).expect("readable").as_slice()
        );
        for needle in [
            scim::ALICE,
            host.as_str(),
            "Bearer ",
            "dapi",
            "eyJ",
            "databricks.com",
            "azuredatabricks.net",
            "client_secret",
        ] {
            assert!(!text.contains(needle), "{url_path} contains {needle:?}");
        }
        for (i, _) in text.match_indices("://") {
            let url = &text[text[..i]
                .rfind(|c: char| !c.is_ascii_alphanumeric())
                .map_or(0, |s| s + 1)..];
            assert!(
                url.starts_with("http://www.w3.org/"),
                "{url_path} contains an absolute URL: {}",
                &url[..url.len().min(60)]
            );
        }
    }
}
