//! Streamed bodies in the function model, in both directions, without hyper.
//!
//! * A function that answers with a stream returns a `Response` whose `stream` is a
//!   `ResponseStream`: the receiving half of a bounded channel of chunks. The function keeps the
//!   `StreamSender` in a task of its own and sends chunks (or SSE events) as they come. The runtime
//!   writes each chunk to the client as it arrives; `brickbox invoke` writes it to stdout.
//! * A function that declares a streamed request body (`RequestBody::Streamed`) gets the body as a
//!   `BodyStream`: chunks pulled one at a time, never the whole body in memory.
//! * When the client goes away the runtime drops the `ResponseStream`: `StreamSender::send` fails
//!   and `StreamSender::closed` resolves, so the function stops its work (and closes its upstream).
//!
//! The channel is bounded (a few chunks): a slow client slows the producer instead of growing a
//! queue.

use crate::error::ApiError;
use serde::Serialize;
use std::future::Future;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Chunks a stream may queue before `send` waits for the client.
const QUEUE_CHUNKS: usize = 8;

/// What a function sends down a response stream.
#[derive(Debug)]
pub enum Chunk {
    /// Bytes to write as they are (an SSE event already formatted, or raw file bytes).
    Data(Vec<u8>),
    /// The stream failed after its head was sent. For an SSE stream the runtime has already been
    /// sent the `event: error`; for a byte stream the runtime closes the connection without the
    /// final chunk, so the client sees a truncated body instead of a short file taken as whole.
    Abort,
}

/// The receiving half, held by the runtime (or `brickbox invoke`). Dropping it tells the function
/// the client is gone.
#[derive(Debug)]
pub struct ResponseStream {
    receiver: mpsc::Receiver<Chunk>,
    /// `text/event-stream`: the runtime adds keep-alive comments and, at shutdown, an error event.
    pub is_sse: bool,
}

impl ResponseStream {
    /// The next chunk; `None` once the function has dropped its sender (the stream is complete).
    pub async fn next(&mut self) -> Option<Chunk> {
        self.receiver.recv().await
    }

    /// `next` for a hand-written future or body (the runtime's response body).
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        self.receiver.poll_recv(cx)
    }

    /// Tell the function the stream is over (the server is shutting down) while the chunks
    /// already queued can still be read.
    pub fn close(&mut self) {
        self.receiver.close();
    }
}

/// The sending half, held by the function's task.
#[derive(Clone, Debug)]
pub struct StreamSender {
    sender: mpsc::Sender<Chunk>,
}

/// The client went away (or the server is shutting down and closed the stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientGone;

impl StreamSender {
    /// Send raw bytes; waits while the client is slower than the producer.
    pub async fn send(&self, bytes: impl Into<Vec<u8>>) -> Result<(), ClientGone> {
        self.sender
            .send(Chunk::Data(bytes.into()))
            .await
            .map_err(|_| ClientGone)
    }

    /// Send one server-sent event: `event: NAME\ndata: ONE-LINE-JSON\n\n`. serde_json never
    /// writes a raw newline inside a value, so the data is always one line.
    pub async fn event<T: Serialize + ?Sized>(
        &self,
        name: &str,
        data: &T,
    ) -> Result<(), ClientGone> {
        self.send(sse_event(name, data)).await
    }

    /// Send `event: error` with the error body (`error_code`, `message`, `correlation_id`), after
    /// which the caller ends the stream.
    pub async fn error(&self, error: &ApiError, correlation_id: &str) -> Result<(), ClientGone> {
        self.send(sse_error(error, correlation_id)).await
    }

    /// End a byte stream as failed: the client sees a truncated body, never a short one taken as
    /// complete.
    pub async fn abort(&self) {
        let _ = self.sender.send(Chunk::Abort).await;
    }

