//! Static files: types, ETag/304, cache headers, and traversal in every spelling.

use crate::support::{get, raw, TestServer};

fn static_tree() -> std::path::PathBuf {
    let base = std::env::temp_dir().join(format!("brickbox-it-static-{}", shared::util::uuid_v4()));
    std::fs::create_dir_all(base.join("www/assets")).unwrap();
    std::fs::write(
        base.join("www/index.html"),
        "<!doctype html><title>t</title>",
    )
    .unwrap();
    std::fs::write(base.join("www/assets/app.js"), "export const x = 1;").unwrap();
    std::fs::write(base.join("www/assets/site.css"), "body{}").unwrap();
    std::fs::write(base.join("outside.txt"), "SECRET-OUTSIDE").unwrap();
    std::os::unix::fs::symlink(base.join("outside.txt"), base.join("www/escape.txt")).unwrap();
    base
}

#[test]
fn files_have_types_etags_and_cache_headers() {
    let base = static_tree();
    let dir = base.join("www");
    let server = TestServer::start(&[("BRICKBOX_STATIC_DIR", dir.to_str().unwrap())]);

    let index = get(&server.url("/"), &[]);
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    let csp = index.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(index.header("referrer-policy"), Some("same-origin"));

    let js = get(&server.url("/assets/app.js"), &[]);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let max_age: u64 = js
        .header("cache-control")
        .unwrap()
        .split("max-age=")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age >= 3600);
    assert_eq!(
        get(&server.url("/assets/site.css"), &[]).header("content-type"),
        Some("text/css; charset=utf-8")
    );

    let etag = js.header("etag").unwrap().to_string();
    let again = get(&server.url("/assets/app.js"), &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let other = get(
        &server.url("/assets/app.js"),
        &[("If-None-Match", "\"other\"")],
    );
    assert_eq!(other.status, 200);
    assert_eq!(get(&server.url("/missing.js"), &[]).status, 404);
}

#[test]
fn traversal_and_symlinks_leaving_the_dir_are_404() {
    let base = static_tree();
    let dir = base.join("www");
    let server = TestServer::start(&[("BRICKBOX_STATIC_DIR", dir.to_str().unwrap())]);
    for path in [
        "/../outside.txt",
        "/assets/../../outside.txt",
        "/%2e%2e/outside.txt",
        "/%2E%2E%2Foutside.txt",
        "/assets/..%2F..%2Foutside.txt",
        "//etc/passwd",
        "/%2Fetc%2Fpasswd",
        "/..%5Coutside.txt",
        "/escape.txt",
        "/%00",
    ] {
        let answer = raw(
            server.addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let status_line = answer.lines().next().unwrap_or("");
        assert!(
            status_line.contains(" 404 ") || status_line.contains(" 400 "),
            "{path}: {status_line}"
        );
        assert!(
            !answer.contains("SECRET-OUTSIDE"),
            "{path} leaked a file outside the static dir"
        );
        assert!(!answer.contains("root:"), "{path} leaked /etc/passwd");
    }
}
