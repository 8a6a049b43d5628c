//! OAuth M2M (`POST /oidc/v1/token`, reference §2.1): HTTP Basic client authentication,
//! `grant_type=client_credentials` and `scope=all-apis`; answers a fresh access token each call
//! with a configurable `expires_in`, and remembers what it issued (other surfaces accept those
//! tokens as bearers).

use super::{FakeRequest, FakeResponse};
use serde_json::json;

pub const CLIENT_ID: &str = "7a1c2a9e-8d7b-4c3a-9e2f-0a0b0c0d0e0f";
pub const CLIENT_SECRET: &str = "fake-client-secret-SHOULD-NOT-APPEAR";

pub struct OAuthState {
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of issued tokens, seconds.
    pub expires_in: u64,
    /// Every access token issued, oldest first.
    pub issued: Vec<String>,
}

impl Default for OAuthState {
    fn default() -> OAuthState {
        OAuthState {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            expires_in: 3600,
            issued: Vec::new(),
        }
    }
}

fn oauth_error(status: u16, error: &str, description: &str) -> FakeResponse {
    FakeResponse::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

pub fn token(state: &mut OAuthState, req: &FakeRequest) -> FakeResponse {
    let expected = format!(
        "Basic {}",
        shared::util::base64_encode(
            format!("{}:{}", state.client_id, state.client_secret).as_bytes()
        )
    );
    if req.headers.get("authorization") != Some(&expected) {
        return oauth_error(401, "invalid_client", "Client authentication failed");
    }
    if !req
        .headers
        .get("content-type")
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
    {
        return oauth_error(400, "invalid_request", "expected a form-encoded body");
    }
    let form = String::from_utf8_lossy(&req.body).into_owned();
    let fields: Vec<(&str, &str)> = form.split('&').filter_map(|p| p.split_once('=')).collect();
    if !fields.contains(&("grant_type", "client_credentials")) {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    if !fields.contains(&("scope", "all-apis")) {
        return oauth_error(400, "invalid_scope", "scope must be all-apis");
    }
    let token = format!("sp-oauth-token-{}", state.issued.len() + 1);
    state.issued.push(token.clone());
    FakeResponse::json(
        200,
        json!({"access_token": token, "token_type": "Bearer", "expires_in": state.expires_in, "scope": "all-apis"}),
    )
}
