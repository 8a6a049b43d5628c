//! Static files from the static dir: content types, ETags with 304, cache headers,
//! and a path check that refuses traversal in every spelling and symlinks leaving the dir.

use shared::{util, Response};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub struct StaticFiles {
    /// Canonical root, or `None` when no static dir exists (every file is then 404).
    root: Option<PathBuf>,
}

impl StaticFiles {
    pub fn new(root: Option<PathBuf>) -> StaticFiles {
        StaticFiles {
            root: root.and_then(|r| r.canonicalize().ok()),
        }
    }

    /// The static dir: `BRICKBOX_STATIC_DIR`, else `static` next to the binary, else `static` in
    /// the working directory.
    pub fn locate(configured: Option<&Path>) -> Option<PathBuf> {
        if let Some(dir) = configured {
            return Some(dir.to_path_buf());
        }
        let beside_binary = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|d| d.join("static")));
        beside_binary
            .into_iter()
            .chain(std::iter::once(PathBuf::from("static")))
            .find(|d| d.join("index.html").is_file())
    }

    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// `None` means 404. `raw_path` is the request path as sent (still percent-encoded).
    pub async fn serve(&self, raw_path: &str, if_none_match: Option<&str>) -> Option<Response> {
        let file = self.resolve(raw_path)?;
        let meta = tokio::fs::metadata(&file).await.ok()?;
        if !meta.is_file() {
            return None;
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let etag = format!("\"{:x}-{:x}\"", meta.len(), mtime);
        let content_type = content_type(&file);
        let cache = if content_type.starts_with("text/html") {
            "no-cache"
        } else {
            "public, max-age=3600"
        };
        let matches = if_none_match.is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == etag)
        });
        let mut response = if matches {
            Response::text(304, content_type, Vec::new())
        } else {
            Response::text(200, content_type, tokio::fs::read(&file).await.ok()?)
        };
        response.headers.push(("etag", etag));
        response.headers.push(("cache-control", cache.to_string()));
        Some(response)
    }

    /// Map a request path to a file inside the root, or `None`.
    fn resolve(&self, raw_path: &str) -> Option<PathBuf> {
        let root = self.root.as_ref()?;
        let decoded = util::percent_decode(raw_path, false)?;
        let relative = decoded.strip_prefix('/')?;
        if decoded.contains(['\\', '\0']) || relative.starts_with('/') {
            return None;
        }
        let mut path = root.clone();
        let segments: Vec<&str> = relative.split('/').collect();
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            if segment.is_empty() && last {
                break; // a trailing slash: the directory's index.html
            }
            if segment.is_empty() || segment.starts_with('.') || segment.contains(':') {
                return None; // `//`, `.`, `..`, dotfiles, drive-like names
            }
            path.push(segment);
        }
        if relative.is_empty() || relative.ends_with('/') {
            path.push("index.html");
        }
        // Resolves symlinks: a link pointing outside the root is refused here.
        let canonical = path.canonicalize().ok()?;
        canonical.starts_with(root).then_some(canonical)
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (PathBuf, StaticFiles) {
        let base = std::env::temp_dir().join(format!("brickbox-static-{}", util::uuid_v4()));
        std::fs::create_dir_all(base.join("www/sub")).unwrap();
        std::fs::write(base.join("www/index.html"), "<p>hi</p>").unwrap();
        std::fs::write(base.join("www/sub/app.js"), "x").unwrap();
        std::fs::write(base.join("secret.txt"), "s").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(base.join("secret.txt"), base.join("www/link.txt")).unwrap();
        let files = StaticFiles::new(Some(base.join("www")));
        (base, files)
    }

    #[test]
    fn resolves_inside_and_refuses_everything_else() {
        let (_base, files) = tree();
        assert!(files.resolve("/").unwrap().ends_with("index.html"));
        assert!(files.resolve("/sub/app.js").is_some());
        assert!(files.resolve("/sub/%61pp.js").is_some());
        for bad in [
            "/../secret.txt",
            "/sub/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E%2Fsecret.txt",
            "/..%2fsecret.txt",
            "//etc/passwd",
            "/%2Fetc%2Fpasswd",
            "/..\\secret.txt",
            "/link.txt",
            "/sub/%00.js",
            "/%zz",
            "/.hidden",
        ] {
            assert!(files.resolve(bad).is_none(), "{bad} should be refused");
        }
    }
}
