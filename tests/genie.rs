//! Genie conversations against the real server and the fake workspace: new and continued
//! conversations (and which upstream call each makes), the order of the stream's events, the
//! typed result, FAILED, an expired result re-run once, ids checked before any upstream call,
//! 404/403 codes, rate limits before and after the stream started, the caller's token on every
//! upstream call, the timeout, a client that leaves, and the poll figures on the real schedule.

use crate::support::fake_workspace::genie::{FINANCE, OPS, SALES};
use crate::support::fake_workspace::{scim, FakeWorkspace};
use crate::support::{get_as, TestServer};
use serde_json::{json, Value};
use shared::config::Config;
use shared::databricks::genie::PollSchedule;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

const FAST: PollSchedule = PollSchedule {
    first: Duration::from_millis(20),
    max: Duration::from_millis(50),
    growth_percent: 150,
    deadline: Duration::from_secs(10),
};

fn server(fake: &FakeWorkspace, env: &[(&str, &str)], schedule: PollSchedule) -> TestServer {
    let url = fake.url();
    let mut vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert("DATABRICKS_HOST".into(), url);
    let mut config = Config::from_lookup(|k| vars.get(k).cloned()).expect("valid configuration");
    config.genie_poll = schedule;
    TestServer::start_config(config, functions::ALL)
}

fn setup(schedule: PollSchedule) -> (FakeWorkspace, TestServer) {
    let fake = FakeWorkspace::start();
    let server = server(&fake, &[], schedule);
    (fake, server)
}

/// One event as the client saw it, and when.
#[derive(Debug, Clone)]
struct Event {
    name: String,
    data: Value,
    at: Instant,
}

/// The answer to a message POST: the status, and either the events or the JSON error.
struct Streamed {
    status: u16,
    content_type: String,
    events: Vec<Event>,
    error: Value,
}

impl Streamed {
    fn names(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.name.as_str()).collect()
    }

    fn first(&self, name: &str) -> &Event {
        self.events
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no {name} event in {:?}", self.names()))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POST a question and read the SSE stream to its end (or `stop_after` events).
fn ask_with(
    server: &TestServer,
    space: &str,
    token: &str,
    body: Value,
    stop_after: Option<usize>,
) -> Streamed {
    let url = server.url(&format!("/api/genie/spaces/{space}/messages"));
    let request = ureq::http::Request::builder()
        .method("POST")
        .uri(url)
        .header("X-Forwarded-Access-Token", token)
        .header("Content-Type", "application/json")
        .body(body.to_string().into_bytes())
        .expect("request builds");
    let response = agent().run(request).expect("request runs");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut reader = BufReader::new(response.into_body().into_reader());
    if status != 200 {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut text);
        return Streamed {
            status,
            content_type,
            events: Vec::new(),
            error: serde_json::from_str(&text).unwrap_or(Value::Null),
        };
    }
    let mut events = Vec::new();
    let mut name = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let l = line.trim_end_matches('\n');
        if let Some(n) = l.strip_prefix("event: ") {
            name = n.to_string();
        } else if let Some(d) = l.strip_prefix("data: ") {
            events.push(Event {
                name: std::mem::take(&mut name),
                data: serde_json::from_str(d).expect("one line of JSON"),
                at: Instant::now(),
            });
            if stop_after.is_some_and(|n| events.len() >= n) {
                break;
            }
        }
    }
    Streamed {
        status,
        content_type,
        events,
        error: Value::Null,
    }
}

fn ask(server: &TestServer, space: &str, token: &str, body: Value) -> Streamed {
    ask_with(server, space, token, body, None)
}

/// Every Genie (and SQL) upstream call made, by path, with the tokens used.
fn genie_calls(fake: &FakeWorkspace) -> Vec<(String, String, usize)> {
    let mut v: Vec<(String, String, usize)> = fake
        .state()
        .calls
        .iter()
        .filter(|((p, _), _)| p.starts_with("/api/2.0/genie") || p.starts_with("/api/2.0/sql"))
        .map(|((p, t), n)| (p.clone(), t.clone(), *n))
        .collect();
    v.sort();
    v
}

fn calls_ending(fake: &FakeWorkspace, suffix: &str) -> usize {
    genie_calls(fake)
        .iter()
        .filter(|(p, _, _)| p.ends_with(suffix))
        .map(|(_, _, n)| n)
        .sum()
}

