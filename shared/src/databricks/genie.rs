//! The Genie Conversation API, always with the caller's token: spaces (one, or every page),
//! conversations and their messages, starting or continuing a conversation, polling a message
//! until Genie is done, and reading (or re-running) the query result of a message.
//!
//! Upstream shapes are read leniently: every field but the ids may be missing. Failures map to
//! our codes here, because the right code depends on what was asked for: a space that does not
//! exist is `GENIE_SPACE_NOT_FOUND`, one the caller cannot see `PERMISSION_DENIED`, and an
//! unknown conversation or message — or another user's — `NOT_FOUND`. Which of the three a
//! conversation-level 403/404 means is decided by reading the space once (only on that failure).
//!
//! The message poller (`Poller`) sleeps its schedule between reads (1 s growing to 5 s by
//! default), waits out a 429, and gives up with `GENIE_TIMEOUT` at its deadline (10 minutes).

use crate::databricks::retry::{self, Deadline, Failure, Policy};
use crate::databricks::statements::{typed_cell, CellKind, Column};
use crate::databricks::{map_upstream_error, token_rejection, DatabricksClient, UpstreamError};
use crate::error::{quote_upstream, ApiError, ErrorCode, FieldError};
use crate::secret::Secret;
use crate::util::percent_encode;
use crate::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVICE: &str = "genie";
const WHAT: &str = "Genie";
const SPACES: &str = "/api/2.0/genie/spaces";
/// Budget of one read (a list with all its pages, a message, a result) across its retries.
const READ_BUDGET: Duration = Duration::from_secs(30);
/// Creating a message is retried on 429 within this budget.
pub const CREATE_BUDGET: Duration = Duration::from_secs(30);
/// A listing that needs more pages than this is a server loop.
const MAX_PAGES: usize = 1000;
/// At most this many conversations are listed (the newest).
pub const MAX_CONVERSATIONS: usize = 100;
/// `retry_after` of a message Genie created already failed for a rate limit: the documented
/// limit is per minute.
pub const RATE_LIMIT_RETRY_AFTER: u64 = 60;
/// Result chunks followed at most.
const MAX_CHUNKS: usize = 10_000;

/// How a message is polled: `first`, then each interval `growth_percent` % of the previous, up
/// to `max`; the whole wait ends at `deadline` from the message's creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollSchedule {
    pub first: Duration,
    pub max: Duration,
    pub growth_percent: u32,
    pub deadline: Duration,
}

impl PollSchedule {
    /// 1 s, 1.5 s, 2.25 s, 3.4 s, then 5 s; 10 minutes in all.
    pub const DEFAULT: PollSchedule = PollSchedule {
        first: Duration::from_secs(1),
        max: Duration::from_secs(5),
        growth_percent: 150,
        deadline: Duration::from_secs(600),
    };

    /// The wait before poll `index` (0 = the first poll after creation).
    pub fn interval(&self, index: u32) -> Duration {
        let mut d = self.first;
        for _ in 0..index {
            if d >= self.max {
                break;
            }
            d = d * self.growth_percent / 100;
        }
        d.min(self.max)
    }
}

impl Default for PollSchedule {
    fn default() -> PollSchedule {
        PollSchedule::DEFAULT
    }
}

/// Space, conversation and message ids: `^[A-Za-z0-9_-]{1,64}$`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// 400 `INVALID_REQUEST` naming `field` unless `value` is a valid id (checked before any upstream
/// call).
pub fn validate_id(field: &str, value: &str) -> Result<(), ApiError> {
    if is_valid_id(value) {
        return Ok(());
    }
    Err(ApiError::invalid_request(format!(
        "`{field}` must be 1–64 characters of letters, digits, `_` or `-`."
    ))
    .with_details(serde_json::json!({"errors": [FieldError {
        field: field.into(),
        message: "must match ^[A-Za-z0-9_-]{1,64}$".into(),
    }]})))
}

