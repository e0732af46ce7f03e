//! The answer's way back: the upstream's head as the client gets it, and the metered body that
//! forwards the answer frame by frame, reads its usage on the way (the stream tap for events,
//! the kept chunks of a JSON body) and settles the call when it ends, is cut, or the client
//! leaves.
//!
//! Owns: the choice of how a body is read ([`Mode`]), how it ended ([`End`]), the body's share
//! of the call's deadline. Must not: copy or buffer a stream (a JSON body's chunks are kept by
//! reference count, up to [`MAX_COLLECT`]), allocate per chunk, or settle twice.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{header, Response, Version};
use axum::BoxError;
use bytes::Bytes;
use chrono::Utc;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;

use crate::proxy::media::{media_kind, Media};
use crate::proxy::retry::HeldBody;
use crate::proxy::settle::{after_flush, Settlement};
use crate::proxy::sse::StreamTap;
use crate::proxy::Proxy;

/// JSON responses larger than this are passed through without usage extraction.
const MAX_COLLECT: usize = 64 * 1024 * 1024;

impl Proxy {
    /// The client's answer: the upstream's head (see [`Proxy::answer_headers`]) and its body,
    /// metered: hyper's body as it comes, or one whose first bytes the gateway has read
    /// ([`HeldBody`]).
    pub(super) fn respond<B: UpstreamBody>(
        &self,
        mut s: Settlement,
        resp: Response<B>,
        strip_usage_chunk: bool,
        deadline: Pin<Box<tokio::time::Sleep>>,
    ) -> Response<Body> {
        let (mut head, incoming) = resp.into_parts();
        let status = head.status;
        s.note_answer(status.as_u16(), &head.headers, Utc::now());
        // Read as the request's is: `Application/JSON` is metered like `application/json`.
        let media = head
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map_or(Media::Other, media_kind);
        let mode = if media == Media::EventStream {
            let kind = s.call.kind.spec().stream.stripping(strip_usage_chunk);
            Mode::Sse(Box::new(StreamTap::new(kind, s.request.info.model.clone())))
        } else if media == Media::Json || status.as_u16() >= 400 {
            Mode::Collect {
                chunks: Vec::new(),
                len: 0,
                overflow: false,
            }
        } else {
            Mode::Pass
        };
        let changes_length = matches!(mode, Mode::Sse(_)) && strip_usage_chunk;
        self.answer_headers(&mut head.headers, &s.call, changes_length);
        // The client's connection has its own version; an HTTP/2 upstream does not change it.
        head.version = Version::HTTP_11;
        let expected = incoming.size_hint().exact();
        let body = MeteredBody {
            received: 0,
            expected,
            keeps_length: !changes_length,
            inner: incoming,
            deadline,
            mode,
            settlement: Some(s),
            tail: None,
        };
        Response::from_parts(head, Body::new(body))
    }
}

/// The body of an upstream answer.
pub(super) trait UpstreamBody:
    HttpBody<Data = Bytes, Error = hyper::Error> + Unpin + Send + 'static
{
}

impl UpstreamBody for Incoming {}
impl UpstreamBody for HeldBody {}

/// What happens to the response body on its way to the client.
enum Mode {
    /// Server-sent events: tapped event by event.
    Sse(Box<StreamTap>),
    /// A JSON (or error) body: the chunks are kept (reference-counted, not copied) to be read
    /// once it ends.
    Collect {
        chunks: Vec<Bytes>,
        len: usize,
        overflow: bool,
    },
    /// Anything else (audio, file contents): passed through untouched.
    Pass,
}

/// How a body ended.
pub(super) enum End {
    /// The upstream finished it.
    Complete,
    /// The upstream connection failed mid-body.
    UpstreamCut,
    /// The client went away first.
    ClientGone,
}

