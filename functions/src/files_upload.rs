//! `PUT /api/files/upload?path=&overwrite=false`: the raw request body streamed to the Files
//! API (any `Content-Type`, chunked or with `Content-Length`, at most 5 GiB) — never whole in
//! memory. 201 `{"path","size"}`. A larger body answers 413 before anything is sent upstream;
//! an existing file without `overwrite=true` answers 409 `FILE_EXISTS` (checked before the body
//! is read, and enforced upstream by sending `overwrite=false`). A body that does not reach its
//! end (the client went away) is never completed upstream, so it leaves no file.

use crate::files_list::{path_param, PATH_PARAM};
use shared::databricks::files::{self, MAX_UPLOAD_BYTES};
use shared::{ApiError, Auth, Ctx, Function, Method, Param, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "files_upload",
    method: Method::Put,
    path: "/api/files/upload",
    auth: Auth::User,
    summary: "Upload a file to a Unity Catalog volume (raw body, streamed, up to 5 GiB)",
    query: &[
        PATH_PARAM,
        Param {
            name: "overwrite",
            required: false,
            schema: r#"{"type":"boolean","default":false}"#,
            description: "Replace an existing file (otherwise 409 FILE_EXISTS)",
        },
    ],
    request_body: Some(r#"{"type":"string","format":"binary"}"#),
    success_status: 201,
    response_body: Some(
        r#"{"type":"object","required":["path","size"],"properties":{"path":{"type":"string"},"size":{"type":"integer"}}}"#,
    ),
    body: RequestBody::Streamed {
        max_bytes: MAX_UPLOAD_BYTES,
    },
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

/// `overwrite`: `true` or `false` (the default); anything else is 400.
fn overwrite(req: &Request) -> Result<bool, ApiError> {
    match req.query_value("overwrite")?.as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::invalid_request(format!(
            "overwrite={other:?} is not valid: use true or false."
        ))),
    }
}

pub async fn handle(ctx: Ctx, mut req: Request) -> Result<Response, ApiError> {
    let path = path_param(&req)?;
    let overwrite = overwrite(&req)?;
    let body = req.take_stream()?;
    if body.content_length.is_some_and(|n| n > MAX_UPLOAD_BYTES) {
        return Err(body_too_large());
    }
    let token = ctx.user_token()?;
    let client = &ctx.state.databricks;
    if !overwrite && files::exists(client, token, &path).await? {
        return Err(ApiError::new(
            shared::ErrorCode::FileExists,
            format!("{path} already exists: upload with overwrite=true to replace it."),
        ));
    }
    let size = files::upload(client, token, &path, overwrite, body, MAX_UPLOAD_BYTES).await?;
    Response::json(201, &serde_json::json!({ "path": path, "size": size }))
}

fn body_too_large() -> ApiError {
    ApiError::new(
        shared::ErrorCode::PayloadTooLarge,
        format!("The file is larger than {MAX_UPLOAD_BYTES} bytes (5 GiB), the most one upload can take."),
    )
}