    /// Resolves once the client has gone away. A function selects on this while it waits for its
    /// upstream, so a client that leaves cancels the work within moments.
    pub fn closed(&self) -> impl Future<Output = ()> + '_ {
        self.sender.closed()
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

/// A new response stream: give the `ResponseStream` to `Response::stream` or `Response::sse`, and
/// the `StreamSender` to the task that produces the chunks.
pub fn channel(is_sse: bool) -> (StreamSender, ResponseStream) {
    let (sender, receiver) = mpsc::channel(QUEUE_CHUNKS);
    (StreamSender { sender }, ResponseStream { receiver, is_sse })
}

/// One SSE event as bytes.
pub fn sse_event<T: Serialize + ?Sized>(name: &str, data: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    if serde_json::to_writer(&mut out, data).is_err() {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"\n\n");
    out
}

/// The `event: error` of an SSE stream, with the same body as a JSON error response.
pub fn sse_error(error: &ApiError, correlation_id: &str) -> Vec<u8> {
    sse_event("error", &error.body(correlation_id))
}

/// The SSE comment sent while nothing else is (at least every 15 s), so proxies keep the
/// connection open.
pub const SSE_KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// A streamed request body, pulled chunk by chunk.
pub struct BodyStream {
    receiver: mpsc::Receiver<Result<Vec<u8>, BodyError>>,
    /// The declared `Content-Length`, when the client sent one.
    pub content_length: Option<u64>,
}

/// Why a streamed request body could not be read to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// More bytes than the function accepts (413).
    TooLarge { limit: u64 },
    /// No bytes for the body deadline (408).
    Stalled,
    /// The client went away or the connection broke.
    Broken(String),
}

impl BodyError {
    /// The error a function answers with when its body cannot be read.
    pub fn to_api_error(&self) -> ApiError {
        use crate::error::ErrorCode;
        match self {
            BodyError::TooLarge { limit } => ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("The request body is larger than {limit} bytes."),
            ),
            BodyError::Stalled => ApiError::new(
                ErrorCode::RequestTimeout,
                "The request body stalled: no bytes arrived for 30 seconds.",
            ),
            BodyError::Broken(detail) => {
                ApiError::invalid_request("The request body could not be read.")
                    .with_internal(detail.clone())
            }
        }
    }
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BodyStream(content_length={:?})", self.content_length)
    }
}

impl BodyStream {
    /// The next chunk, `Ok(None)` at the end of the body.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, BodyError> {
        match self.receiver.recv().await {
            Some(Ok(chunk)) => Ok(Some(chunk)),
            Some(Err(e)) => Err(e),
            None => Ok(None),
        }
    }

    /// A stream over bytes already in memory (unit tests and `brickbox invoke --body FILE`).
    pub fn from_bytes(bytes: Vec<u8>) -> BodyStream {
        let (sender, stream) = body_channel(Some(bytes.len() as u64));
        // Capacity is at least one, and the receiver is alive: `try_send` cannot fail here.
        let _ = sender.try_send(Ok(bytes));
        stream
    }
}

/// The runtime's side of a streamed request body.
pub type BodySender = mpsc::Sender<Result<Vec<u8>, BodyError>>;

/// A new streamed request body; the runtime keeps the sender and feeds it the client's chunks.
pub fn body_channel(content_length: Option<u64>) -> (BodySender, BodyStream) {
    let (sender, receiver) = mpsc::channel(4);
    (
        sender,
        BodyStream {
            receiver,
            content_length,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn an_sse_event_is_one_line_of_json() {
        let event = sse_event("delta", &serde_json::json!({"text": "a\nb"}));
        assert_eq!(
            String::from_utf8(event).unwrap(),
            "event: delta\ndata: {\"text\":\"a\\nb\"}\n\n"
        );
        let error = ApiError::new(ErrorCode::ModelTimeout, "too slow");
        let text = String::from_utf8(sse_error(&error, "cid-1")).unwrap();
        assert!(text.starts_with("event: error\ndata: {"), "{text}");
        assert!(text.contains("\"error_code\":\"MODEL_TIMEOUT\""), "{text}");
        assert!(text.contains("\"correlation_id\":\"cid-1\""), "{text}");
    }

    #[tokio::test]
    async fn a_dropped_receiver_is_seen_by_the_sender() {
        let (sender, stream) = channel(true);
        sender.event("status", &1).await.unwrap();
        drop(stream);
        sender.closed().await;
        assert_eq!(sender.send(b"x".to_vec()).await, Err(ClientGone));
    }

    #[tokio::test]
    async fn a_body_stream_yields_its_chunks_then_the_end() {
        let mut body = BodyStream::from_bytes(b"hello".to_vec());
        assert_eq!(body.next().await.unwrap(), Some(b"hello".to_vec()));
        assert_eq!(body.next().await.unwrap(), None);
    }
}
