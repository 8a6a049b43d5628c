//! A small Postgres connection pool: at most `max` connections (a semaphore), idle
//! connections in a `Vec` under a std mutex, connections recycled after 45 minutes, closed ones
//! replaced, and a deadline on every acquire.
//!
//! Deliberately not here: health checks (the background check in `db` does them) and statement
//! deadlines (`deadline::RequestClient` puts one on every statement of a request; background
//! work decides its own). Every connection has TCP keepalive on, so a peer that vanished is
//! noticed even on an idle connection. The request path fails fast while the database is known to be
//! down, so a dead database costs a request microseconds, not a connect timeout.

use super::credentials::Credentials;
use super::settings::{ConnectSettings, TlsMode};
use super::tls::{self, RustlsConnect};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

pub const DEFAULT_MAX_CONNECTIONS: usize = 20;
/// Connections older than this are closed instead of reused: before the platform's own limits
/// and long before a credential's age could matter.
pub const MAX_LIFETIME: Duration = Duration::from_secs(45 * 60);
/// TCP keepalive: first probe after this much silence…
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
/// …then one probe this often…
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// …and the connection is dead after this many unanswered probes (about 25 s in all).
pub const KEEPALIVE_RETRIES: u32 = 3;
/// Data sent and not acknowledged for this long also ends the connection (keepalive probes
/// wait while data is in flight).
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
/// A cancel request gets this long to connect and be sent.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub enum PoolError {
    /// No connection became free within the deadline.
    Timeout,
    /// The database is known to be down (request path only).
    Down,
    /// Connecting failed: the message is for the log (it never holds a password).
    Connect(String),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Timeout => f.write_str("timed out waiting for a database connection"),
            PoolError::Down => f.write_str("the database is unavailable (background check)"),
            PoolError::Connect(m) => write!(f, "cannot connect to the database: {m}"),
        }
    }
}

struct Idle {
    client: Client,
    created: Instant,
}

pub struct Pool {
    settings: ConnectSettings,
    tls: Option<Arc<rustls::ClientConfig>>,
    credentials: Credentials,
    permits: Arc<Semaphore>,
    max: usize,
    idle: Mutex<Vec<Idle>>,
    open: AtomicUsize,
    down: AtomicBool,
    /// Woken when the database is reachable again (the metrics writer waits on it).
    recovered: Notify,
}

/// Counts for `brickbox_db_pool_connections{state}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolStats {
    pub idle: usize,
    pub in_use: usize,
    pub max: usize,
}

impl Pool {
    pub fn new(
        settings: ConnectSettings,
        credentials: Credentials,
        max: usize,
    ) -> Result<Pool, String> {
        let tls = match settings.tls {
            TlsMode::Disable => None,
            TlsMode::Verify => Some(tls::client_config(settings.root_cert.as_deref())?),
        };
        Ok(Pool {
            settings,
            tls,
            credentials,
            permits: Arc::new(Semaphore::new(max)),
            max,
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            recovered: Notify::new(),
        })
    }

