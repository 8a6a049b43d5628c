//! Against a second PostgreSQL cluster the test starts (TLS with a test CA, SCRAM passwords):
//! certificate verification through `PGSSLROOTCERT`, minted credentials that expire and
//! refresh, and a database outage that requests do not feel.

use super::eventually;
use crate::support::fake_workspace::{oauth, scim, FakeWorkspace};
use crate::support::pg_cluster::PgCluster;
use crate::support::{get, get_as, post_json, TestServer};
use serde_json::json;
use std::time::{Duration, Instant};

fn lakebase_state(server: &TestServer) -> String {
    get(&server.url("/health"), &[]).json()["lakebase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn ssl_connections(cluster: &PgCluster, role: &str) -> String {
    cluster.sql(
        "postgres",
        &format!("SELECT count(*) FILTER (WHERE s.ssl) || '/' || count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = '{role}'"),
    )
}

#[test]
fn tls_is_verified_against_pgsslrootcert() {
    let cluster = PgCluster::start();
    cluster.create_app_role("app", Some("app-password"));
    let fake = FakeWorkspace::start();
    let url = format!(
        "postgres://app:app-password@127.0.0.1:{}/app?sslmode=verify-full",
        cluster.port
    );

    // The CA that signed the server certificate: connected, over TLS.
    let ca = cluster.ca_cert();
    let server = TestServer::with_workspace(
        &fake,
        &[
            ("DATABASE_URL", &url),
            ("PGSSLROOTCERT", ca.to_str().unwrap()),
        ],
    );
    server.wait_ready();
    assert_eq!(lakebase_state(&server), "connected");
    let r = post_json(
        &server.url("/api/preferences"),
        scim::ALICE,
        &json!({"preference_key": "tls", "preference_value": {"ok": true}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let (ssl, total) = ssl_connections(&cluster, "app")
        .split_once('/')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    assert!(
        total != "0" && ssl == total,
        "every brickbox connection uses TLS: {ssl}/{total}"
    );
    drop(server);

    // Another CA: refused, nothing connects, database functions answer 503.
    cluster.terminate("app");
    let other = cluster.other_ca_cert();
    let server = TestServer::with_workspace(
        &fake,
        &[
            ("DATABASE_URL", &url),
            ("PGSSLROOTCERT", other.to_str().unwrap()),
        ],
    );
    assert!(eventually(Duration::from_secs(10), || lakebase_state(
        &server
    ) == "unavailable"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lakebase_state(&server), "unavailable");
    assert_eq!(get(&server.url("/ready"), &[]).status, 503);
    let r = get_as(&server.url("/api/preferences"), scim::ALICE);
    assert_eq!((r.status, r.code().as_str()), (503, "DATABASE_UNAVAILABLE"));
    assert_eq!(
        ssl_connections(&cluster, "app"),
        "0/0",
        "no session was established"
    );

    // No PGSSLROOTCERT: the public roots do not include the test CA either.
    let server = TestServer::with_workspace(&fake, &[("DATABASE_URL", &url)]);
    assert!(eventually(Duration::from_secs(10), || lakebase_state(
        &server
    ) == "unavailable"));
    assert_eq!(get(&server.url("/ready"), &[]).status, 503);
}

#[test]
fn minted_credentials_expire_and_new_connections_mint_fresh_ones() {
    let cluster = PgCluster::start();
    cluster.create_app_role("app", None);
    let fake = FakeWorkspace::start();
    {
        // Each minted credential becomes the role's password, valid until it expires — as a
        // Lakebase credential is checked only at login.
        let port = cluster.port;
        let mut state = fake.state();
        state.database.lifetime = Duration::from_secs(301); // refreshed after a second
        state.database.on_mint = Some(Box::new(move |token, expires| {
            crate::support::db::psql(
                port,
                "postgres",
                &format!(
                    "ALTER ROLE app PASSWORD '{token}' VALID UNTIL '{}'",
                    shared::util::rfc3339(expires)
                ),
            );
        }));
    }
    let port = cluster.port.to_string();
    let ca = cluster.ca_cert();
    let server = TestServer::with_workspace(
        &fake,
        &[
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", &port),
            ("PGDATABASE", "app"),
            ("PGUSER", "app"),
            ("PGSSLROOTCERT", ca.to_str().unwrap()),
            ("LAKEBASE_INSTANCE_NAME", "brickbox-test-instance"),
            ("DATABRICKS_CLIENT_ID", oauth::CLIENT_ID),
            ("DATABRICKS_CLIENT_SECRET", oauth::CLIENT_SECRET),
        ],
    );
    server.wait_ready();
    let minted = || fake.state().database.minted.len();
    {
        let state = fake.state();
        assert_eq!(state.oauth.issued.len(), 1, "one OAuth M2M token");
        assert!(!state.database.minted.is_empty());
        assert!(
            state
                .database
                .minted
                .iter()
                .all(|(_, bearer)| bearer == &state.oauth.issued[0]),
            "minted with the service principal's token"
        );
    }
    let prefs = server.url("/api/preferences");
    assert_eq!(
        post_json(
            &prefs,
            scim::ALICE,
            &json!({"preference_key": "a", "preference_value": {}})
        )
        .status,
        201
    );

    // The credential expires at login, but open connections keep working: no mint needed.
    let before = minted();
    cluster.sql("postgres", "ALTER ROLE app VALID UNTIL '2000-01-01'");
    assert_eq!(get_as(&prefs, scim::ALICE).status, 200);
    assert_eq!(
        minted(),
        before,
        "existing connections outlive the credential"
    );

    // New connections (after the old ones are gone) mint a fresh credential.
    fake.state().database.lifetime = Duration::from_secs(3600);
    cluster.terminate("app");
    std::thread::sleep(Duration::from_millis(1100));
    let r = get_as(&prefs, scim::ALICE);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        minted() > before,
        "a new connection minted a fresh credential"
    );

    // A login failure (the password changed behind our back) refreshes once and retries.
    let before = minted();
    cluster.sql("postgres", "ALTER ROLE app PASSWORD 'rotated-elsewhere'");
    cluster.terminate("app");
    std::thread::sleep(Duration::from_millis(300));
    let r = post_json(
        &prefs,
        scim::ALICE,
        &json!({"preference_key": "b", "preference_value": {}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(minted(), before + 1, "one refresh for the failed login");
    assert_eq!(
        fake.state().oauth.issued.len(),
        1,
        "the OAuth token (1 h) is still cached"
    );
    assert_eq!(lakebase_state(&server), "connected");
}

#[test]
fn endpoint_credentials_with_a_workspace_token() {
    let cluster = PgCluster::start();
    cluster.create_app_role("job", None);
    let fake = FakeWorkspace::start();
    {
        let port = cluster.port;
        let mut state = fake.state();
        state
            .database
            .accepted_tokens
            .insert("dapi-job-token".into());
        state.database.on_mint = Some(Box::new(move |token, _| {
            crate::support::db::psql(
                port,
                "postgres",
                &format!("ALTER ROLE job PASSWORD '{token}'"),
            );
        }));
    }
    let url = format!("postgres://job@127.0.0.1:{}/job", cluster.port);
    let ca = cluster.ca_cert();
    let server = TestServer::with_workspace(
        &fake,
        &[
            ("DATABASE_URL", &url),
            ("PGSSLROOTCERT", ca.to_str().unwrap()),
            (
                "LAKEBASE_ENDPOINT",
                "projects/p/branches/main/endpoints/primary",
            ),
            ("DATABRICKS_TOKEN", "dapi-job-token"),
        ],
    );
    server.wait_ready();
    assert_eq!(fake.total_calls("/api/2.0/postgres/credentials"), 1);
    assert_eq!(
        fake.calls("/api/2.0/postgres/credentials", "dapi-job-token"),
        1
    );
    assert_eq!(
        fake.total_calls("/oidc/v1/token"),
        0,
        "no client id: DATABRICKS_TOKEN mints"
    );
    assert_eq!(
        post_json(
            &server.url("/api/preferences"),
            scim::BOB_ADMIN,
            &json!({"preference_key": "a", "preference_value": {}})
        )
        .status,
        201
    );
}

fn p50(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn timed_requests(server: &TestServer, n: usize) -> Vec<Duration> {
    let url = server.url("/api/user/me");
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let r = get_as(&url, scim::ALICE);
            let elapsed = t.elapsed();
            assert_eq!(r.status, 200);
            elapsed
        })
        .collect()
}

#[test]
fn a_database_outage_does_not_slow_requests_and_collection_resumes() {
    let mut cluster = PgCluster::start();
    let fake = FakeWorkspace::start();
    let server = cluster.app_server(&fake);
    let count = |c: &PgCluster| -> i64 {
        c.sql("app", "SELECT count(*) FROM performance_metrics")
            .parse()
            .unwrap()
    };
    let n = 200;
    let mut healthy = timed_requests(&server, n);
    let mut api_requests = n as i64;

    cluster.stop();
    assert!(
        eventually(Duration::from_secs(10), || lakebase_state(&server)
            == "unavailable"),
        "/health shows the outage within 10 s"
    );
    assert_eq!(
        get(&server.url("/health"), &[]).json()["status"],
        "degraded"
    );
    let mut down = timed_requests(&server, n);
    api_requests += n as i64;
    let (p50_up, p50_down) = (p50(&mut healthy), p50(&mut down));
    assert!(
        p50_down < p50_up * 3 + Duration::from_millis(2),
        "requests keep their speed: p50 {p50_up:?} healthy, {p50_down:?} with the database down"
    );
    assert!(
        down.iter().max().unwrap() < &Duration::from_millis(500),
        "no request waits for the database"
    );
    let t = Instant::now();
    let r = get_as(&server.url("/api/preferences"), scim::ALICE);
    api_requests += 1;
    assert_eq!((r.status, r.code().as_str()), (503, "DATABASE_UNAVAILABLE"));
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "database functions fail fast: {:?}",
        t.elapsed()
    );

    // Back on the same port, without restarting brickbox.
    cluster.start_again();
    assert!(
        eventually(Duration::from_secs(10), || lakebase_state(&server)
            == "connected"),
        "/health shows the recovery within 10 s"
    );
    assert_eq!(
        get_as(&server.url("/api/preferences"), scim::ALICE).status,
        200
    );
    api_requests += 1;
    assert!(
        eventually(Duration::from_secs(10), || count(&cluster) == api_requests),
        "rows queued during the outage are written after it: {} of {api_requests}",
        count(&cluster)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&cluster), api_requests, "exactly one row per request");
    let metrics = get_as(&server.url("/metrics"), scim::ALICE).text();
    assert!(
        metrics.contains("brickbox_metrics_rows_dropped_total 0"),
        "{metrics}"
    );
}

#[test]
fn without_a_lakebase_credential_api_the_service_principal_token_is_the_password() {
    let cluster = PgCluster::start();
    // The fake issues sp-oauth-token-1, -2, …: the first one is the password brickbox will use.
    cluster.create_app_role("sp", Some("sp-oauth-token-1"));
    let fake = FakeWorkspace::start();
    let port = cluster.port.to_string();
    let ca = cluster.ca_cert();
    let server = TestServer::with_workspace(
        &fake,
        &[
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", &port),
            ("PGDATABASE", "sp"),
            ("PGUSER", "sp"),
            ("PGSSLROOTCERT", ca.to_str().unwrap()),
            ("DATABRICKS_CLIENT_ID", oauth::CLIENT_ID),
            ("DATABRICKS_CLIENT_SECRET", oauth::CLIENT_SECRET),
        ],
    );
    server.wait_ready();
    assert_eq!(fake.state().oauth.issued, ["sp-oauth-token-1"]);
    assert!(
        fake.state().database.minted.is_empty(),
        "no credential API without LAKEBASE_* set"
    );
    assert_eq!(
        post_json(
            &server.url("/api/preferences"),
            scim::CAROL,
            &json!({"preference_key": "a", "preference_value": {}})
        )
        .status,
        201
    );
}
