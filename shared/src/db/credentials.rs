//! The Postgres password for new connections: a static password, a minted Lakebase
//! credential (`LAKEBASE_ENDPOINT` or `LAKEBASE_INSTANCE_NAME`), or the service principal's OAuth
//! M2M token.
//!
//! Minted values are cached and refreshed 5 minutes before they expire, one refresh at a time
//! (the cache's async mutex is held while minting, so a burst of new connections shares one
//! call). They are used for new connections only: Postgres checks a password at login, so open
//! connections outlive the credential. After a login failure the pool asks for a credential
//! newer than the one that failed (`generation`), which mints once however many connections
//! failed together.

use super::settings::PasswordSource;
use crate::config::Config;
use crate::databricks::{DatabricksClient, UpstreamError};
use crate::secret::Secret;
use crate::{util, Method};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Refresh a cached token this long before it expires.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// A token minted this recently is reused even when it expires within `REFRESH_BEFORE_EXPIRY`,
/// so short-lived credentials cannot make every new connection mint.
const REUSE_FRESHLY_MINTED: Duration = Duration::from_secs(1);
/// Assumed lifetime when an answer carries no expiry (the platform's is one hour).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
const OAUTH_TOKEN_PATH: &str = "/oidc/v1/token";
const INSTANCE_CREDENTIAL_PATH: &str = "/api/2.0/database/credentials";
const ENDPOINT_CREDENTIAL_PATH: &str = "/api/2.0/postgres/credentials";

/// What authenticates the app to the workspace when it mints a database credential.
enum WorkspaceCredential {
    /// The app's service principal: OAuth M2M client credentials.
    ServicePrincipal {
        client_id: String,
        secret: Secret,
    },
    /// `DATABRICKS_TOKEN`, where there is no client id (the scheduled job).
    Token(Secret),
    None,
}

struct Cached {
    value: Secret,
    expires_at: SystemTime,
    minted_at: Instant,
    generation: u64,
}

impl Cached {
    fn fresh(&self) -> bool {
        self.minted_at.elapsed() < REUSE_FRESHLY_MINTED
            || self
                .expires_at
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > REFRESH_BEFORE_EXPIRY)
    }
}

/// One cached token with single-flight refresh.
#[derive(Default)]
struct TokenCache {
    slot: tokio::sync::Mutex<Option<Cached>>,
}

impl TokenCache {
    /// The cached token if fresh (and newer than `failed`, when a login just failed with
    /// generation `failed`), else a newly fetched one.
    async fn get<F, Fut>(&self, failed: Option<u64>, fetch: F) -> Result<(Secret, u64), String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, SystemTime), String>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(c) = slot.as_ref() {
            let usable = match failed {
                Some(g) => c.generation > g,
                None => c.fresh(),
            };
            if usable {
                return Ok((c.value.clone(), c.generation));
            }
        }
        let (value, expires_at) = fetch().await?;
        let generation = slot.as_ref().map_or(1, |c| c.generation + 1);
        *slot = Some(Cached {
            value: value.clone(),
            expires_at,
            minted_at: Instant::now(),
            generation,
        });
        Ok((value, generation))
    }

    async fn invalidate(&self) {
        *self.slot.lock().await = None;
    }
}

pub struct Credentials {
    source: PasswordSource,
    client: Arc<DatabricksClient>,
    workspace: WorkspaceCredential,
    oauth: TokenCache,
    minted: TokenCache,
    oauth_fetches: AtomicU64,
    credential_mints: AtomicU64,
}

/// A password for one login attempt; `generation` identifies it if the login fails.
pub struct Password {
    pub value: Option<Secret>,
    pub generation: u64,
}

impl Credentials {
    pub fn new(source: PasswordSource, config: &Config, client: Arc<DatabricksClient>) -> Self {
        let workspace = match (&config.client_id, &config.client_secret) {
            (Some(id), Some(secret)) => WorkspaceCredential::ServicePrincipal {
                client_id: id.clone(),
                secret: secret.clone(),
            },
            _ => match &config.databricks_token {
                Some(t) => WorkspaceCredential::Token(t.clone()),
                None => WorkspaceCredential::None,
            },
        };
        Credentials {
            source,
            client,
            workspace,
            oauth: TokenCache::default(),
            minted: TokenCache::default(),
            oauth_fetches: AtomicU64::new(0),
            credential_mints: AtomicU64::new(0),
        }
    }

    pub fn is_minted(&self) -> bool {
        self.source.is_minted()
    }

