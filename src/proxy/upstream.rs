//! The way to the upstream: one pooled hyper client per serving runtime, the upstream's URI and
//! `Host` of a call, and the send under the call's deadline.
//!
//! Owns: [`UpstreamClient`] and which thread uses which ([`set_serving_slot`]), the upstream URI
//! of `/v1/{rest}?{query}`, the one deadline of a call (answer and body), the mapping of a call
//! that never got an answer to its settlement.
//! Must not: read or change bodies, or hold a lock across an `.await`.

use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::uri::{Authority, PathAndQuery, Scheme, Uri};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::MAX_SERVING_RUNTIMES;
use crate::error::AppError;
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
    /// deadline covers the whole call, answer and body, like the OpenAI SDKs' timeout; a call
    /// that gets no answer is settled as failed.
    pub(super) async fn send(
        &self,
        settlement: Settlement,
        req: Request<Body>,
        strip_usage_chunk: bool,
    ) -> Result<Response<Body>, AppError> {
        let sent = Instant::now();
        let mut deadline: Pin<Box<tokio::time::Sleep>> = Box::pin(tokio::time::sleep(self.timeout));
        let result = tokio::select! {
            biased;
            r = self.client().request(req) => r,
            () = deadline.as_mut() => {
                settlement.fail("error-upstream-timeout");
                return Err(AppError::UpstreamTimeout(self.timeout.as_secs()));
            }
        };
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                settlement.fail("error-upstream-unreachable");
                return Err(AppError::UpstreamUnreachable(e));
            }
        };
        self.meters
            .upstream_latency
            .record(sent.elapsed().as_secs_f64());
        Ok(self.respond(settlement, resp, strip_usage_chunk, deadline))
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
