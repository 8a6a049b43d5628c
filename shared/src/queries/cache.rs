//! The named queries' result cache and single-flight table.
//!
//! Answers are stored as the ready response body (with `"cached": true`), so a hit is one
//! lookup and one copy. With Lakebase configured they live in `query_cache` (shared by every
//! instance; the aggregation job deletes expired rows), else in a bounded map in memory. A
//! cache problem never fails a query: it is logged and the statement runs.
//!
//! Single flight: the first request for a key runs the statement; identical requests arriving
//! meanwhile wait for its outcome instead of sending their own. If the leader goes away (its
//! client disconnected), a waiter becomes the next leader.

use crate::db::{sql, Database};
use crate::error::ApiError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The in-memory cache holds at most this many answers…
pub const MEMORY_ENTRIES: usize = 1000;
/// …and this many bytes of them.
pub const MEMORY_BYTES: usize = 64 * 1024 * 1024;
/// A cache read or write waits at most this long for Lakebase.
const DB_BUDGET: Duration = Duration::from_secs(2);

/// An answer shared between a leader and its waiters: the body of a fresh answer.
pub type Shared = Result<Arc<Vec<u8>>, ApiError>;

struct MemEntry {
    expires: Instant,
    body: Arc<Vec<u8>>,
}

#[derive(Default)]
struct Memory {
    entries: HashMap<String, MemEntry>,
    bytes: usize,
}

#[derive(Default)]
pub struct QueryCache {
    memory: Mutex<Memory>,
    inflight: Mutex<HashMap<String, Vec<oneshot::Sender<Shared>>>>,
}

/// What `join` decided.
pub enum Flight<'a> {
    /// Run the statement, then `finish`.
    Leader(LeaderGuard<'a>),
    /// Wait for the leader's outcome (`Err` on the receiver: the leader went away; join again).
    Follower(oneshot::Receiver<Shared>),
}

/// Held by the request running the statement; dropping it without `finish` lets waiters retry.
pub struct LeaderGuard<'a> {
    cache: &'a QueryCache,
    key: String,
    done: bool,
}

impl LeaderGuard<'_> {
    /// Hand the outcome to every waiter.
    pub fn finish(mut self, outcome: &Shared) {
        self.done = true;
        let waiters = self.cache.take_waiters(&self.key);
        for w in waiters {
            let _ = w.send(outcome.clone());
        }
    }
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Dropping the senders wakes the waiters with an error: one of them leads next.
            drop(self.cache.take_waiters(&self.key));
        }
    }
}

impl QueryCache {
    pub fn new() -> QueryCache {
        QueryCache::default()
    }

    fn take_waiters(&self, key: &str) -> Vec<oneshot::Sender<Shared>> {
        self.inflight
            .lock()
            .expect("inflight lock")
            .remove(key)
            .unwrap_or_default()
    }

