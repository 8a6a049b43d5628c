//! `GET /api/model-serving/endpoints/{name}`: one endpoint, with its served entities (reduced:
//! never provider configs or environment variables) and the caller's permission level.

use shared::databricks::retry::Deadline;
use shared::databricks::serving::{self, validate_endpoint_name};
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "model_endpoint_get",
    method: Method::Get,
    path: "/api/model-serving/endpoints/{name}",
    auth: Auth::User,
    summary:
        "One serving endpoint with served entities and permission level; 404 ENDPOINT_NOT_FOUND",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: Some(
        r#"{"type":"object","required":["name","state","ready","endpoint_type","task","model_name","model_version","creation_timestamp","served_entities","permission_level"],"properties":{"name":{"type":"string"},"state":{"type":"string","enum":["READY","UPDATE_FAILED","UPDATING","NOT_READY"]},"ready":{"type":"boolean"},"endpoint_type":{"type":"string","enum":["FOUNDATION_MODEL","EXTERNAL_MODEL","MLFLOW_MODEL","UNKNOWN"]},"task":{"type":["string","null"]},"model_name":{"type":["string","null"]},"model_version":{"type":["string","null"]},"creation_timestamp":{"type":["string","null"],"format":"date-time"},"served_entities":{"type":"array","items":{"type":"object","required":["name","entity_type","entity_name","entity_version","foundation_model","external_model","workload_size","workload_type","scale_to_zero_enabled","deployment_state","deployment_state_message"],"properties":{"name":{"type":["string","null"]},"entity_type":{"type":"string"},"entity_name":{"type":["string","null"]},"entity_version":{"type":["string","null"]},"foundation_model":{"type":["string","null"]},"external_model":{"type":["object","null"],"properties":{"name":{"type":["string","null"]},"provider":{"type":["string","null"]},"task":{"type":["string","null"]}}},"workload_size":{"type":["string","null"]},"workload_type":{"type":["string","null"]},"scale_to_zero_enabled":{"type":["boolean","null"]},"deployment_state":{"type":["string","null"]},"deployment_state_message":{"type":["string","null"]}}}},"permission_level":{"type":["string","null"]}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let name = req.path_param("name").unwrap_or_default().to_string();
    validate_endpoint_name(&name)?;
    let endpoint = serving::get_endpoint(
        &ctx.state.databricks,
        ctx.user_token()?,
        &name,
        Deadline::after(serving::READ_DEADLINE),
    )
    .await
    .map_err(|f| serving::map_read_failure(&f))?;
    Response::ok(&serving::detail(&endpoint))
}