    /// `(OAuth token fetches, database credential mints)` since start, for `/metrics`.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.oauth_fetches.load(Ordering::Relaxed),
            self.credential_mints.load(Ordering::Relaxed),
        )
    }

    /// The password for a new connection. `failed`: the generation whose login just failed.
    pub async fn password(&self, failed: Option<u64>) -> Result<Password, String> {
        let (value, generation) = match &self.source {
            PasswordSource::Static(s) => (Some(s.clone()), 0),
            PasswordSource::None => (None, 0),
            PasswordSource::ServicePrincipalToken => {
                let (t, g) = self.oauth.get(failed, || self.fetch_oauth()).await?;
                (Some(t), g)
            }
            PasswordSource::Endpoint(_) | PasswordSource::Instance(_) => {
                let (t, g) = self.minted.get(failed, || self.mint()).await?;
                (Some(t), g)
            }
        };
        Ok(Password { value, generation })
    }

    /// The workspace bearer token used to mint database credentials.
    async fn workspace_token(&self) -> Result<Secret, String> {
        match &self.workspace {
            WorkspaceCredential::ServicePrincipal { .. } => {
                Ok(self.oauth.get(None, || self.fetch_oauth()).await?.0)
            }
            WorkspaceCredential::Token(t) => Ok(t.clone()),
            WorkspaceCredential::None => Err(
                "no workspace credential to mint a database password: set DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET"
                    .into(),
            ),
        }
    }

    /// OAuth M2M: `POST {host}/oidc/v1/token` with HTTP Basic client authentication.
    async fn fetch_oauth(&self) -> Result<(Secret, SystemTime), String> {
        let WorkspaceCredential::ServicePrincipal { client_id, secret } = &self.workspace else {
            return Err(
                "the service principal's OAuth token needs DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET"
                    .into(),
            );
        };
        self.oauth_fetches.fetch_add(1, Ordering::Relaxed);
        let basic = Secret::new(format!(
            "Basic {}",
            util::base64_encode(format!("{client_id}:{}", secret.expose()).as_bytes())
        ));
        let client = Arc::clone(&self.client);
        let response = tokio::task::spawn_blocking(move || {
            client.post_form_blocking(
                "oauth",
                OAUTH_TOKEN_PATH,
                &basic,
                "grant_type=client_credentials&scope=all-apis",
            )
        })
        .await
        .map_err(|e| format!("OAuth token task failed: {e}"))?
        .map_err(|e| format!("OAuth M2M token request failed: {e}"))?;
        let body: serde_json::Value = serde_json::from_slice(&response.body)
            .map_err(|_| "the OAuth token answer is not JSON".to_string())?;
        let token = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or("the OAuth token answer has no access_token")?;
        // Real servers send a number; some send the number as a string.
        let expires_in = body["expires_in"]
            .as_u64()
            .or_else(|| body["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        Ok((Secret::new(token), SystemTime::now() + expires_in))
    }

    /// Mint a Lakebase credential; an auth failure with a cached OAuth token refreshes it once.
    async fn mint(&self) -> Result<(Secret, SystemTime), String> {
        let (path, body, expiry_field) = match &self.source {
            PasswordSource::Endpoint(endpoint) => (
                ENDPOINT_CREDENTIAL_PATH,
                serde_json::json!({ "endpoint": endpoint }),
                "expire_time",
            ),
            PasswordSource::Instance(instance) => (
                INSTANCE_CREDENTIAL_PATH,
                serde_json::json!({ "request_id": util::uuid_v4(), "instance_names": [instance] }),
                "expiration_time",
            ),
            _ => return Err("this password source is not minted".into()),
        };
        let mut retried = false;
        loop {
            let token = self.workspace_token().await?;
            self.credential_mints.fetch_add(1, Ordering::Relaxed);
            let result = self
                .client
                .call(
                    "lakebase",
                    Method::Post,
                    path.to_string(),
                    token,
                    Some(body.to_string().into_bytes()),
                    Some(Duration::from_secs(20)),
                )
                .await;
            match result {
                Ok(response) => {
                    let v: serde_json::Value = serde_json::from_slice(&response.body)
                        .map_err(|_| format!("the {path} answer is not JSON"))?;
                    let token = v["token"]
                        .as_str()
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| format!("the {path} answer has no token"))?;
                    let expires_at = v[expiry_field]
                        .as_str()
                        .and_then(util::parse_rfc3339)
                        .map(SystemTime::from)
                        .unwrap_or_else(|| SystemTime::now() + DEFAULT_LIFETIME);
                    return Ok((Secret::new(token), expires_at));
                }
                Err(UpstreamError::Api { status, .. })
                    if (status == 401 || status == 403)
                        && !retried
                        && matches!(
                            self.workspace,
                            WorkspaceCredential::ServicePrincipal { .. }
                        ) =>
                {
                    retried = true;
                    self.oauth.invalidate().await;
                }
                Err(e) => return Err(format!("minting the database credential failed: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_in(s: &Secret) -> String {
        s.expose().to_string()
    }

    #[tokio::test]
    async fn cached_tokens_refresh_five_minutes_before_expiry_and_after_a_failed_login() {
        let cache = TokenCache::default();
        let calls = AtomicU64::new(0);
        let fetch = |lifetime: u64| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                Ok((
                    Secret::new(format!("t{n}")),
                    SystemTime::now() + Duration::from_secs(lifetime),
                ))
            }
        };
        let (t, g) = cache.get(None, || fetch(3600)).await.unwrap();
        assert_eq!((secret_in(&t), g), ("t1".into(), 1));
        let (t, _) = cache.get(None, || fetch(3600)).await.unwrap();
        assert_eq!(secret_in(&t), "t1", "a fresh token is reused");
        // A login with generation 1 failed: the next caller gets a new one, and a caller that
        // failed with the same generation afterwards reuses that new one.
        let (t, g) = cache.get(Some(1), || fetch(3600)).await.unwrap();
        assert_eq!((secret_in(&t), g), ("t2".into(), 2));
        let (t, _) = cache.get(Some(1), || fetch(3600)).await.unwrap();
        assert_eq!(secret_in(&t), "t2");
        // Expiring within 5 minutes: reused only while freshly minted.
        cache.invalidate().await;
        let (t, _) = cache.get(None, || fetch(200)).await.unwrap();
        assert_eq!(secret_in(&t), "t3");
        let (t, _) = cache.get(None, || fetch(200)).await.unwrap();
        assert_eq!(secret_in(&t), "t3", "minted within the last second");
        tokio::time::sleep(REUSE_FRESHLY_MINTED).await;
        let (t, _) = cache.get(None, || fetch(3600)).await.unwrap();
        assert_eq!(secret_in(&t), "t4");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