/// A space as the picker shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpaceEntry {
    pub space_id: String,
    pub title: String,
    pub description: Option<String>,
    pub configured: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConversationSummary {
    pub conversation_id: String,
    pub title: String,
    pub created_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueryInfo {
    pub title: Option<String>,
    pub description: Option<String>,
    pub sql: Option<String>,
    pub statement_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageError {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub message: Option<String>,
}

/// A Genie message, reduced to what brickbox shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    pub message_id: String,
    #[serde(skip)]
    pub conversation_id: String,
    pub content: String,
    pub status: String,
    pub text: Option<String>,
    pub query: Option<QueryInfo>,
    pub suggested_questions: Vec<String>,
    pub error: Option<MessageError>,
    pub created_at: Option<String>,
    /// The query attachment's id (for its result); not shown.
    #[serde(skip)]
    pub query_attachment_id: Option<String>,
    /// The query attachment says its result was cut.
    #[serde(skip)]
    pub query_truncated: bool,
    #[serde(skip)]
    created_ms: Option<i64>,
}

impl Message {
    /// `COMPLETED`, `FAILED`, `CANCELLED` or `QUERY_RESULT_EXPIRED`: Genie is done with it.
    pub fn is_final(&self) -> bool {
        is_final_status(&self.status)
    }

    /// Whether the message carries a query whose result can be read (or re-run).
    pub fn has_result(&self) -> bool {
        self.query_attachment_id.is_some()
            && matches!(self.status.as_str(), "COMPLETED" | "QUERY_RESULT_EXPIRED")
    }

    fn rate_limited(&self) -> bool {
        self.status == "FAILED"
            && self
                .error
                .as_ref()
                .and_then(|e| e.kind.as_deref())
                .is_some_and(|t| t.starts_with("RATE_LIMIT_EXCEEDED"))
    }
}

pub fn is_final_status(status: &str) -> bool {
    matches!(
        status,
        "COMPLETED" | "FAILED" | "CANCELLED" | "QUERY_RESULT_EXPIRED"
    )
}

/// A query result, typed like the table query's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueryResult {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    pub row_count: usize,
    pub truncated: bool,
}

// ---- upstream shapes (lenient) ----

