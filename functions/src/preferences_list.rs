//! `GET /api/preferences`: the caller's preferences (optionally one key), by key.

use crate::common::{is_preference_key, PREFERENCE_KEY_RULE};
use serde::Serialize;
use shared::db::sql;
use shared::{util, ApiError, Auth, Ctx, Function, Method, Param, Request, RequestBody, Response};
use time::OffsetDateTime;

pub const FUNCTION: Function = Function {
    name: "preferences_list",
    method: Method::Get,
    path: "/api/preferences",
    auth: Auth::User,
    summary: "The caller's preferences, by key (optionally only one key)",
    query: &[Param {
        name: "preference_key",
        required: false,
        schema: r#"{"type":"string","pattern":"^[a-z][a-z0-9_]{0,99}$"}"#,
        description: "Only this key",
    }],
    request_body: None,
    success_status: 200,
    response_body: Some(PREFERENCES_SCHEMA),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub const PREFERENCE_SCHEMA: &str = r#"{"type":"object","required":["preference_key","preference_value","created_at","updated_at"],"properties":{"preference_key":{"type":"string"},"preference_value":{"type":"object"},"created_at":{"type":"string","format":"date-time"},"updated_at":{"type":"string","format":"date-time"}}}"#;
const PREFERENCES_SCHEMA: &str = r#"{"type":"array","items":{"type":"object","required":["preference_key","preference_value","created_at","updated_at"],"properties":{"preference_key":{"type":"string"},"preference_value":{"type":"object"},"created_at":{"type":"string","format":"date-time"},"updated_at":{"type":"string","format":"date-time"}}}}"#;

/// One preference as every preferences function answers it.
#[derive(Serialize)]
pub struct Preference {
    pub preference_key: String,
    pub preference_value: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

impl Preference {
    /// From a row whose first four columns are key, value, created_at, updated_at.
    pub fn from_row(row: &tokio_postgres::Row) -> Preference {
        Preference {
            preference_key: row.get(0),
            preference_value: row.get(1),
            created_at: util::rfc3339(row.get::<_, OffsetDateTime>(2)),
            updated_at: util::rfc3339(row.get::<_, OffsetDateTime>(3)),
        }
    }
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let user = ctx.user()?;
    let key = req.query_value("preference_key")?;
    if let Some(k) = &key {
        if !is_preference_key(k) {
            return Err(ApiError::invalid_request(format!(
                "preference_key {PREFERENCE_KEY_RULE}."
            )));
        }
    }
    let client = ctx.db().await?;
    let rows = client
        .query(sql::PREFERENCES_LIST, &[&user.user_name, &key])
        .await?;
    let preferences: Vec<Preference> = rows.iter().map(Preference::from_row).collect();
    Response::ok(&preferences)
}
