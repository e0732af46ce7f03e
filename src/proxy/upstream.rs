//! The way to the upstream: one pooled hyper client per serving runtime, the upstream's URI and
//! `Host` of a call, and the send under the call's deadline.
//!
//! Owns: [`UpstreamClient`] and which thread uses which ([`set_serving_slot`]), the upstream URI
//! of `/v1/{rest}?{query}`, the one deadline of a call (answer and body, every attempt), the
//! mapping of a call that never got an answer to its settlement, the loop of a call the
//! gateway sends again (`retry.rs` says when, and reads the 429 it decides on), the recording
//! of a call whose client leaves before its answer ([`Pending`]).
//! Must not: read or change bodies, or hold a lock across an `.await`.

use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::uri::{Authority, PathAndQuery, Scheme, Uri};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use chrono::Utc;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::MAX_SERVING_RUNTIMES;
use crate::error::AppError;
use crate::proxy::answer::End;
use crate::proxy::retry::{self, HeldBody, Resend};
use crate::proxy::settle::Settlement;
use crate::proxy::Proxy;

/// The upstream HTTP client: hyper's pooled client over rustls (HTTP/1.1, or HTTP/2 where
/// the upstream offers it by ALPN). Used directly rather than through reqwest, which parsed a
/// URL and boxed a timeout and a body stream for every call.
pub(super) type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

thread_local! {
    /// Which upstream client this thread's calls use: 0 on the shared runtime, `i + 1` on the
    /// `i`-th serving runtime (set by [`set_serving_slot`]).
    static SERVING_SLOT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the current thread as the `i`-th serving runtime's.
pub fn set_serving_slot(i: usize) {
    SERVING_SLOT.set(i + 1);
}

/// The upstream's `Host`: its host, and its port unless it is the scheme's default (as
/// hyper's client would write it).
pub(super) fn host_header(scheme: &Scheme, authority: &Authority) -> HeaderValue {
    let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
    let host = match authority.port_u16() {
        Some(p) if p != default_port => format!("{}:{p}", authority.host()),
        _ => authority.host().to_string(),
    };
    // An authority is visible ASCII, always a valid header value.
    HeaderValue::from_str(&host).unwrap_or(HeaderValue::from_static(""))
}

/// One pooled client per serving runtime, plus one for the shared runtime (see
/// [`set_serving_slot`]): a connection then lives on the runtime whose calls use it, so no call
/// wakes another thread. HTTP/1.1, or HTTP/2 where the upstream offers it by ALPN.
pub(super) fn clients(serving_runtimes: usize) -> Vec<UpstreamClient> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    (0..=serving_runtimes.min(MAX_SERVING_RUNTIMES))
        .map(|_| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(1024)
                .build(https.clone())
        })
        .collect()
}

