//! Where Lakebase is and how to log in: host, port, database, user, TLS mode and
//! where the password comes from — decided once from `Config`, before any connection.
//!
//! `DATABASE_URL` wins over the `PG*` variables for what it states; the rest is filled from them.
//! The password never leaves a `Secret`, so `Debug` of these settings is safe to log.

use crate::config::Config;
use crate::secret::Secret;
use std::path::PathBuf;

/// Lakebase's default database name, used when neither `PGDATABASE` nor the URL names one.
pub const DEFAULT_DATABASE: &str = "databricks_postgres";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// `PGSSLMODE=disable`: plaintext (local development and tests only).
    Disable,
    /// Any other mode: TLS, with the certificate verified against the public roots plus
    /// `PGSSLROOTCERT` — stricter than libpq's `require`, on purpose.
    Verify,
}

/// Where the Postgres password comes from, first that applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// `PGPASSWORD` or the password in `DATABASE_URL`.
    Static(Secret),
    /// `LAKEBASE_ENDPOINT`: `POST /api/2.0/postgres/credentials`.
    Endpoint(String),
    /// `LAKEBASE_INSTANCE_NAME`: `POST /api/2.0/database/credentials`.
    Instance(String),
    /// The service principal's OAuth M2M token itself.
    ServicePrincipalToken,
    /// No password at all (a local server with trust authentication).
    None,
}

impl PasswordSource {
    /// What the startup line says: the source, never a value.
    pub fn label(&self) -> &'static str {
        match self {
            PasswordSource::Static(_) => "static password",
            PasswordSource::Endpoint(_) => "endpoint credential",
            PasswordSource::Instance(_) => "instance credential",
            PasswordSource::ServicePrincipalToken => "service principal token",
            PasswordSource::None => "no password",
        }
    }

    /// Minted credentials expire; a login failure is worth one refresh and retry.
    pub fn is_minted(&self) -> bool {
        !matches!(self, PasswordSource::Static(_) | PasswordSource::None)
    }
}

#[derive(Clone, Debug)]
pub struct ConnectSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    pub tls: TlsMode,
    pub root_cert: Option<PathBuf>,
    pub password: PasswordSource,
}

