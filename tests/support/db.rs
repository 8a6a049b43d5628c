//! Test databases on the machine's PostgreSQL (127.0.0.1:5432, trust auth): each test gets its
//! own uniquely named database, dropped when the `TestDb` is dropped. SQL goes through `psql`,
//! so the helpers work from any thread, inside or outside a runtime.

use std::process::Command;

pub const MAIN_HOST: &str = "127.0.0.1";
pub const MAIN_PORT: u16 = 5432;

pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn create() -> TestDb {
        let name = format!("bb_test_{}", shared::util::uuid_v4().replace('-', ""));
        psql(MAIN_PORT, "postgres", &format!("CREATE DATABASE {name}"));
        TestDb { name }
    }

    /// `DATABASE_URL` for brickbox (plaintext: the main cluster is for functional tests).
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@{MAIN_HOST}:{MAIN_PORT}/{}?sslmode=disable",
            self.name
        )
    }

    /// Run SQL; the unaligned, tuples-only output (`|`-separated columns, one row a line).
    pub fn sql(&self, sql: &str) -> String {
        psql(MAIN_PORT, &self.name, sql)
    }

    /// A single integer result.
    pub fn count(&self, sql: &str) -> i64 {
        let out = self.sql(sql);
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{sql}: not a number: {out:?}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-h",
                MAIN_HOST,
                "-p",
                &MAIN_PORT.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", "postgres", "-qtAc"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// `psql` as `postgres` on 127.0.0.1:`port`, stopping at the first error.
pub fn psql(port: u16, database: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-h", MAIN_HOST, "-p", &port.to_string(), "-U", "postgres"])
        .args(["-d", database, "-v", "ON_ERROR_STOP=1", "-qtAc", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("psql runs (PostgreSQL client installed)");
    assert!(
        out.status.success(),
        "psql -p {port} -d {database} -c {sql:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
