//! `POST /api/genie/spaces/{space_id}/messages`: ask Genie a question — a new conversation, or
//! the next message of `conversation_id` — and follow it as server-sent events.
//!
//! The message is created before the response starts, so every failure up to then (bad ids,
//! unknown space, no access, a rate limit that outlasts the retries) is an ordinary JSON error.
//! Then the stream sends `status` at once and on every change, `message` when Genie is done,
//! `result` when the message has a query, and ends. The poller stops as soon as the client goes
//! away.

use crate::common::field_error;
use serde::Serialize;
use serde_json::Value;
use shared::databricks::genie::{self, Message, Poller, QueryResult};
use shared::stream::StreamSender;
use shared::{ApiError, Auth, Ctx, Function, Method, Request, RequestBody, Response};
use std::time::Instant;

/// Longest question, in characters.
pub const MAX_CONTENT: usize = 4000;

pub const FUNCTION: Function = Function {
    name: "genie_message_create",
    method: Method::Post,
    path: "/api/genie/spaces/{space_id}/messages",
    auth: Auth::User,
    summary: "Ask Genie (new or continued conversation); answers with server-sent events: status, message, result",
    query: &[],
    request_body: Some(
        r#"{"type":"object","required":["content"],"additionalProperties":false,"properties":{"content":{"type":"string","minLength":1,"maxLength":4000},"conversation_id":{"type":"string","pattern":"^[A-Za-z0-9_-]{1,64}$"}}}"#,
    ),
    success_status: 200,
    response_body: Some(
        r#"{"type":"string","description":"text/event-stream: `status` {conversation_id, message_id, status} at once and on each change; `message` {conversation_id, message_id, status, text, query, suggested_questions, error} when Genie is done; `result` {columns, rows, row_count, truncated} when the message has a query; `error` {error_code, message, correlation_id} on failure (GENIE_TIMEOUT after 10 minutes)"}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

#[derive(Serialize)]
struct StatusEvent<'a> {
    conversation_id: &'a str,
    message_id: &'a str,
    status: &'a str,
}

#[derive(Serialize)]
struct MessageEvent<'a> {
    conversation_id: &'a str,
    message_id: &'a str,
    status: &'a str,
    text: &'a Option<String>,
    query: &'a Option<genie::QueryInfo>,
    suggested_questions: &'a [String],
    error: &'a Option<genie::MessageError>,
}

/// `content` and the optional `conversation_id`: 422 naming the field for a bad content or an
/// unknown field, 400 `INVALID_REQUEST` for a conversation id that is not an id.
fn parse(req: &Request) -> Result<(String, Option<String>), ApiError> {
    let Value::Object(mut fields) = req.json_value(false)? else {
        return Err(ApiError::validation(vec![field_error(
            "body",
            "must be a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    let content = match fields.remove("content") {
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if s.trim().is_empty() || n > MAX_CONTENT {
                errors.push(field_error(
                    "content",
                    format!("must be 1 to {MAX_CONTENT} characters (not only spaces)"),
                ));
            }
            s
        }
        Some(_) => {
            errors.push(field_error("content", "must be a string"));
            String::new()
        }
        None => {
            errors.push(field_error("content", "is required"));
            String::new()
        }
    };
    let conversation_id = match fields.remove("conversation_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(field_error("conversation_id", "must be a string"));
            None
        }
    };
    crate::common::unknown_fields(&fields, &[], "", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if let Some(c) = &conversation_id {
        genie::validate_id("conversation_id", c)?;
    }
    Ok((content, conversation_id))
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let space_id = crate::common::genie_id(&req, "space_id")?;
    let (content, conversation_id) = parse(&req)?;
    let token = ctx.user_token()?.clone();
    let client = std::sync::Arc::clone(&ctx.state.databricks);
    let message = genie::create_message(
        &client,
        &token,
        &space_id,
        conversation_id.as_deref(),
        &content,
    )
    .await?;
    let created = Instant::now();
    let poller = Poller::new(
        client,
        token,
        &space_id,
        &message,
        ctx.state.config.genie_poll,
        created,
    );
    let (tx, rx) = shared::stream::channel(true);
    let correlation_id = ctx.correlation_id.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = follow(&tx, &correlation_id, &space_id, message, poller) => {}
            _ = tx.closed() => {
                log::debug!("Genie stream {correlation_id}: the client went away; polling stopped");
            }
        }
    });
    Ok(Response::sse(rx))
}

/// Status events until Genie is done, then the message and its result. Returns when the stream
/// is over (or the client is gone: every send then fails).
async fn follow(
    tx: &StreamSender,
    correlation_id: &str,
    space_id: &str,
    mut message: Message,
    mut poller: Poller,
) {
    if send_status(tx, &message).await.is_err() {
        return;
    }
    let mut last = message.status.clone();
    while !message.is_final() {
        message = match poller.next().await {
            Ok(m) => m,
            Err(e) => {
                log::info!("Genie stream {correlation_id} ended: {e}");
                let _ = tx.error(&e, correlation_id).await;
                return;
            }
        };
        if message.status != last && !message.is_final() {
            if send_status(tx, &message).await.is_err() {
                return;
            }
            last = message.status.clone();
        }
    }
    let event = MessageEvent {
        conversation_id: &message.conversation_id,
        message_id: &message.message_id,
        status: &message.status,
        text: &message.text,
        query: &message.query,
        suggested_questions: &message.suggested_questions,
        error: &message.error,
    };
    if tx.event("message", &event).await.is_err() || !message.has_result() {
        return;
    }
    let (client, token) = poller.credentials();
    let result: Result<QueryResult, ApiError> =
        genie::query_result(client, token, space_id, &message).await;
    match result {
        Ok(result) => {
            let _ = tx.event("result", &result).await;
        }
        Err(e) => {
            log::info!("Genie stream {correlation_id}: the result failed: {e}");
            let _ = tx.error(&e, correlation_id).await;
        }
    }
}

async fn send_status(tx: &StreamSender, m: &Message) -> Result<(), shared::stream::ClientGone> {
    tx.event(
        "status",
        &StatusEvent {
            conversation_id: &m.conversation_id,
            message_id: &m.message_id,
            status: &m.status,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str) -> Request {
        Request {
            content_type: Some("application/json".into()),
            body: body.as_bytes().to_vec(),
            ..Request::default()
        }
    }

    #[test]
    fn bodies_are_checked_field_by_field() {
        let (c, id) = parse(&req(r#"{"content":"Top customers?"}"#)).unwrap();
        assert_eq!((c.as_str(), id), ("Top customers?", None));
        let (_, id) = parse(&req(r#"{"content":"x","conversation_id":"c-1"}"#)).unwrap();
        assert_eq!(id.as_deref(), Some("c-1"));
        let e = parse(&req(r#"{"content":""}"#)).unwrap_err();
        assert_eq!(
            (e.status(), e.details.unwrap()["errors"][0]["field"].clone()),
            (422, "content".into())
        );
        let long = format!(r#"{{"content":"{}"}}"#, "é".repeat(MAX_CONTENT + 1));
        assert_eq!(parse(&req(&long)).unwrap_err().status(), 422);
        let ok = format!(r#"{{"content":"{}"}}"#, "é".repeat(MAX_CONTENT));
        assert!(parse(&req(&ok)).is_ok());
        let e = parse(&req(r#"{"content":3,"extra":1}"#)).unwrap_err();
        assert_eq!(e.status(), 422);
        let e = parse(&req(r#"{"content":"x","conversation_id":"../x"}"#)).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.message.contains("conversation_id"));
    }
}