impl ConnectSettings {
    /// `Ok(None)` when Lakebase is not configured; `Err` names the variable that is wrong.
    pub fn from_config(config: &Config) -> Result<Option<ConnectSettings>, String> {
        let lb = &config.lakebase;
        if !lb.configured() {
            return Ok(None);
        }
        let url = match &lb.database_url {
            Some(url) => Some(parse_url(url.expose())?),
            None => None,
        };
        let url_ref = url.as_ref();
        let host = url_ref
            .and_then(|u| u.host.clone())
            .or_else(|| lb.pghost.clone())
            .ok_or("DATABASE_URL names no host: use postgres://user@HOST:5432/database")?;
        let port = match url_ref.and_then(|u| u.port) {
            Some(p) => p,
            None => match &lb.pgport {
                Some(p) => p.parse::<u16>().map_err(|_| {
                    format!("PGPORT={p:?} is not a valid port: use a number such as 5432")
                })?,
                None => 5432,
            },
        };
        let user = url_ref
            .and_then(|u| u.user.clone())
            .or_else(|| lb.pguser.clone())
            .or_else(|| config.client_id.clone())
            .ok_or(
                "no Postgres user: set PGUSER (inside Databricks Apps it defaults to DATABRICKS_CLIENT_ID)",
            )?;
        let dbname = url_ref
            .and_then(|u| u.dbname.clone())
            .or_else(|| lb.pgdatabase.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        let sslmode = url_ref
            .and_then(|u| u.sslmode.clone())
            .or_else(|| lb.pgsslmode.clone());
        let tls = match sslmode.as_deref() {
            Some("disable") => TlsMode::Disable,
            None | Some("allow" | "prefer" | "require" | "verify-ca" | "verify-full") => {
                TlsMode::Verify
            }
            Some(other) => {
                return Err(format!(
                "PGSSLMODE={other:?} is not valid: use disable, require, verify-ca or verify-full"
            ))
            }
        };
        let root_cert = url_ref
            .and_then(|u| u.sslrootcert.clone())
            .or_else(|| lb.pgsslrootcert.clone())
            // libpq's `system` means the public roots, which we always trust.
            .filter(|p| p.as_os_str() != "system");
        let has_workspace_credential = config.databricks_host.is_some()
            && ((config.client_id.is_some() && config.client_secret.is_some())
                || config.databricks_token.is_some());
        let password = if let Some(p) = url_ref.and_then(|u| u.password.clone()) {
            PasswordSource::Static(p)
        } else if let Some(p) = &lb.pgpassword {
            PasswordSource::Static(p.clone())
        } else if let Some(endpoint) = &lb.endpoint {
            PasswordSource::Endpoint(endpoint.clone())
        } else if let Some(instance) = &lb.instance_name {
            PasswordSource::Instance(instance.clone())
        } else if config.client_id.is_some()
            && config.client_secret.is_some()
            && config.databricks_host.is_some()
        {
            PasswordSource::ServicePrincipalToken
        } else {
            PasswordSource::None
        };
        if matches!(
            password,
            PasswordSource::Endpoint(_) | PasswordSource::Instance(_)
        ) && !has_workspace_credential
        {
            return Err(
                "LAKEBASE_ENDPOINT / LAKEBASE_INSTANCE_NAME need a workspace credential to mint the database password: set DATABRICKS_HOST and DATABRICKS_CLIENT_ID + DATABRICKS_CLIENT_SECRET (or DATABRICKS_TOKEN)"
                    .to_string(),
            );
        }
        Ok(Some(ConnectSettings {
            host,
            port,
            user,
            dbname,
            tls,
            root_cert,
            password,
        }))
    }

    /// `user@host:port/db`, for log lines (never the password).
    pub fn describe(&self) -> String {
        let tls = match self.tls {
            TlsMode::Disable => "no TLS",
            TlsMode::Verify => "TLS",
        };
        format!(
            "{}@{}:{}/{} ({tls})",
            self.user, self.host, self.port, self.dbname
        )
    }
}

#[derive(Debug, Default)]
struct UrlParts {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<Secret>,
    dbname: Option<String>,
    sslmode: Option<String>,
    sslrootcert: Option<PathBuf>,
}

/// Parse a `postgres://` URL (or libpq key=value string) with tokio-postgres's parser, after
/// taking out `sslmode` and `sslrootcert`, whose libpq values (`verify-full`, a file) it does
/// not accept. Errors never quote the URL, which may hold a password.
fn parse_url(url: &str) -> Result<UrlParts, String> {
    let bad = |why: String| format!("DATABASE_URL is not a valid postgres:// URL ({why})");
    let mut parts = UrlParts::default();
    let mut rest = url.to_string();
    if let Some((base, query)) = url.split_once('?') {
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = crate::util::percent_decode(v, true)
                .ok_or_else(|| bad(format!("bad %-escape in {k}")))?;
            match k {
                "sslmode" => parts.sslmode = Some(v),
                "sslrootcert" => parts.sslrootcert = Some(PathBuf::from(v)),
                _ => kept.push(pair),
            }
        }
        rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
    }
    let config: tokio_postgres::Config = rest.parse().map_err(|e| bad(format!("{e}")))?;
    parts.host = config.get_hosts().first().and_then(|h| match h {
        tokio_postgres::config::Host::Tcp(name) => Some(name.clone()),
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(_) => None,
    });
    if parts.host.is_none() && !config.get_hosts().is_empty() {
        return Err(bad(
            "Unix-socket hosts are not supported; use a TCP host".into()
        ));
    }
    parts.port = config.get_ports().first().copied();
    parts.user = config.get_user().map(str::to_string);
    parts.dbname = config.get_dbname().map(str::to_string);
    parts.password = config
        .get_password()
        .map(|p| Secret::new(String::from_utf8_lossy(p).into_owned()));
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<ConnectSettings>, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = Config::from_lookup(|k| map.get(k).cloned()).unwrap();
        ConnectSettings::from_config(&config)
    }

    #[test]
    fn not_configured_without_pghost_or_url() {
        assert!(settings(&[("PGUSER", "x")]).unwrap().is_none());
    }

    #[test]
    fn url_fields_win_and_libpq_sslmodes_are_accepted() {
        let s = settings(&[
            (
                "DATABASE_URL",
                "postgres://app:p%40ss@db.example.com:6543/appdb?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
            ),
            ("PGUSER", "ignored"),
            ("PGPASSWORD", "ignored"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str(), s.dbname.as_str()),
            ("db.example.com", 6543, "app", "appdb")
        );
        assert_eq!(s.tls, TlsMode::Verify);
        assert_eq!(s.root_cert.unwrap(), PathBuf::from("/ca.pem"));
        assert_eq!(s.password, PasswordSource::Static(Secret::new("p@ss")));
        let plain = settings(&[("DATABASE_URL", "postgres://u@h/d?sslmode=disable")])
            .unwrap()
            .unwrap();
        assert_eq!(
            (plain.tls, plain.port, plain.password),
            (TlsMode::Disable, 5432, PasswordSource::None)
        );
    }

    #[test]
    fn password_sources_in_spec_order() {
        let base = [
            ("PGHOST", "instance.database.cloud.databricks.com"),
            ("DATABRICKS_HOST", "https://ws.example.com"),
            ("DATABRICKS_CLIENT_ID", "6f1c2a9e-app"),
            ("DATABRICKS_CLIENT_SECRET", "s"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            settings(&v).unwrap().unwrap()
        };
        let s = with(&[]);
        assert_eq!(s.password, PasswordSource::ServicePrincipalToken);
        assert_eq!(s.user, "6f1c2a9e-app", "PGUSER defaults to the client id");
        assert_eq!(s.dbname, DEFAULT_DATABASE);
        assert_eq!(s.tls, TlsMode::Verify, "TLS unless PGSSLMODE=disable");
        assert_eq!(
            with(&[("LAKEBASE_INSTANCE_NAME", "inst")]).password,
            PasswordSource::Instance("inst".into())
        );
        assert_eq!(
            with(&[
                ("LAKEBASE_INSTANCE_NAME", "inst"),
                ("LAKEBASE_ENDPOINT", "projects/p/branches/b/endpoints/e")
            ])
            .password,
            PasswordSource::Endpoint("projects/p/branches/b/endpoints/e".into())
        );
        assert_eq!(
            with(&[("LAKEBASE_ENDPOINT", "e"), ("PGPASSWORD", "pw")]).password,
            PasswordSource::Static(Secret::new("pw"))
        );
        // A password in DATABASE_URL, in either spelling, is a static password too.
        for url in [
            "postgres://u:pw@127.0.0.1:5432/db",
            "postgres://u@127.0.0.1/db?password=pw",
        ] {
            assert_eq!(
                with(&[("DATABASE_URL", url), ("LAKEBASE_ENDPOINT", "e")]).password,
                PasswordSource::Static(Secret::new("pw")),
                "{url}"
            );
        }
        assert_eq!(
            with(&[
                ("DATABASE_URL", "postgres://u@127.0.0.1/db"),
                ("LAKEBASE_ENDPOINT", "e")
            ])
            .password
            .label(),
            "endpoint credential"
        );
        // Without a client credential there is nothing to mint with: no password (trust).
        let plain = settings(&[("DATABASE_URL", "postgres://u@127.0.0.1/db")])
            .unwrap()
            .unwrap();
        assert_eq!(plain.password, PasswordSource::None);
    }

    #[test]
    fn errors_name_the_variable_and_never_the_password() {
        let e = settings(&[("PGHOST", "h"), ("PGUSER", "u"), ("PGPORT", "x")]).unwrap_err();
        assert!(e.contains("PGPORT"), "{e}");
        let e = settings(&[("PGHOST", "h"), ("PGUSER", "u"), ("PGSSLMODE", "maybe")]).unwrap_err();
        assert!(e.contains("PGSSLMODE"), "{e}");
        let e = settings(&[("DATABASE_URL", "postgres://u:hunter2@h:notaport/d")]).unwrap_err();
        assert!(e.contains("DATABASE_URL") && !e.contains("hunter2"), "{e}");
        let e = settings(&[
            ("PGHOST", "h"),
            ("PGUSER", "u"),
            ("LAKEBASE_INSTANCE_NAME", "i"),
        ])
        .unwrap_err();
        assert!(e.contains("workspace credential"), "{e}");
    }
}
