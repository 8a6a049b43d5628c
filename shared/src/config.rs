//! The environment, read once at startup. Nothing else reads environment variables,
//! so this file is the full list of what brickbox can be configured with.

use crate::secret::Secret;
use std::net::IpAddr;
use std::path::PathBuf;

pub const DEFAULT_ADMIN_GROUPS: &str = "admins,workspace_admins,administrators";

#[derive(Clone, Debug)]
pub struct Config {
    /// Running inside Databricks Apps (`DATABRICKS_APP_PORT` is set).
    pub in_apps: bool,
    pub bind_host: IpAddr,
    pub port: u16,
    /// Workspace URL, normalised: scheme added when missing, no trailing slash.
    pub databricks_host: Option<String>,
    pub workspace_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// Local development token, and the job's workspace credential when there is no client id.
    pub databricks_token: Option<Secret>,
    pub warehouse_id: Option<String>,
    /// Lowercased, trimmed, non-empty.
    pub admin_groups: Vec<String>,
    pub static_dir: Option<PathBuf>,
    pub log_json: bool,
    pub lakebase: LakebaseSettings,
    /// How often `serve` refreshes the metrics summaries (`METRICS_SUMMARY_REFRESH_SECONDS`,
    /// default 60); `None` when set to 0 (queries then always compute from the sources).
    pub metrics_summary_refresh: Option<std::time::Duration>,
    /// `DATABRICKS_GENIE_SPACE_ID`: the Genie spaces the UI offers first, in order (one id or a
    /// comma-separated list; each `^[A-Za-z0-9_-]{1,64}$`).
    pub genie_space_ids: Vec<String>,
    /// How Genie messages are polled. Not an environment variable: tests set a faster one.
    pub genie_poll: crate::databricks::genie::PollSchedule,
    /// The volumes the files page offers (`DATABRICKS_VOLUME_<KEY>`), sorted by key.
    pub volumes: Vec<Volume>,
}

/// A volume named by `DATABRICKS_VOLUME_<KEY>`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Volume {
    /// `KEY` lowercased.
    pub key: String,
    /// `/Volumes/<catalog>/<schema>/<volume>[/…]`.
    pub path: String,
}

/// The prefix of the variables that name volumes.
pub const VOLUME_PREFIX: &str = "DATABRICKS_VOLUME_";

/// Raw Lakebase / Postgres settings; `shared::db::settings` decides what they mean, the
/// password source included (one order, in one place).
#[derive(Clone, Debug, Default)]
pub struct LakebaseSettings {
    pub pghost: Option<String>,
    pub pgport: Option<String>,
    pub pgdatabase: Option<String>,
    pub pguser: Option<String>,
    pub pgsslmode: Option<String>,
    pub pgpassword: Option<Secret>,
    pub pgsslrootcert: Option<PathBuf>,
    pub instance_name: Option<String>,
    pub endpoint: Option<String>,
    pub database_url: Option<Secret>,
}

