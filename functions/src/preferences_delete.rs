//! `DELETE /api/preferences/{preference_key}`: delete one of the caller's preferences (204), or
//! 404 `PREFERENCE_NOT_FOUND`.

use crate::common::{is_preference_key, PREFERENCE_KEY_RULE};
use shared::db::sql;
use shared::{ApiError, Auth, Ctx, ErrorCode, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "preferences_delete",
    method: Method::Delete,
    path: "/api/preferences/{preference_key}",
    auth: Auth::User,
    summary: "Delete one of the caller's preferences",
    query: &[],
    request_body: None,
    success_status: 204,
    response_body: None,
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let user = ctx.user()?;
    let key = req.path_param("preference_key").unwrap_or_default();
    if !is_preference_key(key) {
        return Err(ApiError::invalid_request(format!(
            "The preference key in the path {PREFERENCE_KEY_RULE}."
        )));
    }
    let client = ctx.db().await?;
    let deleted = client
        .execute(sql::PREFERENCES_DELETE, &[&user.user_name, &key])
        .await?;
    if deleted == 0 {
        return Err(ApiError::new(
            ErrorCode::PreferenceNotFound,
            format!("You have no preference named {key:?}."),
        ));
    }
    Ok(Response::empty(204))
}
