//! `POST /api/preferences`: create (201) or replace (200) one of the caller's preferences.
//! The value is a JSON object of at most 100 KiB serialized (larger: 413, nothing stored).

use crate::common::{
    check_nul, field_error, is_preference_key, unknown_fields, PREFERENCE_KEY_RULE,
};
use crate::preferences_list::{Preference, PREFERENCE_SCHEMA};
use serde::Deserialize;
use serde_json::{Map, Value};
use shared::db::sql;
use shared::{ApiError, Auth, Ctx, ErrorCode, Function, Method, Request, RequestBody, Response};

pub const FUNCTION: Function = Function {
    name: "preferences_upsert",
    method: Method::Post,
    path: "/api/preferences",
    auth: Auth::User,
    summary: "Create (201) or replace (200) one of the caller's preferences",
    query: &[],
    request_body: Some(
        r#"{"type":"object","additionalProperties":false,"required":["preference_key","preference_value"],"properties":{"preference_key":{"type":"string","pattern":"^[a-z][a-z0-9_]{0,99}$"},"preference_value":{"type":"object","description":"At most 100 KiB serialized"}}}"#,
    ),
    success_status: 201,
    response_body: Some(PREFERENCE_SCHEMA),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

/// 100 KiB, serialized.
pub const MAX_VALUE_BYTES: usize = 100 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpsertBody {
    preference_key: String,
    preference_value: Map<String, Value>,
}

/// Every problem of the body at once (422), then the size rule (413).
fn validate(body: Value) -> Result<UpsertBody, ApiError> {
    let Value::Object(object) = &body else {
        return Err(ApiError::validation(vec![field_error(
            "body",
            "must be a JSON object with preference_key and preference_value",
        )]));
    };
    let mut errors = Vec::new();
    unknown_fields(
        object,
        &["preference_key", "preference_value"],
        "",
        &mut errors,
    );
    match object.get("preference_key") {
        None | Some(Value::Null) => errors.push(field_error("preference_key", "is required")),
        Some(Value::String(k)) if !is_preference_key(k) => {
            errors.push(field_error("preference_key", PREFERENCE_KEY_RULE))
        }
        Some(Value::String(_)) => {}
        Some(_) => errors.push(field_error("preference_key", "must be a string")),
    }
    match object.get("preference_value") {
        None | Some(Value::Null) => errors.push(field_error("preference_value", "is required")),
        Some(v @ Value::Object(_)) => check_nul(v, "preference_value", &mut errors),
        Some(_) => errors.push(field_error("preference_value", "must be a JSON object")),
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let size = serde_json::to_vec(&object["preference_value"])
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_VALUE_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("preference_value is {size} bytes serialized; the limit is {MAX_VALUE_BYTES} bytes (100 KiB)."),
        ));
    }
    // The checks above cover every way the body can fail to fit.
    serde_json::from_value(body).map_err(ApiError::internal)
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let user = ctx.user()?;
    let body = validate(req.json_value(false)?)?;
    let value = Value::Object(body.preference_value);
    let client = ctx.db().await?;
    let row = client
        .query_one(
            sql::PREFERENCES_UPSERT,
            &[&user.user_name, &body.preference_key, &value],
        )
        .await?;
    let inserted: bool = row.get(4);
    Response::json(
        if inserted { 201 } else { 200 },
        &Preference::from_row(&row),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_problem_is_listed_and_size_is_checked_after_shape() {
        let e = validate(json!({"preference_key": "Bad Key", "preference_value": [1], "x": 1}))
            .err()
            .unwrap();
        assert_eq!(e.status(), 422);
        let fields: Vec<String> = e.details.unwrap()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(fields, ["x", "preference_key", "preference_value"]);
        let big =
            json!({"preference_key": "k", "preference_value": {"a": "x".repeat(MAX_VALUE_BYTES)}});
        assert_eq!(validate(big).err().unwrap().status(), 413);
        let exact = json!({"preference_key": "k", "preference_value": {"a": "x".repeat(MAX_VALUE_BYTES - 8)}});
        assert!(validate(exact).is_ok(), "exactly 100 KiB is allowed");
        assert_eq!(validate(json!([])).err().unwrap().status(), 422);
    }
}
