//! `GET /openapi.json`: the OpenAPI 3.1 document of every function, built from `ALL`.

use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "openapi_json",
    method: Method::Get,
    path: "/openapi.json",
    auth: Auth::Public,
    summary: "The OpenAPI 3.1 document of every function",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(r#"{"type":"object"}"#),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(_ctx: Ctx, _req: Request) -> Result<Response, ApiError> {
    Response::ok(&crate::openapi::document(crate::ALL))
}
