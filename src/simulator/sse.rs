//! Server-sent-event bodies: each event is its own body frame (flushed as it
//! is produced), `stream_chunk_delay_ms` apart (each optionally preceded by a
//! `: sent_ns=…` comment event, `stamp_stream_events`), optionally cut short by a
//! [`super::Fault::CutStream`] with an I/O error so the client sees an
//! unterminated chunked body. Usage carried by the stream is added to the
//! simulator's `tokens_reported` only when its event is actually sent.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;

use super::wire::ApiError;
use super::{Ctx, Inner, Metered};

/// Marks a response whose body is an event stream (cut faults are applied
/// per event instead of by truncating the body).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SseMarker;

/// The terminating event of chat/completions streams.
pub(crate) const DONE: Bytes = Bytes::from_static(b"data: [DONE]\n\n");

/// `data: {json}\n\n`
pub(crate) fn data_event<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, ApiError> {
    let mut buf = Vec::with_capacity(320);
    buf.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut buf, value)?;
    buf.extend_from_slice(b"\n\n");
    Ok(Bytes::from(buf))
}

/// `event: name\ndata: {json}\n\n`
pub(crate) fn named_event<T: Serialize + ?Sized>(name: &str, value: &T) -> Result<Bytes, ApiError> {
    let mut buf = Vec::with_capacity(384);
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    serde_json::to_writer(&mut buf, value)?;
    buf.extend_from_slice(b"\n\n");
    Ok(Bytes::from(buf))
}

/// `event`, preceded by the comment event `: sent_ns=<now as Unix nanoseconds>\n\n`.
fn stamped(event: &Bytes) -> Bytes {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut buf = Vec::with_capacity(event.len() + 32);
    buf.extend_from_slice(format!(": sent_ns={ns}\n\n").as_bytes());
    buf.extend_from_slice(event);
    Bytes::from(buf)
}

struct State {
    events: std::vec::IntoIter<Bytes>,
    idx: usize,
    delay: Duration,
    stamp: bool,
    cut: Option<u32>,
    usage_at: Option<usize>,
    usage: Metered,
    inner: Arc<Inner>,
    finished: bool,
}

/// A `200 text/event-stream` response streaming `events`. `usage_at` is the
/// index of the event carrying `usage` (reported when sent); `usage` is also
/// what the rate-limit token bucket is charged.
pub(crate) fn sse_response(
    ctx: &Ctx,
    events: Vec<Bytes>,
    usage_at: Option<usize>,
    usage: Metered,
) -> Response {
    let state = State {
        events: events.into_iter(),
        idx: 0,
        delay: Duration::from_millis(ctx.inner.cfg.stream_chunk_delay_ms),
        stamp: ctx.inner.cfg.stamp_stream_events,
        cut: ctx.cut,
        usage_at,
        usage,
        inner: ctx.inner.clone(),
        finished: false,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        if st.finished {
            return None;
        }
        if st.idx > 0 && !st.delay.is_zero() {
            tokio::time::sleep(st.delay).await;
        }
        if st.cut.is_some_and(|n| st.idx >= n as usize) {
            st.finished = true;
            // Let hyper flush what it has buffered (it drops buffered bytes
            // when a body fails), then fail the body.
            tokio::task::yield_now().await;
            let err = std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "simulated upstream stream cut",
            );
            return Some((Err(err), st));
        }
        let event = st.events.next()?;
        if st.usage_at == Some(st.idx) {
            st.inner.report(st.usage);
        }
        st.idx += 1;
        let event = if st.stamp { stamped(&event) } else { event };
        Some((Ok::<Bytes, std::io::Error>(event), st))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp.extensions_mut().insert(SseMarker);
    resp.extensions_mut().insert(Metered {
        report: false,
        ..usage
    });
    resp
}
