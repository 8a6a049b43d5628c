//! `GET /api/model-serving/logs?limit=&offset=`: the caller's own inference logs, newest first,
//! from Lakebase (503 `LAKEBASE_NOT_CONFIGURED` without it).

use crate::common;
use shared::{ApiError, Auth, Ctx, Function, Method, Param, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "model_logs",
    method: Method::Get,
    path: "/api/model-serving/logs",
    auth: Auth::User,
    summary: "The caller's model inference logs, newest first",
    query: &[
        Param {
            name: "limit",
            required: false,
            schema: r#"{"type":"integer","minimum":1,"maximum":200,"default":50}"#,
            description: "Rows per page",
        },
        Param {
            name: "offset",
            required: false,
            schema: r#"{"type":"integer","minimum":0,"default":0}"#,
            description: "Rows to skip",
        },
    ],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["logs","total_count","limit","offset"],"properties":{"logs":{"type":"array","items":{"type":"object","required":["request_id","endpoint_name","status","inputs","predictions","error_message","execution_time_ms","created_at","completed_at"],"properties":{"request_id":{"type":"string"},"endpoint_name":{"type":"string"},"status":{"type":"string","enum":["SUCCESS","ERROR","TIMEOUT"]},"inputs":{},"predictions":{},"error_message":{"type":["string","null"]},"execution_time_ms":{"type":["number","null"]},"created_at":{"type":"string","format":"date-time"},"completed_at":{"type":["string","null"],"format":"date-time"}}}},"total_count":{"type":"integer"},"limit":{"type":"integer"},"offset":{"type":"integer"}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let limit = common::int_param(&req, "limit", 50, 1, 200)?;
    let offset = common::int_param(&req, "offset", 0, 0, i64::MAX)?;
    let user_id = ctx.user()?.user_name.clone();
    let page = common::list_inference_logs(&ctx, &user_id, limit, offset).await?;
    Response::ok(&page)
}
