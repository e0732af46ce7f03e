//! Gateway-side retries of an upstream `rate_limit_exceeded` (`upstream_retries = N`, off by
//! default): the same call is sent again, at most N more times, after the wait the upstream
//! asks for, as long as that wait ends before the call's deadline.
//!
//! Owns: [`Resend`] (what a call needs to be sent again), the read of a 429's body before the
//! gateway answers (at most [`MAX_INSPECTED_BODY`] bytes, and only a JSON one: anything else is
//! passed on untouched and never retried), the body of an answer the gateway has started to
//! read ([`HeldBody`]), the wait before another attempt ([`wait_before`]: the upstream's delay,
//! else an exponential backoff with jitter), the `qs_upstream_retries_total` counter.
//! Which 429 may be retried is [`signals::retryable_at`]'s (never `insufficient_quota` nor a
//! billing limit); each retried attempt is observed by the status engine as the call's own
//! answer would be (`Settlement::observe_retried`), and the call is settled once, with its last
//! answer. Only a call whose body the gateway holds (JSON, read whole) can be sent again: an
//! upload or a streamed body is never retried.
//! Must not: retry after any byte of an answer went to the client (the 429 is read whole by
//! the gateway before it decides), wait past the call's deadline, or buffer more of an answer
//! than [`MAX_INSPECTED_BODY`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, Uri};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rand::Rng;

use crate::proxy::media::{content_length, media_kind, Media};
use crate::proxy::signals;
use crate::proxy::upstream::upstream_request;

/// A 429's body is read by the gateway (to see whether it may be retried) up to this size; a
/// larger one is passed on as it is, never retried.
pub(super) const MAX_INSPECTED_BODY: usize = 64 * 1024;

/// The first wait when the upstream says none, doubled at each retry (with ±20 % jitter).
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// The longest backoff.
const BACKOFF_MAX: Duration = Duration::from_secs(8);

/// What it takes to send a call again: its request as it went upstream, and how many more
/// times it may be sent.
pub(super) struct Resend {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    /// Retries left.
    pub left: u32,
}

impl Resend {
    /// A call that may be sent `retries` more times (copies of its head; the body is shared).
    pub(super) fn new(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
        retries: u32,
    ) -> Resend {
        Resend {
            method: method.clone(),
            uri: uri.clone(),
            headers: headers.clone(),
            body,
            left: retries,
        }
    }

    /// The same request again.
    pub(super) fn request(&self) -> Request<Body> {
        upstream_request(
            self.method.clone(),
            self.uri.clone(),
            self.headers.clone(),
            Body::from(self.body.clone()),
        )
    }
}

/// The body of an upstream answer whose first bytes the gateway has read: those bytes, then
/// what the read ended on (an error, the trailers), then the rest of the upstream's body.
pub(super) struct HeldBody {
    held: VecDeque<Bytes>,
    held_len: usize,
    error: Option<hyper::Error>,
    trailers: Option<HeaderMap>,
    rest: Option<Incoming>,
}

impl HeldBody {
    /// The whole body, when the gateway read all of it.
    pub(super) fn whole(&self) -> Option<Bytes> {
        if self.rest.is_some() || self.error.is_some() {
            return None;
        }
        Some(match self.held.len() {
            0 => Bytes::new(),
            1 => self.held[0].clone(),
            _ => {
                let mut v = Vec::with_capacity(self.held_len);
                for c in &self.held {
                    v.extend_from_slice(c);
                }
                Bytes::from(v)
            }
        })
    }
}

