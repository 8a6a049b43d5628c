//! SCIM Me (`GET /api/2.0/preview/scim/v2/Me`, reference §1.1 and §2.3): users by bearer token,
//! a service principal with a UUID user name, and the failure modes tests ask for.

use super::{FakeRequest, FakeResponse, ORG_ID};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// A human user; `Admins` differs in case from the default `ADMIN_GROUPS` on purpose.
pub const ALICE: &str = "alice-obo-token";
pub const BOB_ADMIN: &str = "bob-obo-token";
pub const CAROL: &str = "carol-obo-token";
/// A deactivated user (`active: false`) who is still in the `admins` group.
pub const DAVE_INACTIVE_ADMIN: &str = "dave-inactive-obo-token";
/// A service principal: its userName is its application id.
pub const SERVICE_PRINCIPAL: &str = "sp-obo-token";
pub const SP_USER_NAME: &str = "6f1c2a9e-8d7b-4c3a-9e2f-1a2b3c4d5e6f";
/// Tokens that make SCIM Me fail in a specific way.
pub const RATE_LIMITED: &str = "rate-limited-token";
pub const UPSTREAM_DOWN: &str = "upstream-down-token";
pub const NO_SCOPE: &str = "no-scope-token";
pub const EXPIRED_UPSTREAM: &str = "expired-upstream-token";

#[derive(Clone)]
pub enum Behaviour {
    User(serde_json::Value),
    RateLimited { retry_after: u64 },
    Unavailable,
    NoScope,
    Expired,
}

#[derive(Default)]
pub struct ScimState {
    pub tokens: HashMap<String, Behaviour>,
    /// Added to every SCIM answer (to hold concurrent requests in flight).
    pub delay: Option<Duration>,
}

pub fn user(user_name: &str, display: &str, groups: &[&str]) -> serde_json::Value {
    json!({
        "id": "1234567890",
        "userName": user_name,
        "displayName": display,
        "active": true,
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "groups": groups.iter().enumerate().map(|(i, g)| json!({
            "display": g, "value": format!("{}", 100 + i), "type": "direct", "$ref": format!("Groups/{}", 100 + i)
        })).collect::<Vec<_>>(),
        "entitlements": [{"value": "workspace-access"}],
        "name": {"givenName": display, "familyName": ""},
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:workspace:2.0:User"],
    })
}

impl ScimState {
    pub fn with_default_users() -> ScimState {
        let mut tokens = HashMap::new();
        tokens.insert(
            ALICE.into(),
            Behaviour::User(user("alice@example.com", "Alice Example", &["users"])),
        );
        tokens.insert(
            BOB_ADMIN.into(),
            Behaviour::User(user("bob@example.com", "Bob Admin", &["users", "Admins"])),
        );
        tokens.insert(
            CAROL.into(),
            Behaviour::User(user(
                "carol@example.com",
                "Carol Example",
                &["users", "data-eng"],
            )),
        );
        let mut dave = user("dave@example.com", "Dave Former", &["users", "admins"]);
        dave["active"] = json!(false);
        tokens.insert(DAVE_INACTIVE_ADMIN.into(), Behaviour::User(dave));
        let mut sp = user(SP_USER_NAME, "etl-bot", &[]);
        sp["emails"] = json!([]);
        tokens.insert(SERVICE_PRINCIPAL.into(), Behaviour::User(sp));
        tokens.insert(
            RATE_LIMITED.into(),
            Behaviour::RateLimited { retry_after: 7 },
        );
        tokens.insert(UPSTREAM_DOWN.into(), Behaviour::Unavailable);
        tokens.insert(NO_SCOPE.into(), Behaviour::NoScope);
        tokens.insert(EXPIRED_UPSTREAM.into(), Behaviour::Expired);
        ScimState {
            tokens,
            delay: None,
        }
    }
}

pub fn me(state: &mut ScimState, req: &FakeRequest) -> FakeResponse {
    let response = match req.bearer().and_then(|t| state.tokens.get(t)) {
        Some(Behaviour::User(body)) => FakeResponse::json(200, body.clone()).header("X-Databricks-Org-Id", ORG_ID),
        Some(Behaviour::RateLimited { retry_after }) => FakeResponse::error(
            429,
            "REQUEST_LIMIT_EXCEEDED",
            "Current request has to be retried due to rate limiting.",
        )
        .header("Retry-After", &retry_after.to_string()),
        Some(Behaviour::Unavailable) => FakeResponse {
            status: 503,
            headers: vec![("content-type".into(), "text/html".into())],
            body: b"<html><head><title>Error 503 Service Unavailable</title></head><body><pre>temporarily unavailable</pre></body></html>".to_vec(),
            delay: None,
        },
        Some(Behaviour::NoScope) => FakeResponse::error(
            403,
            "PERMISSION_DENIED",
            "Provided OAuth token does not have required scopes: iam.current-user:read",
        ),
        Some(Behaviour::Expired) => FakeResponse::json(
            403,
            json!({"error_code": 403, "message": "Token is expired"}),
        )
        .header("X-Databricks-Reason-Phrase", "Token is expired"),
        // Unknown or missing token: the platform's 403 with a numeric error_code.
        None => FakeResponse::json(403, json!({"error_code": 403, "message": "Invalid access token."}))
            .header("X-Databricks-Reason-Phrase", "Invalid access token."),
    };
    match state.delay {
        Some(d) => response.delayed(d),
        None => response,
    }
}
