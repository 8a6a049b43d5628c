//! Genie (the Conversation API): spaces (one page each, with an empty page that still carries a
//! token), a space Carol cannot see (403 `PERMISSION_DENIED`), conversations owned by the token
//! that started them, and messages whose status moves over time — by the number of polls, or by
//! the time since creation — to `COMPLETED` with text, query and suggested-question attachments,
//! `FAILED` with an error type, or `QUERY_RESULT_EXPIRED`. Rate limits: 429 with `Retry-After`
//! on creation or on polls, and a message created already `FAILED` with
//! `RATE_LIMIT_EXCEEDED_GENERIC_EXCEPTION`.
//!
//! What a question does is chosen by its words (see `Kind::of`). Calls are counted per path and
//! token by the fake's router like every other surface.

use super::scim;
use super::{FakeRequest, FakeResponse};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const SALES: &str = "01sales_space";
pub const FINANCE: &str = "01finance_space";
pub const OPS: &str = "01ops_space";

/// What a question makes Genie do, from its words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Default: SUBMITTED → FETCHING_METADATA → EXECUTING_QUERY → COMPLETED over three polls,
    /// with a query, an answer text and suggested questions.
    Query,
    /// "hello": COMPLETED at once with text and suggested questions, no query.
    Text,
    /// "fail": ASKING_AI, then FAILED with `SQL_EXECUTION_EXCEPTION`.
    Fails,
    /// "expired": COMPLETED's query result has expired: status `QUERY_RESULT_EXPIRED`.
    Expired,
    /// "stale": status COMPLETED, but reading the result answers that it expired.
    Stale,
    /// "rate limit": created already FAILED with `RATE_LIMIT_EXCEEDED_GENERIC_EXCEPTION`.
    RateLimited,
    /// "later rate": ASKING_AI, then FAILED with a rate-limit type (an ordinary answer).
    LaterRateLimited,
    /// "never": ASKING_AI forever.
    Never,
    /// "slow": by time, not polls: see `GenieState::timeline`.
    Timed,
}

impl Kind {
    pub fn of(content: &str) -> Kind {
        let c = content.to_lowercase();
        let has = |w: &str| c.contains(w);
        if has("rate limit") {
            Kind::RateLimited
        } else if has("later rate") {
            Kind::LaterRateLimited
        } else if has("hello") {
            Kind::Text
        } else if has("fail") {
            Kind::Fails
        } else if has("expired") {
            Kind::Expired
        } else if has("stale") {
            Kind::Stale
        } else if has("never") {
            Kind::Never
        } else if has("slow") {
            Kind::Timed
        } else {
            Kind::Query
        }
    }

    /// Statuses by poll: `[0]` at creation, `[n]` at the n-th read (the last repeats).
    fn by_polls(self) -> &'static [&'static str] {
        match self {
            Kind::Query | Kind::Stale => &[
                "SUBMITTED",
                "FETCHING_METADATA",
                "EXECUTING_QUERY",
                "COMPLETED",
            ],
            Kind::Expired => &["SUBMITTED", "EXECUTING_QUERY", "QUERY_RESULT_EXPIRED"],
            Kind::Text => &["COMPLETED"],
            Kind::Fails | Kind::LaterRateLimited => &["SUBMITTED", "ASKING_AI", "FAILED"],
            Kind::RateLimited => &["FAILED"],
            Kind::Never | Kind::Timed => &["SUBMITTED", "ASKING_AI"],
        }
    }
}

pub struct FakeMessage {
    pub space_id: String,
    pub conversation_id: String,
    pub owner: String,
    pub content: String,
    pub kind: Kind,
    pub created: Instant,
    pub created_ms: i64,
    /// Reads of this message so far.
    pub polls: usize,
    /// When Genie's status first became final (time-based: the scheduled time).
    pub finished_at: Option<Instant>,
}

pub struct Conversation {
    pub space_id: String,
    pub owner: String,
    pub title: String,
    pub created_ms: i64,
    pub messages: Vec<String>,
}

