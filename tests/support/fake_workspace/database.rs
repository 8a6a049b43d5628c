//! Lakebase credentials (reference §9): `POST /api/2.0/database/credentials` (provisioned
//! instances, `expiration_time`) and `POST /api/2.0/postgres/credentials` (autoscaling
//! endpoints, `expire_time`). Each call mints a new token with a configurable lifetime; the
//! bearer must be an OAuth token the fake issued or one of `accepted_tokens`. `on_mint` lets a
//! test make the token a real Postgres password (`ALTER ROLE … PASSWORD … VALID UNTIL …`).

use super::{FakeRequest, FakeResponse};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;
use time::OffsetDateTime;

pub type MintHook = Box<dyn Fn(&str, OffsetDateTime) + Send>;

pub struct DatabaseState {
    /// Lifetime of minted credentials.
    pub lifetime: Duration,
    /// Bearers accepted besides issued OAuth tokens (a PAT for `DATABRICKS_TOKEN`).
    pub accepted_tokens: HashSet<String>,
    /// Every credential minted, oldest first: `(token, bearer used)`.
    pub minted: Vec<(String, String)>,
    pub on_mint: Option<MintHook>,
}

impl Default for DatabaseState {
    fn default() -> DatabaseState {
        DatabaseState {
            lifetime: Duration::from_secs(3600),
            accepted_tokens: HashSet::new(),
            minted: Vec::new(),
            on_mint: None,
        }
    }
}

/// Which credential API was called.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Instance,
    Endpoint,
}

pub fn credentials(
    state: &mut DatabaseState,
    issued_oauth: &[String],
    api: Api,
    req: &FakeRequest,
) -> FakeResponse {
    let bearer = req.bearer().unwrap_or_default().to_string();
    if !issued_oauth.contains(&bearer) && !state.accepted_tokens.contains(&bearer) {
        return FakeResponse::json(
            403,
            json!({"error_code": 403, "message": "Invalid access token."}),
        );
    }
    let body = req.json();
    let valid = match api {
        Api::Instance => {
            body["request_id"].is_string()
                && body["instance_names"]
                    .as_array()
                    .is_some_and(|names| !names.is_empty())
        }
        Api::Endpoint => body["endpoint"].is_string(),
    };
    if !valid {
        return FakeResponse::error(
            400,
            "INVALID_PARAMETER_VALUE",
            "missing instance_names / endpoint",
        );
    }
    let token = format!(
        "lakebase-credential-{}-{}",
        state.minted.len() + 1,
        shared::util::uuid_v4()
    );
    let expires = OffsetDateTime::now_utc() + state.lifetime;
    if let Some(hook) = &state.on_mint {
        hook(&token, expires);
    }
    state.minted.push((token.clone(), bearer));
    let field = match api {
        Api::Instance => "expiration_time",
        Api::Endpoint => "expire_time",
    };
    FakeResponse::json(
        200,
        json!({"token": token, field: shared::util::rfc3339(expires)}),
    )
}
