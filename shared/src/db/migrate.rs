//! Schema migrations: numbered files in `sql/migrations/`, applied in order in one
//! transaction under an advisory lock, each recorded with the SHA-256 of its text.
//!
//! An applied migration whose text changed is an error that stops startup (`Edited`): the
//! schema no longer matches what the code was built against, and nothing automatic is safe.
//! A migration that the database has but this binary does not know (a newer binary ran) is
//! tolerated with a warning, so a rollback can still start.

use super::sql;
use crate::util;
use tokio_postgres::Client;

/// Advisory-lock key for migrations: "brickbox" in ASCII.
pub const LOCK_KEY: i64 = 0x6272_6963_6b62_6f78;

#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i32,
    /// The file name in `sql/migrations/`, e.g. `0001_initial.sql`.
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// SHA-256 hex of the text, line endings normalised (a CRLF checkout is not an edit).
    pub fn checksum(&self) -> String {
        util::hex(&util::sha256(self.sql.replace("\r\n", "\n").as_bytes()))
    }
}

#[derive(Debug)]
pub enum MigrateError {
    /// An applied migration's text changed. Fatal: stops startup.
    Edited {
        name: String,
        applied: String,
        now: String,
    },
    /// A migration's SQL failed. Fatal: retrying runs the same SQL again.
    Failed { name: String, message: String },
    /// The database could not be reached or broke off. Worth retrying.
    Unavailable(String),
}

impl MigrateError {
    pub fn is_fatal(&self) -> bool {
        !matches!(self, MigrateError::Unavailable(_))
    }
}

impl std::fmt::Display for MigrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateError::Edited { name, applied, now } => write!(
                f,
                "migration sql/migrations/{name} was edited after it was applied (checksum {} when applied, {} now). Restore the file as it was and put the change in a new numbered migration.",
                &applied[..applied.len().min(12)],
                &now[..now.len().min(12)]
            ),
            MigrateError::Failed { name, message } => write!(
                f,
                "migration sql/migrations/{name} failed: {message}. Fix the migration; nothing of it was applied."
            ),
            MigrateError::Unavailable(m) => write!(f, "database unavailable during migrations: {m}"),
        }
    }
}

/// Is this a problem of reaching the database (worth a retry) rather than of the SQL?
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            // 08: connection exception; 53: insufficient resources; 57P0x: shutdown / cannot
            // connect now; 40001/40P01: serialization failure / deadlock.
            c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57P")
                || c == "40001"
                || c == "40P01"
        }
    }
}

fn unavailable(e: tokio_postgres::Error) -> MigrateError {
    MigrateError::Unavailable(e.to_string())
}

/// Apply what is pending of `migrations` (ordered by version). Returns the names applied now.
pub async fn apply(
    client: &mut Client,
    migrations: &[Migration],
) -> Result<Vec<&'static str>, MigrateError> {
    let tx = client.transaction().await.map_err(unavailable)?;
    tx.batch_execute(sql::SCHEMA_MIGRATIONS_QUIET)
        .await
        .map_err(unavailable)?;
    tx.execute(sql::SCHEMA_MIGRATIONS_LOCK, &[&LOCK_KEY])
        .await
        .map_err(unavailable)?;
    tx.batch_execute(sql::SCHEMA_MIGRATIONS_CREATE)
        .await
        .map_err(|e| classify(e, "brickbox_schema_migrations"))?;
    let rows = tx
        .query(sql::SCHEMA_MIGRATIONS_LIST, &[])
        .await
        .map_err(unavailable)?;
    let mut applied = std::collections::HashMap::new();
    for row in &rows {
        let version: i32 = row.get(0);
        let name: String = row.get(1);
        let checksum: String = row.get(2);
        applied.insert(version, (name, checksum));
    }
    for m in migrations {
        if let Some((_, checksum)) = applied.get(&m.version) {
            let now = m.checksum();
            if *checksum != now {
                return Err(MigrateError::Edited {
                    name: m.name.to_string(),
                    applied: checksum.clone(),
                    now,
                });
            }
        }
    }
    for (version, (name, _)) in &applied {
        if !migrations.iter().any(|m| m.version == *version) {
            log::warn!("the database has migration {name} (version {version}), which this binary does not know; a newer version ran against it");
        }
    }
    let mut done = Vec::new();
    for m in migrations {
        if applied.contains_key(&m.version) {
            continue;
        }
        tx.batch_execute(m.sql)
            .await
            .map_err(|e| classify(e, m.name))?;
        tx.execute(
            sql::SCHEMA_MIGRATIONS_INSERT,
            &[&m.version, &m.name, &m.checksum()],
        )
        .await
        .map_err(unavailable)?;
        done.push(m.name);
    }
    tx.commit().await.map_err(unavailable)?;
    Ok(done)
}

fn classify(e: tokio_postgres::Error, name: &str) -> MigrateError {
    if is_transient(&e) {
        return unavailable(e);
    }
    let message = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    MigrateError::Failed {
        name: name.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_named_after_their_files() {
        let all = sql::MIGRATIONS;
        for (i, m) in all.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)) && m.name.ends_with(".sql"),
                "{}",
                m.name
            );
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let listed: Vec<&str> = all.iter().map(|m| m.name).collect();
        assert_eq!(
            files, listed,
            "every file in sql/migrations is listed in sql.rs"
        );
    }

    #[test]
    fn checksums_ignore_line_endings_only() {
        let a = Migration {
            version: 1,
            name: "0001_a.sql",
            sql: "CREATE TABLE a (x int);\n",
        };
        let crlf = Migration {
            sql: "CREATE TABLE a (x int);\r\n",
            ..a
        };
        let edited = Migration {
            sql: "CREATE TABLE a (x bigint);\n",
            ..a
        };
        assert_eq!(a.checksum(), crlf.checksum());
        assert_ne!(a.checksum(), edited.checksum());
        let e = MigrateError::Edited {
            name: a.name.into(),
            applied: a.checksum(),
            now: edited.checksum(),
        };
        assert!(e.is_fatal());
        assert!(e
            .to_string()
            .contains("sql/migrations/0001_a.sql was edited"));
    }
}