    pub fn settings(&self) -> &ConnectSettings {
        &self.settings
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn stats(&self) -> PoolStats {
        let idle = self.idle.lock().map(|v| v.len()).unwrap_or(0);
        let open = self.open.load(Ordering::Relaxed);
        PoolStats {
            idle,
            in_use: open.saturating_sub(idle),
            max: self.max,
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Record what a check or a connect attempt learned; wake waiters on recovery.
    pub fn set_down(&self, down: bool) {
        let was = self.down.swap(down, Ordering::AcqRel);
        if was && !down {
            self.recovered.notify_waiters();
        }
    }

    /// Resolves when the database is next seen reachable.
    pub async fn recovered(&self) {
        self.recovered.notified().await;
    }

    /// A connection within `wait`. `fail_fast`: the request path, which answers at once while
    /// the database is known to be down and no idle connection is left.
    pub async fn get(
        self: &Arc<Self>,
        wait: Duration,
        fail_fast: bool,
    ) -> Result<PooledClient, PoolError> {
        let deadline = tokio::time::Instant::now() + wait;
        let permit = tokio::time::timeout_at(deadline, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| PoolError::Timeout)?
            .map_err(|_| PoolError::Timeout)?;
        if let Some(idle) = self.take_idle() {
            return Ok(PooledClient {
                client: Some(idle.client),
                created: idle.created,
                discard: false,
                pool: Arc::clone(self),
                _permit: permit,
            });
        }
        if fail_fast && self.is_down() {
            return Err(PoolError::Down);
        }
        let client = match tokio::time::timeout_at(deadline, self.connect()).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                self.set_down(true);
                return Err(e);
            }
            Err(_) => {
                self.set_down(true);
                return Err(PoolError::Connect(format!(
                    "no connection within {} ms",
                    wait.as_millis()
                )));
            }
        };
        self.open.fetch_add(1, Ordering::Relaxed);
        self.set_down(false);
        Ok(PooledClient {
            client: Some(client),
            created: Instant::now(),
            discard: false,
            pool: Arc::clone(self),
            _permit: permit,
        })
    }

    /// The newest idle connection that is open and young enough; others are dropped.
    fn take_idle(&self) -> Option<Idle> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(c) = idle.pop() {
            if !c.client.is_closed() && c.created.elapsed() < MAX_LIFETIME {
                return Some(c);
            }
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
        None
    }

    /// Close every idle connection (after an outage they are all dead anyway).
    pub fn clear_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            let n = idle.len();
            idle.clear();
            self.open.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Open one connection. A login failure with a minted credential mints a newer one and
    /// tries once more (the credential may have expired or been rotated).
    async fn connect(&self) -> Result<Client, PoolError> {
        let mut failed = None;
        loop {
            let password = self
                .credentials
                .password(failed)
                .await
                .map_err(PoolError::Connect)?;
            match self.connect_once(password.value.as_ref()).await {
                Ok(client) => return Ok(client),
                Err(ConnectError::Login(message))
                    if failed.is_none() && self.credentials.is_minted() =>
                {
                    log::warn!(
                        "database login failed ({message}); refreshing the credential and retrying once"
                    );
                    failed = Some(password.generation);
                }
                Err(ConnectError::Login(m) | ConnectError::Other(m)) => {
                    return Err(PoolError::Connect(m))
                }
            }
        }
    }

    async fn connect_once(&self, password: Option<&crate::Secret>) -> Result<Client, ConnectError> {
        let s = &self.settings;
        let mut config = tokio_postgres::Config::new();
        config
            .host(&s.host)
            .port(s.port)
            .user(&s.user)
            .dbname(&s.dbname)
            .application_name("brickbox")
            .ssl_mode(match self.tls {
                Some(_) => tokio_postgres::config::SslMode::Require,
                None => tokio_postgres::config::SslMode::Disable,
            });
        if let Some(p) = password {
            config.password(p.expose());
        }
        let stream = tokio::net::TcpStream::connect((s.host.as_str(), s.port))
            .await
            .map_err(|e| ConnectError::Other(format!("{}:{}: {e}", s.host, s.port)))?;
        let _ = stream.set_nodelay(true);
        set_keepalive(&stream);
        let client = match &self.tls {
            Some(tls) => {
                let connector =
                    RustlsConnect::new(Arc::clone(tls), &s.host).map_err(ConnectError::Other)?;
                let (client, connection) = config
                    .connect_raw(stream, connector)
                    .await
                    .map_err(ConnectError::from_pg)?;
                tokio::spawn(drive(connection));
                client
            }
            None => {
                let (client, connection) = config
                    .connect_raw(stream, NoTls)
                    .await
                    .map_err(ConnectError::from_pg)?;
                tokio::spawn(drive(connection));
                client
            }
        };
        Ok(client)
    }
}

impl Pool {
    /// Cancel the statement running on another connection (the one `token` came from), in the
    /// background: the caller has already given up on it, and a frozen server must not hold
    /// anyone. A failure is only logged.
    pub fn cancel(self: &Arc<Self>, token: tokio_postgres::CancelToken) {
        let pool = Arc::clone(self);
        tokio::spawn(async move {
            match tokio::time::timeout(CANCEL_TIMEOUT, pool.cancel_now(&token)).await {
                Ok(Ok(())) => log::debug!("database: cancel request sent"),
                Ok(Err(e)) => log::warn!("database: the cancel request failed: {e}"),
                Err(_) => log::warn!(
                    "database: the cancel request got no answer within {} s",
                    CANCEL_TIMEOUT.as_secs()
                ),
            }
        });
    }