#[derive(Deserialize, Default)]
struct RawSpace {
    space_id: Option<String>,
    title: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawSpaces {
    #[serde(default)]
    spaces: Vec<RawSpace>,
    next_page_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawConversation {
    conversation_id: Option<String>,
    id: Option<String>,
    title: Option<String>,
    created_timestamp: Option<i64>,
}

#[derive(Deserialize, Default)]
struct RawConversations {
    #[serde(default)]
    conversations: Vec<RawConversation>,
    next_page_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawMessages {
    #[serde(default)]
    messages: Vec<RawMessage>,
    next_page_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawMessage {
    message_id: Option<String>,
    id: Option<String>,
    conversation_id: Option<String>,
    content: Option<String>,
    status: Option<String>,
    created_timestamp: Option<i64>,
    #[serde(default)]
    attachments: Option<Vec<RawAttachment>>,
    error: Option<RawError>,
}

#[derive(Deserialize, Default)]
struct RawError {
    error: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawAttachment {
    attachment_id: Option<String>,
    text: Option<RawText>,
    query: Option<RawQuery>,
    suggested_questions: Option<RawSuggested>,
}

#[derive(Deserialize, Default)]
struct RawText {
    content: Option<String>,
    purpose: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawQuery {
    title: Option<String>,
    description: Option<String>,
    query: Option<String>,
    statement_id: Option<String>,
    query_result_metadata: Option<RawResultMetadata>,
}

#[derive(Deserialize, Default)]
struct RawResultMetadata {
    is_truncated: Option<bool>,
}

#[derive(Deserialize, Default)]
struct RawSuggested {
    #[serde(default)]
    questions: Vec<String>,
}

#[derive(Deserialize, Default)]
struct RawStart {
    message_id: Option<String>,
    conversation_id: Option<String>,
    message: Option<RawMessage>,
}

#[derive(Deserialize, Default)]
struct RawQueryResult {
    statement_response: Option<RawStatement>,
}

#[derive(Deserialize, Default)]
struct RawStatement {
    statement_id: Option<String>,
    #[serde(default)]
    status: RawStatementStatus,
    manifest: Option<RawManifest>,
    result: Option<RawChunk>,
}

#[derive(Deserialize, Default)]
struct RawStatementStatus {
    state: Option<String>,
    error: Option<Value>,
}

#[derive(Deserialize, Default)]
struct RawManifest {
    #[serde(default)]
    schema: RawSchema,
    truncated: Option<bool>,
}

#[derive(Deserialize, Default)]
struct RawSchema {
    #[serde(default)]
    columns: Vec<RawColumn>,
}

#[derive(Deserialize)]
struct RawColumn {
    name: Option<String>,
    type_name: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawChunk {
    data_array: Option<Vec<Vec<Option<String>>>>,
    next_chunk_index: Option<u64>,
    next_chunk_internal_link: Option<String>,
}

fn millis_to_rfc3339(ms: Option<i64>) -> Option<String> {
    let ms = ms?;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    Some(crate::util::rfc3339(t))
}

fn message_from(raw: RawMessage, conversation_id: &str) -> Option<Message> {
    let message_id = raw.message_id.or(raw.id).filter(|s| !s.is_empty())?;
    let attachments = raw.attachments.unwrap_or_default();
    let mut answers = Vec::new();
    let mut others = Vec::new();
    let mut query = None;
    let mut query_attachment_id = None;
    let mut query_truncated = false;
    let mut suggested = Vec::new();
    for a in attachments {
        if let Some(text) = a.text {
            if let Some(content) = text.content.filter(|c| !c.is_empty()) {
                match text.purpose.as_deref() {
                    None | Some("TEXT_ATTACHMENT_PURPOSE_ANSWER") => answers.push(content),
                    Some(_) => others.push(content),
                }
            }
        }
        if let Some(q) = a.query {
            if query.is_none() {
                query_attachment_id = a.attachment_id.clone().filter(|s| !s.is_empty());
                query_truncated = q
                    .query_result_metadata
                    .as_ref()
                    .and_then(|m| m.is_truncated)
                    .unwrap_or(false);
                query = Some(QueryInfo {
                    title: q.title,
                    description: q.description,
                    sql: q.query,
                    statement_id: q.statement_id,
                });
            }
        }
        if let Some(s) = a.suggested_questions {
            suggested.extend(s.questions.into_iter().filter(|q| !q.is_empty()));
        }
    }
    // A follow-up question Genie asks back is the answer when there is no other.
    let text = if answers.is_empty() { others } else { answers };
    Some(Message {
        message_id,
        conversation_id: raw
            .conversation_id
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| conversation_id.to_string()),
        content: raw.content.unwrap_or_default(),
        status: raw.status.unwrap_or_else(|| "SUBMITTED".into()),
        text: (!text.is_empty()).then(|| text.join("\n\n")),
        query,
        suggested_questions: suggested,
        error: raw.error.map(|e| MessageError {
            kind: e.kind,
            message: e.error,
        }),
        created_at: millis_to_rfc3339(raw.created_timestamp),
        query_attachment_id,
        query_truncated,
        created_ms: raw.created_timestamp,
    })
}

fn unreadable(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::UpstreamError,
        format!("Genie answered {what} in a shape brickbox cannot read."),
    )
    .with_internal(e.to_string())
}

fn space_path(space_id: &str) -> String {
    format!("{SPACES}/{}", percent_encode(space_id))
}

fn conversation_path(space_id: &str, conversation_id: &str) -> String {
    format!(
        "{}/conversations/{}",
        space_path(space_id),
        percent_encode(conversation_id)
    )
}

fn message_path(space_id: &str, conversation_id: &str, message_id: &str) -> String {
    format!(
        "{}/messages/{}",
        conversation_path(space_id, conversation_id),
        percent_encode(message_id)
    )
}

/// A 404, or a 400 that says the thing does not exist (some GET APIs answer that way).
fn is_missing(e: &UpstreamError) -> bool {
    match e {
        UpstreamError::Api { status: 404, .. } => true,
        UpstreamError::Api {
            status: 400,
            error_code,
            message,
            ..
        } => {
            let m = message.to_lowercase();
            error_code.contains("DOES_NOT_EXIST")
                || m.contains("does not exist")
                || m.contains("not found")
        }
        _ => false,
    }
}

/// A 403 that is about access (not about the token itself).
fn is_denied(e: &UpstreamError) -> bool {
    match e {
        UpstreamError::Api {
            status: 403,
            message,
            ..
        } => token_rejection(403, message).is_none(),
        _ => false,
    }
}

/// Failures of a read that are not about a specific space, conversation or message.
fn map_failure(f: &Failure, what: &str) -> ApiError {
    match f {
        Failure::Upstream { error, .. } => map_upstream_error(error, WHAT),
        Failure::DeadlineExceeded { last, .. } => match last {
            Some(e @ UpstreamError::Api { status: 429, .. }) => map_upstream_error(e, WHAT),
            _ => ApiError::new(
                ErrorCode::ServiceUnavailable,
                format!("Genie did not answer {what} in time; try again shortly."),
            )
            .with_retry_after(5),
        },
    }
}

fn space_not_found(space_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::GenieSpaceNotFound,
        format!("There is no Genie space {space_id:?}, or it was deleted."),
    )
}

/// A failure while reading a space or something only the space scopes (its conversations).
fn map_space_failure(f: &Failure, space_id: &str, what: &str) -> ApiError {
    if let Failure::Upstream { error, .. } = f {
        let internal = error.to_string();
        if is_missing(error) {
            return space_not_found(space_id).with_internal(internal);
        }
        if is_denied(error) {
            return ApiError::new(
                ErrorCode::PermissionDenied,
                format!("You do not have access to Genie space {space_id:?}: ask its owner for CAN RUN or CAN VIEW."),
            )
            .with_internal(internal);
        }
    }
    map_failure(f, what)
}

async fn get(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    path: &str,
    deadline: Deadline,
) -> Result<Value, Failure> {
    let response = retry::call(
        client,
        SERVICE,
        Method::Get,
        path,
        token,
        None,
        deadline,
        Policy::TRANSIENT,
    )
    .await?;
    Ok(serde_json::from_slice(&response.body).unwrap_or(Value::Null))
}

/// One space. 404 `GENIE_SPACE_NOT_FOUND`, 403 `PERMISSION_DENIED`.
pub async fn get_space(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    space_id: &str,
) -> Result<SpaceEntry, ApiError> {
    let value = get(
        client,
        token,
        &space_path(space_id),
        Deadline::after(READ_BUDGET),
    )
    .await
    .map_err(|f| map_space_failure(&f, space_id, "the space"))?;
    let raw: RawSpace = serde_json::from_value(value).map_err(|e| unreadable("a space", e))?;
    Ok(SpaceEntry {
        space_id: raw
            .space_id
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| space_id.to_string()),
        title: raw.title.unwrap_or_else(|| space_id.to_string()),
        description: raw.description.filter(|d| !d.is_empty()),
        configured: false,
    })
}

/// Every space the caller can see, across every page (a page may be empty and still carry a
/// token: only an absent or empty token ends the list).
pub async fn list_spaces(
    client: &Arc<DatabricksClient>,
    token: &Secret,
) -> Result<Vec<SpaceEntry>, ApiError> {
    let deadline = Deadline::after(READ_BUDGET);
    let mut spaces = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let path = match &page_token {
            Some(t) => format!("{SPACES}?page_token={}", percent_encode(t)),
            None => SPACES.to_string(),
        };
        let value = get(client, token, &path, deadline)
            .await
            .map_err(|f| map_failure(&f, "the list of spaces"))?;
        let page: RawSpaces =
            serde_json::from_value(value).map_err(|e| unreadable("the list of spaces", e))?;
        for s in page.spaces {
            let Some(id) = s.space_id.filter(|s| !s.is_empty()) else {
                continue;
            };
            spaces.push(SpaceEntry {
                title: s.title.unwrap_or_else(|| id.clone()),
                space_id: id,
                description: s.description.filter(|d| !d.is_empty()),
                configured: false,
            });
        }
        match page.next_page_token.filter(|t| !t.is_empty()) {
            Some(next) if page_token.as_deref() != Some(next.as_str()) => page_token = Some(next),
            _ => return Ok(spaces),
        }
    }
    Ok(spaces)
}

/// The picker's list: the configured spaces in their order (one that is missing or hidden from
/// the caller left out), then every other space by title.
pub async fn spaces_for_picker(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    configured: &[String],
) -> Result<Vec<SpaceEntry>, ApiError> {
    let mut out = Vec::new();
    for id in configured {
        match get_space(client, token, id).await {
            Ok(mut space) => {
                space.configured = true;
                out.push(space);
            }
            Err(e)
                if matches!(
                    e.code,
                    ErrorCode::GenieSpaceNotFound | ErrorCode::PermissionDenied
                ) =>
            {
                log::debug!("configured Genie space {id} left out: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    let mut rest: Vec<SpaceEntry> = list_spaces(client, token)
        .await?
        .into_iter()
        .filter(|s| !configured.contains(&s.space_id))
        .collect();
    rest.sort_by(|a, b| {
        a.title
            .to_lowercase()
            .cmp(&b.title.to_lowercase())
            .then_with(|| a.space_id.cmp(&b.space_id))
    });
    rest.dedup_by(|a, b| a.space_id == b.space_id);
    out.extend(rest);
    Ok(out)
}

/// The caller's conversations in a space, newest first, at most `MAX_CONVERSATIONS`.
pub async fn list_conversations(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    space_id: &str,
) -> Result<Vec<ConversationSummary>, ApiError> {
    let deadline = Deadline::after(READ_BUDGET);
    let base = format!("{}/conversations?page_size=100", space_path(space_id));
    let mut raw = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let path = match &page_token {
            Some(t) => format!("{base}&page_token={}", percent_encode(t)),
            None => base.clone(),
        };
        let value = get(client, token, &path, deadline)
            .await
            .map_err(|f| map_space_failure(&f, space_id, "the list of conversations"))?;
        let page: RawConversations = serde_json::from_value(value)
            .map_err(|e| unreadable("the list of conversations", e))?;
        raw.extend(page.conversations);
        if raw.len() >= MAX_CONVERSATIONS {
            break;
        }
        match page.next_page_token.filter(|t| !t.is_empty()) {
            Some(next) if page_token.as_deref() != Some(next.as_str()) => page_token = Some(next),
            _ => break,
        }
    }
    raw.sort_by_key(|c| std::cmp::Reverse(c.created_timestamp));
    Ok(raw
        .into_iter()
        .filter_map(|c| {
            let id = c.conversation_id.or(c.id).filter(|s| !s.is_empty())?;
            Some(ConversationSummary {
                conversation_id: id,
                title: c.title.unwrap_or_default(),
                created_at: millis_to_rfc3339(c.created_timestamp),
            })
        })
        .take(MAX_CONVERSATIONS)
        .collect())
}

/// A conversation- or message-level 403/404: the space decides between
/// `GENIE_SPACE_NOT_FOUND`, `PERMISSION_DENIED` and `NOT_FOUND` (an unknown conversation or
/// message, or another user's).
async fn map_thread_failure(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    space_id: &str,
    f: &Failure,
    what: &str,
) -> ApiError {
    if let Failure::Upstream { error, .. } = f {
        if is_missing(error) || is_denied(error) {
            if let Err(e) = get_space(client, token, space_id).await {
                if matches!(
                    e.code,
                    ErrorCode::GenieSpaceNotFound | ErrorCode::PermissionDenied
                ) {
                    return e;
                }
            }
            return ApiError::new(
                ErrorCode::NotFound,
                format!("There is no such {what} of yours in this Genie space."),
            )
            .with_internal(error.to_string());
        }
    }
    map_failure(f, what)
}

/// Every message of a conversation, oldest first.
pub async fn list_messages(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    space_id: &str,
    conversation_id: &str,
) -> Result<Vec<Message>, ApiError> {
    let deadline = Deadline::after(READ_BUDGET);
    let base = format!(
        "{}/messages?page_size=100",
        conversation_path(space_id, conversation_id)
    );
    let mut messages = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let path = match &page_token {
            Some(t) => format!("{base}&page_token={}", percent_encode(t)),
            None => base.clone(),
        };
        let value = match get(client, token, &path, deadline).await {
            Ok(v) => v,
            Err(f) => {
                return Err(map_thread_failure(client, token, space_id, &f, "conversation").await)
            }
        };
        let page: RawMessages =
            serde_json::from_value(value).map_err(|e| unreadable("the messages", e))?;
        messages.extend(
            page.messages
                .into_iter()
                .filter_map(|m| message_from(m, conversation_id)),
        );
        match page.next_page_token.filter(|t| !t.is_empty()) {
            Some(next) if page_token.as_deref() != Some(next.as_str()) => page_token = Some(next),
            _ => break,
        }
    }
    // Stable: messages with the same (or no) time keep Genie's order.
    messages.sort_by_key(|m| m.created_ms);
    Ok(messages)
}

/// One message, read once (with the usual retries).
pub async fn get_message(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    space_id: &str,
    conversation_id: &str,
    message_id: &str,
) -> Result<Message, ApiError> {
    let path = message_path(space_id, conversation_id, message_id);
    let value = match get(client, token, &path, Deadline::after(READ_BUDGET)).await {
        Ok(v) => v,
        Err(f) => return Err(map_thread_failure(client, token, space_id, &f, "message").await),
    };
    let raw: RawMessage = serde_json::from_value(value).map_err(|e| unreadable("a message", e))?;
    message_from(raw, conversation_id).ok_or_else(|| unreadable("a message", "no message_id"))
}

/// Ask `content` in a new conversation (`conversation_id` None) or an existing one. A 429 is
/// retried within `CREATE_BUDGET`; still refused, or created already FAILED for a rate limit, it
/// is 429 `RATE_LIMITED` with `retry_after`.
pub async fn create_message(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    space_id: &str,
    conversation_id: Option<&str>,
    content: &str,
) -> Result<Message, ApiError> {
    let body = serde_json::json!({ "content": content }).to_string();
    let path = match conversation_id {
        None => format!("{}/start-conversation", space_path(space_id)),
        Some(c) => format!("{}/messages", conversation_path(space_id, c)),
    };
    let response = retry::call(
        client,
        SERVICE,
        Method::Post,
        &path,
        token,
        Some(body.as_bytes()),
        Deadline::after(CREATE_BUDGET),
        Policy::RATE_LIMIT_ONLY,
    )
    .await;
    let response = match response {
        Ok(r) => r,
        Err(f) => {
            return Err(match (&f, conversation_id) {
                (Failure::Upstream { error, .. }, _) if rate_limit(error) => {
                    map_upstream_error(error, WHAT)
                }
                (_, None) => map_space_failure(&f, space_id, "the new conversation"),
                (_, Some(_)) => {
                    map_thread_failure(client, token, space_id, &f, "conversation").await
                }
            })
        }
    };
    let value: Value =
        serde_json::from_slice(&response.body).map_err(|e| unreadable("the new message", e))?;
    let message = match conversation_id {
        None => {
            let start: RawStart =
                serde_json::from_value(value).map_err(|e| unreadable("the new conversation", e))?;
            let conversation = start
                .conversation_id
                .clone()
                .or_else(|| start.message.as_ref()?.conversation_id.clone())
                .filter(|c| !c.is_empty())
                .ok_or_else(|| unreadable("the new conversation", "no conversation_id"))?;
            let mut raw = start.message.unwrap_or_default();
            if raw.message_id.is_none() && raw.id.is_none() {
                raw.message_id = start.message_id;
            }
            if raw.content.is_none() {
                raw.content = Some(content.to_string());
            }
            message_from(raw, &conversation)
        }
        Some(c) => {
            let raw: RawMessage =
                serde_json::from_value(value).map_err(|e| unreadable("the new message", e))?;
            message_from(raw, c)
        }
    }
    .ok_or_else(|| unreadable("the new message", "no message_id"))?;
    if message.rate_limited() {
        let kind = message
            .error
            .as_ref()
            .and_then(|e| e.kind.clone())
            .unwrap_or_default();
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "Genie is rate limiting questions in this workspace; ask again after the given delay.",
        )
        .with_retry_after(RATE_LIMIT_RETRY_AFTER)
        .with_internal(format!("message created FAILED {kind}")));
    }
    Ok(message)
}

fn rate_limit(e: &UpstreamError) -> bool {
    matches!(e, UpstreamError::Api { status: 429, .. })
}

/// Polls one message on its schedule until Genie is done with it.
pub struct Poller {
    client: Arc<DatabricksClient>,
    token: Secret,
    space_id: String,
    conversation_id: String,
    message_id: String,
    schedule: PollSchedule,
    polls: u32,
    end: Instant,
    /// GET calls made (polls, and the retries of a refused poll).
    pub calls: u32,
}

impl Poller {
    /// `started` is when the message was created; the schedule's deadline counts from it.
    pub fn new(
        client: Arc<DatabricksClient>,
        token: Secret,
        space_id: &str,
        message: &Message,
        schedule: PollSchedule,
        started: Instant,
    ) -> Poller {
        Poller {
            client,
            token,
            space_id: space_id.to_string(),
            conversation_id: message.conversation_id.clone(),
            message_id: message.message_id.clone(),
            schedule,
            polls: 0,
            end: started + schedule.deadline,
            calls: 0,
        }
    }

    /// The client and token the poller reads with (for the result once Genie is done).
    pub fn credentials(&self) -> (&Arc<DatabricksClient>, &Secret) {
        (&self.client, &self.token)
    }

    /// The wait before the next poll.
    pub fn current_interval(&self) -> Duration {
        self.schedule.interval(self.polls)
    }

    /// Wait the current interval, then read the message once. A 429 (after the usual retries)
    /// is waited out — its `Retry-After`, else the interval — and polling goes on. Past the
    /// deadline: 504 `GENIE_TIMEOUT`.
    pub async fn next(&mut self) -> Result<Message, ApiError> {
        let path = message_path(&self.space_id, &self.conversation_id, &self.message_id);
        let mut wait = self.current_interval();
        loop {
            let remaining = self.end.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.timeout());
            }
            tokio::time::sleep(wait.min(remaining)).await;
            self.polls += 1;
            let remaining = self.end.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.timeout());
            }
            let budget = remaining.min(READ_BUDGET);
            let result = retry::call(
                &self.client,
                SERVICE,
                Method::Get,
                &path,
                &self.token,
                None,
                Deadline::after(budget),
                Policy::ONCE,
            )
            .await;
            self.calls += 1;
            match result {
                Ok(response) => {
                    let raw: RawMessage = serde_json::from_slice(&response.body)
                        .map_err(|e| unreadable("a message", e))?;
                    return message_from(raw, &self.conversation_id)
                        .ok_or_else(|| unreadable("a message", "no message_id"));
                }
                Err(Failure::Upstream {
                    error:
                        UpstreamError::Api {
                            status: 429,
                            retry_after,
                            ..
                        },
                    ..
                }) => {
                    wait = retry_after
                        .map(Duration::from_secs)
                        .unwrap_or_else(|| self.current_interval());
                    log::debug!(
                        "Genie message {} poll rate limited; waiting {wait:?}",
                        self.message_id
                    );
                }
                Err(Failure::Upstream {
                    error:
                        UpstreamError::Api {
                            status: 503 | 504, ..
                        },
                    ..
                })
                | Err(Failure::Upstream {
                    error: UpstreamError::Transport { timeout: false, .. },
                    ..
                }) => {
                    // A passing outage: poll again on the schedule.
                    wait = self.current_interval();
                }
                Err(Failure::DeadlineExceeded { .. })
                    if self.end.saturating_duration_since(Instant::now()).is_zero() =>
                {
                    return Err(self.timeout())
                }
                Err(f) => {
                    return Err(map_thread_failure(
                        &self.client,
                        &self.token,
                        &self.space_id,
                        &f,
                        "message",
                    )
                    .await)
                }
            }
        }
    }

    fn timeout(&self) -> ApiError {
        ApiError::new(
            ErrorCode::GenieTimeout,
            format!(
                "Genie did not finish answering within {} minutes; ask again or try a simpler question.",
                self.schedule.deadline.as_secs() / 60
            ),
        )
    }
}