impl LakebaseSettings {
    /// Lakebase is configured when `PGHOST` or `DATABASE_URL` is set.
    pub fn configured(&self) -> bool {
        self.pghost.is_some() || self.database_url.is_some()
    }
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        Config::from_lookup(|name| std::env::var(name).ok())?.with_volumes(std::env::vars())
    }

    /// Build from any variable lookup (tests pass a map). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let app_port = get("DATABRICKS_APP_PORT");
        let in_apps = app_port.is_some();
        let (bind_host, port) = match app_port {
            Some(p) => (
                "0.0.0.0".parse().expect("literal address"),
                parse_port("DATABRICKS_APP_PORT", &p)?,
            ),
            None => (
                "127.0.0.1".parse().expect("literal address"),
                match get("PORT") {
                    Some(p) => parse_port("PORT", &p)?,
                    None => 8000,
                },
            ),
        };
        let admin_groups = get("ADMIN_GROUPS")
            .unwrap_or_else(|| DEFAULT_ADMIN_GROUPS.to_string())
            .split(',')
            .map(|g| g.trim().to_lowercase())
            .filter(|g| !g.is_empty())
            .collect();
        let log_json = match get("LOG_FORMAT").as_deref() {
            Some("json") => true,
            Some("text") => false,
            Some(other) => {
                return Err(format!(
                    "LOG_FORMAT={other:?} is not valid: use `json` or `text`"
                ))
            }
            None => in_apps,
        };
        let metrics_summary_refresh = match get("METRICS_SUMMARY_REFRESH_SECONDS") {
            None => Some(crate::db::summaries::DEFAULT_INTERVAL),
            Some(v) => match v.parse::<u64>() {
                Ok(0) => None,
                Ok(n) => Some(std::time::Duration::from_secs(n)),
                Err(_) => {
                    return Err(format!(
                        "METRICS_SUMMARY_REFRESH_SECONDS={v:?} is not valid: use a whole number of seconds (0 turns the refresh off)"
                    ))
                }
            },
        };
        let mut genie_space_ids: Vec<String> = Vec::new();
        for id in get("DATABRICKS_GENIE_SPACE_ID")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
        {
            if !crate::databricks::genie::is_valid_id(id) {
                return Err(format!(
                    "DATABRICKS_GENIE_SPACE_ID contains {id:?}, which is not a Genie space id: use 1–64 letters, digits, `_` or `-`, comma-separated"
                ));
            }
            if !genie_space_ids.iter().any(|known| known == id) {
                genie_space_ids.push(id.to_string());
            }
        }
        Ok(Config {
            in_apps,
            bind_host,
            port,
            databricks_host: get("DATABRICKS_HOST").map(|h| normalize_host(&h)),
            workspace_id: get("DATABRICKS_WORKSPACE_ID"),
            client_id: get("DATABRICKS_CLIENT_ID"),
            client_secret: get("DATABRICKS_CLIENT_SECRET").map(Secret::new),
            databricks_token: get("DATABRICKS_TOKEN").map(Secret::new),
            warehouse_id: get("DATABRICKS_WAREHOUSE_ID"),
            admin_groups,
            static_dir: get("BRICKBOX_STATIC_DIR").map(PathBuf::from),
            log_json,
            lakebase: LakebaseSettings {
                pghost: get("PGHOST"),
                pgport: get("PGPORT"),
                pgdatabase: get("PGDATABASE").or_else(|| get("LAKEBASE_DATABASE")),
                pguser: get("PGUSER"),
                pgsslmode: get("PGSSLMODE"),
                pgpassword: get("PGPASSWORD").map(Secret::new),
                pgsslrootcert: get("PGSSLROOTCERT").map(PathBuf::from),
                instance_name: get("LAKEBASE_INSTANCE_NAME"),
                endpoint: get("LAKEBASE_ENDPOINT"),
                database_url: get("DATABASE_URL").map(Secret::new),
            },
            metrics_summary_refresh,
            genie_space_ids,
            genie_poll: crate::databricks::genie::PollSchedule::DEFAULT,
            volumes: Vec::new(),
        })
    }

    /// Read the `DATABRICKS_VOLUME_<KEY>` variables from every `(name, value)` pair (a lookup
    /// cannot list names). A value is `catalog.schema.volume` or a `/Volumes/...` path.
    pub fn with_volumes(
        mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, String> {
        let mut volumes = Vec::new();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix(VOLUME_PREFIX) else {
                continue;
            };
            let value = value.trim();
            if key.is_empty() || value.is_empty() {
                continue;
            }
            let path = volume_path(value).ok_or_else(|| {
                format!(
                    "{name}={value:?} is not valid: use catalog.schema.volume or an absolute /Volumes/<catalog>/<schema>/<volume> path"
                )
            })?;
            volumes.push(Volume {
                key: key.to_lowercase(),
                path,
            });
        }
        volumes.sort_by(|a, b| a.key.cmp(&b.key));
        volumes.dedup_by(|a, b| a.key == b.key);
        self.volumes = volumes;
        Ok(self)
    }

    /// Local development token: outside Apps, bound to loopback, with `DATABRICKS_TOKEN` set.
    /// The runtime still checks that each request comes from loopback before using it.
    pub fn local_dev_token(&self) -> Option<&Secret> {
        if self.in_apps || !self.bind_host.is_loopback() {
            return None;
        }
        self.databricks_token.as_ref()
    }

    pub fn is_admin_group(&self, group: &str) -> bool {
        let g = group.trim().to_lowercase();
        self.admin_groups.contains(&g)
    }
}

/// `main.app.uploads` → `/Volumes/main/app/uploads`; a `/Volumes/...` path as it is (trailing
/// `/` removed); `None` for anything else.
fn volume_path(value: &str) -> Option<String> {
    if value.starts_with('/') {
        return crate::databricks::files::validate_path(value).ok();
    }
    let parts: Vec<&str> = value.split('.').map(str::trim).collect();
    if parts.len() != 3 {
        return None;
    }
    let path = format!("/Volumes/{}/{}/{}", parts[0], parts[1], parts[2]);
    crate::databricks::files::validate_path(&path).ok()
}

