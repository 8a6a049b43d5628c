//! OBO identity through the real server and the fake workspace: every outcome,
//! the cache, single-flight and the local development token.

use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::{get, get_as, TestServer};
use shared::{Auth, Function, Method, Response};
use std::time::Duration;

const ME: &str = "/api/2.0/preview/scim/v2/Me";

fn jwt(exp: u64) -> String {
    let payload = shared::util::base64_encode(
        format!(r#"{{"sub":"alice@example.com","exp":{exp}}}"#).as_bytes(),
    );
    format!(
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.{}.c2lnbmF0dXJl",
        payload.trim_end_matches('=')
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_signed_in_user_is_described() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    let r = get_as(&server.url("/api/user/me"), scim::ALICE);
    assert_eq!(r.status, 200, "{}", r.text());
    let me = r.json();
    assert_eq!(me["user_name"], "alice@example.com");
    assert_eq!(me["display_name"], "Alice Example");
    assert_eq!(me["active"], true);
    assert_eq!(me["emails"], serde_json::json!(["alice@example.com"]));
    assert_eq!(me["groups"], serde_json::json!(["users"]));
    assert_eq!(me["is_admin"], false);

    let ws = get_as(&server.url("/api/user/me/workspace"), scim::ALICE).json();
    assert_eq!(ws["user"]["user_name"], "alice@example.com");
    assert_eq!(ws["workspace"]["host"], fake.url());
    assert_eq!(ws["workspace"]["workspace_id"], "900800700600");
    assert!(ws["workspace"]["name"].is_string());
}

#[test]
fn missing_token_is_401_without_an_upstream_call() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    for token in [None, Some("   ")] {
        let headers: Vec<(&str, &str)> = token
            .map(|t| vec![("X-Forwarded-Access-Token", t)])
            .unwrap_or_default();
        let r = get(&server.url("/api/user/me"), &headers);
        assert_eq!((r.status, r.code().as_str()), (401, "AUTH_MISSING"));
    }
    assert_eq!(fake.total_calls(ME), 0);
}

#[test]
fn invalid_token_is_401_auth_invalid() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    let r = get_as(&server.url("/api/user/me"), "not-a-real-token");
    assert_eq!((r.status, r.code().as_str()), (401, "AUTH_INVALID"));
    assert!(!r.text().contains("not-a-real-token"));
}

#[test]
fn an_expired_jwt_is_401_with_zero_upstream_calls() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    let token = jwt(now() - 60);
    let r = get_as(&server.url("/api/user/me"), &token);
    assert_eq!((r.status, r.code().as_str()), (401, "AUTH_EXPIRED"));
    assert_eq!(fake.total_calls(ME), 0);
    // A JWT that is not expired is checked upstream (and is unknown there).
    let live = jwt(now() + 600);
    let r = get_as(&server.url("/api/user/me"), &live);
    assert_eq!(r.code(), "AUTH_INVALID");
    assert_eq!(fake.calls(ME, &live), 1);
}

#[test]
fn a_cached_identity_ends_with_its_jwt() {
    let fake = FakeWorkspace::start();
    let token = jwt(now() + 2);
    fake.state().scim.tokens.insert(
        token.clone(),
        scim::Behaviour::User(scim::user("alice@example.com", "Alice Example", &["users"])),
    );
    let server = TestServer::with_workspace(&fake, &[]);
    for _ in 0..3 {
        let r = get_as(&server.url("/api/user/me"), &token);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(fake.calls(ME, &token), 1);
    // Past `exp` the cached identity is not used, and the JWT is refused without a call.
    let exp = shared::identity::jwt_expiry(&token).unwrap();
    while now() <= exp {
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = get_as(&server.url("/api/user/me"), &token);
    assert_eq!((r.status, r.code().as_str()), (401, "AUTH_EXPIRED"));
    assert_eq!(fake.calls(ME, &token), 1);
}

#[test]
fn upstream_failures_map_to_the_spec_codes() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    let r = get_as(&server.url("/api/user/me"), scim::EXPIRED_UPSTREAM);
    assert_eq!((r.status, r.code().as_str()), (401, "AUTH_EXPIRED"));

    let r = get_as(&server.url("/api/user/me"), scim::RATE_LIMITED);
    assert_eq!((r.status, r.code().as_str()), (429, "AUTH_RATE_LIMITED"));
    assert_eq!(r.json()["retry_after"], 7);
    assert_eq!(r.header("retry-after"), Some("7"));

    let r = get_as(&server.url("/api/user/me"), scim::UPSTREAM_DOWN);
    assert_eq!((r.status, r.code().as_str()), (503, "IDENTITY_UNAVAILABLE"));
    assert!(
        !r.text().contains("<html"),
        "no raw upstream body in the message"
    );

    let r = get_as(&server.url("/api/user/me"), scim::NO_SCOPE);
    assert_eq!((r.status, r.code().as_str()), (403, "INSUFFICIENT_SCOPE"));

    // Never retried: one upstream call each, and failures are not cached.
    assert_eq!(fake.calls(ME, scim::RATE_LIMITED), 1);
    assert_eq!(fake.calls(ME, scim::UPSTREAM_DOWN), 1);
    get_as(&server.url("/api/user/me"), scim::UPSTREAM_DOWN);
    assert_eq!(fake.calls(ME, scim::UPSTREAM_DOWN), 2);
}

#[test]
fn an_unreachable_workspace_is_503() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let server = TestServer::start(&[("DATABRICKS_HOST", &url)]);
    let r = get_as(&server.url("/api/user/me"), scim::ALICE);
    assert_eq!((r.status, r.code().as_str()), (503, "IDENTITY_UNAVAILABLE"));

    let no_host = TestServer::start(&[]);
    let r = get_as(&no_host.url("/api/user/me"), scim::ALICE);
    assert_eq!((r.status, r.code().as_str()), (503, "IDENTITY_UNAVAILABLE"));
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("DATABRICKS_HOST"));
}

