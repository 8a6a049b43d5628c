//! The response body hyper writes: the whole body at once, or a function's stream written chunk by
//! chunk as it arrives.
//!
//! A streamed body also carries what must happen when the stream is over, whichever way it ends
//! (finished, the client gone, the server shutting down): the request's log line and metrics row
//! (`Finish`), the connection's in-flight mark (so the idle timers do not count a long stream as an
//! idle connection), and the `brickbox_http_streams_open` gauge. All of that runs when hyper drops
//! the body, which it does as soon as the stream ends or the connection breaks.

use hyper::body::{Body, Bytes, Frame, SizeHint};
use shared::stream::{sse_error, Chunk, ResponseStream, SSE_KEEP_ALIVE};
use shared::{ApiError, AppState, ErrorCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// An SSE stream with nothing to send writes a `: keep-alive` comment this often.
pub const SSE_KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);
/// Open streams get this long after the shutdown signal before they are ended.
pub const STREAM_SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

pub enum ResponseBody {
    Full(Option<Bytes>),
    Stream(Box<StreamBody>),
}

impl ResponseBody {
    pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
        ResponseBody::Full(Some(bytes.into()))
    }

    pub fn empty() -> ResponseBody {
        ResponseBody::Full(None)
    }
}

/// What is done once when a streamed response ends: the log line and the metrics row, with the
/// whole duration of the stream.
pub trait Finish: Send + Sync {
    fn finish(self: Box<Self>, app: &AppState);
}

pub struct StreamBody {
    stream: ResponseStream,
    keep_alive: Option<Pin<Box<Sleep>>>,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
    /// The stream has ended (its last frame was returned).
    ended: bool,
    /// The shutdown error event has been written; the next poll ends the stream.
    shut_down: bool,
    app: Arc<AppState>,
    correlation_id: String,
    finish: Option<Box<dyn Finish>>,
    /// Dropped with the body: the connection's in-flight mark (see `server::HeadWait`).
    pub in_flight: Option<Box<dyn Send + Sync>>,
}

impl StreamBody {
    /// A body over `stream`; `shutdown` resolves when the server begins to shut down.
    pub fn new(
        stream: ResponseStream,
        app: Arc<AppState>,
        correlation_id: String,
        shutdown: tokio::sync::watch::Receiver<bool>,
        finish: Box<dyn Finish>,
    ) -> StreamBody {
        app.metrics.stream_open(true);
        let keep_alive = stream
            .is_sse
            .then(|| Box::pin(tokio::time::sleep(SSE_KEEP_ALIVE_EVERY)));
        StreamBody {
            stream,
            keep_alive,
            shutdown: Box::pin(shutdown_deadline(shutdown)),
            ended: false,
            shut_down: false,
            app,
            correlation_id,
            finish: Some(finish),
            in_flight: None,
        }
    }
}

/// Resolves `STREAM_SHUTDOWN_GRACE` after the server began to shut down; never if it does not.
async fn shutdown_deadline(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    if shutdown.wait_for(|down| *down).await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(STREAM_SHUTDOWN_GRACE).await;
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Stream(stream) => stream.poll_chunk(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(bytes) => bytes.is_none(),
            ResponseBody::Stream(stream) => stream.ended,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            ResponseBody::Stream(_) => SizeHint::default(),
        }
    }
}

impl StreamBody {
    fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.shut_down {
            self.ended = true;
            return Poll::Ready(None);
        }
        match self.stream.poll_next(cx) {
            Poll::Ready(Some(Chunk::Data(bytes))) => {
                if let Some(timer) = &mut self.keep_alive {
                    timer.as_mut().reset(Instant::now() + SSE_KEEP_ALIVE_EVERY);
                }
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(bytes)))));
            }
            Poll::Ready(Some(Chunk::Abort)) => {
                self.ended = true;
                // An error frame makes hyper end the connection (HTTP/1.1) or reset the stream
                // (HTTP/2) without the final chunk: the client sees the body is incomplete.
                return Poll::Ready(Some(Err(std::io::Error::other("the stream was aborted"))));
            }
            Poll::Ready(None) => {
                self.ended = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        if self.shutdown.as_mut().poll(cx).is_ready() {
            // The function sees its stream closed (and records CANCELLED where it logs).
            self.stream.close();
            if !self.stream.is_sse {
                self.ended = true;
                return Poll::Ready(Some(Err(std::io::Error::other("server shutting down"))));
            }
            self.shut_down = true;
            let error = ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The server is shutting down.",
            );
            let event = sse_error(&error, &self.correlation_id);
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(event)))));
        }
        if let Some(timer) = &mut self.keep_alive {
            if timer.as_mut().poll(cx).is_ready() {
                timer.as_mut().reset(Instant::now() + SSE_KEEP_ALIVE_EVERY);
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(SSE_KEEP_ALIVE)))));
            }
        }
        Poll::Pending
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        self.app.metrics.stream_open(false);
        if let Some(finish) = self.finish.take() {
            finish.finish(&self.app);
        }
    }
}
