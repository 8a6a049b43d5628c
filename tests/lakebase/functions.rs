//! Preferences, usage events and usage count against a real database: alice/bob isolation,
//! status codes, every validation problem listed, and nothing stored on bad input.

use super::server_on;
use crate::support::db::TestDb;
use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::{get_as, post_json, send, TestServer};
use serde_json::json;
use shared::util;
use time::{Duration, OffsetDateTime};

fn delete_as(url: &str, token: &str) -> crate::support::Reply {
    send("DELETE", url, &[("X-Forwarded-Access-Token", token)], None)
}

#[test]
fn preferences_create_update_list_delete_per_user() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = server_on(&fake, &db);
    let url = server.url("/api/preferences");

    let created = post_json(
        &url,
        scim::ALICE,
        &json!({"preference_key": "theme", "preference_value": {"mode": "dark"}}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let row = created.json();
    assert_eq!(row["preference_key"], "theme");
    assert_eq!(row["preference_value"], json!({"mode": "dark"}));
    for t in ["created_at", "updated_at"] {
        let s = row[t].as_str().unwrap();
        assert!(
            s.ends_with('Z') && util::parse_rfc3339(s).is_some(),
            "{t}: {s}"
        );
    }
    let updated = post_json(
        &url,
        scim::ALICE,
        &json!({"preference_key": "theme", "preference_value": {"mode": "light"}}),
    );
    assert_eq!(updated.status, 200, "an update answers 200");
    assert_eq!(updated.json()["created_at"], row["created_at"]);
    assert_eq!(updated.json()["preference_value"]["mode"], "light");
    assert_eq!(
        post_json(
            &url,
            scim::ALICE,
            &json!({"preference_key": "favorite_tables", "preference_value": {"t": ["a.b.c"]}})
        )
        .status,
        201
    );
    // Bob has the same key, his own row.
    assert_eq!(
        post_json(
            &url,
            scim::BOB_ADMIN,
            &json!({"preference_key": "theme", "preference_value": {"mode": "bob"}})
        )
        .status,
        201
    );

    let alice = get_as(&url, scim::ALICE).json();
    let keys: Vec<&str> = alice
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["preference_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["favorite_tables", "theme"], "own rows, by key");
    assert_eq!(alice[1]["preference_value"]["mode"], "light");
    let one = get_as(&format!("{url}?preference_key=theme"), scim::BOB_ADMIN).json();
    assert_eq!(
        one,
        json!([{"preference_key": "theme", "preference_value": {"mode": "bob"}, "created_at": one[0]["created_at"], "updated_at": one[0]["updated_at"]}])
    );
    assert_eq!(get_as(&url, scim::CAROL).json(), json!([]));
    assert_eq!(
        get_as(&format!("{url}?preference_key=Bad-Key"), scim::ALICE).code(),
        "INVALID_REQUEST"
    );

    // Carol cannot delete Alice's row; Alice can, once.
    let r = delete_as(&server.url("/api/preferences/theme"), scim::CAROL);
    assert_eq!((r.status, r.code().as_str()), (404, "PREFERENCE_NOT_FOUND"));
    let r = delete_as(&server.url("/api/preferences/theme"), scim::ALICE);
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(
        delete_as(&server.url("/api/preferences/theme"), scim::ALICE).status,
        404
    );
    assert_eq!(
        delete_as(&server.url("/api/preferences/NOT%20OK"), scim::ALICE).status,
        400
    );
    assert_eq!(
        db.count("SELECT count(*) FROM user_preferences WHERE user_id = 'bob@example.com'"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM user_preferences WHERE user_id = 'alice@example.com'"),
        1
    );
    // Unauthenticated: 401 before anything else.
    assert_eq!(send("GET", &url, &[], None).code(), "AUTH_MISSING");
}

#[test]
fn bad_preferences_are_refused_and_nothing_is_stored() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = server_on(&fake, &db);
    let url = server.url("/api/preferences");

    let r = post_json(
        &url,
        scim::ALICE,
        &json!({"preference_key": "Bad Key!", "preference_value": "text", "extra": 1}),
    );
    assert_eq!((r.status, r.code().as_str()), (422, "VALIDATION_FAILED"));
    let fields: Vec<String> = r.json()["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        ["extra", "preference_key", "preference_value"],
        "every problem listed"
    );
    let r = post_json(
        &url,
        scim::ALICE,
        &json!({"preference_key": "k", "preference_value": [1, 2]}),
    );
    assert_eq!(r.status, 422, "an array is not an object");
    let r = post_json(
        &url,
        scim::ALICE,
        &json!({"preference_key": format!("a{}", "b".repeat(100)), "preference_value": {}}),
    );
    assert_eq!(r.status, 422, "101-character key");
    let big =
        json!({"preference_key": "big", "preference_value": {"blob": "x".repeat(100 * 1024)}});
    let r = post_json(&url, scim::ALICE, &big);
    assert_eq!((r.status, r.code().as_str()), (413, "PAYLOAD_TOO_LARGE"));
    let r = send(
        "POST",
        &url,
        &[
            ("X-Forwarded-Access-Token", scim::ALICE),
            ("Content-Type", "application/json"),
        ],
        Some(b"{not json"),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_REQUEST"));
    let r = send(
        "POST",
        &url,
        &[
            ("X-Forwarded-Access-Token", scim::ALICE),
            ("Content-Type", "text/plain"),
        ],
        Some(b"{}"),
    );
    assert_eq!(r.status, 415);
    assert_eq!(
        db.count("SELECT count(*) FROM user_preferences"),
        0,
        "nothing stored"
    );
    let ok = json!({"preference_key": "fits", "preference_value": {"blob": "x".repeat(100 * 1024 - 11)}});
    assert_eq!(
        post_json(&url, scim::ALICE, &ok).status,
        201,
        "exactly 100 KiB fits"
    );
}

fn event(kind: &str, at: OffsetDateTime) -> serde_json::Value {
    json!({"event_type": kind, "timestamp": util::rfc3339(at), "page_name": "home", "element_id": null, "success": true, "metadata": {"k": 1}})
}

#[test]
fn usage_events_are_stored_all_or_nothing_and_counted_per_user() {
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = server_on(&fake, &db);
    let url = server.url("/api/v1/metrics/usage-events");
    let now = OffsetDateTime::now_utc();

    let batch = json!({"events": (0..250).map(|i| event(if i % 2 == 0 { "page_view" } else { "click" }, now - Duration::minutes(i))).collect::<Vec<_>>()});
    let r = post_json(&url, scim::ALICE, &batch);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json(), json!({"accepted": 250}));
    // sendBeacon: text/plain, and an event 2 days old.
    let beacon = json!({"events": [event("page_view", now - Duration::days(2))]}).to_string();
    let r = send(
        "POST",
        &url,
        &[
            ("X-Forwarded-Access-Token", scim::BOB_ADMIN),
            ("Content-Type", "text/plain;charset=UTF-8"),
        ],
        Some(beacon.as_bytes()),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(
        db.sql("SELECT user_id, event_type, page_name, element_id IS NULL, success, metadata::text FROM usage_events WHERE user_id = 'bob@example.com'"),
        "bob@example.com|page_view|home|t|t|{\"k\": 1}"
    );

    // Bad batches: nothing stored.
    let stored = db.count("SELECT count(*) FROM usage_events");
    let mut one_bad = batch["events"].as_array().unwrap()[..10].to_vec();
    one_bad[7]["event_type"] = json!("Not Valid");
    let r = post_json(&url, scim::ALICE, &json!({"events": one_bad}));
    assert_eq!((r.status, r.code().as_str()), (422, "VALIDATION_FAILED"));
    assert_eq!(
        r.json()["details"]["errors"][0]["field"],
        "events[7].event_type"
    );
    let r = post_json(&url, scim::ALICE, &json!({"events": []}));
    assert_eq!((r.status, r.code().as_str()), (422, "VALIDATION_FAILED"));
    let too_many = json!({"events": (0..1001).map(|_| event("click", now)).collect::<Vec<_>>()});
    let r = post_json(&url, scim::ALICE, &too_many);
    assert_eq!((r.status, r.code().as_str()), (413, "BATCH_TOO_LARGE"));
    let r = post_json(
        &url,
        scim::ALICE,
        &json!({"events": [{"event_type": "click", "timestamp": util::rfc3339(now + Duration::minutes(10))}]}),
    );
    assert_eq!(
        r.json()["details"]["errors"][0]["field"],
        "events[0].timestamp"
    );
    let r = post_json(
        &url,
        scim::ALICE,
        &json!({"events": [{"event_type": "click", "timestamp": util::rfc3339(now), "user_id": "mallory@example.com"}]}),
    );
    assert_eq!(
        r.json()["details"]["errors"][0]["field"],
        "events[0].user_id",
        "user_id never comes from the body"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM usage_events"),
        stored,
        "nothing stored from bad batches"
    );
    let max = json!({"events": (0..1000).map(|_| event("click", now)).collect::<Vec<_>>()});
    assert_eq!(post_json(&url, scim::CAROL, &max).json()["accepted"], 1000);

    // Counts: own events only, in the time range.
    let count = |token: &str, range: &str| {
        get_as(
            &server.url(&format!("/api/v1/metrics/usage/count{range}")),
            token,
        )
    };
    let alice = count(scim::ALICE, "").json();
    assert_eq!(alice["count"], 250);
    assert_eq!(alice["time_range"], "24h");
    let (start, end) = (
        util::parse_rfc3339(alice["start_time"].as_str().unwrap()).unwrap(),
        util::parse_rfc3339(alice["end_time"].as_str().unwrap()).unwrap(),
    );
    assert_eq!(end - start, Duration::hours(24));
    assert_eq!(
        count(scim::BOB_ADMIN, "").json()["count"],
        0,
        "bob's event is 2 days old"
    );
    assert_eq!(count(scim::BOB_ADMIN, "?time_range=7d").json()["count"], 1);
    assert_eq!(count(scim::CAROL, "?time_range=90d").json()["count"], 1000);
    let r = count(scim::ALICE, "?time_range=1y");
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_REQUEST"));
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("24h, 7d, 30d, 90d"));
}

#[test]
fn without_lakebase_database_functions_answer_503_and_the_rest_works() {
    let fake = FakeWorkspace::start();
    let server = TestServer::with_workspace(&fake, &[]);
    let now = util::now_rfc3339();
    let calls = [
        get_as(&server.url("/api/preferences"), scim::ALICE),
        post_json(
            &server.url("/api/preferences"),
            scim::ALICE,
            &json!({"preference_key": "k", "preference_value": {}}),
        ),
        delete_as(&server.url("/api/preferences/k"), scim::ALICE),
        post_json(
            &server.url("/api/v1/metrics/usage-events"),
            scim::ALICE,
            &json!({"events": [{"event_type": "click", "timestamp": now}]}),
        ),
        get_as(&server.url("/api/v1/metrics/usage/count"), scim::ALICE),
    ];
    for r in calls {
        assert_eq!(
            (r.status, r.code().as_str()),
            (503, "LAKEBASE_NOT_CONFIGURED"),
            "{}",
            r.text()
        );
    }
    assert_eq!(get_as(&server.url("/api/user/me"), scim::ALICE).status, 200);
    assert_eq!(get_as(&server.url("/ready"), "").status, 200);
    let metrics = get_as(&server.url("/metrics"), scim::ALICE).text();
    assert!(
        metrics.contains("brickbox_metrics_collection_enabled 0"),
        "{metrics}"
    );
    assert!(metrics.contains("brickbox_metrics_queue_depth 0"));
}

#[test]
fn a_configured_but_unreachable_database_fails_fast_and_keeps_ready_503() {
    let fake = FakeWorkspace::start();
    // Nothing listens on port 1.
    let server = TestServer::with_workspace(
        &fake,
        &[(
            "DATABASE_URL",
            "postgres://app:pw@127.0.0.1:1/x?sslmode=disable",
        )],
    );
    assert!(super::eventually(
        std::time::Duration::from_secs(10),
        || { get_as(&server.url("/health"), "").json()["lakebase"] == "unavailable" }
    ));
    let health = get_as(&server.url("/health"), "").json();
    assert_eq!(
        (health["status"].as_str(), health["lakebase"].as_str()),
        (Some("degraded"), Some("unavailable"))
    );
    let r = get_as(&server.url("/ready"), "");
    assert_eq!(r.status, 503, "migrations have not run");
    let started = std::time::Instant::now();
    let r = get_as(&server.url("/api/preferences"), scim::ALICE);
    assert_eq!((r.status, r.code().as_str()), (503, "DATABASE_UNAVAILABLE"));
    assert!(r.json()["retry_after"].as_u64().is_some());
    assert!(r.header("retry-after").is_some());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "fails fast: {:?}",
        started.elapsed()
    );
    assert!(
        !r.text().contains("pw@"),
        "no connection string in the answer"
    );
    assert_eq!(get_as(&server.url("/api/user/me"), scim::ALICE).status, 200);
}

#[test]
fn model_serving_table_helpers_write_and_read_per_user() {
    use shared::db::logs::{
        insert_inference_log, insert_schema_detection, list_inference_logs, NewInferenceLog,
        NewSchemaDetection,
    };
    let fake = FakeWorkspace::start();
    let db = TestDb::create();
    let server = server_on(&fake, &db);
    let database = server.app.db.clone().expect("configured");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = database.get().await.expect("a connection");
        let t0 = OffsetDateTime::now_utc() - Duration::minutes(10);
        for i in 0..5i64 {
            let inputs = json!({"messages": [{"role": "user", "content": format!("q{i}")}]});
            let predictions = json!({"choices": [i]});
            let id = insert_inference_log(
                &client,
                &NewInferenceLog {
                    request_id: &format!("req-{i}"),
                    endpoint_name: "chat",
                    user_id: if i == 4 {
                        "bob@example.com"
                    } else {
                        "alice@example.com"
                    },
                    status: if i == 2 { "FAILURE" } else { "SUCCESS" },
                    inputs: Some(&inputs),
                    predictions: (i != 2).then_some(&predictions),
                    error_message: (i == 2).then_some("model said no"),
                    execution_time_ms: Some(100 + i),
                    created_at: t0 + Duration::minutes(i),
                    completed_at: Some(t0 + Duration::minutes(i) + Duration::seconds(1)),
                },
            )
            .await
            .expect("insert");
            assert!(id > 0);
        }
        let (page, total) = list_inference_logs(&client, "alice@example.com", 2, 0)
            .await
            .unwrap();
        assert_eq!(total, 4);
        let ids: Vec<&str> = page.iter().map(|l| l.request_id.as_str()).collect();
        assert_eq!(ids, ["req-3", "req-2"], "newest first");
        assert_eq!(page[1].status, "FAILURE");
        assert_eq!(page[1].predictions, None);
        assert_eq!(page[1].error_message.as_deref(), Some("model said no"));
        assert!(page[0].created_at.ends_with('Z'));
        let (past_end, total) = list_inference_logs(&client, "alice@example.com", 10, 50)
            .await
            .unwrap();
        assert_eq!(
            (past_end.len(), total),
            (0, 4),
            "the total is known past the last page"
        );
        let id = insert_schema_detection(
            &client,
            &NewSchemaDetection {
                endpoint_name: "chat",
                user_id: "alice@example.com",
                detected_type: "FOUNDATION_MODEL",
                status: "SUCCESS",
                latency_ms: 12,
                error_message: None,
                correlation_id: Some("cid-1"),
            },
        )
        .await
        .unwrap();
        assert!(id > 0);
    });
    assert_eq!(db.sql("SELECT endpoint_name, detected_type, status, latency_ms, correlation_id FROM schema_detection_events"), "chat|FOUNDATION_MODEL|SUCCESS|12|cid-1");
}
