//! Streaming chat with serving endpoints: which wire format an endpoint speaks, the request body
//! each one takes, a lenient parser of the server-sent events they answer with, and the reading
//! of those events into pieces of assistant text, a finish reason and token usage.
//!
//! Formats, by the endpoint's task:
//! * `llm/v1/chat` (foundation and external models) and `agent/v1/chat`: OpenAI-style chat
//!   completion chunks, text in `choices[0].delta.content` (a string or a list of text items);
//! * `llm/v1/completions`: completion chunks, text in `choices[0].text`;
//! * `agent/v1/responses`, `agent/v2/responses`: Responses API events — text in
//!   `response.output_text.delta`, whole items in `response.output_item.done` (which repeat text
//!   already streamed as deltas), usage in `response.completed`;
//! * `agent/v2/chat`: ChatAgent chunks, text in `delta.content`.
//!
//! The parser is lenient: `event:`, `id:`, `retry:` and comment lines are ignored, a missing
//! `data: [DONE]` is accepted, and a bare JSON line (newline-delimited JSON) counts as an event.
//! Any event with a non-null `error` key, or whose `type` is `error`, `response.error` or
//! `response.failed`, is a failure even inside a 200 stream.

use crate::databricks::retry::{self, Deadline, Failure, Policy};
use crate::databricks::stream_client::{self, StreamError, StreamRequest, StreamResponse};
use crate::databricks::{parse_error_body, DatabricksClient, UpstreamError};
use crate::secret::Secret;
use crate::util::percent_encode;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The longest SSE line accepted (an agent's whole answer may come as one item).
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// How an endpoint streams, decided by its task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Chat,
    Completions,
    Responses,
    ChatAgent,
}

impl Format {
    /// The format for a task; `None` for a task that does not stream text (embeddings, MLflow
    /// models without a task, …).
    pub fn for_task(task: Option<&str>) -> Option<Format> {
        match task? {
            "llm/v1/chat" | "agent/v1/chat" => Some(Format::Chat),
            "llm/v1/completions" => Some(Format::Completions),
            "agent/v1/responses" | "agent/v2/responses" => Some(Format::Responses),
            "agent/v2/chat" => Some(Format::ChatAgent),
            _ => None,
        }
    }

    pub fn is_agent(self) -> bool {
        matches!(self, Format::Responses | Format::ChatAgent)
    }
}

/// One chat message as the caller sent it (already validated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// The request body for `format`, with `"stream": true`. Chat endpoints get `messages`,
/// completions endpoints a `prompt` built from them, agents `input` (Responses) or `messages`
/// (ChatAgent). `max_tokens` and `temperature` are sent to chat and completions endpoints only:
/// an agent chooses its own model settings.
pub fn request_body(
    format: Format,
    messages: &[Message],
    max_tokens: Option<u32>,
    temperature: Option<f64>,
) -> Value {
    let mut body = Map::new();
    match format {
        Format::Chat => {
            body.insert("messages".into(), json!(messages));
        }
        Format::Completions => {
            body.insert("prompt".into(), json!(completion_prompt(messages)));
        }
        Format::Responses => {
            body.insert("input".into(), json!(messages));
        }
        Format::ChatAgent => {
            body.insert("messages".into(), json!(messages));
        }
    }
    if !format.is_agent() {
        if let Some(n) = max_tokens {
            body.insert("max_tokens".into(), json!(n));
        }
        if let Some(t) = temperature {
            body.insert("temperature".into(), json!(t));
        }
    }
    body.insert("stream".into(), Value::Bool(true));
    Value::Object(body)
}

/// A completions prompt from chat messages: a single user message is the prompt itself; a
/// conversation becomes a transcript (`System: …`, `User: …`, `Assistant: …`, one blank line
/// apart) ending with `Assistant:` for the model to continue.
pub fn completion_prompt(messages: &[Message]) -> String {
    if let [only] = messages {
        if only.role == "user" {
            return only.content.clone();
        }
    }
    let mut prompt = String::new();
    for m in messages {
        let label = match m.role.as_str() {
            "system" => "System",
            "assistant" => "Assistant",
            _ => "User",
        };
        prompt.push_str(label);
        prompt.push_str(": ");
        prompt.push_str(&m.content);
        prompt.push_str("\n\n");
    }
    prompt.push_str("Assistant:");
    prompt
}