/// Reads an error answer's body for the gateway to judge: whole, if it is JSON and at most
/// [`MAX_INSPECTED_BODY`] bytes (by its announced length, else as it comes); otherwise what was
/// read and the rest, to be passed on as they are.
pub(super) async fn read_error_body(headers: &HeaderMap, mut incoming: Incoming) -> HeldBody {
    let mut body = HeldBody {
        held: VecDeque::new(),
        held_len: 0,
        error: None,
        trailers: None,
        rest: None,
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| media_kind(t) == Media::Json);
    if !json || content_length(headers).is_some_and(|n| n > MAX_INSPECTED_BODY as u64) {
        body.rest = Some(incoming);
        return body;
    }
    loop {
        match incoming.frame().await {
            None => return body,
            Some(Err(e)) => {
                body.error = Some(e);
                return body;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(chunk) => {
                    body.held_len += chunk.len();
                    body.held.push_back(chunk);
                    if body.held_len > MAX_INSPECTED_BODY {
                        body.rest = Some(incoming);
                        return body;
                    }
                }
                Err(frame) => {
                    // Trailers end a body.
                    body.trailers = frame.into_trailers().ok();
                    return body;
                }
            },
        }
    }
}

impl HttpBody for HeldBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some(chunk) = this.held.pop_front() {
            this.held_len -= chunk.len();
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if let Some(e) = this.error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        if let Some(t) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(t))));
        }
        match &mut this.rest {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_empty()
            && self.error.is_none()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let held = self.held_len as u64;
        if self.error.is_some() {
            let mut h = SizeHint::new();
            h.set_lower(held);
            return h;
        }
        match self.rest.as_ref().map(HttpBody::size_hint) {
            None => SizeHint::with_exact(held),
            Some(rest) => match rest.exact() {
                Some(n) => SizeHint::with_exact(held.saturating_add(n)),
                None => {
                    let mut h = SizeHint::new();
                    h.set_lower(held.saturating_add(rest.lower()));
                    h
                }
            },
        }
    }
}

/// How long to wait before the `retry`-th retry (0 for the first) of an answer read whole, if
/// it may be retried at all ([`signals::retryable_at`]): the delay the upstream asked for,
/// else [`backoff`].
pub(super) fn wait_before(
    retry: u32,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Option<Duration> {
    let r = signals::retryable_at(429, headers, body, now)?;
    Some(
        r.after
            .unwrap_or_else(|| backoff(retry, rand::rng().random_range(0.8..1.2))),
    )
}

/// The `retry`-th backoff (0.5 s, 1 s, 2 s… up to [`BACKOFF_MAX`]), scaled by `jitter`.
fn backoff(retry: u32, jitter: f64) -> Duration {
    BACKOFF_FIRST
        .saturating_mul(1u32 << retry.min(10))
        .min(BACKOFF_MAX)
        .mul_f64(jitter)
}

/// Counts a retry in `qs_upstream_retries_total{workspace}`.
pub(super) fn count(workspace: &str) {
    metrics::counter!("qs_upstream_retries_total", "workspace" => workspace.to_string())
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let at = |r| backoff(r, 1.0);
        assert_eq!(at(0), Duration::from_millis(500));
        assert_eq!(at(1), Duration::from_secs(1));
        assert_eq!(at(2), Duration::from_secs(2));
        assert_eq!(at(4), BACKOFF_MAX);
        assert_eq!(at(40), BACKOFF_MAX);
        assert_eq!(backoff(1, 0.8), Duration::from_millis(800));
        assert_eq!(backoff(1, 1.2), Duration::from_millis(1200));
    }

    #[test]
    fn a_rate_limit_waits_what_the_upstream_asks_else_backs_off() {
        let now = Utc::now();
        let body = br#"{"error":{"message":"Rate limit reached.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after-ms",
            "250".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(
            wait_before(0, &h, body, now),
            Some(Duration::from_millis(250))
        );
        let wait = wait_before(1, &HeaderMap::new(), body, now).unwrap_or_default();
        assert!(
            (Duration::from_millis(800)..=Duration::from_millis(1200)).contains(&wait),
            "{wait:?}"
        );
        let quota = br#"{"error":{"message":"quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(wait_before(0, &h, quota, now), None);
    }
}