static ADMIN_ONLY: [Function; 1] = [Function {
    name: "admin_probe",
    method: Method::Get,
    path: "/api/admin-probe",
    auth: Auth::Admin,
    summary: "admin only",
    query: &[],
    request_body: None,
    success_status: 200,
    response_body: None,
    body: shared::RequestBody::DEFAULT,
    handler: |ctx, _req| Box::pin(async move { Response::ok(&ctx.user()?.user_name) }),
}];

#[test]
fn admin_functions_need_an_admin_group_matched_case_insensitively() {
    let fake = FakeWorkspace::start();
    let server = {
        let url = fake.url();
        TestServer::start_with(&[("DATABRICKS_HOST", &url)], &ADMIN_ONLY)
    };
    let r = get_as(&server.url("/api/admin-probe"), scim::ALICE);
    assert_eq!((r.status, r.code().as_str()), (403, "ADMIN_REQUIRED"));
    // bob is in "Admins"; the default ADMIN_GROUPS says "admins".
    let r = get_as(&server.url("/api/admin-probe"), scim::BOB_ADMIN);
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!("bob@example.com"))
    );
    let r = get(&server.url("/api/admin-probe"), &[]);
    assert_eq!(r.code(), "AUTH_MISSING");
    let r = get_as(&server.url("/api/admin-probe"), scim::UPSTREAM_DOWN);
    assert_eq!(r.status, 503, "a failed check never grants access");

    let custom = {
        let url = fake.url();
        TestServer::start_with(
            &[("DATABRICKS_HOST", &url), ("ADMIN_GROUPS", " Data-Eng ")],
            &ADMIN_ONLY,
        )
    };
    assert_eq!(
        get_as(&custom.url("/api/admin-probe"), scim::CAROL).status,
        200
    );
    assert_eq!(
        get_as(&custom.url("/api/admin-probe"), scim::BOB_ADMIN).status,
        403
    );
}

#[test]
fn service_principals_are_valid_users() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    let r = get_as(&server.url("/api/user/me"), scim::SERVICE_PRINCIPAL);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["user_name"], scim::SP_USER_NAME);
    assert_eq!(r.json()["emails"], serde_json::json!([]));
}

#[test]
fn twenty_sequential_requests_make_one_upstream_call() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    for _ in 0..20 {
        assert_eq!(get_as(&server.url("/api/user/me"), scim::ALICE).status, 200);
    }
    assert_eq!(fake.calls(ME, scim::ALICE), 1);
    let (hits, misses) = server.app.identities.stats();
    assert_eq!((hits, misses), (19, 1));
}

#[test]
fn twenty_concurrent_requests_with_a_new_token_make_one_upstream_call() {
    let fake = FakeWorkspace::start();
    fake.state().scim.delay = Some(Duration::from_millis(300));
    let server = TestServer::with_workspace(&fake, &[]);
    let url = server.url("/api/user/me");
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get_as(&url, scim::CAROL).status)
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    assert_eq!(fake.calls(ME, scim::CAROL), 1);
}

#[test]
fn the_local_development_token_works_only_locally() {
    let fake = FakeWorkspace::start();
    let local = TestServer::with_workspace(&fake, &[("DATABRICKS_TOKEN", scim::ALICE)]);
    let r = get(&local.url("/api/user/me"), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["user_name"], "alice@example.com");
    // The forwarded header still wins.
    assert_eq!(
        get_as(&local.url("/api/user/me"), scim::BOB_ADMIN).json()["user_name"],
        "bob@example.com"
    );

    // Inside Apps it is never used. (The test server binds 127.0.0.1:0 itself.)
    let apps = TestServer::with_workspace(
        &fake,
        &[
            ("DATABRICKS_TOKEN", scim::ALICE),
            ("DATABRICKS_APP_PORT", "8000"),
        ],
    );
    assert_eq!(get(&apps.url("/api/user/me"), &[]).code(), "AUTH_MISSING");
}