// ---------------------------------------------------------------------------------------------
// Opening the stream
// ---------------------------------------------------------------------------------------------

/// The most of an error body read before the stream (the rest is not needed for the message).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// `POST /serving-endpoints/{name}/invocations` with `body` (which asks for a stream) and
/// `Accept: text/event-stream`, as the caller. 429, 503, 504 and connection failures are
/// retried as an invocation is (`Policy::TRANSIENT`, `Retry-After` honoured), all inside
/// `deadline`. Returns once the endpoint answered 2xx, with the body still to read; nothing is
/// retried after that.
pub async fn open(
    client: &DatabricksClient,
    token: &Secret,
    name: &str,
    body: &[u8],
    deadline: Deadline,
) -> Result<StreamResponse, Failure> {
    let Some(host) = client.host() else {
        return Err(Failure::Upstream {
            error: UpstreamError::NotConfigured,
            attempts: 0,
        });
    };
    let url = format!(
        "{host}/serving-endpoints/{}/invocations",
        percent_encode(name)
    );
    let authorization = format!("Bearer {}", token.expose());
    retry::run(deadline, Policy::TRANSIENT, |_| async {
        let result = attempt(&url, &authorization, body, deadline).await;
        client.count_outcome("serving_stream", result.as_ref().err());
        result
    })
    .await
}

async fn attempt(
    url: &str,
    authorization: &str,
    body: &[u8],
    deadline: Deadline,
) -> Result<StreamResponse, UpstreamError> {
    let headers = [
        ("Authorization", authorization),
        ("Content-Type", "application/json"),
        ("Accept", "text/event-stream"),
        (
            "User-Agent",
            concat!("brickbox/", env!("CARGO_PKG_VERSION")),
        ),
    ];
    let request = StreamRequest {
        method: "POST",
        url,
        headers: &headers,
        body,
    };
    let end = tokio::time::Instant::from_std(deadline.end());
    let mut response =
        stream_client::send(&request, end)
            .await
            .map_err(|e| UpstreamError::Transport {
                timeout: e == StreamError::Timeout,
                message: e.to_string(),
            })?;
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let status = response.status;
    let retry_after = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let reason = response
        .header("x-databricks-reason-phrase")
        .map(str::to_string);
    let text = tokio::time::timeout_at(end, response.read_to_end(MAX_ERROR_BODY))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let (error_code, message) = parse_error_body(status, &text, reason.as_deref());
    Err(UpstreamError::Api {
        // A redirect is not followed: it is an answer brickbox cannot use.
        status: if status < 400 { 502 } else { status },
        error_code,
        message,
        retry_after,
    })
}

// ---------------------------------------------------------------------------------------------
// SSE lines
// ---------------------------------------------------------------------------------------------

/// What the line parser found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseItem {
    /// The data of one event (its `data:` lines joined with `\n`).
    Data(String),
    /// `data: [DONE]`: the stream is complete.
    Done,
}

/// Splits a byte stream into SSE events, whatever the chunk boundaries.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    data: Option<String>,
}

