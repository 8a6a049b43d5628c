//! OBO identity: who is calling, from the forwarded user token.
//!
//! `IdentityCache::resolve` answers from a cache keyed by SHA-256 of the token (the token itself
//! is never stored), entries live at most 60 s (less when the JWT expires sooner), the map is
//! bounded, and concurrent requests with the same uncached token share one SCIM call
//! (single-flight through a per-key `OnceCell`). Failures are never cached and never grant
//! anything: the next request asks again. A JWT's `exp` is read only when the cache cannot
//! answer: an entry never outlives its token's `exp`, so a hit needs no second look.

use crate::config::Config;
use crate::databricks::{token_rejection, DatabricksClient, UpstreamError};
use crate::error::{ApiError, ErrorCode};
use crate::secret::Secret;
use crate::{util, Method};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// How long a resolved identity (and so the admin decision) may be reused.
pub const IDENTITY_TTL: Duration = Duration::from_secs(60);
/// At most this many cached identities; past it, finished entries are dropped.
pub const MAX_CACHED_IDENTITIES: usize = 10_000;
const SCIM_ME: &str = "/api/2.0/preview/scim/v2/Me";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// SCIM `userName`: an e-mail, or a service principal's application id (a UUID).
    pub user_name: String,
    pub display_name: Option<String>,
    pub active: Option<bool>,
    pub emails: Vec<String>,
    /// Group display names.
    pub groups: Vec<String>,
    pub is_admin: bool,
    pub is_service_principal: bool,
    /// From the `X-Databricks-Org-Id` header of SCIM Me.
    pub workspace_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScimUser {
    user_name: Option<String>,
    display_name: Option<String>,
    active: Option<bool>,
    #[serde(default)]
    emails: Vec<ScimValue>,
    #[serde(default)]
    groups: Vec<ScimValue>,
}

#[derive(Deserialize)]
struct ScimValue {
    value: Option<String>,
    display: Option<String>,
}

type SlotResult = Result<(Arc<Identity>, Instant), ApiError>;

struct Slot {
    cell: OnceCell<SlotResult>,
}

impl Slot {
    /// Usable: still being fetched, or fetched successfully and not expired.
    fn usable(&self, now: Instant) -> bool {
        match self.cell.get() {
            None => true,
            Some(Ok((_, expires))) => *expires > now,
            Some(Err(_)) => false,
        }
    }
}

#[derive(Default)]
pub struct IdentityCache {
    slots: Mutex<HashMap<[u8; 32], Arc<Slot>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl IdentityCache {
    pub fn new() -> IdentityCache {
        IdentityCache::default()
    }

    /// `(hits, misses)` since start, for `/metrics`.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    pub async fn resolve(
        &self,
        client: &Arc<DatabricksClient>,
        config: &Config,
        token: &Secret,
    ) -> Result<Arc<Identity>, ApiError> {
        let key = util::sha256(token.expose().as_bytes());
        let now = Instant::now();
        let lock = || {
            self.slots
                .lock()
                .expect("identity cache lock is never poisoned")
        };
        let found = lock().get(&key).filter(|s| s.usable(now)).cloned();
        if let Some(Ok((identity, _))) = found.as_ref().and_then(|s| s.cell.get()) {
            // A cached identity expires by the JWT's `exp` at the latest, so it is not read here.
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Arc::clone(identity));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let jwt_expiry = jwt_expiry(token.expose());
        if let Some(exp) = jwt_expiry {
            if exp <= unix_now() {
                return Err(ApiError::new(
                    ErrorCode::AuthExpired,
                    "Your access token has expired. Reload the page to sign in again.",
                ));
            }
        }
        let slot = match found {
            // Being fetched by another request: wait for its answer.
            Some(slot) => slot,
            None => {
                let mut slots = lock();
                match slots.get(&key) {
                    Some(slot) if slot.usable(now) => Arc::clone(slot),
                    _ => {
                        if slots.len() >= MAX_CACHED_IDENTITIES {
                            slots.retain(|_, s| s.usable(now));
                            if slots.len() >= MAX_CACHED_IDENTITIES {
                                slots.retain(|_, s| s.cell.get().is_none());
                            }
                        }
                        let slot = Arc::new(Slot {
                            cell: OnceCell::new(),
                        });
                        slots.insert(key, Arc::clone(&slot));
                        slot
                    }
                }
            }
        };
        let result = slot
            .cell
            .get_or_init(|| async {
                let identity = fetch_identity(client, config, token).await?;
                let mut ttl = IDENTITY_TTL;
                if let Some(exp) = jwt_expiry {
                    ttl = ttl.min(Duration::from_secs(exp.saturating_sub(unix_now())));
                }
                Ok((Arc::new(identity), Instant::now() + ttl))
            })
            .await;
        match result {
            Ok((identity, _)) => Ok(Arc::clone(identity)),
            Err(e) => {
                let mut slots = lock();
                if slots.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                    slots.remove(&key);
                }
                Err(e.clone())
            }
        }
    }
}

