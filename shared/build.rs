//! Compiles the named queries (`sql/queries/*.sql`) into the binary: every file is checked with
//! the same header parser the server uses (a malformed header, or a placeholder without its
//! `@param`, fails the build naming the file and line), and `$OUT_DIR/queries.rs` lists them,
//! so adding a query is adding a file.

use std::fmt::Write as _;
use std::path::PathBuf;

#[allow(dead_code)]
#[path = "src/queries/header.rs"]
mod header;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dir = manifest.join("../sql/queries");
    println!("cargo:rerun-if-changed={}", dir.display());
    println!("cargo:rerun-if-changed=src/queries/header.rs");
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "sql"))
                .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = String::from(
        "/// Every `sql/queries/*.sql`: (file name, text), sorted by name.\npub const FILES: &[(&str, &str)] = &[\n",
    );
    for (name, path) in &files {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("sql/queries/{name}: cannot read it: {e}"));
        if let Err(e) = header::parse(name, &text) {
            panic!("{e}");
        }
        let path = path.canonicalize().unwrap_or_else(|_| path.clone());
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let target = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("queries.rs");
    std::fs::write(target, out).expect("write queries.rs");
}