fn expected_result() -> Value {
    json!({
        "columns": [
            {"name": "id", "type_name": "LONG"}, {"name": "amount", "type_name": "DECIMAL"},
            {"name": "price", "type_name": "DOUBLE"}, {"name": "active", "type_name": "BOOLEAN"},
            {"name": "customer", "type_name": "STRING"}, {"name": "created_at", "type_name": "TIMESTAMP"},
        ],
        "rows": [
            [1, "10.50", 1.25, true, "customer 1", "2026-01-01T10:00:00.000Z"],
            [2, "20.50", null, false, "customer 2", "2026-01-02T10:00:00.000Z"],
            [3, "30.50", 3.25, true, null, "2026-01-03T10:00:00.000Z"],
        ],
        "row_count": 3,
        "truncated": false,
    })
}

#[test]
fn a_new_conversation_streams_status_then_message_then_the_typed_result() {
    let (fake, server) = setup(FAST);
    let s = ask(
        &server,
        SALES,
        scim::ALICE,
        json!({"content": "Top customers?"}),
    );
    assert_eq!(s.status, 200);
    assert_eq!(s.content_type, "text/event-stream; charset=utf-8");
    assert_eq!(
        s.names(),
        ["status", "status", "status", "message", "result"],
        "{:?}",
        s.events
    );
    let statuses: Vec<&str> = s.events[..3]
        .iter()
        .map(|e| e.data["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["SUBMITTED", "FETCHING_METADATA", "EXECUTING_QUERY"]
    );
    let cid = s.events[0].data["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mid = s.events[0].data["message_id"].as_str().unwrap().to_string();
    assert!(
        s.events
            .iter()
            .take(4)
            .all(|e| e.data["conversation_id"] == cid.as_str()
                && e.data["message_id"] == mid.as_str())
    );
    let message = &s.first("message").data;
    assert_eq!(
        *message,
        json!({
            "conversation_id": cid, "message_id": mid, "status": "COMPLETED",
            "text": "Customer 3 led with 30.50.",
            "query": {"title": "Top customers by revenue", "description": "Sum of order amount per customer",
                "sql": "SELECT id, amount, price, active, customer, created_at FROM main.sales.orders LIMIT 3",
                "statement_id": format!("stmt-{mid}")},
            "suggested_questions": ["How did that compare to last month?", "Which region grew most?"],
            "error": null,
        })
    );
    assert_eq!(s.first("result").data, expected_result());

    // Upstream: one start-conversation, three polls, one result; nothing else, all as Alice.
    let base = format!("/api/2.0/genie/spaces/{SALES}");
    let message_path = format!("{base}/conversations/{cid}/messages/{mid}");
    assert_eq!(
        fake.calls(&format!("{base}/start-conversation"), scim::ALICE),
        1
    );
    assert_eq!(fake.calls(&message_path, scim::ALICE), 3);
    assert_eq!(
        fake.calls(
            &format!("{message_path}/attachments/{mid}-q/query-result"),
            scim::ALICE
        ),
        1
    );
    assert_eq!(calls_ending(&fake, "/messages"), 0, "no continue call");
    let calls = genie_calls(&fake);
    assert_eq!(calls.iter().map(|c| c.2).sum::<usize>(), 5, "{calls:?}");
    assert!(calls.iter().all(|(_, t, _)| t == scim::ALICE), "{calls:?}");

    // The same result through the result function (typed the same way).
    let r = get_as(
        &server.url(&format!(
            "/api/genie/spaces/{SALES}/conversations/{cid}/messages/{mid}/result"
        )),
        scim::ALICE,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), expected_result());
}

#[test]
fn a_continued_conversation_posts_to_it_and_lists_its_messages_oldest_first() {
    let (fake, server) = setup(FAST);
    let first = ask(
        &server,
        SALES,
        scim::ALICE,
        json!({"content": "hello there"}),
    );
    assert_eq!(first.names(), ["status", "message"], "{:?}", first.events);
    assert_eq!(first.events[0].data["status"], "COMPLETED");
    assert_eq!(first.first("message").data["query"], Value::Null);
    let cid = first.events[0].data["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ids = vec![first.events[0].data["message_id"]
        .as_str()
        .unwrap()
        .to_string()];
    for question in ["hello again", "Top customers?"] {
        std::thread::sleep(Duration::from_millis(5));
        let s = ask(
            &server,
            SALES,
            scim::ALICE,
            json!({"content": question, "conversation_id": cid}),
        );
        assert_eq!(s.status, 200);
        assert_eq!(s.events[0].data["conversation_id"], cid.as_str());
        assert_eq!(
            s.events.last().unwrap().name,
            if question.starts_with("hello") {
                "message"
            } else {
                "result"
            }
        );
        ids.push(s.events[0].data["message_id"].as_str().unwrap().to_string());
    }
    let base = format!("/api/2.0/genie/spaces/{SALES}");
    assert_eq!(fake.total_calls(&format!("{base}/start-conversation")), 1);
    assert_eq!(
        fake.calls(&format!("{base}/conversations/{cid}/messages"), scim::ALICE),
        2
    );

    // Three messages over two upstream pages, oldest first.
    let r = get_as(
        &server.url(&format!(
            "/api/genie/spaces/{SALES}/conversations/{cid}/messages"
        )),
        scim::ALICE,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let got: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
    let m = &list[0];
    assert_eq!(m["content"], "hello there");
    assert_eq!(m["status"], "COMPLETED");
    assert_eq!(m["text"], "Customer 3 led with 30.50.");
    assert_eq!(m["error"], Value::Null);
    assert!(m["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(list[2]["query"]["statement_id"], format!("stmt-{}", ids[2]));

    // Conversations: three more, newest first, over upstream pages of two.
    let mut cids = vec![cid];
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(5));
        let s = ask(&server, SALES, scim::ALICE, json!({"content": "hello"}));
        cids.push(
            s.events[0].data["conversation_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let r = get_as(
        &server.url(&format!("/api/genie/spaces/{SALES}/conversations")),
        scim::ALICE,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let got: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap().to_string())
        .collect();
    cids.reverse();
    assert_eq!(got, cids);
    assert_eq!(r.json()[2]["title"], "hello there");
    // Bob has none of them.
    let r = get_as(
        &server.url(&format!("/api/genie/spaces/{SALES}/conversations")),
        scim::BOB_ADMIN,
    );
    assert_eq!(r.json(), json!([]));
}

#[test]
fn a_failed_message_is_an_ordinary_message_event_with_its_error() {
    let (_fake, server) = setup(FAST);
    for (question, kind) in [
        ("please fail", "SQL_EXECUTION_EXCEPTION"),
        ("later rate", "RATE_LIMIT_EXCEEDED_GENERIC_EXCEPTION"),
    ] {
        let s = ask(&server, SALES, scim::ALICE, json!({"content": question}));
        assert_eq!(s.status, 200);
        assert_eq!(s.names(), ["status", "status", "message"], "{:?}", s.events);
        let m = &s.first("message").data;
        assert_eq!(m["status"], "FAILED");
        assert_eq!(m["error"]["type"], kind);
        assert_eq!(
            m["error"]["message"],
            "Genie could not answer this question."
        );
        assert_eq!(m["suggested_questions"], json!([]));
    }
}

#[test]
fn an_expired_result_is_run_again_once() {
    let (fake, server) = setup(FAST);
    // Expired by status: no query-result read, one execute-query.
    let s = ask(
        &server,
        SALES,
        scim::ALICE,
        json!({"content": "expired numbers"}),
    );
    assert_eq!(
        s.names(),
        ["status", "status", "message", "result"],
        "{:?}",
        s.events
    );
    assert_eq!(s.first("message").data["status"], "QUERY_RESULT_EXPIRED");
    assert_eq!(s.first("result").data, expected_result());
    let mid = s.events[0].data["message_id"].as_str().unwrap().to_string();
    assert_eq!(fake.state().genie.executed.get(&mid), Some(&1));
    assert_eq!(calls_ending(&fake, "/query-result"), 0);

    // Expired when read: one query-result, then one execute-query.
    let s = ask(
        &server,
        SALES,
        scim::ALICE,
        json!({"content": "stale numbers"}),
    );
    assert_eq!(s.first("result").data, expected_result());
    let mid2 = s.events[0].data["message_id"].as_str().unwrap().to_string();
    let cid2 = s.events[0].data["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fake.state().genie.executed.get(&mid2), Some(&1));
    assert_eq!(calls_ending(&fake, "/query-result"), 1);

    // The result function does the same: one more run for one more read.
    let r = get_as(
        &server.url(&format!(
            "/api/genie/spaces/{SALES}/conversations/{cid2}/messages/{mid2}/result"
        )),
        scim::ALICE,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), expected_result());
    assert_eq!(fake.state().genie.executed.get(&mid2), Some(&2));
}

#[test]
fn bad_ids_answer_400_before_any_upstream_call() {
    let (fake, server) = setup(FAST);
    let long = "a".repeat(65);
    for space in ["a.b", "a%20b", long.as_str(), "%C3%A9"] {
        let s = ask(&server, space, scim::ALICE, json!({"content": "x"}));
        assert_eq!(
            (s.status, s.error["error_code"].as_str()),
            (400, Some("INVALID_REQUEST")),
            "{space}"
        );
        for path in [
            format!("/api/genie/spaces/{space}/conversations"),
            format!("/api/genie/spaces/{space}/conversations/c1/messages"),
        ] {
            let r = get_as(&server.url(&path), scim::ALICE);
            assert_eq!(
                (r.status, r.code()),
                (400, "INVALID_REQUEST".into()),
                "{path}"
            );
        }
    }
    let s = ask(
        &server,
        SALES,
        scim::ALICE,
        json!({"content": "x", "conversation_id": "c/1"}),
    );
    assert_eq!(s.status, 400);
    for path in [
        format!("/api/genie/spaces/{SALES}/conversations/c.1/messages"),
        format!("/api/genie/spaces/{SALES}/conversations/c1/messages/m.1/result"),
    ] {
        let r = get_as(&server.url(&path), scim::ALICE);
        assert_eq!(
            (r.status, r.code()),
            (400, "INVALID_REQUEST".into()),
            "{path}"
        );
    }
    let s = ask(&server, SALES, scim::ALICE, json!({"content": ""}));
    assert_eq!(
        (s.status, s.error["details"]["errors"][0]["field"].as_str()),
        (422, Some("content"))
    );
    assert_eq!(genie_calls(&fake), vec![], "no upstream call");
}

#[test]
fn unknown_spaces_hidden_spaces_and_other_users_threads() {
    let (_fake, server) = setup(FAST);
    let s = ask(
        &server,
        "no_such_space",
        scim::ALICE,
        json!({"content": "x"}),
    );
    assert_eq!(
        (s.status, s.error["error_code"].as_str()),
        (404, Some("GENIE_SPACE_NOT_FOUND"))
    );
    let r = get_as(
        &server.url("/api/genie/spaces/no_such_space/conversations"),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code()), (404, "GENIE_SPACE_NOT_FOUND".into()));
    let r = get_as(
        &server.url("/api/genie/spaces/no_such_space/conversations/c1/messages"),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code()), (404, "GENIE_SPACE_NOT_FOUND".into()));

    let s = ask(&server, FINANCE, scim::CAROL, json!({"content": "x"}));
    assert_eq!(
        (s.status, s.error["error_code"].as_str()),
        (403, Some("PERMISSION_DENIED"))
    );
    let r = get_as(
        &server.url(&format!("/api/genie/spaces/{FINANCE}/conversations")),
        scim::CAROL,
    );
    assert_eq!((r.status, r.code()), (403, "PERMISSION_DENIED".into()));

    // Alice's conversation is not Bob's: 404 everywhere, as is an unknown one.
    let a = ask(
        &server,
        SALES,
        scim::ALICE,
        json!({"content": "Top customers?"}),
    );
    let cid = a.events[0].data["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mid = a.events[0].data["message_id"].as_str().unwrap().to_string();
    for token in [scim::BOB_ADMIN, scim::ALICE] {
        let conv = if token == scim::ALICE {
            "unknown_conv"
        } else {
            cid.as_str()
        };
        let r = get_as(
            &server.url(&format!(
                "/api/genie/spaces/{SALES}/conversations/{conv}/messages"
            )),
            token,
        );
        assert_eq!((r.status, r.code()), (404, "NOT_FOUND".into()), "{token}");
        let r = get_as(
            &server.url(&format!(
                "/api/genie/spaces/{SALES}/conversations/{conv}/messages/{mid}/result"
            )),
            token,
        );
        assert_eq!((r.status, r.code()), (404, "NOT_FOUND".into()), "{token}");
        let s = ask(
            &server,
            SALES,
            token,
            json!({"content": "more", "conversation_id": conv}),
        );
        assert_eq!(
            (s.status, s.error["error_code"].as_str()),
            (404, Some("NOT_FOUND")),
            "{token}"
        );
    }
    let r = get_as(
        &server.url(&format!(
            "/api/genie/spaces/{SALES}/conversations/{cid}/messages/unknown_msg/result"
        )),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND".into()));
    // A message without a query has no result.
    let t = ask(&server, SALES, scim::ALICE, json!({"content": "hello"}));
    let (tc, tm) = (
        t.events[0].data["conversation_id"].as_str().unwrap(),
        t.events[0].data["message_id"].as_str().unwrap(),
    );
    let r = get_as(
        &server.url(&format!(
            "/api/genie/spaces/{SALES}/conversations/{tc}/messages/{tm}/result"
        )),
        scim::ALICE,
    );
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND".into()));
}

#[test]
fn rate_limits_before_the_stream_are_json_and_after_it_are_waited_out() {
    let (fake, server) = setup(FAST);
    let start = format!("/api/2.0/genie/spaces/{SALES}/start-conversation");
    // One 429 (Retry-After: 1): retried, and the stream goes ahead.
    fake.state().genie.create_429 = 1;
    let t = Instant::now();
    let s = ask(&server, SALES, scim::ALICE, json!({"content": "hello"}));
    assert_eq!(s.status, 200);
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(fake.calls(&start, scim::ALICE), 2);

    // Refused every time: 429 RATE_LIMITED with retry_after, no stream.
    fake.state().genie.create_429 = 10;
    fake.state().genie.create_retry_after = 0;
    let s = ask(&server, SALES, scim::ALICE, json!({"content": "hello"}));
    assert_eq!(
        (s.status, s.error["error_code"].as_str()),
        (429, Some("RATE_LIMITED")),
        "{}",
        s.error
    );
    assert!(s.error["retry_after"].as_u64().unwrap() >= 1);
    assert!(s.content_type.starts_with("application/json"));
    assert_eq!(fake.calls(&start, scim::ALICE), 5, "three attempts");
    fake.state().genie.create_429 = 0;

    // Created already FAILED for a rate limit: 429 too.
    let s = ask(
        &server,
        SALES,
        scim::ALICE,
        json!({"content": "rate limit me"}),
    );
    assert_eq!(
        (s.status, s.error["error_code"].as_str()),
        (429, Some("RATE_LIMITED"))
    );
    assert_eq!(s.error["retry_after"], 60);

    // A 429 while polling is waited out (Retry-After: 1) and the answer still comes.
    fake.state().genie.poll_429 = 1;
    let s = ask(
        &server,
        SALES,
        scim::ALICE,
        json!({"content": "Top customers?"}),
    );
    assert_eq!(
        s.names(),
        ["status", "status", "status", "message", "result"],
        "{:?}",
        s.events
    );
    let gap = s.events[1].at.duration_since(s.events[0].at);
    assert!(gap >= Duration::from_millis(900), "waited out: {gap:?}");
}

#[test]
fn a_message_that_never_finishes_ends_with_genie_timeout() {
    let fake = FakeWorkspace::start();
    let server = server(
        &fake,
        &[],
        PollSchedule {
            deadline: Duration::from_millis(400),
            ..FAST
        },
    );
    let s = ask(
        &server,
        SALES,
        scim::ALICE,
        json!({"content": "never mind"}),
    );
    assert_eq!(s.names(), ["status", "status", "error"], "{:?}", s.events);
    let e = &s.first("error").data;
    assert_eq!(e["error_code"], "GENIE_TIMEOUT");
    assert!(e["correlation_id"].as_str().is_some());
}

#[test]
fn the_poller_stops_when_the_client_goes_away() {
    let (fake, server) = setup(FAST);
    let s = ask_with(
        &server,
        SALES,
        scim::ALICE,
        json!({"content": "never ends"}),
        Some(1),
    );
    let cid = s.events[0].data["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mid = s.events[0].data["message_id"].as_str().unwrap().to_string();
    drop(s);
    let path = format!("/api/2.0/genie/spaces/{SALES}/conversations/{cid}/messages/{mid}");
    std::thread::sleep(Duration::from_millis(500));
    let settled = fake.calls(&path, scim::ALICE);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fake.calls(&path, scim::ALICE), settled, "polling stopped");
    assert!(settled < 15, "{settled} polls");
}

#[test]
fn spaces_configured_first_then_the_rest_by_title_over_every_page() {
    let fake = FakeWorkspace::start();
    let server = server(
        &fake,
        &[(
            "DATABRICKS_GENIE_SPACE_ID",
            &format!("{FINANCE}, missing_space ,{SALES}"),
        )],
        FAST,
    );
    let r = get_as(&server.url("/api/genie/spaces"), scim::ALICE);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!([
            {"space_id": FINANCE, "title": "Finance", "description": null, "configured": true},
            {"space_id": SALES, "title": "Sales", "description": "Orders and customers", "configured": true},
            {"space_id": OPS, "title": "Alpha Ops", "description": "Operations", "configured": false},
        ])
    );
    // Carol cannot see Finance: left out, not an error.
    let r = get_as(&server.url("/api/genie/spaces"), scim::CAROL);
    let carol = r.json();
    let ids: Vec<&str> = carol
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["space_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [SALES, OPS]);
    // Without configuration: every page (one of them empty) followed, by title.
    let plain = server_plain(&fake);
    let r = get_as(&plain.url("/api/genie/spaces"), scim::ALICE);
    let titles: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles, ["Alpha Ops", "Finance", "Sales"]);
    assert!(
        fake.calls("/api/2.0/genie/spaces", scim::ALICE) >= 4,
        "every page read"
    );
}

#[test]
fn at_most_the_newest_hundred_conversations_are_listed() {
    let (fake, server) = setup(FAST);
    let ids: Vec<String> = (0..105)
        .map(|i| {
            fake.state().genie.add_conversation(
                SALES,
                scim::ALICE,
                &format!("question {i}"),
                1_767_225_600_000 + i * 1000,
            )
        })
        .collect();
    fake.state()
        .genie
        .add_conversation(SALES, scim::BOB_ADMIN, "not Alice's", 1_767_300_000_000);
    let r = get_as(
        &server.url(&format!("/api/genie/spaces/{SALES}/conversations")),
        scim::ALICE,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let got: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = ids.iter().rev().take(100).map(String::as_str).collect();
    assert_eq!(got, want);
    assert_eq!(list[0]["title"], "question 104");
    assert_eq!(list[0]["created_at"], "2026-01-01T00:01:44Z");
    // Pages of two upstream: fifty pages for a hundred, no more.
    assert_eq!(
        fake.calls(
            &format!("/api/2.0/genie/spaces/{SALES}/conversations"),
            scim::ALICE
        ),
        50
    );
}

fn server_plain(fake: &FakeWorkspace) -> TestServer {
    server(fake, &[], FAST)
}

/// The real schedule (1 s, 1.5 s, 2.25 s, …) against a message Genie completes 3 s after its
/// creation: polls counted, and the delay from COMPLETED to the `message` event measured.
#[test]
fn on_the_real_schedule_polls_stay_under_one_a_second_and_the_answer_follows_one_interval() {
    let (fake, server) = setup(PollSchedule::DEFAULT);
    let s = ask(
        &server,
        SALES,
        scim::ALICE,
        json!({"content": "slow question"}),
    );
    assert_eq!(s.status, 200);
    let statuses: Vec<&str> = s
        .events
        .iter()
        .filter(|e| e.name == "status")
        .map(|e| e.data["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses[0], "SUBMITTED");
    assert_eq!(s.names().last(), Some(&"result"));
    let mid = s.events[0].data["message_id"].as_str().unwrap().to_string();
    let cid = s.events[0].data["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (created, genie_time) = {
        let state = fake.state();
        let m = state.genie.messages.get(&mid).unwrap();
        let done = state
            .genie
            .timeline
            .iter()
            .find(|(_, s)| *s == "COMPLETED")
            .unwrap()
            .0;
        (m.created, done)
    };
    let completed = created + genie_time;
    let message_at = s.first("message").at;
    // Poll k happens at the sum of the first k intervals; the one in effect at COMPLETED:
    let schedule = PollSchedule::DEFAULT;
    let mut t = Duration::ZERO;
    let mut k = 0;
    while t < genie_time {
        t += schedule.interval(k);
        k += 1;
    }
    let interval = schedule.interval(k - 1);
    let delay = message_at.duration_since(completed);
    let polls = fake.calls(
        &format!("/api/2.0/genie/spaces/{SALES}/conversations/{cid}/messages/{mid}"),
        scim::ALICE,
    );
    let results = calls_ending(&fake, "/query-result");
    let total: usize = genie_calls(&fake).iter().map(|c| c.2).sum();
    eprintln!(
        "FIGURES genie: Genie's own time {genie_time:?}; polls {polls}; result reads {results}; upstream calls in all {total} (with the creation); COMPLETED→message {delay:?}; interval in effect {interval:?}"
    );
    assert!(
        polls as f64 <= genie_time.as_secs_f64().ceil(),
        "{polls} polls in {genie_time:?}"
    );
    assert_eq!(results, 1);
    assert_eq!(total, 1 + polls + results);
    assert!(
        delay <= interval + Duration::from_millis(10),
        "{delay:?} > {interval:?} + 10 ms"
    );
}