    async fn cancel_now(&self, token: &tokio_postgres::CancelToken) -> Result<(), String> {
        let s = &self.settings;
        let stream = tokio::net::TcpStream::connect((s.host.as_str(), s.port))
            .await
            .map_err(|e| format!("{}:{}: {e}", s.host, s.port))?;
        let _ = stream.set_nodelay(true);
        let sent = match &self.tls {
            Some(tls) => {
                let connector = RustlsConnect::new(Arc::clone(tls), &s.host)?;
                token.cancel_query_raw(stream, connector).await
            }
            None => token.cancel_query_raw(stream, NoTls).await,
        };
        sent.map_err(|e| error_chain(&e))
    }
}

/// TCP keepalive and a user timeout on a database connection (see the constants above).
pub fn set_keepalive(stream: &tokio::net::TcpStream) {
    let socket = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_RETRIES);
    if let Err(e) = socket.set_tcp_keepalive(&keepalive) {
        log::debug!("database: TCP keepalive not set: {e}");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = socket.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT)) {
        log::debug!("database: TCP user timeout not set: {e}");
    }
}

/// Runs one connection's I/O until it closes; the `Client` sees `is_closed()` afterwards.
async fn drive<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        log::debug!("database connection closed: {e}");
    }
}

enum ConnectError {
    /// The server refused the password or the role (SQLSTATE 28P01 / 28000).
    Login(String),
    Other(String),
}

impl ConnectError {
    fn from_pg(e: tokio_postgres::Error) -> ConnectError {
        let login = matches!(
            e.code(),
            Some(c) if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        );
        let message = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => error_chain(&e),
        };
        if login {
            ConnectError::Login(message)
        } else {
            ConnectError::Other(message)
        }
    }
}

/// `outer: inner: innermost` — tokio-postgres puts the TLS or I/O cause in `source()`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// A connection on loan; returns to the pool on drop unless closed, too old or discarded.
pub struct PooledClient {
    client: Option<Client>,
    created: Instant,
    discard: bool,
    pool: Arc<Pool>,
    // Dropped after `drop` has put the connection back, so a waiter finds it idle.
    _permit: OwnedSemaphorePermit,
}

impl PooledClient {
    /// Close this connection instead of returning it (after an error that may have left it in
    /// a bad state).
    pub fn discard(mut self) {
        self.discard = true;
    }

    /// Close this connection when dropped instead of returning it.
    pub fn close_on_drop(&mut self) {
        self.discard = true;
    }
}

impl Deref for PooledClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a PooledClient holds its client until dropped")
    }
}

impl DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a PooledClient holds its client until dropped")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let keep = !self.discard && !client.is_closed() && self.created.elapsed() < MAX_LIFETIME;
        if keep {
            if let Ok(mut idle) = self.pool.idle.lock() {
                idle.push(Idle {
                    client,
                    created: self.created,
                });
                return;
            }
        }
        self.pool.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn database_sockets_get_keepalive_and_a_user_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let socket = socket2::SockRef::from(&stream);
        assert!(!socket.keepalive().unwrap(), "off until set");
        set_keepalive(&stream);
        assert!(socket.keepalive().unwrap());
        assert_eq!(socket.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(socket.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), KEEPALIVE_RETRIES);
        #[cfg(target_os = "linux")]
        assert_eq!(socket.tcp_user_timeout().unwrap(), Some(TCP_USER_TIMEOUT));
    }
}