pub struct GenieState {
    /// `(space_id, title, description, tokens that cannot see it)`.
    pub spaces: Vec<(String, String, Option<String>, Vec<String>)>,
    pub conversations: HashMap<String, Conversation>,
    pub messages: HashMap<String, FakeMessage>,
    /// The next this-many creations answer 429 with `Retry-After: create_retry_after`.
    pub create_429: usize,
    pub create_retry_after: u64,
    /// The next this-many message reads answer 429 with `Retry-After: poll_retry_after`.
    pub poll_429: usize,
    pub poll_retry_after: u64,
    /// `Kind::Timed`: the status from each offset after creation.
    pub timeline: Vec<(Duration, &'static str)>,
    /// `execute-query` calls per message id.
    pub executed: HashMap<String, usize>,
    next_id: u64,
}

impl Default for GenieState {
    fn default() -> GenieState {
        let space = |id: &str, title: &str, description: Option<&str>, hidden: &[&str]| {
            (
                id.to_string(),
                title.to_string(),
                description.map(str::to_string),
                hidden.iter().map(|t| t.to_string()).collect(),
            )
        };
        GenieState {
            spaces: vec![
                space(SALES, "Sales", Some("Orders and customers"), &[]),
                space(FINANCE, "Finance", None, &[scim::CAROL]),
                space(OPS, "Alpha Ops", Some("Operations"), &[]),
            ],
            conversations: HashMap::new(),
            messages: HashMap::new(),
            create_429: 0,
            create_retry_after: 1,
            poll_429: 0,
            poll_retry_after: 1,
            timeline: vec![
                (Duration::ZERO, "SUBMITTED"),
                (Duration::from_millis(500), "FETCHING_METADATA"),
                (Duration::from_millis(1500), "EXECUTING_QUERY"),
                (Duration::from_millis(3000), "COMPLETED"),
            ],
            executed: HashMap::new(),
            next_id: 0,
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl GenieState {
    /// Add a conversation without asking anything (for listing tests).
    pub fn add_conversation(
        &mut self,
        space_id: &str,
        owner: &str,
        title: &str,
        created_ms: i64,
    ) -> String {
        let id = self.id("conv");
        self.conversations.insert(
            id.clone(),
            Conversation {
                space_id: space_id.into(),
                owner: owner.into(),
                title: title.into(),
                created_ms,
                messages: Vec::new(),
            },
        );
        id
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("01f0{prefix}{:08}", self.next_id)
    }

    fn status(&self, m: &FakeMessage) -> &'static str {
        if m.kind == Kind::Timed {
            let elapsed = m.created.elapsed();
            return self
                .timeline
                .iter()
                .rev()
                .find(|(at, _)| *at <= elapsed)
                .map(|(_, s)| *s)
                .unwrap_or("SUBMITTED");
        }
        let statuses = m.kind.by_polls();
        statuses[m.polls.min(statuses.len() - 1)]
    }

    /// When a message reached its final status (`None` while it has not).
    pub fn finished_at(&self, message_id: &str) -> Option<Instant> {
        self.messages.get(message_id)?.finished_at
    }
}

const FINAL: [&str; 4] = ["COMPLETED", "FAILED", "CANCELLED", "QUERY_RESULT_EXPIRED"];

/// The query result: the same column types as the SQL fake's `orders` table.
pub fn result_columns() -> Vec<(&'static str, &'static str)> {
    vec![
        ("id", "LONG"),
        ("amount", "DECIMAL"),
        ("price", "DOUBLE"),
        ("active", "BOOLEAN"),
        ("customer", "STRING"),
        ("created_at", "TIMESTAMP"),
    ]
}

fn result_rows() -> Value {
    json!([
        [
            "1",
            "10.50",
            "1.25",
            "true",
            "customer 1",
            "2026-01-01T10:00:00.000Z"
        ],
        [
            "2",
            "20.50",
            null,
            "false",
            "customer 2",
            "2026-01-02T10:00:00.000Z"
        ],
        [
            "3",
            "30.50",
            "3.25",
            "true",
            null,
            "2026-01-03T10:00:00.000Z"
        ],
    ])
}

fn statement(id: &str) -> Value {
    json!({"statement_response": {
        "statement_id": id,
        "status": {"state": "SUCCEEDED"},
        "manifest": {
            "format": "JSON_ARRAY",
            "schema": {"column_count": 6, "columns": result_columns().iter().enumerate().map(|(i, (n, t))| json!({
                "name": n, "position": i, "type_name": t, "type_text": t.to_lowercase()})).collect::<Vec<_>>()},
            "total_chunk_count": 1, "total_row_count": 3, "truncated": false,
        },
        "result": {"chunk_index": 0, "row_offset": 0, "row_count": 3, "data_array": result_rows()},
    }})
}

fn render(state: &GenieState, id: &str, m: &FakeMessage) -> Value {
    let status = state.status(m);
    let mut v = json!({
        "message_id": id, "id": id, "conversation_id": m.conversation_id, "space_id": m.space_id,
        "user_id": 4839201174652210i64, "content": m.content, "status": status,
        "created_timestamp": m.created_ms, "last_updated_timestamp": now_ms(),
    });
    let with_query = matches!(
        m.kind,
        Kind::Query | Kind::Expired | Kind::Stale | Kind::Timed
    ) && matches!(
        status,
        "EXECUTING_QUERY" | "COMPLETED" | "QUERY_RESULT_EXPIRED"
    );
    let mut attachments = Vec::new();
    if with_query {
        attachments.push(json!({"attachment_id": format!("{id}-q"), "query": {
            "id": format!("{id}-q"), "title": "Top customers by revenue",
            "description": "Sum of order amount per customer",
            "query": "SELECT id, amount, price, active, customer, created_at FROM main.sales.orders LIMIT 3",
            "statement_id": format!("stmt-{id}"), "parameters": [],
            "query_result_metadata": {"row_count": 3, "is_truncated": false}}}));
    }
    let done = matches!(status, "COMPLETED" | "QUERY_RESULT_EXPIRED");
    if done {
        attachments.push(json!({"attachment_id": format!("{id}-f"), "text": {"id": format!("{id}-f"),
            "content": "Do you want this by region?", "purpose": "TEXT_ATTACHMENT_PURPOSE_FOLLOW_UP_QUESTION"}}));
        attachments.push(
            json!({"attachment_id": format!("{id}-t"), "text": {"id": format!("{id}-t"),
            "content": "Customer 3 led with 30.50.", "purpose": "TEXT_ATTACHMENT_PURPOSE_ANSWER"}}),
        );
        attachments.push(
            json!({"attachment_id": format!("{id}-s"), "suggested_questions": {
            "questions": ["How did that compare to last month?", "Which region grew most?"]}}),
        );
    }
    if !attachments.is_empty() {
        v["attachments"] = json!(attachments);
    }
    if status == "FAILED" {
        let kind = match m.kind {
            Kind::RateLimited | Kind::LaterRateLimited => "RATE_LIMIT_EXCEEDED_GENERIC_EXCEPTION",
            _ => "SQL_EXECUTION_EXCEPTION",
        };
        v["error"] = json!({"error": "Genie could not answer this question.", "type": kind});
    }
    v
}

fn forbidden(what: &str) -> FakeResponse {
    FakeResponse::error(
        403,
        "PERMISSION_DENIED",
        &format!("User does not have access to {what}."),
    )
}

fn missing(what: &str) -> FakeResponse {
    FakeResponse::error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("{what} does not exist."),
    )
}

/// Page `items` by `page_size` (at most `cap`) with tokens that are offsets.
fn page(req: &FakeRequest, items: Vec<Value>, cap: usize, key: &str) -> FakeResponse {
    let size = req
        .query_value("page_size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(cap)
        .clamp(1, cap);
    let start = req
        .query_value("page_token")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let end = (start + size).min(items.len());
    let mut body = json!({ key: items.get(start..end).unwrap_or_default() });
    if end < items.len() {
        body["next_page_token"] = json!(end.to_string());
    }
    FakeResponse::json(200, body)
}

pub fn route(state: &mut GenieState, req: &FakeRequest) -> Option<FakeResponse> {
    let rest = req.path.strip_prefix("/api/2.0/genie/spaces")?;
    let token = req.bearer().unwrap_or("-").to_string();
    let method = req.method.as_str();
    if rest.is_empty() {
        if method != "GET" {
            return None;
        }
        // One space per page, and an empty page (still with a token) after the first.
        let visible: Vec<Value> = state
            .spaces
            .iter()
            .filter(|(_, _, _, hidden)| !hidden.contains(&token))
            .map(|(id, title, d, _)| {
                let mut s = json!({"space_id": id, "title": title, "warehouse_id": "wh-running"});
                if let Some(d) = d {
                    s["description"] = json!(d);
                }
                s
            })
            .collect();
        let at = req.query_value("page_token").unwrap_or_default();
        let (items, next): (Vec<Value>, Option<String>) = match at.as_str() {
            "" => (
                visible.iter().take(1).cloned().collect(),
                Some("empty".into()),
            ),
            "empty" => (Vec::new(), Some("1".into())),
            n => {
                let i: usize = n.parse().unwrap_or(usize::MAX);
                let next = (i + 1 < visible.len()).then(|| (i + 1).to_string());
                (visible.get(i).cloned().into_iter().collect(), next)
            }
        };
        let mut body = json!({ "spaces": items });
        if let Some(next) = next.filter(|_| visible.len() > 1 || at.is_empty()) {
            body["next_page_token"] = json!(next);
        }
        return Some(FakeResponse::json(200, body));
    }
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let space_id = parts[0].to_string();
    let Some(space) = state.spaces.iter().find(|s| s.0 == space_id).cloned() else {
        return Some(missing(&format!("Genie space {space_id}")));
    };
    if space.3.contains(&token) {
        return Some(forbidden(&format!("Genie space {space_id}")));
    }
    let response = match (method, &parts[1..]) {
        ("GET", []) => {
            let mut s =
                json!({"space_id": space.0, "title": space.1, "warehouse_id": "wh-running"});
            if let Some(d) = space.2 {
                s["description"] = json!(d);
            }
            FakeResponse::json(200, s)
        }
        ("POST", ["start-conversation"]) => create(state, req, &space_id, None, &token),
        ("GET", ["conversations"]) => {
            let mut mine: Vec<(&String, &Conversation)> = state
                .conversations
                .iter()
                .filter(|(_, c)| c.space_id == space_id && c.owner == token)
                .collect();
            // Newest first, like Genie's own list.
            mine.sort_by_key(|(id, c)| std::cmp::Reverse((c.created_ms, (*id).clone())));
            let items = mine
                .iter()
                .map(|(id, c)| json!({"conversation_id": id, "title": c.title, "created_timestamp": c.created_ms}))
                .collect();
            page(req, items, 2, "conversations")
        }
        (_, ["conversations", cid, tail @ ..]) => {
            let cid = cid.to_string();
            match state.conversations.get(&cid) {
                Some(c) if c.space_id != space_id => missing(&format!("Conversation {cid}")),
                None => missing(&format!("Conversation {cid}")),
                Some(c) if c.owner != token => forbidden(&format!("conversation {cid}")),
                Some(c) => {
                    let ids = c.messages.clone();
                    thread(state, req, &space_id, &cid, &ids, tail, &token)?
                }
            }
        }
        _ => return None,
    };
    Some(response)
}

fn thread(
    state: &mut GenieState,
    req: &FakeRequest,
    space_id: &str,
    cid: &str,
    ids: &[String],
    tail: &[&str],
    token: &str,
) -> Option<FakeResponse> {
    let response = match (req.method.as_str(), tail) {
        ("POST", ["messages"]) => create(state, req, space_id, Some(cid), token),
        ("GET", ["messages"]) => {
            let items = ids
                .iter()
                .filter_map(|id| Some(render(state, id, state.messages.get(id)?)))
                .collect();
            page(req, items, 2, "messages")
        }
        (method, ["messages", mid, rest @ ..]) => {
            let mid = mid.to_string();
            if !ids.contains(&mid) {
                return Some(missing(&format!("Message {mid}")));
            }
            match (method, rest) {
                ("GET", []) => {
                    if state.poll_429 > 0 {
                        state.poll_429 -= 1;
                        return Some(
                            FakeResponse::error(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests")
                                .header("Retry-After", &state.poll_retry_after.to_string()),
                        );
                    }
                    let m = state.messages.get_mut(&mid)?;
                    m.polls += 1;
                    let m = state.messages.get(&mid)?;
                    let body = render(state, &mid, m);
                    let status = body["status"].as_str().unwrap_or_default().to_string();
                    if FINAL.contains(&status.as_str()) {
                        let m = state.messages.get_mut(&mid)?;
                        if m.finished_at.is_none() {
                            m.finished_at = Some(Instant::now());
                        }
                    }
                    FakeResponse::json(200, body)
                }
                ("GET", ["attachments", aid, "query-result"]) => {
                    let m = state.messages.get(&mid)?;
                    let status = state.status(m);
                    if *aid != format!("{mid}-q") {
                        missing(&format!("Attachment {aid}"))
                    } else if m.kind == Kind::Stale || status == "QUERY_RESULT_EXPIRED" {
                        FakeResponse::error(
                            400,
                            "INVALID_STATE",
                            "The query result has expired; execute the query again.",
                        )
                    } else if !matches!(status, "EXECUTING_QUERY" | "COMPLETED") {
                        FakeResponse::error(400, "INVALID_STATE", "No query result yet.")
                    } else {
                        FakeResponse::json(200, statement(&format!("stmt-{mid}")))
                    }
                }
                ("POST", ["attachments", aid, "execute-query"]) => {
                    if *aid != format!("{mid}-q") {
                        missing(&format!("Attachment {aid}"))
                    } else {
                        *state.executed.entry(mid.clone()).or_insert(0) += 1;
                        FakeResponse::json(200, statement(&format!("stmt-{mid}-rerun")))
                    }
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(response)
}

fn create(
    state: &mut GenieState,
    req: &FakeRequest,
    space_id: &str,
    conversation: Option<&str>,
    token: &str,
) -> FakeResponse {
    if state.create_429 > 0 {
        state.create_429 -= 1;
        return FakeResponse::error(429, "REQUEST_LIMIT_EXCEEDED", "Too many Genie questions")
            .header("Retry-After", &state.create_retry_after.to_string());
    }
    let content = req.json()["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if content.is_empty() {
        return FakeResponse::error(400, "INVALID_PARAMETER_VALUE", "content is required");
    }
    let kind = Kind::of(&content);
    let created_ms = now_ms();
    let cid = match conversation {
        Some(c) => c.to_string(),
        None => {
            let cid = state.id("conv");
            state.conversations.insert(
                cid.clone(),
                Conversation {
                    space_id: space_id.into(),
                    owner: token.into(),
                    title: content.chars().take(255).collect(),
                    created_ms,
                    messages: Vec::new(),
                },
            );
            cid
        }
    };
    let mid = state.id("msg");
    let mut message = FakeMessage {
        space_id: space_id.into(),
        conversation_id: cid.clone(),
        owner: token.into(),
        content,
        kind,
        created: Instant::now(),
        created_ms,
        polls: 0,
        finished_at: None,
    };
    if FINAL.contains(&state.status(&message)) {
        message.finished_at = Some(message.created);
    }
    let rendered = render(state, &mid, &message);
    state.messages.insert(mid.clone(), message);
    if let Some(c) = state.conversations.get_mut(&cid) {
        c.messages.push(mid.clone());
    }
    match conversation {
        Some(_) => FakeResponse::json(200, rendered),
        None => FakeResponse::json(
            200,
            json!({"message_id": mid, "conversation_id": cid,
                "conversation": {"id": cid, "conversation_id": cid, "space_id": space_id,
                    "title": rendered["content"], "created_timestamp": created_ms},
                "message": rendered}),
        ),
    }
}
