//! `GET /api/files/download?path=`: a file's bytes, streamed from the workspace as they arrive
//! (never whole in memory). `Range` is passed through (206 with `Content-Range`), and so are
//! `Content-Length` and `Last-Modified`. Every answer is a download, never a page the browser
//! would run: `Content-Disposition: attachment` with the file name (`filename*` for non-ASCII
//! names), `Content-Security-Policy: sandbox`, and a `Content-Type` from the file's extension
//! that is `application/octet-stream` unless the type cannot run (images other than SVG, PDF,
//! plain text, CSV, JSON, Parquet). The runtime adds `X-Content-Type-Options: nosniff`.

use crate::files_list::{path_param, PATH_PARAM};
use shared::databricks::files;
use shared::util::percent_encode;
use shared::{stream, ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "files_download",
    method: Method::Get,
    path: "/api/files/download",
    auth: Auth::User,
    summary: "Download a file from a Unity Catalog volume (streamed; Range supported)",
    query: &[PATH_PARAM],
    request_body: None,
    success_status: 200,
    response_body: Some(r#"{"type":"string","format":"binary"}"#),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

/// The one type that never runs in a browser: what every file without a safe type is sent as.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// The `Content-Type` of a download, from the file name's extension. Only types a browser
/// will not execute are named; HTML, SVG, XML, scripts and everything unknown are bytes.
pub fn content_type_for(name: &str) -> &'static str {
    let extension = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => return OCTET_STREAM,
    };
    match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        "txt" | "text" | "log" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "json" => "application/json",
        "parquet" => "application/vnd.apache.parquet",
        _ => OCTET_STREAM,
    }
}

/// `attachment; filename="…"` (RFC 6266), plus `filename*=UTF-8''…` when the name is not
/// plain ASCII; the quoted fallback has `_` for every character it cannot carry.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => '_',
        })
        .collect();
    if name.is_ascii() && !name.contains(['"', '\\']) {
        format!("attachment; filename=\"{fallback}\"")
    } else {
        format!(
            "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
            percent_encode(name)
        )
    }
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let path = path_param(&req)?;
    let token = ctx.user_token()?;
    let range = req.header("range").map(str::to_string);
    let (sender, receiver) = stream::channel(false);
    let head = files::download(
        &ctx.state.databricks,
        token,
        &path,
        range.as_deref(),
        sender,
    )
    .await?;
    let name = files::file_name(&path);
    let mut response = Response::streamed(head.status, content_type_for(name), receiver);
    let headers = &mut response.headers;
    headers.push(("content-disposition", content_disposition(name)));
    headers.push(("content-security-policy", "sandbox".to_string()));
    headers.push(("cache-control", "private, no-store".to_string()));
    for (name, value) in [
        ("content-length", head.content_length),
        ("last-modified", head.last_modified),
        ("content-range", head.content_range),
        ("accept-ranges", head.accept_ranges),
    ] {
        if let Some(value) = value {
            headers.push((name, value));
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_types_that_cannot_run_are_named() {
        assert_eq!(content_type_for("a.PNG"), "image/png");
        assert_eq!(content_type_for("r.pdf"), "application/pdf");
        assert_eq!(content_type_for("d.csv"), "text/csv; charset=utf-8");
        assert_eq!(content_type_for("d.json"), "application/json");
        assert_eq!(
            content_type_for("p.parquet"),
            "application/vnd.apache.parquet"
        );
        assert_eq!(content_type_for("n.txt"), "text/plain; charset=utf-8");
        for unsafe_name in [
            "x.svg", "x.html", "x.htm", "x.js", "x.xml", "x", ".png", "x.exe",
        ] {
            assert_eq!(content_type_for(unsafe_name), OCTET_STREAM, "{unsafe_name}");
        }
    }

    #[test]
    fn names_are_quoted_for_rfc_6266() {
        assert_eq!(
            content_disposition("report 1.pdf"),
            "attachment; filename=\"report 1.pdf\""
        );
        assert_eq!(
            content_disposition("résumé \"v2\".txt"),
            "attachment; filename=\"r_sum_ _v2_.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.txt"
        );
    }
}