/// The query result of a message with a query attachment: read it, or — when it has expired —
/// run the query again (`execute-query`, once). 404 `NOT_FOUND` for a message without a query.
pub async fn query_result(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    space_id: &str,
    message: &Message,
) -> Result<QueryResult, ApiError> {
    let Some(attachment) = &message.query_attachment_id else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "This message has no query, so it has no result.",
        ));
    };
    let base = format!(
        "{}/attachments/{}",
        message_path(space_id, &message.conversation_id, &message.message_id),
        percent_encode(attachment)
    );
    let deadline = Deadline::after(READ_BUDGET);
    let expired_flag = message.status == "QUERY_RESULT_EXPIRED";
    let mut statement = None;
    if !expired_flag {
        match retry::call(
            client,
            SERVICE,
            Method::Get,
            &format!("{base}/query-result"),
            token,
            None,
            deadline,
            Policy::TRANSIENT,
        )
        .await
        {
            Ok(r) => {
                let raw: RawQueryResult =
                    serde_json::from_slice(&r.body).map_err(|e| unreadable("a query result", e))?;
                let s = raw.statement_response.unwrap_or_default();
                if !statement_expired(&s) {
                    statement = Some(s);
                }
            }
            Err(Failure::Upstream { error, .. }) if error_says_expired(&error) => {}
            Err(f) => return Err(map_thread_failure(client, token, space_id, &f, "message").await),
        }
    }
    let statement = match statement {
        Some(s) => s,
        None => {
            let r = retry::call(
                client,
                SERVICE,
                Method::Post,
                &format!("{base}/execute-query"),
                token,
                Some(b"{}"),
                Deadline::after(READ_BUDGET),
                Policy::RATE_LIMIT_ONLY,
            )
            .await;
            let r = match r {
                Ok(r) => r,
                Err(f) => {
                    return Err(map_thread_failure(client, token, space_id, &f, "message").await)
                }
            };
            let raw: RawQueryResult = serde_json::from_slice(&r.body)
                .map_err(|e| unreadable("a re-run query result", e))?;
            raw.statement_response.unwrap_or_default()
        }
    };
    typed_result(client, token, statement, deadline, message.query_truncated).await
}