async fn fetch_identity(
    client: &Arc<DatabricksClient>,
    config: &Config,
    token: &Secret,
) -> Result<Identity, ApiError> {
    let response = client
        .call(
            "scim",
            Method::Get,
            SCIM_ME.to_string(),
            token.clone(),
            None,
            Some(Duration::from_secs(10)),
        )
        .await
        .map_err(map_identity_error)?;
    let user: ScimUser = serde_json::from_slice(&response.body).map_err(|e| {
        ApiError::new(
            ErrorCode::IdentityUnavailable,
            "The workspace answered SCIM Me with a body brickbox cannot read; try again.",
        )
        .with_internal(format!("SCIM Me body: {e}"))
    })?;
    let user_name = user.user_name.filter(|u| !u.is_empty()).ok_or_else(|| {
        ApiError::new(
            ErrorCode::IdentityUnavailable,
            "The workspace answered SCIM Me without a userName; try again.",
        )
    })?;
    let groups: Vec<String> = user
        .groups
        .into_iter()
        .filter_map(|g| g.display.or(g.value))
        .collect();
    // A deactivated account keeps its groups in SCIM: it is never an admin, whatever they say.
    let is_admin = user.active != Some(false) && groups.iter().any(|g| config.is_admin_group(g));
    Ok(Identity {
        is_service_principal: util::is_uuid(&user_name),
        user_name,
        display_name: user.display_name,
        active: user.active,
        emails: user.emails.into_iter().filter_map(|e| e.value).collect(),
        groups,
        is_admin,
        workspace_id: response.org_id.or_else(|| config.workspace_id.clone()),
    })
}

/// the mapping of upstream identity failures. A user's 401/403 is never retried.
pub fn map_identity_error(e: UpstreamError) -> ApiError {
    match e {
        UpstreamError::NotConfigured => ApiError::new(
            ErrorCode::IdentityUnavailable,
            "DATABRICKS_HOST is not set, so the caller's identity cannot be resolved. Set it to the workspace URL.",
        ),
        UpstreamError::Transport { message, .. } => ApiError::new(
            ErrorCode::IdentityUnavailable,
            "The workspace identity service could not be reached; try again shortly.",
        )
        .with_retry_after(5)
        .with_internal(message),
        UpstreamError::Api { status, error_code, message, retry_after } => {
            if let Some(rejected) = token_rejection(status, &message) {
                return rejected;
            }
            match status {
                403 => ApiError::new(
                    ErrorCode::InsufficientScope,
                    "The access token lacks the scope to read the current user (iam.current-user:read).",
                )
                .with_internal(format!("{error_code}: {message}")),
                429 => ApiError::new(ErrorCode::AuthRateLimited, "The workspace identity service is rate limiting requests; retry after the given delay.")
                    .with_retry_after(retry_after.unwrap_or(1)),
                _ => ApiError::new(
                    ErrorCode::IdentityUnavailable,
                    "The workspace identity service is unavailable; try again shortly.",
                )
                .with_retry_after(retry_after.unwrap_or(5))
                .with_internal(format!("HTTP {status} {error_code}: {message}")),
            }
        }
    }
}

/// The `exp` claim of a JWT, read without verification: only to answer an expired token at once.
pub fn jwt_expiry(token: &str) -> Option<u64> {
    let mut parts = token.split('.');
    let (header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !header.starts_with("eyJ") {
        return None;
    }
    let claims: serde_json::Value = serde_json::from_slice(&util::base64_decode(payload)?).ok()?;
    claims.get("exp")?.as_u64()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(exp: u64) -> String {
        let payload = util::base64_encode(format!(r#"{{"exp":{exp},"sub":"a"}}"#).as_bytes());
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            payload.trim_end_matches('=')
        )
    }

    #[test]
    fn reads_exp_from_a_jwt_only() {
        assert_eq!(jwt_expiry(&jwt(1700000000)), Some(1700000000));
        assert_eq!(jwt_expiry("opaque-token"), None);
        assert_eq!(jwt_expiry("a.b.c"), None);
    }

    #[test]
    fn maps_upstream_failures() {
        let api = |status, msg: &str| UpstreamError::Api {
            status,
            error_code: status.to_string(),
            message: msg.into(),
            retry_after: Some(7),
        };
        assert_eq!(
            map_identity_error(api(403, "Invalid access token.")).code,
            ErrorCode::AuthInvalid
        );
        assert_eq!(
            map_identity_error(api(403, "Token is expired")).code,
            ErrorCode::AuthExpired
        );
        assert_eq!(
            map_identity_error(api(401, "expired")).code,
            ErrorCode::AuthExpired
        );
        assert_eq!(
            map_identity_error(api(403, "no scope iam")).code,
            ErrorCode::InsufficientScope
        );
        assert_eq!(
            map_identity_error(api(
                403,
                "Provided OAuth token does not have required scopes: iam"
            ))
            .code,
            ErrorCode::InsufficientScope
        );
        let limited = map_identity_error(api(429, "slow down"));
        assert_eq!(
            (limited.code, limited.retry_after),
            (ErrorCode::AuthRateLimited, Some(7))
        );
        assert_eq!(
            map_identity_error(api(503, "down")).code,
            ErrorCode::IdentityUnavailable
        );
    }
}