/// A line longer than `MAX_LINE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineTooLong;

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feed bytes; the events completed by them, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseItem>, LineTooLong> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            if self.line.len() + i > MAX_LINE {
                return Err(LineTooLong);
            }
            self.line.extend_from_slice(&rest[..i]);
            rest = &rest[i + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.on_line(&String::from_utf8_lossy(&line), &mut out);
        }
        if self.line.len() + rest.len() > MAX_LINE {
            return Err(LineTooLong);
        }
        self.line.extend_from_slice(rest);
        Ok(out)
    }

    /// The end of the stream: an event still open (no blank line after it) is complete.
    pub fn finish(&mut self) -> Vec<SseItem> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.on_line(
                String::from_utf8_lossy(&line).trim_end_matches('\r'),
                &mut out,
            );
        }
        self.dispatch(&mut out);
        out
    }

    fn on_line(&mut self, line: &str, out: &mut Vec<SseItem>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            }
        } else if line.starts_with('{') {
            // Newline-delimited JSON (`application/x-ndjson`): each line is an event.
            self.dispatch(out);
            self.data = Some(line.to_string());
            self.dispatch(out);
        }
        // `event:`, `id:`, `retry:` and unknown fields are ignored.
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        if let Some(data) = self.data.take() {
            if data.trim() == "[DONE]" {
                out.push(SseItem::Done);
            } else if !data.trim().is_empty() {
                out.push(SseItem::Data(data));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Events → text
// ---------------------------------------------------------------------------------------------

/// Token counts, as the chat function reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// Usage in either naming: `prompt_tokens`/`completion_tokens` (chat) or
/// `input_tokens`/`output_tokens` (Responses). `None` when neither count is there.
pub fn usage_from(value: &Value) -> Option<Usage> {
    let count = |a: &str, b: &str| {
        value
            .get(a)
            .or_else(|| value.get(b))
            .and_then(Value::as_u64)
    };
    let prompt = count("prompt_tokens", "input_tokens");
    let completion = count("completion_tokens", "output_tokens");
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    let (prompt, completion) = (prompt.unwrap_or(0), completion.unwrap_or(0));
    Some(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: value
            .get("total_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(prompt + completion),
    })
}

/// An error event inside the stream: its message, as the upstream wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamEventError {
    pub message: String,
}

/// Reads one endpoint's events in order: each call gives the pieces of text to send.
#[derive(Debug)]
pub struct Reader {
    format: Format,
    /// Everything sent so far, in order.
    answer: String,
    /// Responses: text streamed as deltas, per item id (`""` for deltas without one).
    streamed: HashMap<String, String>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    /// Responses: a `response.completed` (or `response.incomplete`) arrived.
    completed: bool,
}

impl Reader {
    pub fn new(format: Format) -> Reader {
        Reader {
            format,
            answer: String::new(),
            streamed: HashMap::new(),
            finish_reason: None,
            usage: None,
            completed: false,
        }
    }

    /// The text sent so far.
    pub fn answer(&self) -> &str {
        &self.answer
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// The finish reason for a stream that ended cleanly: the upstream's own, else `stop` for an
    /// agent (a completed agent response), else none.
    pub fn finish_reason(&self) -> Option<String> {
        match &self.finish_reason {
            Some(reason) => Some(reason.clone()),
            None if self.format.is_agent() => Some("stop".to_string()),
            None => None,
        }
    }

    /// The finish reason the upstream itself gave, if any (for a stream that did not finish).
    pub fn upstream_finish_reason(&self) -> Option<&str> {
        self.finish_reason.as_deref()
    }

    /// One event's data: the text pieces to send (often one, often none), or the upstream's
    /// error. Data that is not JSON is skipped.
    pub fn event(&mut self, data: &str) -> Result<Vec<String>, UpstreamEventError> {
        let Ok(value) = serde_json::from_str::<Value>(data) else {
            return Ok(Vec::new());
        };
        if let Some(e) = event_error(&value) {
            return Err(e);
        }
        let pieces = match self.format {
            Format::Chat | Format::Completions => self.chat_chunk(&value),
            Format::Responses => self.responses_event(&value),
            Format::ChatAgent => self.chat_agent_chunk(&value),
        };
        let pieces: Vec<String> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
        for p in &pieces {
            self.answer.push_str(p);
        }
        Ok(pieces)
    }

    fn chat_chunk(&mut self, value: &Value) -> Vec<String> {
        if let Some(u) = value.get("usage").and_then(usage_from) {
            self.usage = Some(u);
        }
        let Some(choice) = first_choice(value) else {
            return Vec::new();
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_string());
        }
        let mut text = String::new();
        if let Some(delta) = choice.get("delta") {
            content_text(delta.get("content"), &mut text);
        }
        // Completions chunks (and a lenient reading of chat ones).
        if let Some(t) = choice.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        vec![text]
    }

    fn chat_agent_chunk(&mut self, value: &Value) -> Vec<String> {
        if let Some(u) = value.get("usage").and_then(usage_from) {
            self.usage = Some(u);
        }
        if let Some(reason) = value.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_string());
        }
        let mut text = String::new();
        match value.get("delta") {
            Some(delta) => {
                // Tool calls and tool results are not assistant text.
                let role = delta.get("role").and_then(Value::as_str);
                if matches!(role, None | Some("assistant")) {
                    content_text(delta.get("content"), &mut text);
                }
            }
            // A lenient reading: a chat-completion-shaped chunk.
            None => return self.chat_chunk(value),
        }
        vec![text]
    }

    fn responses_event(&mut self, value: &Value) -> Vec<String> {
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "response.output_text.delta" => {
                let delta = value
                    .get("delta")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let id = value
                    .get("item_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.streamed
                    .entry(id.to_string())
                    .or_default()
                    .push_str(delta);
                vec![delta.to_string()]
            }
            "response.output_item.done" => {
                let Some(item) = value.get("item") else {
                    return Vec::new();
                };
                if item.get("type").and_then(Value::as_str) != Some("message") {
                    return Vec::new();
                }
                if item
                    .get("role")
                    .and_then(Value::as_str)
                    .unwrap_or("assistant")
                    != "assistant"
                {
                    return Vec::new();
                }
                let mut text = String::new();
                content_text(item.get("content"), &mut text);
                vec![self.unsent_part(item.get("id").and_then(Value::as_str), text)]
            }
            "response.completed" | "responses.completed" | "response.incomplete" => {
                self.completed = true;
                let response = value.get("response").unwrap_or(value);
                if let Some(u) = response.get("usage").and_then(usage_from) {
                    self.usage = Some(u);
                }
                let status = response.get("status").and_then(Value::as_str);
                let incomplete = kind == "response.incomplete" || status == Some("incomplete");
                self.finish_reason = Some(if incomplete {
                    match response
                        .get("incomplete_details")
                        .and_then(|d| d.get("reason"))
                        .and_then(Value::as_str)
                    {
                        Some("max_output_tokens") | None => "length".to_string(),
                        Some(other) => other.to_string(),
                    }
                } else {
                    "stop".to_string()
                });
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// What of an item's whole text has not been sent as deltas: all of it when no delta of the
    /// item came before, the missing end when the deltas were a prefix of it, else nothing.
    fn unsent_part(&mut self, id: Option<&str>, text: String) -> String {
        let streamed = match id {
            Some(id) => self
                .streamed
                .get(id)
                .or_else(|| self.streamed.get(""))
                .cloned(),
            // No id on the item: compare with everything streamed.
            None if self.answer.contains(&text) => return String::new(),
            None => self.streamed.get("").cloned(),
        };
        let key = id.unwrap_or_default().to_string();
        match streamed {
            None => {
                self.streamed.insert(key, text.clone());
                text
            }
            Some(sent) => match text.strip_prefix(sent.as_str()) {
                Some(rest) if !rest.is_empty() => {
                    self.streamed.insert(key, text.clone());
                    rest.to_string()
                }
                _ => String::new(),
            },
        }
    }
}

fn first_choice(value: &Value) -> Option<&Value> {
    let choices = value.get("choices")?.as_array()?;
    choices
        .iter()
        .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
}

/// Text of a `content` that is a string, or a list of items of which the text ones count
/// (`{"type":"text"|"output_text","text":…}`); reasoning, images and tool items do not.
fn content_text(content: Option<&Value>, out: &mut String) {
    match content {
        Some(Value::String(s)) => out.push_str(s),
        Some(Value::Array(items)) => {
            for item in items {
                let kind = item.get("type").and_then(Value::as_str);
                if matches!(kind, Some("text" | "output_text") | None) {
                    if let Some(t) = item.get("text").and_then(Value::as_str) {
                        out.push_str(t);
                    }
                }
            }
        }
        _ => {}
    }
}

/// The error an event carries, if it is one: a non-null `error` key (a string or an object with
/// a `message`), or an error `type`.
pub fn event_error(value: &Value) -> Option<UpstreamEventError> {
    let kind = value.get("type").and_then(Value::as_str);
    let error = value.get("error").filter(|e| !e.is_null());
    let typed = matches!(kind, Some("error" | "response.error" | "response.failed"));
    if error.is_none() && !typed {
        return None;
    }
    let message_of = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Object(_) => v.get("message").and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
    };
    let message = error
        .and_then(message_of)
        .or_else(|| {
            value
                .get("response")
                .and_then(|r| r.get("error"))
                .and_then(message_of)
        })
        .or_else(|| value.get("message").and_then(message_of))
        .or_else(|| {
            value
                .get("response")
                .and_then(|r| r.get("status"))
                .and_then(Value::as_str)
                .map(|s| format!("the response {s}"))
        })
        .unwrap_or_else(|| "the model reported an error".to_string());
    Some(UpstreamEventError { message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    /// Feed `stream` through the parser and a reader, split at every possible byte boundary
    /// in turn; the pieces and whether `[DONE]` came, the same for every split.
    fn read(format: Format, stream: &str) -> (Vec<String>, bool, Reader) {
        let mut result = None;
        for split in [1, 2, 3, 7, 64, stream.len().max(1)] {
            let mut parser = SseParser::new();
            let mut reader = Reader::new(format);
            let mut pieces = Vec::new();
            let mut done = false;
            let mut items = Vec::new();
            for chunk in stream.as_bytes().chunks(split) {
                items.extend(parser.push(chunk).unwrap());
            }
            items.extend(parser.finish());
            for item in items {
                match item {
                    SseItem::Done => done = true,
                    SseItem::Data(d) => pieces.extend(reader.event(&d).unwrap()),
                }
            }
            if let Some((p, d, _)) = &result {
                assert_eq!((p, d), (&pieces, &done), "split {split}");
            }
            result = Some((pieces, done, reader));
        }
        result.unwrap()
    }

    #[test]
    fn formats_follow_the_task() {
        assert_eq!(Format::for_task(Some("llm/v1/chat")), Some(Format::Chat));
        assert_eq!(
            Format::for_task(Some("llm/v1/completions")),
            Some(Format::Completions)
        );
        assert_eq!(
            Format::for_task(Some("agent/v1/responses")),
            Some(Format::Responses)
        );
        assert_eq!(
            Format::for_task(Some("agent/v2/responses")),
            Some(Format::Responses)
        );
        assert_eq!(
            Format::for_task(Some("agent/v2/chat")),
            Some(Format::ChatAgent)
        );
        assert_eq!(Format::for_task(Some("llm/v1/embeddings")), None);
        assert_eq!(Format::for_task(None), None);
    }

    #[test]
    fn request_bodies_per_format() {
        let messages = [msg("system", "Be brief."), msg("user", "Hi")];
        let chat = request_body(Format::Chat, &messages, Some(50), Some(0.5));
        assert_eq!(
            chat,
            json!({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                   "max_tokens": 50, "temperature": 0.5, "stream": true})
        );
        let completions = request_body(Format::Completions, &messages, None, None);
        assert_eq!(
            completions,
            json!({"prompt": "System: Be brief.\n\nUser: Hi\n\nAssistant:", "stream": true})
        );
        assert_eq!(completion_prompt(&[msg("user", "Hi")]), "Hi");
        let agent = request_body(Format::Responses, &messages, Some(5), Some(1.0));
        assert_eq!(agent["input"], chat["messages"]);
        assert_eq!(agent.get("max_tokens"), None);
        assert_eq!(agent["stream"], true);
        let chat_agent = request_body(Format::ChatAgent, &messages, None, None);
        assert_eq!(chat_agent["messages"], chat["messages"]);
    }

    #[test]
    fn the_line_parser_is_lenient() {
        let mut p = SseParser::new();
        let items = p
            .push(b": comment\r\nevent: message\r\nid: 7\r\nretry: 10\r\ndata: {\"a\":1}\r\n\r\ndata:x\ndata: y\n\n")
            .unwrap();
        assert_eq!(
            items,
            vec![
                SseItem::Data("{\"a\":1}".into()),
                SseItem::Data("x\ny".into())
            ]
        );
        // NDJSON lines, and a last event without its blank line or [DONE].
        let items = p
            .push(b"{\"b\":2}\n{\"c\":3}\ndata: [DONE]\n\ndata: {\"d\":4}")
            .unwrap();
        assert_eq!(
            items,
            vec![
                SseItem::Data("{\"b\":2}".into()),
                SseItem::Data("{\"c\":3}".into()),
                SseItem::Done
            ]
        );
        assert_eq!(p.finish(), vec![SseItem::Data("{\"d\":4}".into())]);
        let mut p = SseParser::new();
        assert_eq!(p.push(&vec![b'x'; MAX_LINE + 1]), Err(LineTooLong));
    }

    const CHAT: &str = concat!(
        "data: {\"id\":\"chatcmpl_1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":3,\"total_tokens\":17}}\n\n",
        "data: {\"id\":\"chatcmpl_1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello! \"},\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":3,\"total_tokens\":17}}\n\n",
        "data: {\"id\":\"chatcmpl_1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":[{\"type\":\"reasoning\",\"summary\":[]},{\"type\":\"text\",\"text\":\"How are you?\"}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl_1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":12,\"total_tokens\":26}}\n\n",
        "data: [DONE]\n\n"
    );

    #[test]
    fn chat_chunks() {
        let (pieces, done, reader) = read(Format::Chat, CHAT);
        assert_eq!(pieces, vec!["Hello! ", "How are you?"]);
        assert!(done);
        assert_eq!(reader.answer(), "Hello! How are you?");
        assert_eq!(reader.finish_reason().as_deref(), Some("stop"));
        assert_eq!(
            reader.usage(),
            Some(Usage {
                prompt_tokens: 14,
                completion_tokens: 12,
                total_tokens: 26
            })
        );
        // Without a finish reason or usage, a chat stream reports none.
        let (_, done, reader) = read(
            Format::Chat,
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
        );
        assert!(!done);
        assert_eq!((reader.finish_reason(), reader.usage()), (None, None));
    }

    #[test]
    fn completion_chunks() {
        let stream = concat!(
            "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"Once\",\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\" upon\",\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n",
            "data: [DONE]\n\n"
        );
        let (pieces, _, reader) = read(Format::Completions, stream);
        assert_eq!(pieces, vec!["Once", " upon"]);
        assert_eq!(reader.finish_reason().as_deref(), Some("length"));
        assert_eq!(reader.usage().unwrap().total_tokens, 5);
    }

    #[test]
    fn responses_events_are_deduplicated() {
        let stream = concat!(
            "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"output\":[]}}\n\n",
            "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":3,\"output_index\":0,\"content_index\":0,\"item_id\":\"msg_1\",\"delta\":\"I'll \"}\n\n",
            "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_1\",\"delta\":\"execute\"}\n\n",
            "event: response.output_item.done\n",
            "data: {\"type\":\"response.output_item.done\",\"sequence_number\":9,\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"status\":\"completed\",\"content\":[{\"type\":\"output_text\",\"text\":\"I'll execute\",\"annotations\":[]}]}}\n\n",
            "data: {\"type\":\"response.output_item.done\",\"item\":{\"id\":\"fc_1\",\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{}\"}}\n\n",
            "data: {\"type\":\"response.output_item.done\",\"item\":{\"id\":\"msg_2\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\" Done.\"}]}}\n\n",
            "data: {\"type\":\"response.completed\",\"sequence_number\":10,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":100,\"output_tokens\":12,\"total_tokens\":112}}}\n\n",
            "data: [DONE]\n\n"
        );
        let (pieces, done, reader) = read(Format::Responses, stream);
        assert_eq!(pieces, vec!["I'll ", "execute", " Done."]);
        assert!(done);
        assert_eq!(reader.answer(), "I'll execute Done.");
        assert_eq!(reader.finish_reason().as_deref(), Some("stop"));
        assert_eq!(
            reader.usage(),
            Some(Usage {
                prompt_tokens: 100,
                completion_tokens: 12,
                total_tokens: 112
            })
        );
    }

    #[test]
    fn responses_items_without_deltas_and_the_other_spelling() {
        // Only whole items, no [DONE], `responses.completed`, and an item whose deltas were a
        // prefix of its text (the rest is sent).
        let stream = concat!(
            "data: {\"type\":\"response.output_item.done\",\"item\":{\"id\":\"m1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Whole answer.\"}]}}\n\n",
            "data: {\"type\":\"response.output_text.delta\",\"item_id\":\"m2\",\"delta\":\" More\"}\n\n",
            "data: {\"type\":\"response.output_item.done\",\"item\":{\"id\":\"m2\",\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\" More text\"}]}}\n\n",
            "data: {\"type\":\"responses.completed\",\"response\":{\"status\":\"completed\"}}\n\n"
        );
        let (pieces, done, reader) = read(Format::Responses, stream);
        assert_eq!(pieces, vec!["Whole answer.", " More", " text"]);
        assert!(!done);
        assert_eq!(reader.finish_reason().as_deref(), Some("stop"));
        assert_eq!(reader.usage(), None);
        // A stream of items only, never completed, still ends as a completed agent response.
        let (_, _, reader) = read(
            Format::Responses,
            "data: {\"type\":\"response.output_item.done\",\"item\":{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"x\"}]}}\n\n",
        );
        assert_eq!(reader.answer(), "x");
        assert_eq!(reader.finish_reason().as_deref(), Some("stop"));
        // An incomplete response says why.
        let (_, _, reader) = read(
            Format::Responses,
            "data: {\"type\":\"response.incomplete\",\"response\":{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"}}}\n\n",
        );
        assert_eq!(reader.finish_reason().as_deref(), Some("length"));
    }

    #[test]
    fn chat_agent_deltas() {
        let stream = concat!(
            "data: {\"id\":\"c1\",\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\",\"id\":\"m1\"}}\n\n",
            "data: {\"id\":\"c2\",\"delta\":{\"role\":\"tool\",\"content\":\"{\\\"rows\\\":3}\",\"id\":\"t1\",\"tool_call_id\":\"x\"}}\n\n",
            "data: {\"id\":\"c3\",\"delta\":{\"role\":\"assistant\",\"content\":\" there\",\"id\":\"m1\"},\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n"
        );
        let (pieces, _, reader) = read(Format::ChatAgent, stream);
        assert_eq!(pieces, vec!["Hi", " there"]);
        assert_eq!(reader.finish_reason().as_deref(), Some("stop"));
        assert_eq!(reader.usage().unwrap().total_tokens, 6);
    }

    #[test]
    fn error_events_fail_even_in_a_200_stream() {
        let cases = [
            (
                r#"{"error": "Genie space unavailable"}"#,
                "Genie space unavailable",
            ),
            (
                r#"{"type":"error","code":"rate_limit","message":"slow down","sequence_number":4}"#,
                "slow down",
            ),
            (
                r#"{"type":"response.error","error":{"message":"tool failed"}}"#,
                "tool failed",
            ),
            (
                r#"{"type":"response.failed","response":{"status":"failed","error":{"type":"server_error","message":"boom"}}}"#,
                "boom",
            ),
            (r#"{"error": {"code": 1}}"#, "the model reported an error"),
        ];
        for format in [Format::Chat, Format::Responses, Format::ChatAgent] {
            for (data, message) in cases {
                let mut reader = Reader::new(format);
                assert_eq!(
                    reader.event(data),
                    Err(UpstreamEventError {
                        message: message.into()
                    }),
                    "{data}"
                );
            }
        }
        // A null error is no error; text that is not JSON is skipped.
        let mut reader = Reader::new(Format::Chat);
        assert_eq!(
            reader.event(r#"{"error": null, "choices": [{"delta": {"content": "ok"}}]}"#),
            Ok(vec!["ok".to_string()])
        );
        assert_eq!(reader.event("not json"), Ok(vec![]));
    }
}