fn parse_port(name: &str, value: &str) -> Result<u16, String> {
    value
        .parse::<u16>()
        .map_err(|_| format!("{name}={value:?} is not a valid port: use a number from 0 to 65535"))
}

/// `dbc-1.cloud.databricks.com` → `https://dbc-1.cloud.databricks.com`; trailing `/` removed.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.starts_with("https://") || host.starts_with("http://") {
        host.to_string()
    } else {
        format!("https://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn local_defaults() {
        let c = config(&[]).unwrap();
        assert!(!c.in_apps);
        assert_eq!(c.bind_host.to_string(), "127.0.0.1");
        assert_eq!(c.port, 8000);
        assert!(!c.log_json);
        assert_eq!(
            c.admin_groups,
            ["admins", "workspace_admins", "administrators"]
        );
        assert!(!c.lakebase.configured());
    }

    #[test]
    fn apps_binds_all_interfaces_and_never_uses_the_dev_token() {
        let c = config(&[
            ("DATABRICKS_APP_PORT", "8080"),
            ("PORT", "9"),
            ("DATABRICKS_TOKEN", "t"),
        ])
        .unwrap();
        assert_eq!(c.bind_host.to_string(), "0.0.0.0");
        assert_eq!(c.port, 8080);
        assert!(c.log_json);
        assert!(c.local_dev_token().is_none());
        let local = config(&[("DATABRICKS_TOKEN", "t")]).unwrap();
        assert!(local.local_dev_token().is_some());
    }

    #[test]
    fn hosts_are_normalised() {
        assert_eq!(
            normalize_host("dbc-1.cloud.databricks.com/"),
            "https://dbc-1.cloud.databricks.com"
        );
        assert_eq!(
            normalize_host("http://127.0.0.1:9000"),
            "http://127.0.0.1:9000"
        );
    }

    #[test]
    fn admin_groups_match_trimmed_and_case_insensitively() {
        let c = config(&[("ADMIN_GROUPS", " Data-Admins , ,ops ")]).unwrap();
        assert_eq!(c.admin_groups, ["data-admins", "ops"]);
        assert!(c.is_admin_group("DATA-ADMINS "));
        assert!(!c.is_admin_group("admins"));
    }

    #[test]
    fn genie_spaces_are_a_comma_list_in_order() {
        assert!(config(&[]).unwrap().genie_space_ids.is_empty());
        let c = config(&[("DATABRICKS_GENIE_SPACE_ID", " 01ef_a , ,b-2,01ef_a")]).unwrap();
        assert_eq!(c.genie_space_ids, ["01ef_a", "b-2"]);
        assert!(config(&[("DATABRICKS_GENIE_SPACE_ID", "a/b")])
            .unwrap_err()
            .contains("DATABRICKS_GENIE_SPACE_ID"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert!(config(&[("PORT", "http")]).unwrap_err().contains("PORT"));
        assert!(config(&[("LOG_FORMAT", "xml")])
            .unwrap_err()
            .contains("LOG_FORMAT"));
        assert!(config(&[("PGHOST", "db")]).unwrap().lakebase.configured());
    }

    #[test]
    fn volumes_come_from_their_variables() {
        let vars = [
            ("DATABRICKS_VOLUME_UPLOADS", "main.app.uploads"),
            ("DATABRICKS_VOLUME_Raw", "/Volumes/main/raw/landing/2026/"),
            ("DATABRICKS_VOLUME_", "main.x.y"),
            ("DATABRICKS_HOST", "x"),
        ];
        let c = config(&[])
            .unwrap()
            .with_volumes(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .unwrap();
        assert_eq!(
            c.volumes,
            [
                Volume {
                    key: "raw".into(),
                    path: "/Volumes/main/raw/landing/2026".into()
                },
                Volume {
                    key: "uploads".into(),
                    path: "/Volumes/main/app/uploads".into()
                },
            ]
        );
        for bad in ["main.app", "a.b.c.d", "/Volumes/main/app", "/tmp/x", "a..b"] {
            let e = config(&[])
                .unwrap()
                .with_volumes([("DATABRICKS_VOLUME_X".to_string(), bad.to_string())])
                .unwrap_err();
            assert!(e.contains("DATABRICKS_VOLUME_X"), "{e}");
        }
    }
}