/// The upstream request of a call: the caller's method, the upstream URI and headers, the body
/// as read. The client picks HTTP/2 itself when the upstream offers it.
pub(super) fn upstream_request(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Request<Body> {
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    req
}

impl Proxy {
    /// This thread's upstream client.
    fn client(&self) -> &UpstreamClient {
        let slot = SERVING_SLOT.get();
        self.clients.get(slot).unwrap_or(&self.clients[0])
    }

    /// The upstream URI of `/v1/{rest}?{query}`.
    pub(super) fn upstream_uri(&self, rest: &str, query: Option<&str>) -> Result<Uri, AppError> {
        let mut pq = String::with_capacity(
            self.base_path.len() + rest.len() + 1 + query.map_or(0, |q| q.len() + 1),
        );
        pq.push_str(&self.base_path);
        pq.push('/');
        pq.push_str(rest);
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        let pq = PathAndQuery::try_from(pq).map_err(|_| {
            AppError::bad_request("The request path is not a valid URI path.", None)
        })?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|_| AppError::bad_request("The request path is not a valid URI path.", None))
    }

    /// Sends the call and answers with the upstream's answer, metered on its way back. One
    /// deadline covers the whole call, answer and body, like the OpenAI SDKs' timeout (and
    /// every attempt of a call the gateway retries); a call that gets no answer is settled as
    /// failed. A call that may be `resend` is sent again after an upstream
    /// `rate_limit_exceeded`, when the wait ends before the deadline (see `retry.rs`).
    pub(super) async fn send(
        &self,
        settlement: Settlement,
        req: Request<Body>,
        mut resend: Option<Resend>,
        strip_usage_chunk: bool,
    ) -> Result<Response<Body>, AppError> {
        let mut deadline: Pin<Box<tokio::time::Sleep>> = Box::pin(tokio::time::sleep(self.timeout));
        // Recorded even if the client leaves while the gateway waits for the upstream.
        let mut pending = Pending(Some(settlement));
        let mut req = req;
        let exit = loop {
            let sent = Instant::now();
            let result = tokio::select! {
                biased;
                r = self.client().request(req) => r,
                () = deadline.as_mut() => break Exit::TimedOut,
            };
            let resp = match result {
                Ok(r) => r,
                Err(e) => break Exit::Unreachable(e),
            };
            self.meters
                .upstream_latency
                .record(sent.elapsed().as_secs_f64());
            let again = match resend.as_mut() {
                Some(r) if r.left > 0 && resp.status() == StatusCode::TOO_MANY_REQUESTS => r,
                _ => break Exit::Answer(resp),
            };
            // A 429 of a call that may be sent again: read whole before anything is answered.
            let (head, incoming) = resp.into_parts();
            let body = tokio::select! {
                biased;
                b = retry::read_error_body(&head.headers, incoming) => b,
                () = deadline.as_mut() => break Exit::TimedOut,
            };
            let Some(s) = pending.0.as_mut() else {
                break Exit::Held(Response::from_parts(head, body));
            };
            let now = Utc::now();
            let whole = body.whole();
            let wait = whole
                .as_ref()
                .and_then(|b| retry::wait_before(s.call.upstream_retries, &head.headers, b, now));
            let ends = deadline.deadline().into_std();
            let Some(wait) = wait.filter(|w| Instant::now() + *w < ends) else {
                break Exit::Held(Response::from_parts(head, body));
            };
            s.observe_retried(&head.headers, whole.as_deref().unwrap_or_default(), now);
            // Ends before the deadline (checked above). A client that leaves meanwhile ends
            // the call with this 429 (see `Pending`).
            tokio::time::sleep(wait).await;
            s.call.upstream_retries += 1;
            again.left -= 1;
            retry::count(&s.call.caller.workspace.id);
            req = again.request();
        };
        let Some(s) = pending.0.take() else {
            return Err(AppError::Internal("a call's settlement was lost".into()));
        };
        match exit {
            Exit::Answer(resp) => Ok(self.respond(s, resp, strip_usage_chunk, deadline)),
            Exit::Held(resp) => Ok(self.respond(s, resp, strip_usage_chunk, deadline)),
            Exit::TimedOut => {
                s.fail("error-upstream-timeout");
                Err(AppError::UpstreamTimeout(self.timeout.as_secs()))
            }
            Exit::Unreachable(e) => {
                s.fail("error-upstream-unreachable");
                Err(AppError::UpstreamUnreachable(e))
            }
        }
    }
}

/// How the wait for the upstream ended.
enum Exit {
    /// The upstream's answer, its body unread.
    Answer(Response<Incoming>),
    /// An answer whose body the gateway started to read (a 429 it did not retry).
    Held(Response<HeldBody>),
    /// The call's deadline passed first.
    TimedOut,
    /// The upstream could not be reached.
    Unreachable(hyper_util::client::legacy::Error),
}

/// A call's settlement while the gateway waits for the upstream. If the client leaves
/// meanwhile (the call's future is dropped), the call is still settled and recorded, as a
/// call whose client left; otherwise it is taken out once the wait ends.
struct Pending(Option<Settlement>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.settle_body(&[], End::ClientGone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_drops_only_a_default_port() {
        let host = |s: Scheme, a: &str| {
            let a: Authority = a.parse().unwrap_or_else(|e| panic!("{e}"));
            host_header(&s, &a)
        };
        assert_eq!(host(Scheme::HTTPS, "api.openai.com"), "api.openai.com");
        assert_eq!(host(Scheme::HTTPS, "api.openai.com:443"), "api.openai.com");
        assert_eq!(
            host(Scheme::HTTPS, "api.openai.com:8443"),
            "api.openai.com:8443"
        );
        assert_eq!(host(Scheme::HTTP, "127.0.0.1:80"), "127.0.0.1");
        assert_eq!(host(Scheme::HTTP, "127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(host(Scheme::HTTP, "[::1]:9000"), "[::1]:9000");
    }
}