/// The response body: forwards frames as they come and settles the call at the end.
struct MeteredBody<B> {
    /// Bytes received from the upstream so far, and how many it announced: hyper stops
    /// polling a body once its `Content-Length` is written, so "all received" is the end.
    received: u64,
    expected: Option<u64>,
    /// False when the tap rewrites the stream (the injected usage chunk is removed).
    keeps_length: bool,
    inner: B,
    /// The call's deadline, shared with the wait for the answer's head.
    deadline: Pin<Box<tokio::time::Sleep>>,
    mode: Mode,
    settlement: Option<Settlement>,
    /// Bytes the SSE tap held back, sent after the upstream ends.
    tail: Option<Bytes>,
}

/// The upstream took longer than `upstream.timeout_seconds` to send the whole body.
#[derive(Debug, thiserror::Error)]
#[error("the upstream did not finish the response within the timeout")]
struct BodyTimeout;

impl<B: UpstreamBody> HttpBody for MeteredBody<B> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if let Some(t) = this.tail.take() {
                return Poll::Ready(Some(Ok(Frame::data(t))));
            }
            if this.settlement.is_none() {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => {
                    if this.deadline.as_mut().poll(cx).is_ready() {
                        this.finish(End::UpstreamCut);
                        return Poll::Ready(Some(Err(BodyTimeout.into())));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let chunk = match frame.into_data() {
                        Ok(chunk) => chunk,
                        // Trailers pass through as they are.
                        Err(frame) => return Poll::Ready(Some(Ok(frame))),
                    };
                    this.received += chunk.len() as u64;
                    let out = match &mut this.mode {
                        Mode::Sse(tap) => tap.push(chunk),
                        Mode::Collect {
                            chunks,
                            len,
                            overflow,
                        } => {
                            if !*overflow {
                                *len += chunk.len();
                                if *len <= MAX_COLLECT {
                                    chunks.push(chunk.clone());
                                } else {
                                    *overflow = true;
                                    chunks.clear();
                                }
                            }
                            chunk
                        }
                        Mode::Pass => chunk,
                    };
                    if this.expected == Some(this.received) {
                        this.finish(End::Complete);
                    }
                    if out.is_empty() {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.finish(End::UpstreamCut);
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Ready(None) => {
                    this.finish(End::Complete);
                    // `finish` may have set a tail; the loop sends it, then ends.
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.settlement.is_none() && self.tail.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (self.keeps_length, self.expected) {
            (true, Some(n)) => SizeHint::with_exact(n.saturating_sub(self.received)),
            _ => SizeHint::default(),
        }
    }
}

impl<B> MeteredBody<B> {
    fn finish(&mut self, end: End) {
        let Some(mut s) = self.settlement.take() else {
            return;
        };
        s.take_late_model();
        let mode = std::mem::replace(&mut self.mode, Mode::Pass);
        match mode {
            Mode::Sse(tap) => {
                let (tail, outcome) = (*tap).finish();
                if !tail.is_empty() && matches!(end, End::Complete) {
                    self.tail = Some(tail);
                }
                s.settle_stream(outcome, end);
            }
            Mode::Collect {
                chunks, overflow, ..
            } => {
                let proxy = s.proxy().clone();
                after_flush(&proxy, move || {
                    let body: Bytes = if overflow {
                        Bytes::new()
                    } else if chunks.len() == 1 {
                        chunks.into_iter().next().unwrap_or_default()
                    } else {
                        let mut v = Vec::with_capacity(chunks.iter().map(Bytes::len).sum());
                        for c in &chunks {
                            v.extend_from_slice(c);
                        }
                        Bytes::from(v)
                    };
                    s.settle_body(&body, end);
                });
            }
            Mode::Pass => {
                let proxy = s.proxy().clone();
                after_flush(&proxy, move || s.settle_body(&[], end));
            }
        }
    }
}

impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        // The client left before the end: the call is still recorded.
        let end = if self.expected == Some(self.received) {
            End::Complete
        } else {
            End::ClientGone
        };
        self.finish(end);
    }
}
