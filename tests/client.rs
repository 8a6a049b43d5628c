//! The generated API client (`static/js/api.js`): the committed file matches the registry, and
//! `brickbox gen-client --check` says so with its exit code.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_path_buf()
}

#[test]
fn the_committed_client_matches_the_registry() {
    let path = repo_root().join(runtime::client_gen::DEFAULT_PATH);
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let fresh = runtime::client_gen::generate(functions::ALL);
    assert!(
        committed == fresh,
        "static/js/api.js is stale: the function registry changed. Regenerate it with \
         `cargo run -p brickbox -- gen-client` (from the repository root) and commit it."
    );
}

fn gen_client(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_brickbox"))
        .arg("gen-client")
        .args(args)
        .env_clear()
        .output()
        .expect("brickbox runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn gen_client_check_fails_on_a_stale_file_and_writing_fixes_it() {
    let dir = std::env::temp_dir().join(format!("brickbox-client-{}", shared::util::uuid_v4()));
    let file = dir.join("js/api.js");
    let file_arg = file.to_str().unwrap();

    let (code, stderr) = gen_client(&["--check", file_arg]);
    assert_eq!(code, 1, "a missing file is stale");
    assert!(
        stderr.contains("stale") && stderr.contains("gen-client"),
        "{stderr}"
    );

    assert_eq!(gen_client(&[file_arg]).0, 0);
    assert_eq!(gen_client(&["--check", file_arg]).0, 0);

    let mut edited = std::fs::read_to_string(&file).unwrap();
    edited.push_str("// a hand edit\n");
    std::fs::write(&file, edited).unwrap();
    assert_eq!(gen_client(&["--check", file_arg]).0, 1);

    let (code, stderr) = gen_client(&["--check", "--verbose"]);
    assert_eq!(code, 2, "bad arguments: {stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