fn statement_expired(s: &RawStatement) -> bool {
    matches!(s.status.state.as_deref(), Some("CLOSED"))
        || s.status
            .error
            .as_ref()
            .is_some_and(|e| e.to_string().to_lowercase().contains("expired"))
}

fn error_says_expired(e: &UpstreamError) -> bool {
    match e {
        UpstreamError::Api {
            status,
            error_code,
            message,
            ..
        } if (400..500).contains(status) && *status != 429 && *status != 403 => {
            error_code.to_uppercase().contains("EXPIRED")
                || message.to_lowercase().contains("expired")
        }
        _ => false,
    }
}

/// A statement response's columns and rows, every chunk followed, cells typed like the table
/// query's.
async fn typed_result(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    mut statement: RawStatement,
    deadline: Deadline,
    truncated_hint: bool,
) -> Result<QueryResult, ApiError> {
    match statement.status.state.as_deref() {
        None | Some("SUCCEEDED") => {}
        Some("FAILED") => {
            let message = statement
                .status
                .error
                .as_ref()
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("the query failed")
                .to_string();
            return Err(ApiError::new(
                ErrorCode::UpstreamError,
                format!("Genie's query failed: {}", quote_upstream(&message)),
            ));
        }
        Some(state) => {
            return Err(ApiError::new(
                ErrorCode::UpstreamError,
                format!("Genie's query result is not available (state {state}); try again."),
            ))
        }
    }
    let id = statement.statement_id.clone().unwrap_or_default();
    // No rows inline although the statement has some: read the statement itself.
    if statement.result.is_none() && !id.is_empty() {
        if let Ok(value) = get(
            client,
            token,
            &format!("/api/2.0/sql/statements/{}", percent_encode(&id)),
            deadline,
        )
        .await
        {
            if let Ok(full) = serde_json::from_value::<RawStatement>(value) {
                if full.result.is_some() {
                    statement.result = full.result;
                    statement.manifest = full.manifest.or(statement.manifest);
                }
            }
        }
    }
    let manifest = statement.manifest.unwrap_or_default();
    let truncated = truncated_hint || manifest.truncated.unwrap_or(false);
    let columns: Vec<Column> = manifest
        .schema
        .columns
        .into_iter()
        .enumerate()
        .map(|(i, c)| Column {
            name: c.name.unwrap_or_else(|| format!("col_{i}")),
            type_name: c.type_name.unwrap_or_else(|| "STRING".into()),
        })
        .collect();
    let kinds: Vec<CellKind> = columns.iter().map(|c| CellKind::of(&c.type_name)).collect();
    let mut rows = Vec::new();
    let mut chunk = statement.result.unwrap_or_default();
    for _ in 0..MAX_CHUNKS {
        for row in chunk.data_array.take().unwrap_or_default() {
            rows.push(
                row.into_iter()
                    .enumerate()
                    .map(|(i, cell)| {
                        typed_cell(kinds.get(i).copied().unwrap_or(CellKind::Text), cell)
                    })
                    .collect(),
            );
        }
        let next = match (&chunk.next_chunk_internal_link, chunk.next_chunk_index) {
            (Some(link), _) if link.starts_with('/') => link.clone(),
            (_, Some(index)) if !id.is_empty() => format!(
                "/api/2.0/sql/statements/{}/result/chunks/{index}",
                percent_encode(&id)
            ),
            _ => break,
        };
        let value = get(client, token, &next, deadline)
            .await
            .map_err(|f| map_failure(&f, "a result chunk"))?;
        chunk = serde_json::from_value(value).map_err(|e| unreadable("a result chunk", e))?;
    }
    Ok(QueryResult {
        row_count: rows.len(),
        columns,
        rows,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_grows_from_one_to_five_seconds() {
        let s = PollSchedule::DEFAULT;
        let ms: Vec<u128> = (0..7).map(|i| s.interval(i).as_millis()).collect();
        assert_eq!(ms, [1000, 1500, 2250, 3375, 5000, 5000, 5000]);
        assert_eq!(s.deadline, Duration::from_secs(600));
    }

    #[test]
    fn ids_are_checked() {
        assert!(is_valid_id("01f0b2c4a1d2e3f4a5b6c7d8e9f00112"));
        assert!(is_valid_id("a_b-C"));
        assert!(is_valid_id(&"a".repeat(64)));
        for bad in ["", "a/b", "a.b", "a b", "é", "../x", &"a".repeat(65)] {
            assert!(!is_valid_id(bad), "{bad}");
        }
        let e = validate_id("space_id", "a/b").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.message.contains("space_id"));
    }

    #[test]
    fn a_message_is_read_from_its_attachments() {
        let raw: RawMessage = serde_json::from_value(serde_json::json!({
            "message_id": "m1", "conversation_id": "c1", "content": "Top customers?",
            "status": "COMPLETED", "created_timestamp": 1755600001234i64,
            "attachments": [
                {"attachment_id": "a1", "query": {"title": "T", "description": "D", "query": "SELECT 1",
                    "statement_id": "s1", "query_result_metadata": {"row_count": 5, "is_truncated": false}}},
                {"attachment_id": "a2", "text": {"content": "Any region?", "purpose": "TEXT_ATTACHMENT_PURPOSE_FOLLOW_UP_QUESTION"}},
                {"attachment_id": "a3", "text": {"content": "Acme led.", "purpose": "TEXT_ATTACHMENT_PURPOSE_ANSWER"}},
                {"attachment_id": "a4", "suggested_questions": {"questions": ["And Q1?"]}},
            ],
        }))
        .unwrap();
        let m = message_from(raw, "c0").unwrap();
        assert_eq!(m.conversation_id, "c1");
        assert_eq!(m.text.as_deref(), Some("Acme led."));
        assert_eq!(m.query_attachment_id.as_deref(), Some("a1"));
        assert_eq!(m.query.as_ref().unwrap().sql.as_deref(), Some("SELECT 1"));
        assert_eq!(m.suggested_questions, ["And Q1?"]);
        assert_eq!(m.created_at.as_deref(), Some("2025-08-19T10:40:01.234Z"));
        assert!(m.is_final() && m.has_result());

        let failed: RawMessage = serde_json::from_value(serde_json::json!({
            "id": "m2", "status": "FAILED",
            "error": {"error": "Too many requests", "type": "RATE_LIMIT_EXCEEDED_GENERIC_EXCEPTION"},
        }))
        .unwrap();
        let m = message_from(failed, "c0").unwrap();
        assert_eq!(m.message_id, "m2");
        assert_eq!(m.conversation_id, "c0");
        assert!(m.rate_limited());
        assert!(m.suggested_questions.is_empty());
        assert_eq!(m.text, None);
    }
}
