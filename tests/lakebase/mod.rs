//! Lakebase: the database functions, metrics collection, migrations, and (on a second cluster
//! started by the test) TLS, minted credentials and an outage.

mod cluster;
mod collection;
mod functions;

use crate::support::db::TestDb;
use crate::support::fake_workspace::FakeWorkspace;
use crate::support::TestServer;
use std::time::{Duration, Instant};

/// A server on its own fresh database, migrated and ready.
pub fn server_on(fake: &FakeWorkspace, db: &TestDb) -> TestServer {
    let url = db.url();
    let server = TestServer::with_workspace(fake, &[("DATABASE_URL", url.as_str())]);
    server.wait_ready();
    server
}

/// Poll `check` every 50 ms until it holds or `limit` passes; returns whether it held.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