    /// Lead the statement for `key`, or wait for the one already running.
    pub fn join(&self, key: &str) -> Flight<'_> {
        let mut inflight = self.inflight.lock().expect("inflight lock");
        match inflight.get_mut(key) {
            Some(waiters) => {
                let (tx, rx) = oneshot::channel();
                waiters.push(tx);
                Flight::Follower(rx)
            }
            None => {
                inflight.insert(key.to_string(), Vec::new());
                Flight::Leader(LeaderGuard {
                    cache: self,
                    key: key.to_string(),
                    done: false,
                })
            }
        }
    }

    /// A stored answer that has not expired.
    pub async fn get(&self, db: Option<&Arc<Database>>, key: &str) -> Option<Arc<Vec<u8>>> {
        let Some(db) = db else {
            return self.memory_get(key, Instant::now());
        };
        let read = async {
            let client = db.get().await?;
            let rows = client.query(sql::QUERY_CACHE_GET, &[&key]).await?;
            Ok::<_, ApiError>(rows.into_iter().next())
        };
        match tokio::time::timeout(DB_BUDGET, read).await {
            Ok(Ok(row)) => row.map(|r| Arc::new(r.get::<_, String>(0).into_bytes())),
            Ok(Err(e)) => {
                log::warn!(
                    "query cache read failed (the statement runs): {}",
                    e.message
                );
                None
            }
            Err(_) => {
                log::warn!("query cache read timed out (the statement runs)");
                None
            }
        }
    }

    /// Store `body` for `ttl`.
    pub async fn put(
        &self,
        db: Option<&Arc<Database>>,
        key: &str,
        query_name: &str,
        user_id: Option<&str>,
        body: Arc<Vec<u8>>,
        ttl: Duration,
    ) {
        let Some(db) = db else {
            self.memory_put(key, body, Instant::now() + ttl);
            return;
        };
        let seconds = ttl.as_secs_f64();
        let write = async {
            let client = db.get().await?;
            let text = std::str::from_utf8(&body).map_err(ApiError::internal)?;
            client
                .execute(
                    sql::QUERY_CACHE_PUT,
                    &[&key, &query_name, &user_id, &text, &seconds],
                )
                .await
        };
        match tokio::time::timeout(DB_BUDGET, write).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log::warn!("query cache write failed: {}", e.message),
            Err(_) => log::warn!("query cache write timed out"),
        }
    }

    fn memory_get(&self, key: &str, now: Instant) -> Option<Arc<Vec<u8>>> {
        let memory = self.memory.lock().expect("cache lock");
        memory
            .entries
            .get(key)
            .filter(|e| e.expires > now)
            .map(|e| Arc::clone(&e.body))
    }

    fn memory_put(&self, key: &str, body: Arc<Vec<u8>>, expires: Instant) {
        if body.len() > MEMORY_BYTES / 4 {
            return; // one answer may not crowd out the rest
        }
        let now = Instant::now();
        let mut m = self.memory.lock().expect("cache lock");
        if let Some(old) = m.entries.remove(key) {
            m.bytes -= old.body.len();
        }
        if m.entries.len() >= MEMORY_ENTRIES || m.bytes + body.len() > MEMORY_BYTES {
            // Expired entries go first, then those closest to expiry.
            let expired: Vec<String> = m
                .entries
                .iter()
                .filter(|(_, e)| e.expires <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for k in expired {
                if let Some(e) = m.entries.remove(&k) {
                    m.bytes -= e.body.len();
                }
            }
            while m.entries.len() >= MEMORY_ENTRIES || m.bytes + body.len() > MEMORY_BYTES {
                let Some(k) = m
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                if let Some(e) = m.entries.remove(&k) {
                    m.bytes -= e.body.len();
                }
            }
        }
        m.bytes += body.len();
        m.entries
            .insert(key.to_string(), MemEntry { expires, body });
    }

    /// Entries and bytes held in memory.
    pub fn memory_usage(&self) -> (usize, usize) {
        let m = self.memory.lock().expect("cache lock");
        (m.entries.len(), m.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_entries_expire_and_stay_bounded() {
        let c = QueryCache::new();
        let now = Instant::now();
        c.memory_put("a", Arc::new(b"1".to_vec()), now + Duration::from_secs(60));
        assert_eq!(c.memory_get("a", now).as_deref(), Some(&b"1".to_vec()));
        assert!(c.memory_get("a", now + Duration::from_secs(61)).is_none());
        for i in 0..MEMORY_ENTRIES + 50 {
            c.memory_put(
                &format!("k{i}"),
                Arc::new(vec![0; 10]),
                now + Duration::from_secs(100 + i as u64),
            );
        }
        let (entries, bytes) = c.memory_usage();
        assert_eq!(entries, MEMORY_ENTRIES);
        assert_eq!(bytes, MEMORY_ENTRIES * 10);
        // The newest survive; the earliest to expire went.
        assert!(c
            .memory_get(&format!("k{}", MEMORY_ENTRIES + 49), now)
            .is_some());
        assert!(c.memory_get("k0", now).is_none());
    }

    #[tokio::test]
    async fn one_leader_many_followers() {
        let c = QueryCache::new();
        let Flight::Leader(guard) = c.join("k") else {
            panic!("first is the leader")
        };
        let Flight::Follower(rx) = c.join("k") else {
            panic!("second follows")
        };
        guard.finish(&Ok(Arc::new(b"x".to_vec())));
        assert_eq!(rx.await.unwrap().unwrap().as_slice(), b"x");
        // A leader that goes away wakes its followers with an error, and the key is free.
        let Flight::Leader(guard) = c.join("k") else {
            panic!("leader again")
        };
        let Flight::Follower(rx) = c.join("k") else {
            panic!("follower")
        };
        drop(guard);
        assert!(rx.await.is_err());
        assert!(matches!(c.join("k"), Flight::Leader(_)));
    }
}
