//! The startup line: what `serve` detected, in one log line an operator can read in the Apps
//! log viewer. It names sources and modes, never a secret value (tokens, passwords and client
//! secrets are `Secret`s and have no way into this text).

use shared::config::Config;
use shared::db::settings::{ConnectSettings, PasswordSource};
use std::net::SocketAddr;
use std::path::Path;

/// `brickbox 0.1.0 listening on http://ADDR (Databricks Apps; x86_64; static: …; workspace: …;
/// lakebase: endpoint credential, host …, database …; warehouse: …; admin groups: …)`.
///
/// The address stays the first word after `listening on http://`: tests and scripts read it.
pub fn summary(config: &Config, addr: SocketAddr, static_root: Option<&Path>) -> String {
    format!(
        "brickbox {} listening on http://{addr} ({}; {}; static: {}; workspace: {}; lakebase: {}; warehouse: {}; admin groups: {})",
        shared::VERSION,
        if config.in_apps { "Databricks Apps" } else { "local" },
        std::env::consts::ARCH,
        static_root
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "none".into()),
        config.databricks_host.as_deref().unwrap_or("not set"),
        lakebase(config),
        config
            .warehouse_id
            .as_deref()
            .unwrap_or("auto (a running warehouse the user can see)"),
        if config.admin_groups.is_empty() {
            "none".to_string()
        } else {
            config.admin_groups.join(",")
        },
    )
}

/// The password source is the one the pool will use (`ConnectSettings`), so the line and the
/// connections can never disagree.
fn lakebase(config: &Config) -> String {
    let lb = &config.lakebase;
    let settings = match ConnectSettings::from_config(config) {
        Ok(None) => return "not configured".to_string(),
        // The message names variables, never values.
        Err(e) => return format!("misconfigured ({e})"),
        Ok(Some(s)) => s,
    };
    let mut out = settings.password.label().to_string();
    match &lb.pghost {
        Some(host) => out.push_str(&format!(", host {host}")),
        // The URL may carry a password, so none of it is shown.
        None => out.push_str(", from DATABASE_URL"),
    }
    if let Some(db) = &lb.pgdatabase {
        out.push_str(&format!(", database {db}"));
    }
    match &settings.password {
        PasswordSource::Endpoint(e) => out.push_str(&format!(", endpoint {e}")),
        PasswordSource::Instance(i) => out.push_str(&format!(", instance {i}")),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Config {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned()).unwrap()
    }

    #[test]
    fn local_and_unconfigured() {
        let line = summary(&config(&[]), "127.0.0.1:8000".parse().unwrap(), None);
        assert!(
            line.contains("listening on http://127.0.0.1:8000 (local;"),
            "{line}"
        );
        assert!(line.contains(std::env::consts::ARCH));
        assert!(line.contains("lakebase: not configured;"), "{line}");
        assert!(line.contains("warehouse: auto"), "{line}");
        assert!(line.contains("admin groups: admins,workspace_admins,administrators)"));
        assert!(line.contains(shared::VERSION));
    }

    #[test]
    fn apps_with_an_endpoint_and_every_secret_set() {
        let secrets = [
            ("PGPASSWORD", "pgpassword-SECRET"),
            ("DATABRICKS_CLIENT_SECRET", "client-SECRET"),
            ("DATABRICKS_TOKEN", "token-SECRET"),
        ];
        let mut vars = vec![
            ("DATABRICKS_APP_PORT", "8000"),
            ("DATABRICKS_HOST", "dbc-1.cloud.databricks.com"),
            ("DATABRICKS_CLIENT_ID", "6f1c2a9e-app"),
            ("DATABRICKS_CLIENT_SECRET", "client-SECRET"),
            ("DATABRICKS_WAREHOUSE_ID", "wh123"),
            ("PGHOST", "ep-1.database.example.com"),
            ("PGDATABASE", "databricks_postgres"),
            (
                "LAKEBASE_ENDPOINT",
                "projects/p/branches/production/endpoints/primary",
            ),
            ("ADMIN_GROUPS", "ops"),
        ];
        let line = summary(&config(&vars), "0.0.0.0:8000".parse().unwrap(), None);
        assert!(line.contains("(Databricks Apps;"), "{line}");
        assert!(line.contains("workspace: https://dbc-1.cloud.databricks.com;"));
        assert!(line.contains(
            "lakebase: endpoint credential, host ep-1.database.example.com, database databricks_postgres, endpoint projects/p/branches/production/endpoints/primary;"
        ), "{line}");
        assert!(line.contains("warehouse: wh123;"));
        assert!(line.contains("admin groups: ops)"));

        vars.extend_from_slice(&secrets);
        vars.push(("DATABASE_URL", "postgres://u:url-SECRET@h/db"));
        let line = summary(&config(&vars), "0.0.0.0:8000".parse().unwrap(), None);
        assert!(
            line.contains("lakebase: static password, host ep-1"),
            "{line}"
        );
        assert!(!line.contains("SECRET"), "{line}");
    }

    #[test]
    fn database_url_is_never_shown() {
        let line = summary(
            &config(&[("DATABASE_URL", "postgres://u@db.internal/app")]),
            "127.0.0.1:1".parse().unwrap(),
            None,
        );
        assert!(
            line.contains("lakebase: no password, from DATABASE_URL;"),
            "{line}"
        );
        assert!(!line.contains("db.internal"), "{line}");
    }
}
